// N symbols in the live stack's layouts on a Redis, for bench:burst and bench:memory: the data
// sink's sorted sets (HISTORY closed 1m candles each, laid back by LIVE_FEED_AHEAD minutes), the position brain's hashes,
// and the market publisher's minute burst of closed candles on quantum:stream:market.klines.
import type { Redis } from "ioredis";
import { createPriceWalk, REGIMES } from "../src/synthetic/prices.js";

export const MINUTE_MS = 60_000;
export const HISTORY = 300;

/** json.dumps of a closed candle, as the market publisher and the data sink write it. */
export function liveCandle(symbol: string, openTime: number, close: number): string {
  return JSON.stringify({
    symbol,
    interval: "1m",
    open: close,
    high: close * 1.001,
    low: close * 0.999,
    close,
    volume: 12.5,
    open_time: openTime,
    close_time: openTime + MINUTE_MS - 1,
    is_closed: true,
    timestamp: (openTime + MINUTE_MS) / 1000,
  });
}

/**
 * Where a bench's candle history starts so that every candle the run will write lies in the past.
 * The service skips a candle dated after now + maxClockSkew (future_candle: CONTRACT.md,
 * Plausibility), and a bench feed writes a minute of candles per burst or per second, far ahead of
 * the clock. So the history is laid back by the candles the run will add, and the service's
 * maxCandleAge is raised to match (benchCandleAgeSec) so the laid-back history is not stale.
 */
export function benchHistoryStart(
  historyCandles: number,
  candlesAhead: number,
  nowMs = Date.now(),
): number {
  return Math.floor(nowMs / MINUTE_MS) * MINUTE_MS - (historyCandles + candlesAhead) * MINUTE_MS;
}

/** maxCandleAge (s) for a history laid back by `candlesAhead` minutes (benchHistoryStart). */
export function benchCandleAgeSec(candlesAhead: number): number {
  return (candlesAhead + 10) * 60;
}

/** The minute bursts bench:burst and bench:memory may send (their histories are laid back by as many). */
export const LIVE_FEED_AHEAD = 120;

export function benchSymbols(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `S${String(i).padStart(4, "0")}USDT`);
}

export interface LiveFeed {
  symbols: string[];
  /** Writes the history and the positions. */
  seed(): Promise<void>;
  /** Moves on as seed() does without writing (another process seeded the same feed). */
  skipHistory(): void;
  /**
   * Builds the next minute's burst — one closed candle per symbol, XADDed in one pipeline — and
   * returns what sends it (resolves when Redis has them all).
   */
  prepareBurst(tag: string): () => Promise<unknown>;
}

/**
 * `members: 'compact'` stores the history as {"t","close"} members (~40 bytes, bench:supervisor's)
 * instead of the data sink's json.dumps (~230 bytes).
 */
export function liveFeed(
  redis: Redis,
  symbols: string[],
  members: "live" | "compact" = "live",
): LiveFeed {
  const walks = symbols.map((_, i) =>
    createPriceWalk(REGIMES[i % REGIMES.length], 500 + i, 100 + (i % 50)),
  );
  const last = new Array<number>(symbols.length).fill(0);
  let openTime = benchHistoryStart(HISTORY, LIVE_FEED_AHEAD);
  return {
    symbols,
    skipHistory() {
      for (let k = 0; k < HISTORY; k++, openTime += MINUTE_MS)
        symbols.forEach((_, i) => (last[i] = Number(walks[i]().toPrecision(10))));
    },
    async seed() {
      for (let k = 0; k < HISTORY; k++, openTime += MINUTE_MS) {
        const pipe = redis.pipeline();
        symbols.forEach((s, i) => {
          last[i] = Number(walks[i]().toPrecision(10));
          const member =
            members === "live"
              ? liveCandle(s, openTime, last[i])
              : JSON.stringify({ t: openTime, close: last[i] });
          pipe.zadd(`quantum:history:ohlcv:${s}:1m`, openTime, member);
        });
        await pipe.exec();
      }
      const nowSec = Math.floor(Date.now() / 1000);
      const pipe = redis.pipeline();
      symbols.forEach((s, i) => {
        const entry = last[i] * 0.98;
        pipe.hset(`quantum:state:positions:${s}`, {
          symbol: s,
          position_amt: "0.5",
          side: "LONG",
          quantity: "0.5",
          entry_price: String(entry),
          mark_price: String(last[i]),
          current_price: String(last[i]),
          unrealized_pnl: String((last[i] - entry) * 0.5),
          leverage: "10",
          ts_epoch: String(nowSec),
          source: "position_state_brain",
        });
      });
      await pipe.exec();
    },
    prepareBurst(tag) {
      const pipe = redis.pipeline();
      symbols.forEach((s, i) => {
        last[i] = Number(walks[i]().toPrecision(10));
        pipe.xadd(
          "quantum:stream:market.klines",
          "MAXLEN",
          "~",
          "10000",
          "*",
          "event_type",
          "market.klines",
          "payload",
          liveCandle(s, openTime, last[i]),
          "correlation_id",
          `${tag}-${i}`,
          "timestamp",
          new Date().toISOString(),
          "source",
          "market-publisher",
          "trace_id",
          "",
        );
      });
      openTime += MINUTE_MS;
      return () => pipe.exec();
    },
  };
}
