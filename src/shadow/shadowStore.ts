// Shadow mode's write wall (`run --shadow`, `run --once --shadow`): a Store around the real one
// that lets every read through and stops every write. The service runs unchanged on it — every
// phase reads the live inputs, computes and "publishes" exactly as it would — but nothing reaches
// Redis: publish() and deleteOwn() validate their arguments as the real store does and then
// resolve without sending a command. Because they resolve, the publisher machines advance their
// rate-limit memory as after a real publish, so `run --shadow` publishes (and compares) no more
// often than `run` would.
//
// Enforced here, not by convention: this class holds the real store privately and its only
// calls into it are the read methods (keyKind, hgetall, hget, zrange*, lrangeTail, xrevrange,
// xreadAfter, scanKeys, memoryUsage, zrangeFromScoreWithin), ping and close. A write method added to the Store interface makes this
// class fail to compile until it is decided here what shadow mode does with it (a lease, too:
// shadow mode needs none, because it never writes). test/shadow/monitor.test.ts records every
// command our connections send with MONITOR and finds no write among them.
//
// The overlay. What shadow mode "wrote" is kept in memory, so the service reads back its own
// results as it would in production — above all the marketstate hash, an INPUT of risk and
// harvest: they must compute with the market state the shadow marketstate phase just computed,
// not with the one the old service wrote. Reads of OUR keys — the three output hashes
// (quantum:marketstate:*, quantum:risk:proposal:*, quantum:harvest:proposal:*) and our bookkeeping
// quantum:calc:* (the position memory quantum:calc:position:*, the candle fingerprint) — are
// served from the overlay first:
//   - a key written in shadow: the hash as an HSET would have left it, i.e. what Redis holds now
//     with our fields on top (other services write other fields of the same hashes);
//   - a key deleted in shadow (deleteOwn), or whose TTL (from the write's ttlSec) ran out since:
//     absent — until it is written again, then only what was written since;
//   - a key shadow mode has not written: what Redis holds now (before the first marketstate
//     publish of a symbol risk reads the old service's hash, exactly as a real first start does).
// Every other key (candles, positions, the policy, the klines stream) is read from Redis as is.
// Stream entries are not kept: nothing in the service reads its own output streams.
//
// Each stopped write of an output hash is handed to the sink with the hash Redis holds now —
// read from Redis, never from the overlay — so it can report how the proposal differs
// (src/shadow/shadow.ts). `compareOnly()` runs a publish that only compares (the rate-limited cycles of
// shadow mode, whose real counterpart writes only a heartbeat).
import { AsyncLocalStorage } from "node:async_hooks";
import {
  assertCount,
  assertDeletable,
  assertPublishable,
  CALC_PREFIX,
  OUTPUT_HASH_PREFIXES,
} from "../store/keyGuard.js";
import {
  WrongTypeError,
  type BoundedRange,
  type HashWrite,
  type KeyKind,
  type PublishBatch,
  type ScoredMember,
  type Store,
  type StreamEntry,
} from "../store/types.js";
import { globToRegExp } from "../store/glob.js";
import { rangeWithin } from "../store/rangeWithin.js";

/** A write of an output hash that shadow mode stopped, and what Redis holds there now. */
export interface StoppedProposal {
  key: string;
  /** The fields the HSET would have written. */
  fields: Record<string, string>;
  /** HGETALL of the key in Redis now (`{}`: no such hash): written by the old services during a switch-over. */
  current: Record<string, string>;
  /**
   * True for a publish the real service would have made now; false for a rate-limited cycle's
   * proposal, which the real service would only heartbeat (compareOnly).
   */
  wouldWrite: boolean;
}

/** What shadow mode stopped, counted. */
export interface StoppedWrites {
  /** publish() calls (publishes and heartbeats) that wrote nothing. */
  publishes: number;
  /** HSETs in them (each with its EXPIRE, when it had a TTL). */
  hashWrites: number;
  /** XADDs in them. */
  streamEntries: number;
  /** Keys deleteOwn() was asked to DEL. */
  deletes: number;
}

export interface ShadowSink {
  /** Called for every output-hash write stopped or compared. Must not throw (a throw is ignored). */
  proposal?(proposal: StoppedProposal): void;
  /** Called with the counts of each stopped publish or delete. Must not throw. */
  stopped?(writes: StoppedWrites): void;
}

export interface ShadowStoreOptions {
  /** The overlay's clock for TTLs (ms since epoch). Default Date.now. */
  now?: () => number;
}

interface OverlayEntry {
  /** Our fields; empty for a deleted or expired key. */
  fields: Record<string, string>;
  /** Whether Redis's own hash shows through under our fields (false once deleted or expired). */
  overRedis: boolean;
  /** ms since epoch; null: no TTL. */
  expiresAtMs: number | null;
}

