// The production store: ioredis with a client discipline chosen for a calc-only service whose
// proposals are acted on downstream. The guiding rule: a late or duplicated write is worse than
// none. A proposal computed from a 10-second-old snapshot that lands a minute later, or a
// transaction replayed twice, misleads every consumer; a failed publish is simply retried by the
// next cycle with fresh inputs. So commands fail fast and are never queued or resent.
//
// This file holds the commands. The connection — client options, the handshake gate, waitReady,
// close, error translation — is redisConnection.ts; URL parsing and redaction are redisUrl.ts.
import { createHash } from "node:crypto";
import {
  assertBlockMs,
  assertCount,
  assertDeletable,
  assertMaxBytes,
  assertMinScore,
  assertPublishable,
  parseStreamId,
} from "./keyGuard.js";
import {
  createRedisConnection,
  type RedisConnectionOptions,
  type RedisStoreEvent,
} from "./redisConnection.js";
import {
  WrongTypeError,
  type BoundedRange,
  type KeyKind,
  type PublishBatch,
  type ScoredMember,
  type Store,
  type StreamEntry,
} from "./types.js";
import { rangeByTwoCalls } from "./rangeWithin.js";

export {
  REDIS_STORE_DEFAULTS,
  reconnectDelayMs,
  parseSentinelAddress,
  type RedisStoreEvent,
  type SentinelAddress,
} from "./redisConnection.js";
export { parseRedisUrl, redactRedisUrl, type ParsedRedisUrl } from "./redisUrl.js";

export type RedisStoreOptions = RedisConnectionOptions;

export interface RedisStore extends Store {
  readonly kind: "redis";
  /** `host:port/db` of the server, safe to log (never contains credentials). */
  readonly target: string;
  /**
   * Resolves once the connection is up and a PING succeeds; rejects after `timeoutMs` with a
   * message naming host:port (never the password) and the last connection error.
   */
  waitReady(timeoutMs: number): Promise<void>;
  /** The ioredis connection status: wait, connecting, connect, ready, close, reconnecting, end. */
  status(): string;
  /** `host:port` the connection reached (with Sentinel: the current primary), or null when down. */
  address(): string | null;
  /**
   * Adds a listener of the connection events (connect, ready, close, …; the service wakes its
   * actors on 'ready' after an outage); returns its removal. A listener must not throw.
   */
  onConnectionEvent(listener: (event: RedisStoreEvent) => void): () => void;
  /**
   * The single-writer lease as `status` shows it: the key's value (who holds it; null when free)
   * and its remaining TTL in ms (null when free). GET and PTTL — read-only, never WATCH.
   */
  readLease(key: string): Promise<{ value: string | null; ttlMs: number | null }>;
  /** Always present here: one read-only script (EVALSHA_RO), see RANGE_WITHIN_LUA. */
  zrangeFromScoreWithin(
    key: string,
    minScore: number,
    count: number,
    maxBytes: number,
  ): Promise<BoundedRange>;
}

const KEY_KINDS: ReadonlySet<string> = new Set([
  "string",
  "hash",
  "zset",
  "list",
  "set",
  "stream",
  "none",
]);

/**
 * zrangeFromScoreWithin as one read-only script (issue 20): the key's size, and its members only
 * when it is small enough — the size check of the candle reads (docs/specification.md, the candle
 * key bound maxCandleKeyBytes) and their ZRANGEBYSCORE in one round trip instead of two, with the
 * same guarantee: a key above the bound never has its members sent. `flags=no-writes` makes Redis
 * itself refuse any write inside it (and lets it run while the server refuses writes).
 * KEYS[1] the key; ARGV: min score, count, max bytes (-1: no bound).
 * Reply: nil (no such key) | {bytes} (above the bound) | {bytes, {member, score, …}}.
 */
export const RANGE_WITHIN_LUA = `#!lua flags=no-writes
local bytes = redis.call('MEMORY', 'USAGE', KEYS[1], 'SAMPLES', '0')
if not bytes then return false end
local max = tonumber(ARGV[3])
if max >= 0 and bytes > max then return {bytes} end
return {bytes, redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'WITHSCORES', 'LIMIT', '0', ARGV[2])}`;

