// One private redis-server and a client for a whole test file (or describe block): registers the
// vitest hooks. With `{ store: true }` also the service's own Redis store on it, ready.
import { afterAll, beforeAll } from "vitest";
import type { Redis } from "ioredis";
import { createRedisStore, type RedisStore } from "../../src/store/redisStore.js";
import { startTestRedis, type TestRedis } from "./redisServer.js";
import { redisClient } from "./seed.js";

export interface RedisFixture {
  readonly server: TestRedis;
  readonly redis: Redis;
  /** Only with `useTestRedis({ store: true })`. */
  readonly store: RedisStore;
}

export function useTestRedis(options: { store?: boolean } = {}): RedisFixture {
  let server: TestRedis | undefined;
  let redis: Redis | undefined;
  let store: RedisStore | undefined;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = redisClient(server.url);
    if (options.store) {
      store = createRedisStore({ url: server.url, reconnectBaseMs: 20, reconnectCapMs: 200 });
      await store.waitReady(5000);
    }
  });
  afterAll(async () => {
    await store?.close();
    redis?.disconnect();
    await server?.close();
  });
  const need = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the test Redis is only available inside tests");
    return value;
  };
  return {
    get server() {
      return need(server);
    },
    get redis() {
      return need(redis);
    },
    get store() {
      return need(store);
    },
  };
}