/** True for the keys the overlay serves: the output hashes and our bookkeeping. */
export function isOverlaidKey(key: string): boolean {
  return (
    typeof key === "string" &&
    (key.startsWith(CALC_PREFIX) || OUTPUT_HASH_PREFIXES.some((prefix) => key.startsWith(prefix)))
  );
}

/** True for the output hashes, whose stopped writes are compared with Redis. */
export function isComparedKey(key: string): boolean {
  return OUTPUT_HASH_PREFIXES.some(
    (prefix) => key.startsWith(prefix) && key.length > prefix.length,
  );
}

const NO_WRITES = (): StoppedWrites => ({
  publishes: 0,
  hashWrites: 0,
  streamEntries: 0,
  deletes: 0,
});

export class ShadowStore implements Store {
  readonly kind: Store["kind"];
  /** Always true: lets anyone holding a Store tell that it writes nothing. */
  readonly shadow = true;
  /** Everything stopped so far. */
  readonly stoppedWrites: StoppedWrites = NO_WRITES();

  readonly #base: Store;
  readonly #sink: ShadowSink;
  readonly #now: () => number;
  readonly #overlay = new Map<string, OverlayEntry>();
  /** Set while compareOnly() runs: publishes in it compare and leave the overlay alone. */
  readonly #compareOnly = new AsyncLocalStorage<true>();

  constructor(base: Store, sink: ShadowSink = {}, options: ShadowStoreOptions = {}) {
    this.#base = base;
    this.kind = base.kind;
    this.#sink = sink;
    this.#now = options.now ?? Date.now;
  }

