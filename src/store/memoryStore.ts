// An embedded, Redis-shaped store for the demo and for tests. It behaves like Redis where our
// code can observe it: WRONGTYPE on reads of another type, TTLs (against an injectable clock, so
// tests never sleep), XADD ids `ms-seq` strictly increasing, MAXLEN trimming, sorted-set order by
// (score, member bytes). publish() validates the whole batch first and only then applies it, so a
// rejected publish writes nothing — stricter than Redis, which runs the rest of a MULTI when one
// command fails; the Redis store narrows that gap with a type pre-check (see redisStore.ts).
// xreadAfter blocks for real (on a timer), and an XADD — from a publish or the seeding helper —
// wakes it, as a blocked XREAD is woken on Redis.
import { EventEmitter } from "node:events";
import {
  assertBlockMs,
  assertCount,
  assertDeletable,
  assertMaxBytes,
  assertMinScore,
  assertPublishable,
  compareStreamIds,
  parseStreamId,
  type StreamId,
} from "./keyGuard.js";
import {
  WrongTypeError,
  type BoundedRange,
  type KeyKind,
  type PublishBatch,
  type ScoredMember,
  type Store,
  type StreamEntry,
} from "./types.js";
import { globToRegExp } from "./glob.js";
import { rangeByTwoCalls } from "./rangeWithin.js";

/** The value held for each Redis type. */
interface ValueByType {
  string: string;
  hash: Map<string, string>;
  zset: Map<string, number>;
  list: string[];
  stream: StreamValue;
}
type ValueType = keyof ValueByType;

interface StreamValue {
  entries: StreamEntry[];
  lastMs: number;
  lastSeq: number;
}

interface Slot {
  type: ValueType;
  value: ValueByType[ValueType];
  /** Epoch ms at which the key disappears; undefined = persistent. */
  expiresAt?: number;
}

export interface MemoryStoreOptions {
  /** Clock for TTLs and stream ids, epoch ms. Tests inject a fake one. Default Date.now. */
  now?: () => number;
}

export interface XaddOptions {
  /** Trim to this many newest entries after adding (exact; Redis `~` keeps at least this many). */
  maxLen?: number;
}

export class MemoryStore implements Store {
  readonly kind = "memory" as const;
  private readonly slots = new Map<string, Slot>();
  private readonly now: () => number;
  private closed = false;
  /** 'xadd:<key>' after an entry is added to a stream; 'close' when the store closes. */
  private readonly events = new EventEmitter().setMaxListeners(0);
  /** Blocking reads waiting right now (INFO's blocked_clients). */
  private blocked = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  // ---- Store interface -------------------------------------------------------------------

  async keyKind(key: string): Promise<KeyKind> {
    this.assertOpen();
    return this.live(key)?.type ?? "none";
  }

  async hgetall(key: string): Promise<Record<string, string>> {
    this.assertOpen();
    const hash = this.read(key, "hash");
    return hash ? Object.fromEntries(hash) : {};
  }

  async hget(key: string, field: string): Promise<string | null> {
    this.assertOpen();
    return this.read(key, "hash")?.get(field) ?? null;
  }

  async zrangeTail(key: string, count: number): Promise<string[]> {
    return (await this.zrangeTailWithScores(key, count)).map((m) => m.member);
  }

  async zrangeTailWithScores(key: string, count: number): Promise<ScoredMember[]> {
    this.assertOpen();
    const zset = this.read(key, "zset");
    if (!zset || count <= 0) return [];
    return sortedMembers(zset).slice(-count);
  }

  async lrangeTail(key: string, count: number): Promise<string[]> {
    this.assertOpen();
    const list = this.read(key, "list");
    if (!list || count <= 0) return [];
    return list.slice(-count);
  }

  async xrevrange(key: string, count: number): Promise<StreamEntry[]> {
    this.assertOpen();
    const stream = this.read(key, "stream");
    if (!stream || count <= 0) return [];
    return stream.entries.slice(-count).reverse().map(copyEntry);
  }

