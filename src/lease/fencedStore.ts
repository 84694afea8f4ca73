// Fenced publishes (issue 10, part 2): a Store decorator whose publish() writes only while the
// single-writer lease is ours, and lets Redis — not our clock — enforce it:
//
//   round trip 1   WATCH <lease key>; GET <lease key>; TYPE <target>…
//                  (the token is not ours → UNWATCH, LeaseLostError, nothing sent)
//   round trip 2   MULTI; HSET/EXPIRE/XADD …; EXEC
//                  (EXEC is refused — a null reply, nothing applied — when the lease key changed
//                  or expired after the WATCH)
//
// So a writer that was paused past its lease (GC, SIGSTOP, a frozen VM) and resumes between the
// two round trips has its EXEC refused by Redis; one that resumes before round trip 1 sees another
// token (or our clock says the lease ran out) and sends no write at all.
//
// WATCH state is per connection, so the fence needs a connection where no other sequence can
// interleave: the dedicated writer connection, used one session at a time (writerConnection.ts).
// Serializing publishes would cost two round trips each; instead they are group-committed:
// publishes that arrive while a group is in flight wait in a queue and form the next group — one
// WATCH+GET(+TYPE) round trip and one MULTI with all their writes. Each caller's batch stays
// all-or-nothing as with redisStore.publish: a fenced refusal or an I/O error rejects the whole
// group (nothing of it was applied, or — a lost reply — nothing may be assumed); a batch whose
// target has another type is refused alone before anything is sent (the TYPE pre-check of
// redisStore.publish); EXEC's replies are checked per batch.
//
// deleteOwn (our bookkeeping, e.g. position memory) is fenced the same way, in a session of its own.
// Reads are the inner store's (its own connection, autopipelined as before; the size-bounded
// candle read is its read-only script, which writes nothing and so needs no fence).
import { assertDeletable, assertPublishable, ForbiddenKeyError } from "../store/keyGuard.js";
import { LeaseLostError } from "./lease.js";
import { rangeWithin } from "../store/rangeWithin.js";
import { WrongTypeError, type PublishBatch, type Store } from "../store/types.js";
import type { TxCommand, TxReply, WriterConnection } from "./writerConnection.js";

/** What the fenced store needs of the lease (LeaseManager implements it). */
export interface LeaseFence {
  readonly leaseKey: string;
  /** Our token while the lease is ours by our clock, else null. */
  currentToken(): string | null;
  /** Who holds it (host:pid:uuid8) as last seen, null when nobody. */
  holder(): string | null;
  /** Redis showed the lease is not ours: `value` is what the key holds. */
  reportLost(value: string | null, reason?: string): void;
}

export interface FencedStoreOptions {
  /** At most this many publishes per group (one MULTI). Default 256. */
  maxGroupBatches?: number;
}

export interface FencedStoreStats {
  /** publish() calls accepted into the queue (they passed assertPublishable and the lease check). */
  publishes: number;
  /** Groups committed or refused (each one exclusive session on the writer connection). */
  groups: number;
  /** WATCH+GET round trips; MULTI/EXEC round trips. */
  watches: number;
  execs: number;
  /** Publishes refused because the lease was not ours: by our clock, or by Redis (token or null EXEC). */
  refusedLocally: number;
  refusedByRedis: number;
  /** Groups retried after a null EXEC that left the lease ours (a touch of the key, nothing applied). */
  retries: number;
}

export interface FencedStore extends Store {
  stats(): FencedStoreStats;
}

interface Pending {
  batch: PublishBatch;
  resolve: () => void;
  reject: (error: Error) => void;
  settled: boolean;
}

const settle = (p: Pending, error?: Error): void => {
  if (p.settled) return;
  p.settled = true;
  if (error) p.reject(error);
  else p.resolve();
};

/** A null EXEC that left the lease ours is retried this many times (nothing ran; safe to resend). */
const NULL_EXEC_RETRIES = 1;

