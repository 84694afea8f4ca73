// One private redis-server and a client for a whole test file: registers the vitest hooks.
import { afterAll, beforeAll } from 'vitest';
import type { Redis } from 'ioredis';
import { startTestRedis, type TestRedis } from './redisServer.js';
import { redisClient } from './seed.js';

export interface RedisFixture {
  readonly server: TestRedis;
  readonly redis: Redis;
}

export function useTestRedis(): RedisFixture {
  let server: TestRedis | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    server = await startTestRedis();
    redis = redisClient(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.close();
  });
  const need = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the test Redis is only available inside tests');
    return value;
  };
  return {
    get server() { return need(server); },
    get redis() { return need(redis); },
  };
}
