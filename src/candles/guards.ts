// The plausibility and clock limits of a candle read (CONTRACT.md, "Plausibility"): the
// configuration's, resolved once per read.
import type { Config } from "../config/schema.js";
import { skip, type Read } from "../inputs/types.js";
import type { Candle } from "./parse.js";

/**
 * Every field is optional: the defaults are the configuration's, and without `nowMs` no candle is
 * taken to be in the future (a reader without a clock of its own, e.g. a one-off synthetic entry
 * price).
 */
export interface CandleGuards {
  /** The reader's clock, epoch ms: a candle dated later than nowMs + maxClockSkewMs is skipped. */
  nowMs?: number;
  maxClockSkewMs?: number;
  /** A price (close, high, low) outside [minPrice, maxPrice] makes its candle malformed. */
  minPrice?: number;
  maxPrice?: number;
  /** A candle key larger than this (MEMORY USAGE) is not read: the symbol skips as bad_input. */
  maxKeyBytes?: number;
}

/** The configuration's defaults (src/config/schema.ts). */
export const DEFAULT_CANDLE_GUARDS = {
  maxClockSkewMs: 5_000,
  minPrice: 1e-12,
  maxPrice: 1e12,
  maxKeyBytes: 8_388_608,
} as const satisfies Required<Omit<CandleGuards, "nowMs">>;

/** The guards of a read at `nowMs` with the configured limits. */
export function candleGuardsFromConfig(
  config: Pick<Config, "maxClockSkew" | "minCandlePrice" | "maxCandlePrice" | "maxCandleKeyBytes">,
  nowMs: number,
): Required<CandleGuards> {
  return {
    nowMs,
    maxClockSkewMs: config.maxClockSkew * 1000,
    minPrice: config.minCandlePrice,
    maxPrice: config.maxCandlePrice,
    maxKeyBytes: config.maxCandleKeyBytes,
  };
}

/** The guards with the defaults filled in; `futureAfterMs` is +Infinity without a clock. */
export interface ResolvedGuards {
  futureAfterMs: number;
  minPrice: number;
  maxPrice: number;
  maxKeyBytes: number;
}

export function resolveGuards(guards: CandleGuards): ResolvedGuards {
  const skew = guards.maxClockSkewMs ?? DEFAULT_CANDLE_GUARDS.maxClockSkewMs;
  return {
    futureAfterMs: guards.nowMs === undefined ? Infinity : guards.nowMs + skew,
    minPrice: guards.minPrice ?? DEFAULT_CANDLE_GUARDS.minPrice,
    maxPrice: guards.maxPrice ?? DEFAULT_CANDLE_GUARDS.maxPrice,
    maxKeyBytes: guards.maxKeyBytes ?? DEFAULT_CANDLE_GUARDS.maxKeyBytes,
  };
}

/**
 * The first price of the candle (close, high, low) outside [minPrice, maxPrice], named, or null.
 * The open is not kept; where the layout has high and low it lies between them (parse checks it),
 * so it is in range with them.
 */
export function priceOutOfRange(
  candle: Pick<Candle, "close" | "high" | "low">,
  minPrice: number,
  maxPrice: number,
): string | null {
  const out = (x: number): boolean => !(x >= minPrice && x <= maxPrice);
  if (out(candle.close)) return `close ${candle.close}`;
  if (candle.high !== null && out(candle.high)) return `high ${candle.high}`;
  if (candle.low !== null && out(candle.low)) return `low ${candle.low}`;
  return null;
}

/** A skip for a key too large to read, or null. */
export function oversizedKey(
  key: string,
  bytes: number | null,
  maxKeyBytes: number,
): Read<never> | null {
  if (bytes === null || bytes <= maxKeyBytes) return null;
  return skip(
    "bad_input",
    `candle key ${key} holds ${bytes} bytes (MEMORY USAGE), above maxCandleKeyBytes ${maxKeyBytes}: not read`,
  );
}