export function createFencedStore(
  inner: Store,
  writer: WriterConnection,
  lease: LeaseFence,
  options: FencedStoreOptions = {},
): FencedStore {
  const maxGroup = options.maxGroupBatches ?? 256;
  if (!(Number.isSafeInteger(maxGroup) && maxGroup > 0))
    throw new Error(
      `fenced store: maxGroupBatches must be a positive integer (got ${String(maxGroup)})`,
    );
  const stats: FencedStoreStats = {
    publishes: 0,
    groups: 0,
    watches: 0,
    execs: 0,
    refusedLocally: 0,
    refusedByRedis: 0,
    retries: 0,
  };
  let queue: Pending[] = [];
  let draining: Promise<void> | undefined;

  const notOurs = (why: string): LeaseLostError =>
    new LeaseLostError(lease.leaseKey, lease.holder(), why);

  const commitGroup = async (group: Pending[]): Promise<void> => {
    stats.groups++;
    const refuse = (error: Error, byRedis: boolean): void => {
      for (const p of group) {
        if (p.settled) continue;
        if (byRedis) stats.refusedByRedis++;
        else if (error instanceof LeaseLostError) stats.refusedLocally++;
        settle(p, error);
      }
    };
    try {
      await writer.exclusive(async (s) => {
        for (let attempt = 0; ; attempt++) {
          const live = group.filter((p) => !p.settled);
          const token = lease.currentToken();
          if (token === null) return refuse(notOurs("the lease is not ours"), false);

          // Round trip 1: the fence's WATCH, the token check and every target's TYPE.
          const targets = new Map<string, string>();
          for (const { batch } of live) {
            for (const w of batch.hashes) targets.set(w.key, "hash");
            for (const w of batch.streams) targets.set(w.key, "stream");
          }
          const keys = [...targets.keys()];
          stats.watches++;
          const { value, types } = await s.watch(lease.leaseKey, keys);
          if (value !== token) {
            await s.unwatch();
            lease.reportLost(value, "a fenced publish found the lease token changed");
            return refuse(
              new LeaseLostError(
                lease.leaseKey,
                lease.holder(),
                "the lease token in Redis is not ours",
              ),
              true,
            );
          }
          const actual = new Map(keys.map((key, i) => [key, types[i]]));
          // The TYPE pre-check of redisStore.publish, per batch: a key someone created with
          // another type refuses that batch alone, before anything is sent.
          for (const p of live) {
            const wrong = wrongType(p.batch, actual);
            if (wrong) settle(p, new WrongTypeError(wrong.key, wrong.type, actual.get(wrong.key)));
          }
          const writing = live.filter((p) => !p.settled);
          if (writing.length === 0) {
            await s.unwatch();
            return;
          }
          // Our clock may have run past the lease while round trip 1 was out (a pause): then do
          // not even try. (If it did not notice, the WATCH still refuses the EXEC.)
          if (lease.currentToken() !== token) {
            await s.unwatch();
            return refuse(notOurs("the lease ran out by our clock before the write"), false);
          }

          // Round trip 2: every batch's writes in one MULTI/EXEC.
          const commands: TxCommand[] = [];
          const spans: Array<{ p: Pending; from: number; to: number }> = [];
          for (const p of writing) {
            const from = commands.length;
            for (const write of p.batch.hashes) {
              commands.push(withFields(["hset", write.key], write.fields));
              if (write.ttlSec !== undefined) commands.push(["expire", write.key, write.ttlSec]);
            }
            for (const write of p.batch.streams) {
              commands.push(
                withFields(["xadd", write.key, "MAXLEN", "~", write.maxLen, "*"], write.fields),
              );
            }
            spans.push({ p, from, to: commands.length });
          }
          stats.execs++;
          const replies = await s.exec(commands);
          if (replies === null) {
            // A watched key changed between WATCH and EXEC: nothing ran. Whose is the lease now?
            const now = await s.get(lease.leaseKey);
            if (now === token && attempt < NULL_EXEC_RETRIES && lease.currentToken() === token) {
              // Still ours (the key was touched — e.g. a renewal on another connection): nothing
              // was applied, so sending the group again cannot duplicate anything.
              stats.retries++;
              continue;
            }
            if (now !== token)
              lease.reportLost(
                now,
                "Redis refused a fenced publish (EXEC aborted by the WATCH on the lease)",
              );
            return refuse(
              new LeaseLostError(
                lease.leaseKey,
                lease.holder(),
                "Redis refused the write: the lease changed between WATCH and EXEC, nothing was applied",
              ),
              true,
            );
          }
          for (const { p, from, to } of spans)
            settleFromReplies(writer.target, p, replies.slice(from, to));
          return;
        }
      });
    } catch (error) {
      refuse(error instanceof Error ? error : new Error(String(error)), false);
    }
  };

  const drain = async (): Promise<void> => {
    // Let the publishes of the current tick join the first group.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (queue.length > 0) {
      const group = queue.slice(0, maxGroup);
      queue = queue.slice(group.length);
      await commitGroup(group);
    }
    draining = undefined;
  };

  const store: FencedStore = {
    kind: inner.kind,
    keyKind: (key) => inner.keyKind(key),
    hgetall: (key) => inner.hgetall(key),
    hget: (key, field) => inner.hget(key, field),
    zrangeTail: (key, count) => inner.zrangeTail(key, count),
    zrangeTailWithScores: (key, count) => inner.zrangeTailWithScores(key, count),
    lrangeTail: (key, count) => inner.lrangeTail(key, count),
    xrevrange: (key, count) => inner.xrevrange(key, count),
    zrangeFromScore: (key, minScore, count) => inner.zrangeFromScore(key, minScore, count),
    memoryUsage: (key) => inner.memoryUsage(key),
    zrangeFromScoreWithin: (key, minScore, count, maxBytes) =>
      rangeWithin(inner, key, minScore, count, maxBytes),
    /**
     * Fenced like publish (WATCH, token check, MULTI DEL EXEC), in a session of its own: a paused
     * ex-leader must not delete the bookkeeping (position memory) the new leader keeps.
     */
    async deleteOwn(keys: string[]): Promise<number> {
      if (!Array.isArray(keys))
        throw new TypeError("deleteOwn: keys must be an array of key names");
      keys.forEach(assertDeletable);
      if (keys.includes(lease.leaseKey))
        throw new ForbiddenKeyError(
          lease.leaseKey,
          "the lease key is deleted only by releasing the lease",
          "delete",
        );
      if (keys.length === 0) return 0;
      const token = lease.currentToken();
      if (token === null) {
        stats.refusedLocally++;
        throw notOurs("the lease is not ours");
      }
      return await writer.exclusive(async (s) => {
        const { value } = await s.watch(lease.leaseKey);
        if (value !== token) {
          await s.unwatch();
          lease.reportLost(value, "a fenced delete found the lease token changed");
          stats.refusedByRedis++;
          throw new LeaseLostError(
            lease.leaseKey,
            lease.holder(),
            "the lease token in Redis is not ours",
          );
        }
        if (lease.currentToken() !== token) {
          await s.unwatch();
          stats.refusedLocally++;
          throw notOurs("the lease ran out by our clock before the delete");
        }
        const replies = await s.exec([["del", ...keys]]);
        if (replies === null) {
          const now = await s.get(lease.leaseKey);
          if (now !== token)
            lease.reportLost(
              now,
              "Redis refused a fenced delete (EXEC aborted by the WATCH on the lease)",
            );
          stats.refusedByRedis++;
          throw new LeaseLostError(
            lease.leaseKey,
            lease.holder(),
            "Redis refused the delete: the lease changed between WATCH and EXEC, nothing was applied",
          );
        }
        const [error, deleted] = replies[0] ?? [new Error("no reply"), 0];
        if (error)
          throw new Error(
            `redis ${writer.target}: DEL ${keys.join(", ")} failed: ${error.message}`,
          );
        return Number(deleted);
      });
    },
    xreadAfter: (key, afterId, count, blockMs) => inner.xreadAfter(key, afterId, count, blockMs),
    scanKeys: (pattern, limit) => inner.scanKeys(pattern, limit),
    ping: () => inner.ping(),

    publish(batch: PublishBatch): Promise<void> {
      try {
        assertPublishable(batch);
      } catch (error) {
        return Promise.reject(error);
      }
      // Lost lease → stop publishing at once, without a round trip.
      if (lease.currentToken() === null) {
        stats.refusedLocally++;
        return Promise.reject(notOurs("the lease is not ours"));
      }
      stats.publishes++;
      return new Promise<void>((resolve, reject) => {
        queue.push({ batch, resolve, reject, settled: false });
        draining ??= drain();
      });
    },

    stats: () => ({ ...stats }),

    /** Waits for the queued publishes to settle, then closes the inner store (not the writer, nor the lease). */
    async close(): Promise<void> {
      await draining;
      await inner.close();
    },
  };
  return store;
}

