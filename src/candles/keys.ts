// Where a symbol's candles are read from (CONTRACT.md, "Candles"): a
// configurable list of key patterns, the first existing key wins, and how deep into its tail a read
// goes.

/** The data sink's key first (the only one the live stack writes), then the older layouts. */
export const DEFAULT_CANDLE_PATTERNS: readonly string[] = [
  "quantum:history:ohlcv:{symbol}:1m",
  "candles:{symbol}:1m",
  "quantum:candles:{symbol}",
  "klines:{symbol}:1m",
];
export const DEFAULT_CANDLE_WINDOW = 300;

/** The keys tried for `symbol`, in order. */
export function candleKeys(symbol: string, patterns: readonly string[]): string[] {
  return patterns.map((pattern) => pattern.split("{symbol}").join(symbol));
}

/**
 * How many members to read from the end of the key at most: the window plus a margin for
 * duplicates and malformed members (as many again, at least 64), so bad members do not shrink
 * the window, while a huge key is never read whole.
 */
export function candleTailCount(windowSize: number): number {
  return windowSize + Math.max(64, windowSize);
}

/**
 * The first, cheaper read: the window plus a small margin. Clean keys (the normal case) need no
 * more; only when duplicates or malformed members leave the window short is the full
 * candleTailCount read. Halves what a poll transfers and parses.
 */
export function candleFirstTailCount(windowSize: number): number {
  return windowSize + Math.max(16, Math.ceil(windowSize / 16));
}
