// The marketstate hash `quantum:marketstate:{symbol}` and its stream (CONTRACT.md, "Outputs"):
// P0's output, read back by risk and harvest as their market input. Written on every publish;
// a rate-limited cycle writes nothing to it (no heartbeat field).
import type { MarketState } from "../kernels/types.js";
import { decimal, integer, probabilitiesJson, text, type Probabilities } from "./codecs.js";
import { spell, type HashDeclaration, type OutputDeclaration } from "./output.js";

/** The marketstate hash's fields as values. */
export interface MarketStateHash {
  sigma: number;
  mu: number;
  ts: number;
  p_trend: number;
  p_mr: number;
  p_chop: number;
  dp: number;
  vr: number;
  spike_proxy: number;
  /** Epoch seconds of the publish. */
  ts_timestamp: number;
  /** Closes the kernel computed on. */
  buffer_size: number;
  regime_probs: Probabilities;
}

/** The market state as risk and harvest read it back from its hash. */
export type PublishedMarketState = Pick<
  MarketStateHash,
  "sigma" | "mu" | "ts" | "p_trend" | "p_mr" | "p_chop" | "ts_timestamp"
>;

/** The fields risk and harvest read (readPublishedMarketState). */
export const PUBLISHED_MARKET_FIELDS = [
  "sigma",
  "mu",
  "ts",
  "p_trend",
  "p_mr",
  "p_chop",
  "ts_timestamp",
] as const satisfies ReadonlyArray<keyof PublishedMarketState>;

/** The dominant regime's name; the contract's order trend, mr, chop, the first wins a tie. */
export function dominantRegimeName(p: Probabilities): "trend" | "mr" | "chop" {
  if (p.trend >= p.mr && p.trend >= p.chop) return "trend";
  if (p.mr >= p.chop) return "mr";
  return "chop";
}

export const MARKETSTATE_OUTPUT: OutputDeclaration<MarketStateHash> = {
  title: "marketstate hash",
  keyPrefix: "quantum:marketstate:",
  fields: {
    sigma: decimal(8),
    mu: decimal(8),
    ts: decimal(6),
    p_trend: decimal(6),
    p_mr: decimal(6),
    p_chop: decimal(6),
    dp: decimal(6),
    vr: decimal(6),
    spike_proxy: decimal(6),
    ts_timestamp: integer,
    buffer_size: integer,
    // The exit brain reads the probabilities as one JSON object.
    regime_probs: probabilitiesJson,
  },
  stampsAt: (nowMs) => ({ ts_timestamp: Math.floor(nowMs / 1000) }),
  publishedStamp: "ts_timestamp",
  updatedStamp: "ts_timestamp",
  heartbeat: [],
  oursOnly: ["regime_probs"],
  stream: {
    key: "quantum:stream:marketstate",
    maxLen: 10_000,
    when: "always",
    // The hash's own spellings, and the dominant regime of the unrounded probabilities.
    entry(symbol, fields, values) {
      if (values.regime_probs === undefined)
        throw new Error("a marketstate stream entry needs the regime probabilities");
      return {
        symbol,
        ts: fields.ts,
        sigma: fields.sigma,
        mu: fields.mu,
        regime: dominantRegimeName(values.regime_probs),
        timestamp: fields.ts_timestamp,
      };
    },
  },
};

/** The hash's computed values (all but the publish's stamp) of a kernel result. */
export function marketStateValues(
  ms: MarketState,
  bufferSize: number,
): Omit<MarketStateHash, "ts_timestamp"> {
  return {
    sigma: ms.sigma,
    mu: ms.mu,
    ts: ms.ts,
    p_trend: ms.regime_probs.trend,
    p_mr: ms.regime_probs.mr,
    p_chop: ms.regime_probs.chop,
    dp: ms.features.dp,
    vr: ms.features.vr,
    spike_proxy: ms.features.spike_proxy,
    buffer_size: bufferSize,
    regime_probs: ms.regime_probs,
  };
}

/** The computed fields of a kernel result, spelled (the publish adds ts_timestamp). */
export function marketStateFields(ms: MarketState, bufferSize: number) {
  return spell(MARKETSTATE_OUTPUT, marketStateValues(ms, bufferSize));
}

/**
 * Ours alone, beside the hash (`quantum:calc:marketstate:{symbol}`, CONTRACT.md "Outputs"): the
 * candle fingerprint of the last publish, so a restart does not republish unchanged data.
 */
export interface MarketStateBookkeeping {
  candle_fingerprint: string;
  /** ms since epoch. */
  published_at_ms: number;
}

export const MARKETSTATE_BOOKKEEPING: HashDeclaration<MarketStateBookkeeping> = {
  fields: { candle_fingerprint: text(), published_at_ms: integer },
};