  async zrangeFromScore(key: string, minScore: number, count: number): Promise<ScoredMember[]> {
    this.assertOpen();
    assertMinScore("zrangeFromScore", minScore);
    assertCount("zrangeFromScore", count);
    const zset = this.read(key, "zset");
    if (!zset) return [];
    return sortedMembers(zset)
      .filter((m) => m.score >= minScore)
      .slice(0, count);
  }

  /**
   * An honest estimate of what Redis's MEMORY USAGE would say: the bytes of the key name and of
   * every member, field, value and score, plus a small per-entry overhead (Redis's is larger, so
   * this never overstates). Enough for tests to exercise the size limits on candle keys.
   */
  async memoryUsage(key: string): Promise<number | null> {
    this.assertOpen();
    const slot = this.live(key);
    if (!slot) return null;
    return KEY_OVERHEAD_BYTES + Buffer.byteLength(key) + valueBytes(slot);
  }

  /** memoryUsage, then zrangeFromScore when the key fits in maxBytes: as the Redis store's script answers. */
  async zrangeFromScoreWithin(
    key: string,
    minScore: number,
    count: number,
    maxBytes: number,
  ): Promise<BoundedRange> {
    this.assertOpen();
    assertMinScore("zrangeFromScoreWithin", minScore);
    assertCount("zrangeFromScoreWithin", count);
    assertMaxBytes("zrangeFromScoreWithin", maxBytes);
    return await rangeByTwoCalls(this, key, minScore, count, maxBytes);
  }

  async deleteOwn(keys: string[]): Promise<number> {
    this.assertOpen();
    if (!Array.isArray(keys)) throw new TypeError("deleteOwn: keys must be an array of key names");
    // Every key is checked before the first is deleted: a refused call deletes nothing.
    keys.forEach(assertDeletable);
    return this.del(...keys);
  }

  async xreadAfter(
    key: string,
    afterId: string,
    count: number,
    blockMs: number,
  ): Promise<StreamEntry[]> {
    this.assertOpen();
    assertCount("xreadAfter", count);
    assertBlockMs("xreadAfter", blockMs);
    const after = parseStreamId("xreadAfter", "afterId", afterId);
    const now = this.entriesAfter(key, after, count);
    if (now.length > 0 || blockMs === 0) return now;
    return await new Promise<StreamEntry[]>((resolve, reject) => {
      let checking = false;
      let settled = false;
      const finish = (settle: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.events.off(`xadd:${key}`, onAdd);
        this.events.off("close", onClose);
        this.blocked -= 1;
        settle();
      };
      // Served after the code that added the entry has run to its end (one publish adds several
      // entries synchronously), as Redis serves a blocked client after the command or EXEC.
      const onAdd = (): void => {
        if (checking) return;
        checking = true;
        queueMicrotask(() => {
          checking = false;
          if (settled) return;
          let entries: StreamEntry[];
          try {
            entries = this.entriesAfter(key, after, count);
          } catch (error) {
            finish(() => reject(error));
            return;
          }
          if (entries.length > 0) finish(() => resolve(entries));
        });
      };
      const onClose = (): void => finish(() => reject(new Error("memory store is closed")));
      const timer = setTimeout(() => finish(() => resolve([])), blockMs);
      this.events.on(`xadd:${key}`, onAdd);
      this.events.once("close", onClose);
      this.blocked += 1;
    });
  }

  async scanKeys(pattern: string, limit: number): Promise<string[]> {
    this.assertOpen();
    assertCount("scanKeys", limit);
    return this.keys(pattern).slice(0, limit);
  }

  async publish(batch: PublishBatch): Promise<void> {
    this.assertOpen();
    assertPublishable(batch);
    // Validate every target's type before the first write, so the batch lands whole or not at all.
    for (const write of batch.hashes) this.requireType(write.key, "hash");
    for (const write of batch.streams) this.requireType(write.key, "stream");
    for (const write of batch.hashes) {
      this.hset(write.key, write.fields);
      if (write.ttlSec !== undefined) this.expire(write.key, write.ttlSec);
    }
    for (const write of batch.streams) this.xadd(write.key, write.fields, { maxLen: write.maxLen });
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
    // Wake every blocking read: it rejects instead of waiting out its block time.
    this.events.emit("close");
  }

