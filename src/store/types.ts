// The storage interface every publisher talks to. It is deliberately Redis-shaped and small:
// the Redis store (ioredis) and the embedded in-memory store implement exactly these calls, so
// candle readers, position sources and publishers run unchanged on either, and on test doubles.

export type KeyKind = "none" | "string" | "hash" | "zset" | "list" | "set" | "stream" | "other";

export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

export interface ScoredMember {
  member: string;
  score: number;
}

export interface HashWrite {
  key: string;
  /** HSET of exactly these fields: other services own other fields of the same hash. */
  fields: Record<string, string>;
  /** EXPIRE in whole seconds after the HSET, when set. */
  ttlSec?: number;
}

export interface StreamWrite {
  key: string;
  fields: Record<string, string>;
  /** XADD MAXLEN ~ maxLen. */
  maxLen: number;
}

/** What zrangeFromScoreWithin found: the key's size, and its members when it was small enough to read. */
export interface BoundedRange {
  /** MEMORY USAGE key SAMPLES 0; null when the key does not exist. */
  bytes: number | null;
  /** The zrangeFromScore members; null when the key does not exist or is above the bound. */
  members: ScoredMember[] | null;
}

/** One publish: every write in it lands together (MULTI/EXEC) or not at all. */
export interface PublishBatch {
  hashes: HashWrite[];
  streams: StreamWrite[];
}

/** Thrown by a read when the key exists with another type (Redis WRONGTYPE). */
export class WrongTypeError extends Error {
  readonly key: string;
  constructor(key: string, expected: string, actual?: string) {
    super(`key ${key} is not a ${expected}${actual ? ` (it is a ${actual})` : ""}`);
    this.name = "WrongTypeError";
    this.key = key;
  }
}

export interface Store {
  readonly kind: "redis" | "memory";
  keyKind(key: string): Promise<KeyKind>;
  /** All fields of a hash; `{}` when the key does not exist. */
  hgetall(key: string): Promise<Record<string, string>>;
  hget(key: string, field: string): Promise<string | null>;
  /** The `count` highest-scored members of a sorted set, returned in ascending score order. */
  zrangeTail(key: string, count: number): Promise<string[]>;
  /**
   * Like zrangeTail, with each member's score (ZRANGE … WITHSCORES). Candle readers need the
   * score: it is the open time they deduplicate by when a member does not carry its own.
   */
  zrangeTailWithScores(key: string, count: number): Promise<ScoredMember[]>;
  /** The last `count` elements of a list, in list order. */
  lrangeTail(key: string, count: number): Promise<string[]>;
  /** Up to `count` newest entries of a stream, newest first. */
  xrevrange(key: string, count: number): Promise<StreamEntry[]>;
  /**
   * Members of a sorted set whose score is >= minScore, ascending by (score, member bytes), at most
   * `count` of them, with scores (ZRANGEBYSCORE key minScore +inf WITHSCORES LIMIT 0 count).
   * [] when the key does not exist; WrongTypeError when it is another type.
   */
  zrangeFromScore(key: string, minScore: number, count: number): Promise<ScoredMember[]>;
  /**
   * DEL of this service's own bookkeeping keys. Only keys under `quantum:calc:` may be deleted: any
   * other key is refused with ForbiddenKeyError before anything is sent (never delete a key another
   * service owns). Returns how many of the keys existed.
   */
  deleteOwn(keys: string[]): Promise<number>;
  /**
   * Up to `count` entries of a stream with ids greater than `afterId`, oldest first (XREAD COUNT
   * count BLOCK blockMs STREAMS key afterId), waiting up to `blockMs` for the first one; [] when
   * none arrived in time or the stream does not exist. blockMs 0 means do not block (plain XREAD
   * without BLOCK) — never "block forever". A blocking read holds the connection: call it only
   * on a store dedicated to it.
   */
  xreadAfter(key: string, afterId: string, count: number, blockMs: number): Promise<StreamEntry[]>;
  /**
   * Keys matching a glob pattern, by SCAN — never KEYS, which blocks the server and which the
   * least-privilege ACL user may not run — at most `limit` of them (the scan stops there).
   */
  scanKeys(pattern: string, limit: number): Promise<string[]>;
  /**
   * How many bytes the key and its value take in the server's memory (MEMORY USAGE key SAMPLES 0:
   * every member counted, none sampled); null when the key does not exist. Asked before reading a
   * key other services can grow without bound, so a huge one is refused before its reply is
   * requested. @read on Redis, so the least-privilege user may run it.
   */
  memoryUsage(key: string): Promise<number | null>;
  /**
   * memoryUsage, then — only when the key exists and takes at most `maxBytes` — zrangeFromScore,
   * as one operation: on Redis one read-only script (one round trip instead of two; the size is
   * still known before any member is read, so a huge key's members are never sent).
   * `{ bytes: null, members: null }` when the key does not exist; `{ bytes, members: null }` when it
   * takes more than maxBytes; WrongTypeError when it is not a sorted set. Optional: a store without
   * it is asked the two calls one after the other (candles/window.ts, candles/extremes.ts).
   */
  zrangeFromScoreWithin?(
    key: string,
    minScore: number,
    count: number,
    maxBytes: number,
  ): Promise<BoundedRange>;
  /** Atomic publish (MULTI/EXEC on Redis). Rejects on I/O failure; then nothing may be assumed. */
  publish(batch: PublishBatch): Promise<void>;
  /** Resolves when the store answers; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