/**
 * The script's command refused as such — the server has no EVAL_RO (before Redis 7), or the ACL
 * user lacks it — not the key (a NOPERM on the key is the same for the two calls).
 */
const SCRIPT_REFUSED = /failed: (ERR unknown command|NOPERM[^']*'(evalsha_ro|eval_ro)')/;

/** The script's reply as a BoundedRange. */
function boundedRange(reply: RangeWithinReply): BoundedRange {
  if (reply === null) return { bytes: null, members: null };
  const [bytes, flat] = reply;
  if (flat === undefined) return { bytes, members: null };
  const members: ScoredMember[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2)
    members.push({ member: flat[i], score: parseScore(flat[i + 1]) });
  return { bytes, members };
}

export const RANGE_WITHIN_SHA = createHash("sha1").update(RANGE_WITHIN_LUA).digest("hex");

type RangeWithinReply = [number] | [number, string[]] | null;

export function createRedisStore(options: RedisStoreOptions): RedisStore {
  const connection = createRedisConnection(options);
  const { client, target, commandTimeoutMs, run, translate, notConnected, scrub } = connection;

  // EVALSHA_RO first; on NOSCRIPT (a restarted server, a failover to a replica that never ran
  // it, a SCRIPT FLUSH) the script itself with EVAL_RO. Nothing ran on a NOSCRIPT, so that second
  // send cannot apply anything twice — and the script writes nothing anyway. The _RO forms (not
  // ioredis's defineCommand, which sends EVALSHA/EVAL): their key is declared read-only, so the
  // least-privilege user's read-only key rules (%R~candles:*) admit it, and Redis refuses any
  // write inside them.
  const rangeScript = async (
    key: string,
    min: string,
    count: number,
    max: string,
  ): Promise<RangeWithinReply> => {
    try {
      return (await client.evalsha_ro(
        RANGE_WITHIN_SHA,
        1,
        key,
        min,
        count,
        max,
      )) as RangeWithinReply;
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith("NOSCRIPT"))) throw error;
      return (await client.eval_ro(RANGE_WITHIN_LUA, 1, key, min, count, max)) as RangeWithinReply;
    }
  };

  /** The script was refused (see SCRIPT_REFUSED): the size-bounded read is two calls on this store. */
  let scriptRefused = false;

  const store: RedisStore = {
    kind: "redis",
    target,

    status: () => connection.status(),
    address: () => connection.address(),
    onConnectionEvent: (listener) => connection.onEvent(listener),
    waitReady: (timeoutMs: number) => connection.waitReady(timeoutMs),

    async keyKind(key: string): Promise<KeyKind> {
      const type = await run("TYPE", key, undefined, () => client.type(key));
      return KEY_KINDS.has(type) ? (type as KeyKind) : "other";
    },

    async hgetall(key: string): Promise<Record<string, string>> {
      return await run("HGETALL", key, "hash", () => client.hgetall(key));
    },

    async readLease(key: string): Promise<{ value: string | null; ttlMs: number | null }> {
      const [value, pttl] = await Promise.all([
        run("GET", key, "string", () => client.get(key)),
        run("PTTL", key, undefined, () => client.pttl(key)),
      ]);
      return { value, ttlMs: value === null || pttl < 0 ? null : pttl };
    },

    async hget(key: string, field: string): Promise<string | null> {
      return await run("HGET", key, "hash", () => client.hget(key, field));
    },

    async zrangeTail(key: string, count: number): Promise<string[]> {
      if (count <= 0) return [];
      return await run("ZRANGE", key, "zset", () => client.zrange(key, -count, -1));
    },

    async zrangeTailWithScores(key: string, count: number): Promise<ScoredMember[]> {
      if (count <= 0) return [];
      const flat = await run("ZRANGE", key, "zset", () =>
        client.zrange(key, -count, -1, "WITHSCORES"),
      );
      const members: ScoredMember[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2)
        members.push({ member: flat[i], score: parseScore(flat[i + 1]) });
      return members;
    },

    async lrangeTail(key: string, count: number): Promise<string[]> {
      if (count <= 0) return [];
      return await run("LRANGE", key, "list", () => client.lrange(key, -count, -1));
    },

    async xrevrange(key: string, count: number): Promise<StreamEntry[]> {
      if (count <= 0) return [];
      const raw = await run("XREVRANGE", key, "stream", () =>
        client.xrevrange(key, "+", "-", "COUNT", count),
      );
      return raw.map(toStreamEntry);
    },

    async scanKeys(pattern: string, limit: number): Promise<string[]> {
      assertCount("scanKeys", limit);
      const keys = new Set<string>();
      let cursor = "0";
      do {
        const [next, batch] = await run("SCAN", pattern, undefined, () =>
          client.scan(cursor, "MATCH", pattern, "COUNT", 1000),
        );
        for (const key of batch) {
          if (keys.size >= limit) return [...keys];
          keys.add(key); // SCAN may return a key twice
        }
        cursor = next;
      } while (cursor !== "0");
      return [...keys];
    },

    async zrangeFromScore(key: string, minScore: number, count: number): Promise<ScoredMember[]> {
      assertMinScore("zrangeFromScore", minScore);
      assertCount("zrangeFromScore", count);
      // String(x) is the shortest text that reads back as exactly x; Redis parses it with strtod.
      const min = minScore === -Infinity ? "-inf" : String(minScore);
      const flat = await run("ZRANGEBYSCORE", key, "zset", () =>
        client.zrangebyscore(key, min, "+inf", "WITHSCORES", "LIMIT", 0, count),
      );
      const members: ScoredMember[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2)
        members.push({ member: flat[i], score: parseScore(flat[i + 1]) });
      return members;
    },

    async memoryUsage(key: string): Promise<number | null> {
      return await run("MEMORY USAGE", key, undefined, () =>
        client.memory("USAGE", key, "SAMPLES", 0),
      );
    },

    async zrangeFromScoreWithin(
      key: string,
      minScore: number,
      count: number,
      maxBytes: number,
    ): Promise<BoundedRange> {
      assertMinScore("zrangeFromScoreWithin", minScore);
      assertCount("zrangeFromScoreWithin", count);
      assertMaxBytes("zrangeFromScoreWithin", maxBytes);
      const min = minScore === -Infinity ? "-inf" : String(minScore);
      const max = maxBytes === Infinity ? "-1" : String(maxBytes);
      if (!scriptRefused) {
        try {
          const reply = await run("MEMORY USAGE + ZRANGEBYSCORE (script)", key, "zset", () =>
            rangeScript(key, min, count, max),
          );
          return boundedRange(reply);
        } catch (error) {
          if (!(error instanceof Error && SCRIPT_REFUSED.test(error.message))) throw error;
          // A server before Redis 7 (no EVAL_RO), or an ACL user not yet given +eval_ro
          // +evalsha_ro: nothing ran. From now on the two calls, as before issue 20 — said once,
          // so that an operator who has not changed the ACL (docs/operations.md) learns it.
          scriptRefused = true;
          connection.report({
            type: "degraded",
            message:
              `size-bounded candle reads now take two calls (MEMORY USAGE, then ZRANGEBYSCORE): the script was refused (${scrub(error.message)}); ` +
              "give the service's ACL user +eval_ro +evalsha_ro (docs/operations.md)",
          });
        }
      }
      return await rangeByTwoCalls(store, key, minScore, count, maxBytes);
    },

    async deleteOwn(keys: string[]): Promise<number> {
      if (!Array.isArray(keys))
        throw new TypeError("deleteOwn: keys must be an array of key names");
      // Every key is checked before anything is sent: a refused call deletes nothing.
      keys.forEach(assertDeletable);
      // DEL without a key is a syntax error; there is nothing to do.
      if (keys.length === 0) return 0;
      return await run("DEL", keys.join(", "), undefined, () => client.del(...keys));
    },

    async xreadAfter(
      key: string,
      afterId: string,
      count: number,
      blockMs: number,
    ): Promise<StreamEntry[]> {
      assertCount("xreadAfter", count);
      assertBlockMs("xreadAfter", blockMs);
      parseStreamId("xreadAfter", "afterId", afterId);
      // The socket timeout equals the command timeout: a server that keeps silent that long is
      // taken for stalled and the connection is dropped. A block that long would be cut off as
      // "no reply" (and take every command in flight on the connection with it), so it is refused
      // here; keep blockMs below commandTimeoutMs, with room for the round trip.
      if (blockMs >= commandTimeoutMs) {
        throw new Error(
          `redis ${target}: xreadAfter ${key}: blockMs ${blockMs} must be below the command timeout, commandTimeoutMs ${commandTimeoutMs} ` +
            '(the socket timeout equals it, so a longer block would be cut off as "no reply")',
        );
      }
      const reply = await run("XREAD", key, "stream", () =>
        blockMs === 0
          ? client.xread("COUNT", count, "STREAMS", key, afterId)
          : client.xread("COUNT", count, "BLOCK", blockMs, "STREAMS", key, afterId),
      );
      // null: nothing arrived within blockMs (or, without BLOCK, nothing newer / no such stream).
      if (reply === null) return [];
      return reply
        .filter(([name]) => name === key)
        .flatMap(([, items]) => items.map(toStreamEntry));
    },

    async publish(batch: PublishBatch): Promise<void> {
      assertPublishable(batch);
      const [only] = batch.hashes;
      if (batch.hashes.length === 1 && batch.streams.length === 0 && only.ttlSec === undefined) {
        // A single HSET (the heartbeat) is atomic by itself — every field or, on WRONGTYPE,
        // nothing — so it needs neither the type check nor MULTI/EXEC: one command, one round
        // trip, on the path most cycles take.
        await run("HSET", only.key, "hash", () => client.hset(only.key, only.fields));
        return;
      }
      const keysShown = [...batch.hashes, ...batch.streams].map((w) => w.key).join(", ");

      // Redis does not roll a MULTI back when one command fails (WRONGTYPE): the others still
      // run. Checking every target's type first makes the common case — a key someone created
      // with another type — all-or-nothing, like the memory store. Only a type change in the
      // microseconds between this check and EXEC can still split a publish, and EXEC's replies
      // are checked below for exactly that.
      const targets = [
        ...batch.hashes.map((w) => ({ key: w.key, type: "hash" })),
        ...batch.streams.map((w) => ({ key: w.key, type: "stream" })),
      ];
      const types = await Promise.all(
        targets.map((t) => run("TYPE", t.key, undefined, () => client.type(t.key))),
      );
      targets.forEach((t, i) => {
        if (types[i] !== "none" && types[i] !== t.type)
          throw new WrongTypeError(t.key, t.type, types[i]);
      });

      // The TYPE checks awaited: the connection may have gone (and come back) meanwhile.
      if (!connection.usable()) throw notConnected("publish (MULTI/EXEC) of", keysShown);
      const transaction = client.multi();
      for (const write of batch.hashes) {
        transaction.hset(write.key, write.fields);
        if (write.ttlSec !== undefined) transaction.expire(write.key, write.ttlSec);
      }
      for (const write of batch.streams) {
        const flat = Object.entries(write.fields).flat();
        transaction.xadd(write.key, "MAXLEN", "~", write.maxLen, "*", ...flat);
      }
      let replies: Array<[Error | null, unknown]> | null;
      try {
        replies = await transaction.exec();
      } catch (error) {
        throw await translate(error, "publish (MULTI/EXEC) of", keysShown);
      }
      if (replies === null)
        throw new Error(`redis ${target}: publish of ${keysShown} failed: transaction aborted`);
      const failures = replies
        .filter(([error]) => error !== null)
        .map(([error]) => scrub(String(error?.message)));
      if (failures.length > 0) {
        throw new Error(
          `redis ${target}: publish of ${keysShown} partly failed (Redis applied the other commands of the transaction): ` +
            `${failures.length} of ${replies.length} commands failed: ${failures.join("; ")}`,
        );
      }
    },

    async ping(): Promise<void> {
      await run("PING", "", undefined, () => client.ping());
    },

    close: () => connection.close(),
  };
  return store;
}

/** [id, [f1, v1, …]] as XRANGE/XREAD reply it → a StreamEntry. */
function toStreamEntry([id, flat]: [string, string[]]): StreamEntry {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
  return { id, fields };
}

function parseScore(raw: string): number {
  if (raw === "inf" || raw === "+inf") return Infinity;
  if (raw === "-inf") return -Infinity;
  return Number(raw);
}
