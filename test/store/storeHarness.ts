// Runs one behavioural suite against both stores. A harness gives a test the Store under test
// plus a "seeder" standing in for the other services (candle writers, position writers): on the
// memory store it is the store's own Redis-named helpers, on Redis a second, plain ioredis client.
// Blocking reads (xreadAfter) go to `reader`, a store dedicated to them as the Store interface
// asks: on Redis a second connection whose command timeout leaves room for a 5 s block.
import { afterAll, beforeAll, beforeEach } from "vitest";
import { Redis } from "ioredis";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { createRedisStore, type RedisStore } from "../../src/store/redisStore.js";
import type { Store } from "../../src/store/types.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";

export interface Seeder {
  hset(key: string, fields: Record<string, string | number>): Promise<void>;
  zadd(key: string, ...scoreMembers: Array<number | string>): Promise<void>;
  rpush(key: string, ...values: Array<string | number>): Promise<void>;
  set(key: string, value: string): Promise<void>;
  xadd(key: string, fields: Record<string, string | number>): Promise<string>;
  /** Raw reads for assertions, bypassing the store under test. */
  hgetall(key: string): Promise<Record<string, string>>;
  ttl(key: string): Promise<number>;
  xlen(key: string): Promise<number>;
  keys(pattern: string): Promise<string[]>;
  /** Blocking reads waiting right now (INFO clients: blocked_clients), to add an entry only once one waits. */
  blockedClients(): Promise<number>;
}

/** The command timeout of the Redis harness' `reader`: above the contract's longest block (5 s). */
export const READER_COMMAND_TIMEOUT_MS = 10_000;

export interface Harness {
  readonly name: "memory" | "redis";
  /** Valid after reset(): a fresh, empty store. */
  store: Store;
  /** The same data as `store`, on a store (connection) of its own for blocking reads. */
  reader: Store;
  seed: Seeder;
  reset(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessFactory {
  name: "memory" | "redis";
  create(): Promise<Harness>;
}

export function memoryHarness(): Harness {
  let memory = new MemoryStore();
  const seed: Seeder = {
    hset: async (key, fields) => void memory.hset(key, fields),
    zadd: async (key, ...pairs) => void memory.zadd(key, ...pairs),
    rpush: async (key, ...values) => void memory.rpush(key, ...values),
    set: async (key, value) => memory.set(key, value),
    xadd: async (key, fields) => memory.xadd(key, fields),
    hgetall: async (key) => memory.hgetall(key),
    ttl: async (key) => memory.ttl(key),
    xlen: async (key) => memory.xlen(key),
    keys: async (pattern) => memory.keys(pattern),
    blockedClients: async () => memory.blockedClients(),
  };
  const harness: Harness = {
    name: "memory",
    store: memory,
    reader: memory,
    seed,
    reset: async () => {
      await memory.close();
      memory = new MemoryStore();
      harness.store = memory;
      harness.reader = memory;
    },
    close: async () => {
      await memory.close();
    },
  };
  return harness;
}

export async function redisHarness(): Promise<
  Harness & { server: TestRedis; redisStore: RedisStore }
> {
  const server = await startTestRedis();
  const raw = new Redis(server.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const redisStore = createRedisStore({
    url: server.url,
    reconnectBaseMs: 20,
    reconnectCapMs: 200,
  });
  const reader = createRedisStore({
    url: server.url,
    commandTimeoutMs: READER_COMMAND_TIMEOUT_MS,
    reconnectBaseMs: 20,
    reconnectCapMs: 200,
    connectionName: "quantum-calc-reader",
  });
  await Promise.all([redisStore.waitReady(5000), reader.waitReady(5000)]);
  const seed: Seeder = {
    hset: async (key, fields) => void (await raw.hset(key, fields)),
    zadd: async (key, ...pairs) => void (await raw.zadd(key, ...pairs)),
    rpush: async (key, ...values) => void (await raw.rpush(key, ...values)),
    set: async (key, value) => void (await raw.set(key, value)),
    xadd: async (key, fields) =>
      (await raw.xadd(key, "*", ...Object.entries(fields).flat().map(String))) as string,
    hgetall: async (key) => raw.hgetall(key),
    ttl: async (key) => raw.ttl(key),
    xlen: async (key) => raw.xlen(key),
    keys: async (pattern) => (await raw.keys(pattern)).sort(),
    blockedClients: async () => {
      const info = await raw.info("clients");
      return Number(/^blocked_clients:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
    },
  };
  return {
    name: "redis",
    store: redisStore,
    reader,
    redisStore,
    server,
    seed,
    reset: async () => void (await raw.flushall()),
    close: async () => {
      await redisStore.close();
      await reader.close();
      raw.disconnect();
      await server.close();
    },
  };
}

export const HARNESSES: HarnessFactory[] = [
  { name: "memory", create: async () => memoryHarness() },
  { name: "redis", create: redisHarness },
];

/**
 * Registers the lifecycle of one harness for the enclosing describe block: created once, reset
 * before every test, closed at the end. Returns an accessor (the harness exists only in tests).
 */
export function useHarness(create: HarnessFactory["create"]): () => Harness {
  let h: Harness | undefined;
  beforeAll(async () => {
    h = await create();
  });
  afterAll(async () => {
    await h?.close();
  });
  beforeEach(async () => {
    await h?.reset();
  });
  return () => {
    if (!h) throw new Error("the store harness is only available inside tests");
    return h;
  };
}

/**
 * Resolves once `n` blocking reads are waiting (polled, bounded): a test adds the entry that
 * should wake a read only after the read is known to block, instead of sleeping and hoping.
 */
export async function waitForBlockedReaders(seed: Seeder, n = 1, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  while ((seen = await seed.blockedClients()) < n) {
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${n} blocked reader(s) (saw ${seen})`,
      );
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
