// readCandleExtremes answers a repeated ask with one ZRANGEBYSCORE from the newest score it saw
// (src/candles/extremes.ts). It must fold exactly the candles the full path (TYPE, newest member,
// ZRANGEBYSCORE from fromMs) folds: checked against a fresh full answer after random writes and
// asks, on redis-server, and for the cases that must leave the quick path.
import fc from "fast-check";
import type { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_CANDLE_PATTERNS,
  EXTREMES_READ_LIMIT,
  readCandleExtremes,
} from "../../src/candles/index.js";
import type { RedisStore } from "../../src/store/redisStore.js";
import type { Store } from "../../src/store/types.js";
import { candlePayload, dataSinkKey, MINUTE_MS } from "../helpers/producers.js";
import { useTestRedis } from "../helpers/redisFixture.js";

const SYMBOL = "ETHUSDT";
const KEY = dataSinkKey(SYMBOL);
const BASE = 1_764_576_000_000;

/** The same store behind a new object: readCandleExtremes remembers per store object, so this one takes the full path. */
function fresh(store: Store): Store {
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function"
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

/** Counts the commands a store is asked for. */
function counted(store: Store): { store: Store; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

describe("readCandleExtremes: the quick path folds what the full path folds", () => {
  const fixture = useTestRedis({ store: true });
  let raw: Redis;
  let store: RedisStore;
  beforeAll(() => {
    ({ redis: raw, store } = fixture);
  });

  const candle = (i: number, close: number, at = 0) =>
    candlePayload({
      symbol: SYMBOL,
      open_time: BASE + i * MINUTE_MS,
      close,
      high: close + 1 + (at % 3),
      low: close - 1,
      timestamp: (BASE + i * MINUTE_MS) / 1000 + 60 + at,
    });

  it("across random appends, republishes, malformed members and asks from any point", async () => {
    const step = fc.oneof(
      fc.record({
        kind: fc.constant("append" as const),
        count: fc.integer({ min: 0, max: 3 }),
        close: fc.integer({ min: 10, max: 900 }),
      }),
      fc.record({
        kind: fc.constant("republish" as const),
        back: fc.integer({ min: 0, max: 40 }),
        close: fc.integer({ min: 10, max: 900 }),
      }),
      fc.record({ kind: fc.constant("malformed" as const), back: fc.integer({ min: 0, max: 5 }) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(step, fc.integer({ min: -5, max: 3 })), { minLength: 3, maxLength: 25 }),
        fc.integer({ min: 1, max: 80 }),
        async (steps, initial) => {
          await raw.del(KEY);
          const { store: quick, calls } = counted(store);
          let newest = -1;
          for (let i = 0; i < initial; i++)
            await raw.zadd(KEY, BASE + ++newest * MINUTE_MS, candle(newest, 100 + i));
          let through = BASE - 10 * MINUTE_MS;
          let stamp = 1;
          for (const [s, ask] of steps) {
            if (s.kind === "append")
              for (let k = 0; k < s.count; k++)
                await raw.zadd(KEY, BASE + ++newest * MINUTE_MS, candle(newest, s.close + k));
            else if (s.kind === "republish")
              await raw.zadd(
                KEY,
                BASE + (newest - s.back) * MINUTE_MS,
                candle(newest - s.back, s.close, stamp++),
              );
            else await raw.zadd(KEY, BASE + (newest - s.back) * MINUTE_MS, `bad ${stamp++}`);
            // As the position memory asks: from just after the last candle folded, or (ask < 0) from further back.
            const fromMs = ask >= 0 ? through + 1 : BASE + (newest + ask * 7) * MINUTE_MS;
            const got = await readCandleExtremes(quick, SYMBOL, DEFAULT_CANDLE_PATTERNS, fromMs);
            expect(got).toEqual(
              await readCandleExtremes(fresh(store), SYMBOL, DEFAULT_CANDLE_PATTERNS, fromMs),
            );
            if (got !== null && ask >= 0) through = got.throughMs;
          }
          // After the first full answer, asks are one command each.
          expect(calls.filter((c) => c === "keyKind").length).toBeLessThanOrEqual(2);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("more members than the limit since fromMs: the same first EXTREMES_READ_LIMIT are folded", async () => {
    await raw.del(KEY);
    for (let i = 0; i < EXTREMES_READ_LIMIT + 60; i++)
      await raw.zadd(KEY, BASE + i * MINUTE_MS, candle(i, 100 + (i % 50)));
    const { store: quick } = counted(store);
    for (const fromMs of [BASE, BASE + 20 * MINUTE_MS, BASE + 3, BASE + 559 * MINUTE_MS, BASE]) {
      expect(await readCandleExtremes(quick, SYMBOL, DEFAULT_CANDLE_PATTERNS, fromMs)).toEqual(
        await readCandleExtremes(fresh(store), SYMBOL, DEFAULT_CANDLE_PATTERNS, fromMs),
      );
    }
  });

  it("the key gone, another type, or in seconds: the full path", async () => {
    await raw.del(KEY);
    for (let i = 0; i < 10; i++) await raw.zadd(KEY, BASE + i * MINUTE_MS, candle(i, 100 + i));
    const { store: quick } = counted(store);
    const ask = async (fromMs: number) =>
      expect(await readCandleExtremes(quick, SYMBOL, DEFAULT_CANDLE_PATTERNS, fromMs)).toEqual(
        await readCandleExtremes(fresh(store), SYMBOL, DEFAULT_CANDLE_PATTERNS, fromMs),
      );
    await ask(BASE);
    await raw.del(KEY);
    await ask(BASE);
    await raw.zadd(
      `candles:${SYMBOL}:1m`,
      1_764_576_000,
      JSON.stringify({ t: 1_764_576_000, close: 5, high: 6, low: 4 }),
    );
    await ask(BASE);
    await raw.rpush(KEY, JSON.stringify({ t: BASE + MINUTE_MS, close: 7 }));
    await ask(BASE);
    await raw.del(KEY);
    await raw.zadd(KEY, 1_764_576_060, JSON.stringify({ t: 1_764_576_060, close: 8 }));
    await ask(BASE);
    await raw.del(KEY, `candles:${SYMBOL}:1m`);
  });
});