/**
 * The command with the fields appended as name, value, name, value … in the fields' order (what
 * `...Object.entries(fields).flat()` spells, without an entry pair per field and two arrays more
 * per write on every publish).
 */
function withFields(
  command: [name: string, ...args: Array<string | number>],
  fields: Record<string, string>,
): TxCommand {
  const names = Object.keys(fields);
  for (let i = 0; i < names.length; i++) command.push(names[i], fields[names[i]]);
  return command;
}

/** The batch's first write (hashes, then streams) whose key exists with another type, if any. */
function wrongType(
  batch: PublishBatch,
  actual: ReadonlyMap<string, string | undefined>,
): { key: string; type: "hash" | "stream" } | undefined {
  const clash = (key: string, type: string): boolean =>
    actual.get(key) !== "none" && actual.get(key) !== type;
  for (const w of batch.hashes) if (clash(w.key, "hash")) return { key: w.key, type: "hash" };
  for (const w of batch.streams) if (clash(w.key, "stream")) return { key: w.key, type: "stream" };
  return undefined;
}

/** Settles one batch from its slice of EXEC's replies, as redisStore.publish checks them. */
function settleFromReplies(target: string, p: Pending, replies: TxReply[]): void {
  const failures = replies
    .filter(([error]) => error !== null)
    .map(([error]) => String(error?.message));
  if (failures.length === 0) return settle(p);
  const keysShown = [...p.batch.hashes, ...p.batch.streams].map((w) => w.key).join(", ");
  settle(
    p,
    new Error(
      `redis ${target}: publish of ${keysShown} partly failed (Redis applied the other commands of the transaction): ` +
        `${failures.length} of ${replies.length} commands failed: ${failures.join("; ")}`,
    ),
  );
}