  /** The overlay entry of `key` while it is in force; an expired one turns into "absent". */
  #entry(key: string): OverlayEntry | undefined {
    const entry = this.#overlay.get(key);
    if (entry !== undefined && entry.expiresAtMs !== null && this.#now() >= entry.expiresAtMs) {
      entry.fields = {};
      entry.overRedis = false;
      entry.expiresAtMs = null;
    }
    return entry;
  }

  /** The overlay's view of a hash: our fields (on Redis's, unless deleted); null when not overlaid. */
  peek(key: string): Record<string, string> | null {
    const entry = this.#entry(key);
    return entry === undefined ? null : { ...entry.fields };
  }

  // ---- reads -------------------------------------------------------------------------------

  async keyKind(key: string): Promise<KeyKind> {
    const entry = isOverlaidKey(key) ? this.#entry(key) : undefined;
    if (entry !== undefined) {
      if (Object.keys(entry.fields).length > 0) return "hash";
      if (!entry.overRedis) return "none";
    }
    return await this.#base.keyKind(key);
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    const entry = isOverlaidKey(key) ? this.#entry(key) : undefined;
    if (entry === undefined) return await this.#base.hgetall(key);
    if (!entry.overRedis) return { ...entry.fields };
    return { ...(await this.#base.hgetall(key)), ...entry.fields };
  }

  async hget(key: string, field: string): Promise<string | null> {
    const entry = isOverlaidKey(key) ? this.#entry(key) : undefined;
    if (entry === undefined) return await this.#base.hget(key, field);
    if (Object.hasOwn(entry.fields, field)) return entry.fields[field] ?? null;
    return entry.overRedis ? await this.#base.hget(key, field) : null;
  }

  zrangeTail(key: string, count: number): Promise<string[]> {
    return this.#base.zrangeTail(key, count);
  }

  zrangeTailWithScores(key: string, count: number): Promise<ScoredMember[]> {
    return this.#base.zrangeTailWithScores(key, count);
  }

  lrangeTail(key: string, count: number): Promise<string[]> {
    return this.#base.lrangeTail(key, count);
  }

  xrevrange(key: string, count: number): Promise<StreamEntry[]> {
    return this.#base.xrevrange(key, count);
  }

  zrangeFromScore(key: string, minScore: number, count: number): Promise<ScoredMember[]> {
    return this.#base.zrangeFromScore(key, minScore, count);
  }

  xreadAfter(key: string, afterId: string, count: number, blockMs: number): Promise<StreamEntry[]> {
    return this.#base.xreadAfter(key, afterId, count, blockMs);
  }

  /** Redis's answer: it is asked of input keys (candles), which shadow mode never writes. */
  memoryUsage(key: string): Promise<number | null> {
    return this.#base.memoryUsage(key);
  }

  /** Redis's answer, as memoryUsage and zrangeFromScore: candle keys, which shadow mode never writes. */
  zrangeFromScoreWithin(
    key: string,
    minScore: number,
    count: number,
    maxBytes: number,
  ): Promise<BoundedRange> {
    return rangeWithin(this.#base, key, minScore, count, maxBytes);
  }

  /** Redis's keys, with the overlay's written keys added and its deleted ones taken out. */
  async scanKeys(pattern: string, limit: number): Promise<string[]> {
    assertCount("scanKeys", limit);
    const keys = new Set(await this.#base.scanKeys(pattern, limit));
    const matcher = globToRegExp(pattern);
    for (const key of this.#overlay.keys()) {
      if (!matcher.test(key)) continue;
      const entry = this.#entry(key);
      if (entry === undefined) continue;
      if (Object.keys(entry.fields).length > 0) keys.add(key);
      else if (!entry.overRedis) keys.delete(key);
    }
    return [...keys].slice(0, limit);
  }

  ping(): Promise<void> {
    return this.#base.ping();
  }

  close(): Promise<void> {
    return this.#base.close();
  }

  // ---- writes: stopped ---------------------------------------------------------------------

  /**
   * Resolves as the real publish would, writing nothing: the batch is validated as the real
   * store validates it (the allow-list, no NaN/None values, TTLs; a key of another type is a
   * WrongTypeError), every output-hash write is handed to the sink with the hash in Redis, and the
   * hash writes go to the overlay.
   */
  async publish(batch: PublishBatch): Promise<void> {
    assertPublishable(batch);
    const compareOnly = this.#compareOnly.getStore() === true;
    if (!compareOnly) await this.#checkTypes(batch);
    // What the old services wrote: from Redis, never from the overlay.
    const compared = batch.hashes.filter((w) => isComparedKey(w.key));
    const current = await Promise.all(compared.map((w) => this.#base.hgetall(w.key)));
    for (const write of batch.hashes) {
      // A compare-only publish leaves the output hashes alone; our bookkeeping (a position memory
      // that happened to be pending) is what the real service writes with its next cycle anyway.
      if (!compareOnly || !isComparedKey(write.key)) this.#apply(write);
    }
    if (!compareOnly) {
      this.#count({
        publishes: 1,
        hashWrites: batch.hashes.length,
        streamEntries: batch.streams.length,
        deletes: 0,
      });
    }
    compared.forEach((write, i) => {
      try {
        this.#sink.proposal?.({
          key: write.key,
          fields: { ...write.fields },
          current: current[i] ?? {},
          wouldWrite: !compareOnly,
        });
      } catch {
        // An observer never fails a cycle.
      }
    });
  }

  /**
   * Validates the keys as the real store does (only quantum:calc:* may be deleted) and forgets
   * them in the overlay; sends no DEL. Returns how many of them existed, as the overlay sees them.
   */
  async deleteOwn(keys: string[]): Promise<number> {
    if (!Array.isArray(keys)) throw new TypeError("deleteOwn: keys must be an array of key names");
    keys.forEach(assertDeletable);
    let existed = 0;
    for (const key of new Set(keys)) {
      if ((await this.keyKind(key)) !== "none") existed += 1;
      this.#overlay.set(key, { fields: {}, overRedis: false, expiresAtMs: null });
    }
    if (keys.length > 0)
      this.#count({ publishes: 0, hashWrites: 0, streamEntries: 0, deletes: keys.length });
    return existed;
  }

  /**
   * Runs `fn` with every publish inside it only compared: handed to the sink with
   * `wouldWrite: false`, leaving the overlay's output hashes and the counts alone.
   */
  compareOnly<T>(fn: () => Promise<T>): Promise<T> {
    return this.#compareOnly.run(true, fn);
  }

  /** The real store refuses a batch whose key exists with another type, before writing: so does this. */
  async #checkTypes(batch: PublishBatch): Promise<void> {
    const targets = [
      ...batch.hashes.map((w) => ({ key: w.key, type: "hash" })),
      ...batch.streams.map((w) => ({ key: w.key, type: "stream" })),
    ];
    const kinds = await Promise.all(targets.map((t) => this.keyKind(t.key)));
    targets.forEach((t, i) => {
      const kind = kinds[i];
      if (kind !== "none" && kind !== t.type) throw new WrongTypeError(t.key, t.type, kind);
    });
  }

  #apply(write: HashWrite): void {
    const entry = this.#entry(write.key) ?? { fields: {}, overRedis: true, expiresAtMs: null };
    entry.fields = { ...entry.fields, ...write.fields };
    // EXPIRE after the HSET: the key's TTL is the write's (none given: whatever it had).
    if (write.ttlSec !== undefined) entry.expiresAtMs = this.#now() + write.ttlSec * 1000;
    this.#overlay.set(write.key, entry);
  }

  #count(writes: StoppedWrites): void {
    this.stoppedWrites.publishes += writes.publishes;
    this.stoppedWrites.hashWrites += writes.hashWrites;
    this.stoppedWrites.streamEntries += writes.streamEntries;
    this.stoppedWrites.deletes += writes.deletes;
    try {
      this.#sink.stopped?.(writes);
    } catch {
      // An observer never fails a cycle.
    }
  }
}

/** True when `store` is a shadow store (writes nothing). */
export function isShadowStore(store: Store): store is ShadowStore {
  return (store as Partial<ShadowStore>).shadow === true;
}
