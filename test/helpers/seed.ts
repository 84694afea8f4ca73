// Seeding a test Redis with the inputs the old stack's producers write: candles (sorted set,
// JSON members) and position hashes. Used by the service, contract and fault tests.
import { Redis } from "ioredis";
import { syntheticPrices, type SyntheticRegime } from "../../src/synthetic/prices.js";

export const MINUTE_MS = 60_000;

export function redisClient(url: string): Redis {
  return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

/** Open time of the first of `count` 1m candles whose newest opened in the last closed minute. */
export function firstOpenTimeFor(count: number, nowMs = Date.now()): number {
  return Math.floor(nowMs / MINUTE_MS) * MINUTE_MS - count * MINUTE_MS;
}

/**
 * Writes `closes` as 1-minute candles `{"t": openTime, "close": c}` scored by open time, in an
 * older layout (`candles:S:1m` by default). The newest candle opened in the last closed minute
 * (built from the clock: the service refuses a series whose newest candle is older than
 * maxCandleAge). The live stack's layout is test/helpers/producers.ts `seedDataSink`.
 */
export async function seedCandles(
  redis: Redis,
  symbol: string,
  closes: number[],
  options: { key?: string; firstOpenTimeMs?: number } = {},
): Promise<void> {
  const key = options.key ?? `candles:${symbol}:1m`;
  const first = options.firstOpenTimeMs ?? firstOpenTimeFor(closes.length);
  const args: Array<string | number> = [];
  closes.forEach((close, i) => {
    const t = first + i * MINUTE_MS;
    args.push(t, JSON.stringify({ t, close }));
  });
  await redis.zadd(key, ...args);
}

export function prices(regime: SyntheticRegime, length = 300, start = 100, seed = 7): number[] {
  return syntheticPrices(regime, { length, start, seed });
}

export interface PositionFields {
  symbol: string;
  side: string;
  entry_price: number | string;
  current_price: number | string;
  peak_price?: number | string;
  trough_price?: number | string;
  age_sec: number | string;
  unrealized_pnl: number | string;
  current_sl?: number | string;
  current_tp?: number | string;
}

export function longPosition(
  symbol: string,
  current: number,
  overrides: Partial<PositionFields> = {},
): PositionFields {
  const entry = current * 0.97;
  return {
    symbol,
    side: "LONG",
    entry_price: entry,
    current_price: current,
    peak_price: current * 1.01,
    trough_price: entry * 0.99,
    age_sec: 3600,
    unrealized_pnl: current - entry,
    current_sl: entry * 0.98,
    ...overrides,
  };
}

/** The canonical hash quantum:state:positions:{symbol}. */
export async function seedPosition(redis: Redis, fields: PositionFields): Promise<void> {
  const flat: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) flat[k] = String(v);
  await redis.hset(`quantum:state:positions:${fields.symbol}`, flat);
}
