// One candle member (CONTRACT.md, "Candles"): the key is written by other
// services in a few shapes, so the parse is lenient about shape and strict about values: every
// member is parsed on its own, a bad one is refused (the read skips and counts it), and nothing is
// ever defaulted.
//
// The live stack's layout is the data sink's sorted set quantum:history:ohlcv:{S}:1m: score = open
// time in ms, each member `json.dumps` of a closed candle
//   {"symbol", "interval", "open", "high", "low", "close", "volume", "open_time", "close_time",
//    "is_closed", "timestamp"}
// where `timestamp` is the market publisher's time.time() when it published the candle. A candle
// published twice is two members with the same score: the newest `timestamp` wins.
import { parseFiniteNumber, parsePositiveNumber } from "../inputs/parse.js";

export interface Candle {
  close: number;
  /** null when neither the member nor the key (zset score) gives one. */
  openTime: number | null;
  /**
   * When the producer published this candle (the member's `timestamp`, epoch seconds): of two
   * members with the same open time the newest wins. null when the member has none.
   */
  publishedAt: number | null;
  /** The candle's high and low, when the member carries them (position memory, CONTRACT.md). */
  high: number | null;
  low: number | null;
  /** close_time in the member's unit, when present. */
  closeTime: number | null;
}

const bareCandle = (close: number): Candle => ({
  close,
  openTime: null,
  publishedAt: null,
  high: null,
  low: null,
  closeTime: null,
});

/** An optional field: absent/null → null; present → a number, or undefined when it is not one. */
function optionalNumber(raw: unknown, positive: boolean): number | null | undefined {
  if (raw === undefined || raw === null) return null;
  const value = positive ? parsePositiveNumber(raw) : parseFiniteNumber(raw);
  return value === null ? undefined : value;
}

/**
 * One candle from a JSON object: `close` (or `c`) required, `open`, `open_time` (or `t`),
 * `high`/`low`, `close_time` and `timestamp` optional — but each present one must be a number
 * (prices > 0), and the prices present must be in order, low ≤ min(open, close) ≤ max(open, close)
 * ≤ high (CONTRACT.md, "Plausibility"), else the whole candle is refused (null). Used for set
 * members and for klines stream payloads. The price range is the reader's (priceOutOfRange): it is
 * configuration, and a parse is remembered per member string.
 */
export function candleFromRecord(record: Record<string, unknown>): Candle | null {
  const close = parsePositiveNumber(record.close !== undefined ? record.close : record.c);
  if (close === null) return null;
  const openTime = optionalNumber(record.t !== undefined ? record.t : record.open_time, false);
  const publishedAt = optionalNumber(record.timestamp, false);
  const open = optionalNumber(record.open, true);
  const high = optionalNumber(record.high, true);
  const low = optionalNumber(record.low, true);
  const closeTime = optionalNumber(record.close_time, false);
  if (
    openTime === undefined ||
    publishedAt === undefined ||
    open === undefined ||
    high === undefined ||
    low === undefined ||
    closeTime === undefined
  )
    return null;
  if (!pricesInOrder(open, high, low, close)) return null;
  return { close, openTime, publishedAt, high, low, closeTime };
}

/** low ≤ min(open, close) ≤ max(open, close) ≤ high, for the prices the candle has. */
function pricesInOrder(
  open: number | null,
  high: number | null,
  low: number | null,
  close: number,
): boolean {
  const top = high ?? Infinity;
  const bottom = low ?? -Infinity;
  if (!(bottom <= close && close <= top)) return false;
  return open === null || (bottom <= open && open <= top);
}

/**
 * One member: a bare number ("101.5"), or JSON — a number, or an object (see candleFromRecord).
 * Returns null for anything else, including closes that are not finite and > 0 and optional
 * fields that are present but not numbers.
 */
export function parseCandleMember(member: string): Candle | null {
  const bare = parseFiniteNumber(member);
  if (bare !== null) return bare > 0 ? bareCandle(bare) : null;
  let value: unknown;
  try {
    value = JSON.parse(member);
  } catch {
    return null;
  }
  if (typeof value === "number") {
    const close = parsePositiveNumber(value);
    return close === null ? null : bareCandle(close);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  return candleFromRecord(value as Record<string, unknown>);
}

/**
 * Members are immutable strings and a poll re-reads almost the same tail every time, so the
 * parse of each member is remembered from one read of a key to the next (only the members of
 * the latest read are kept). This takes JSON.parse — most of a read's CPU — off the hot path
 * without changing what is parsed: a member string always parses to the same candle.
 */
export class CandleParseCache {
  private readonly byKey = new Map<string, Map<string, Candle | null>>();

  parseAll(key: string, members: readonly string[]): Array<Candle | null> {
    const previous = this.byKey.get(key);
    const current = new Map<string, Candle | null>();
    const out = members.map((member) => {
      let candle = previous?.get(member);
      if (candle === undefined) candle = parseCandleMember(member);
      current.set(member, candle);
      return candle;
    });
    this.byKey.set(key, current);
    return out;
  }
}