  // ---- seeding and inspection helpers, named like the Redis commands ---------------------
  // They bypass the write allow-list on purpose: they stand in for the *other* services that
  // write candles and positions. They are synchronous; the data is local.

  /** HSET; returns the number of new fields. */
  hset(key: string, fields: Record<string, string | number>): number {
    const hash = this.writable(key, "hash", () => new Map<string, string>());
    let added = 0;
    for (const [field, value] of Object.entries(fields)) {
      if (!hash.has(field)) added += 1;
      hash.set(field, String(value));
    }
    return added;
  }

  /** ZADD key score member [score member ...]; returns the number of new members. */
  zadd(key: string, ...scoreMembers: Array<number | string>): number {
    if (scoreMembers.length === 0 || scoreMembers.length % 2 !== 0) {
      throw new Error("zadd needs score/member pairs");
    }
    const pairs: Array<[number, string]> = [];
    for (let i = 0; i < scoreMembers.length; i += 2) {
      const score = Number(scoreMembers[i]);
      if (Number.isNaN(score))
        throw new Error(`zadd: score ${String(scoreMembers[i])} is not a number`);
      pairs.push([score, String(scoreMembers[i + 1])]);
    }
    const zset = this.writable(key, "zset", () => new Map<string, number>());
    let added = 0;
    for (const [score, member] of pairs) {
      if (!zset.has(member)) added += 1;
      zset.set(member, score);
    }
    return added;
  }

  /** RPUSH; returns the new length. */
  rpush(key: string, ...values: Array<string | number>): number {
    if (values.length === 0) throw new Error("rpush needs at least one value");
    const list = this.writable(key, "list", () => [] as string[]);
    list.push(...values.map(String));
    return list.length;
  }

  /** SET (a plain string). */
  set(key: string, value: string): void {
    this.slots.set(key, { type: "string", value });
  }

  /** XADD with an auto id `ms-seq`, strictly increasing even if the clock stands still or steps back. */
  xadd(key: string, fields: Record<string, string | number>, options: XaddOptions = {}): string {
    if (Object.keys(fields).length === 0) throw new Error("xadd needs at least one field");
    const stream = this.writable(key, "stream", (): StreamValue => ({
      entries: [],
      lastMs: 0,
      lastSeq: -1,
    }));
    const nowMs = Math.floor(this.now());
    if (nowMs > stream.lastMs) {
      stream.lastMs = nowMs;
      stream.lastSeq = 0;
    } else {
      stream.lastSeq += 1;
    }
    const id = `${stream.lastMs}-${stream.lastSeq}`;
    stream.entries.push({
      id,
      fields: Object.fromEntries(Object.entries(fields).map(([f, v]) => [f, String(v)])),
    });
    if (options.maxLen !== undefined && stream.entries.length > options.maxLen) {
      stream.entries.splice(0, stream.entries.length - options.maxLen);
    }
    this.events.emit(`xadd:${key}`);
    return id;
  }

  /** EXPIRE in seconds; returns false when the key does not exist. */
  expire(key: string, seconds: number): boolean {
    const slot = this.live(key);
    if (!slot) return false;
    if (seconds <= 0) {
      this.slots.delete(key);
    } else {
      slot.expiresAt = this.now() + seconds * 1000;
    }
    return true;
  }

