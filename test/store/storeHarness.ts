// Runs one behavioural suite against both stores. A harness gives a test the Store under test
// plus a "seeder" standing in for the other services (candle writers, position writers): on the
// memory store it is the store's own Redis-named helpers, on Redis a second, plain ioredis client.
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { Redis } from 'ioredis';
import { MemoryStore } from '../../src/store/memoryStore.js';
import { createRedisStore, type RedisStore } from '../../src/store/redisStore.js';
import type { Store } from '../../src/store/types.js';
import { startTestRedis, type TestRedis } from '../helpers/redisServer.js';

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
}

export interface Harness {
  readonly name: 'memory' | 'redis';
  /** Valid after reset(): a fresh, empty store. */
  store: Store;
  seed: Seeder;
  reset(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessFactory {
  name: 'memory' | 'redis';
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
  };
  const harness: Harness = {
    name: 'memory',
    store: memory,
    seed,
    reset: async () => {
      memory = new MemoryStore();
      harness.store = memory;
    },
    close: async () => {},
  };
  return harness;
}

export async function redisHarness(): Promise<Harness & { server: TestRedis; redisStore: RedisStore }> {
  const server = await startTestRedis();
  const raw = new Redis(server.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const redisStore = createRedisStore({ url: server.url, reconnectBaseMs: 20, reconnectCapMs: 200 });
  await redisStore.waitReady(5000);
  const seed: Seeder = {
    hset: async (key, fields) => void (await raw.hset(key, fields)),
    zadd: async (key, ...pairs) => void (await raw.zadd(key, ...pairs)),
    rpush: async (key, ...values) => void (await raw.rpush(key, ...values)),
    set: async (key, value) => void (await raw.set(key, value)),
    xadd: async (key, fields) => (await raw.xadd(key, '*', ...Object.entries(fields).flat().map(String))) as string,
    hgetall: async (key) => raw.hgetall(key),
    ttl: async (key) => raw.ttl(key),
    xlen: async (key) => raw.xlen(key),
    keys: async (pattern) => (await raw.keys(pattern)).sort(),
  };
  return {
    name: 'redis',
    store: redisStore,
    redisStore,
    server,
    seed,
    reset: async () => void (await raw.flushall()),
    close: async () => {
      await redisStore.close();
      raw.disconnect();
      await server.close();
    },
  };
}

export const HARNESSES: HarnessFactory[] = [
  { name: 'memory', create: async () => memoryHarness() },
  { name: 'redis', create: redisHarness },
];

/**
 * Registers the lifecycle of one harness for the enclosing describe block: created once, reset
 * before every test, closed at the end. Returns an accessor (the harness exists only in tests).
 */
export function useHarness(create: HarnessFactory['create']): () => Harness {
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
    if (!h) throw new Error('the store harness is only available inside tests');
    return h;
  };
}
