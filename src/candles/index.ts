// The candle input, one file per job (README, "Code map"): where the candles are (keys), what a
// member is (parse), the plausibility and clock limits (guards, time), the rows of a read
// (columns), the one series builder and its fingerprint (series), the incremental window
// (window), the full read (read) and the position memory's extremes (extremes).
export {
  DEFAULT_CANDLE_PATTERNS,
  DEFAULT_CANDLE_WINDOW,
  candleKeys,
  candleTailCount,
  candleFirstTailCount,
} from "./keys.js";
export { openTimeMs } from "./time.js";
export { candleFromRecord, parseCandleMember, CandleParseCache, type Candle } from "./parse.js";
export {
  candleGuardsFromConfig,
  DEFAULT_CANDLE_GUARDS,
  priceOutOfRange,
  type CandleGuards,
} from "./guards.js";
export type { CandleSeries } from "./series.js";
export { CANDLE_FULL_READ_EVERY, CANDLE_REREAD_BAND, CandleWindowCache } from "./window.js";
export { readCandles, type ReadCandlesOptions } from "./read.js";
export { EXTREMES_READ_LIMIT, readCandleExtremes } from "./extremes.js";
