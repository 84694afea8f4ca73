// Live candles (docs/specification.md §5): the market publisher appends every closed 1m candle to
// quantum:stream:market.klines as an envelope
//   {event_type: "market.klines", payload: <json.dumps of the candle>, correlation_id,
//    timestamp (ISO), source, trace_id}
// and the service follows it with plain XREAD (never a consumer group: other services consume
// the stream; nothing is acknowledged or deleted). This module is the pure part: an entry to a
// candle or a counted skip, and the small per-symbol buffer of live candles the marketstate
// read merges into its window until the data sink's sorted set holds them.
import type { StreamEntry } from "../store/types.js";
import {
  candleFromRecord,
  DEFAULT_CANDLE_GUARDS,
  openTimeMs,
  priceOutOfRange,
  type Candle,
  type CandleGuards,
} from "../candles/index.js";

export const KLINE_SKIP_REASONS = [
  "no_payload",
  "bad_json",
  "bad_candle",
  "not_closed",
  "not_1m",
  "unknown_symbol",
  "future_candle",
] as const;
export type KlineSkipReason = (typeof KLINE_SKIP_REASONS)[number];

export interface LiveCandle extends Candle {
  symbol: string;
  /** The candle's open time, epoch ms (the stream's unit). */
  openTime: number;
}

export type KlineRead =
  { ok: true; candle: LiveCandle } | { ok: false; reason: KlineSkipReason; detail: string };

const skipped = (reason: KlineSkipReason, entry: StreamEntry, why: string): KlineRead => ({
  ok: false,
  reason,
  detail: `klines entry ${entry.id}: ${why}`,
});

/**
 * One stream entry → a closed 1m candle of a running symbol, or the reason it is skipped: no
 * payload, payload not JSON (or not an object), a candle without a positive close, with
 * non-numeric fields, prices out of order or out of [minPrice, maxPrice] (bad_candle), an open or
 * close time later than now + maxClockSkew (future_candle: it must not run a cycle nor count as
 * fresh), not closed, another interval, or a symbol this service does not run. Without
 * `guards.nowMs` nothing is taken to be in the future.
 */
export function parseKlineEntry(
  entry: StreamEntry,
  isRunning: (symbol: string) => boolean,
  guards: CandleGuards = {},
): KlineRead {
  const text = entry.fields.payload;
  if (text === undefined || text === "") return skipped("no_payload", entry, "no payload field");
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    return skipped("bad_json", entry, `payload is not JSON (${JSON.stringify(text.slice(0, 60))})`);
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    return skipped("bad_json", entry, "payload is not a JSON object");
  }
  const record = payload as Record<string, unknown>;
  const symbol = record.symbol;
  if (typeof symbol !== "string" || symbol === "")
    return skipped("bad_candle", entry, "payload has no symbol");
  const candle = candleFromRecord(record);
  if (candle === null)
    return skipped(
      "bad_candle",
      entry,
      `${symbol}: close must be a number > 0 and open_time/high/low/close_time/timestamp numbers`,
    );
  if (candle.openTime === null) return skipped("bad_candle", entry, `${symbol}: no open_time`);
  const minPrice = guards.minPrice ?? DEFAULT_CANDLE_GUARDS.minPrice;
  const maxPrice = guards.maxPrice ?? DEFAULT_CANDLE_GUARDS.maxPrice;
  const outOfRange = priceOutOfRange(candle, minPrice, maxPrice);
  if (outOfRange !== null)
    return skipped(
      "bad_candle",
      entry,
      `${symbol}: ${outOfRange} outside [minCandlePrice ${minPrice}, maxCandlePrice ${maxPrice}]`,
    );
  if (guards.nowMs !== undefined) {
    const skewMs = guards.maxClockSkewMs ?? DEFAULT_CANDLE_GUARDS.maxClockSkewMs;
    const latest = Math.max(
      openTimeMs(candle.openTime),
      candle.closeTime === null ? -Infinity : openTimeMs(candle.closeTime),
    );
    if (latest > guards.nowMs + skewMs) {
      const field =
        candle.closeTime !== null && openTimeMs(candle.closeTime) === latest
          ? `close_time ${candle.closeTime}`
          : `open_time ${candle.openTime}`;
      return skipped(
        "future_candle",
        entry,
        `${symbol}: ${field} is ${Math.round((latest - guards.nowMs) / 1000)} s after now (maxClockSkew ${skewMs / 1000} s)`,
      );
    }
  }
  if (record.is_closed !== true)
    return skipped(
      "not_closed",
      entry,
      `${symbol}: is_closed is ${JSON.stringify(record.is_closed ?? null)}`,
    );
  if (record.interval !== undefined && record.interval !== "1m") {
    return skipped("not_1m", entry, `${symbol}: interval ${JSON.stringify(record.interval)}`);
  }
  if (!isRunning(symbol))
    return skipped("unknown_symbol", entry, `${symbol} is not a running symbol`);
  return { ok: true, candle: { ...candle, symbol, openTime: candle.openTime } };
}

/** How many live candles LiveCandles keeps for a symbol by default (bench/burst.ts reads it too). */
export const LIVE_CANDLES_PER_SYMBOL = 8;

/**
 * The newest few live candles per symbol. The data sink usually writes a candle into the sorted
 * set within milliseconds of the stream; a handful covers it lagging for minutes. Candles the set
 * already holds are dropped by the merge (src/candles/series.ts), so keeping a few is harmless.
 */
export class LiveCandles {
  private readonly bySymbol = new Map<string, LiveCandle[]>();

  constructor(private readonly perSymbol = LIVE_CANDLES_PER_SYMBOL) {}

  add(candle: LiveCandle): void {
    const list = this.bySymbol.get(candle.symbol) ?? [];
    const same = list.findIndex((c) => c.openTime === candle.openTime);
    if (same >= 0) {
      // A republished candle: the newest publish wins.
      if ((candle.publishedAt ?? -Infinity) >= (list[same].publishedAt ?? -Infinity))
        list[same] = candle;
    } else {
      list.push(candle);
      list.sort((a, b) => a.openTime - b.openTime);
      if (list.length > this.perSymbol) list.splice(0, list.length - this.perSymbol);
    }
    this.bySymbol.set(candle.symbol, list);
  }

  get(symbol: string): readonly LiveCandle[] {
    return this.bySymbol.get(symbol) ?? [];
  }

  forget(symbol: string): void {
    this.bySymbol.delete(symbol);
  }
}
