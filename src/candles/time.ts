// The time rules of a candle: the key's unit (s or ms), the clock (future_candle) and gaps
// (CONTRACT.md, "Plausibility").

/**
 * Open times below this are taken to be epoch seconds, above it epoch milliseconds (1e11 ms is
 * 1973; 1e11 s is the year 5138): the older layouts wrote either.
 */
export const EPOCH_MS_THRESHOLD = 1e11;

/** An open time in the key's own unit (s or ms) as epoch milliseconds. */
export function openTimeMs(openTime: number): number {
  return Math.abs(openTime) < EPOCH_MS_THRESHOLD ? openTime * 1000 : openTime;
}

/**
 * Whether a member is dated later than `afterMs` by its score (the open time of a sorted set's
 * member; NaN for a list element), its open time or its close time (each in the key's unit; NaN
 * or null: none). A closed 1m candle's close_time cannot be after now: such a member is a clock
 * or writer fault.
 */
export function datedAfter(
  afterMs: number,
  score: number,
  openTime: number | null,
  closeTime: number | null,
): boolean {
  if (afterMs === Infinity) return false;
  return (
    (!Number.isNaN(score) && openTimeMs(score) > afterMs) ||
    (openTime !== null && openTimeMs(openTime) > afterMs) ||
    (closeTime !== null && openTimeMs(closeTime) > afterMs)
  );
}

const MINUTE_MS = 60_000;

/** Minutes missing between two consecutive candles opened at these epoch-ms times. */
export function missingMinutes(previousMs: number, nextMs: number): number {
  const gap = Math.ceil((nextMs - previousMs) / MINUTE_MS) - 1;
  return gap > 0 ? gap : 0;
}
