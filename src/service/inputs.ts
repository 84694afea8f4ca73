// The inputs the publishers read besides their own hashes: the open positions (from the
// configured source), the position memory with its peak/trough candles, and the live candles the
// klines follower hands on. No I/O of their own to open or close: they read through the store.
import type { Config } from "../config/schema.js";
import { candleGuardsFromConfig, readCandleExtremes } from "../candles/index.js";
import { LiveCandles } from "../inputs/klines.js";
import { PositionBook } from "../inputs/positionMemory.js";
import { createPositionSource, type PositionSource } from "../inputs/positions.js";
import type { Logger } from "../log.js";
import type { Store } from "../store/types.js";

export interface ServiceInputs {
  positions: PositionSource;
  book: PositionBook;
  live: LiveCandles;
}

export function createInputs(
  config: Config,
  logger: Logger,
  store: Store,
  given: PositionSource | undefined,
  now: () => number,
): ServiceInputs {
  if (config.maxInputAge !== null && config.maxInputAge < config.maxPublishAge) {
    logger.warn(
      { maxInputAge: config.maxInputAge, maxPublishAge: config.maxPublishAge },
      "maxInputAge is shorter than maxPublishAge: an unchanged market state will be refused as stale between its publishes",
    );
  }
  const positions =
    given ??
    createPositionSource(config.positionSource, store, {
      maxPositionAgeSec: config.maxPositionAge,
      maxClockSkewSec: config.maxClockSkew,
    });
  // The peak/trough candles obey the same plausibility rules as the window (CONTRACT.md, Candles).
  const book = new PositionBook(
    store,
    (symbol, fromMs) =>
      readCandleExtremes(
        store,
        symbol,
        config.candlePatterns,
        fromMs,
        candleGuardsFromConfig(config, now()),
      ),
    { maxPriceRatio: config.maxPriceRatio },
  );
  return { positions, book, live: new LiveCandles() };
}