  /** DEL; returns the number of keys removed. */
  del(...keys: string[]): number {
    let removed = 0;
    for (const key of keys) {
      if (this.live(key)) {
        this.slots.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  /** TTL like Redis: -2 when the key does not exist, -1 without expiry, else seconds (rounded). */
  ttl(key: string): number {
    const slot = this.live(key);
    if (!slot) return -2;
    if (slot.expiresAt === undefined) return -1;
    return Math.round((slot.expiresAt - this.now()) / 1000);
  }

  /** KEYS with Redis glob syntax (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`); sorted for stable output. */
  keys(pattern = "*"): string[] {
    const matcher = globToRegExp(pattern);
    return [...this.slots.keys()].filter((key) => this.live(key) && matcher.test(key)).sort();
  }

  /** XLEN. */
  xlen(key: string): number {
    return this.read(key, "stream")?.entries.length ?? 0;
  }

  /** How many xreadAfter calls are blocked waiting right now (INFO clients: blocked_clients). */
  blockedClients(): number {
    return this.blocked;
  }

  // ---- internals ----------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new Error("memory store is closed");
  }

  /** The slot of a key that has not expired; expired keys are dropped on access, like Redis. */
  private live(key: string): Slot | undefined {
    const slot = this.slots.get(key);
    if (!slot) return undefined;
    if (slot.expiresAt !== undefined && this.now() >= slot.expiresAt) {
      this.slots.delete(key);
      return undefined;
    }
    return slot;
  }

  /** Up to `count` entries with ids after `after`, oldest first, as copies. */
  private entriesAfter(key: string, after: StreamId, count: number): StreamEntry[] {
    const stream = this.read(key, "stream");
    if (!stream) return [];
    // Entries are in id order; a reader usually tails the stream, so search from the newest end.
    let first = stream.entries.length;
    while (
      first > 0 &&
      compareStreamIds(
        parseStreamId("xreadAfter", "entry id", stream.entries[first - 1].id),
        after,
      ) > 0
    )
      first -= 1;
    return stream.entries.slice(first, first + count).map(copyEntry);
  }

  private requireType(key: string, type: ValueType): void {
    const slot = this.live(key);
    if (slot && slot.type !== type) throw new WrongTypeError(key, type, slot.type);
  }

  private read<T extends ValueType>(key: string, type: T): ValueByType[T] | undefined {
    const slot = this.live(key);
    if (!slot) return undefined;
    if (slot.type !== type) throw new WrongTypeError(key, type, slot.type);
    return slot.value as ValueByType[T];
  }

  private writable<T extends ValueType>(
    key: string,
    type: T,
    create: () => ValueByType[T],
  ): ValueByType[T] {
    const existing = this.read(key, type);
    if (existing !== undefined) return existing;
    const value = create();
    this.slots.set(key, { type, value });
    return value;
  }
}

/** Per key and per entry (a member, a field, a list element), roughly what Redis keeps beside the bytes. */
const KEY_OVERHEAD_BYTES = 48;
const ENTRY_OVERHEAD_BYTES = 16;

function valueBytes(slot: Slot): number {
  const bytes = (s: string): number => Buffer.byteLength(s);
  let total = 0;
  switch (slot.type) {
    case "string":
      return bytes(slot.value as string);
    case "hash":
      for (const [field, value] of slot.value as Map<string, string>)
        total += bytes(field) + bytes(value) + ENTRY_OVERHEAD_BYTES;
      return total;
    case "zset":
      // The member and its 8-byte score.
      for (const member of (slot.value as Map<string, number>).keys())
        total += bytes(member) + 8 + ENTRY_OVERHEAD_BYTES;
      return total;
    case "list":
      for (const element of slot.value as string[]) total += bytes(element) + ENTRY_OVERHEAD_BYTES;
      return total;
    case "stream":
      for (const entry of (slot.value as StreamValue).entries) {
        total += bytes(entry.id) + ENTRY_OVERHEAD_BYTES;
        for (const [field, value] of Object.entries(entry.fields))
          total += bytes(field) + bytes(value);
      }
      return total;
  }
}

function copyEntry(entry: StreamEntry): StreamEntry {
  return { id: entry.id, fields: { ...entry.fields } };
}

/** Redis order: by score, ties by member compared as bytes. */
function sortedMembers(zset: Map<string, number>): ScoredMember[] {
  return [...zset.entries()]
    .map(([member, score]) => ({ member, score }))
    .sort(
      (a, b) => a.score - b.score || Buffer.compare(Buffer.from(a.member), Buffer.from(b.member)),
    );
}
