// Kernel P1 — stops / trailing (docs/specification.md §2, spec v1.0). Pure: a market state and a position in, a
// proposed stop-loss / take-profit with reason codes and every intermediate out.
import { mergeTheta } from "./theta.js";
import { clip } from "./math.js";
import type { DeepPartial, RegimeProbs, StopsResult } from "./types.js";
import { KernelInputError } from "./types.js";
import {
  requireFiniteLeaves,
  requireFiniteNumber,
  requireNonNegativeNumber,
  requireObject,
  requireProbability,
  validatePosition,
} from "./validate.js";

/** Per-regime multipliers; the kernel blends them with the regime probabilities. */
export interface RegimeWeights {
  trend: number;
  mr: number;
  chop: number;
}

export interface StopsTheta {
  sl_min_pct: number;
  tp_min_pct: number;
  k_sl: RegimeWeights;
  k_tp: RegimeWeights;
  k_trail: RegimeWeights;
  tp_extend_gain: number;
  tp_extend_max: number;
  monotonic_sl: boolean;
  eps: number;
  /**
   * Which tracked price a SHORT's trailing stop trails from (docs/specification.md §2 note). `trough` — the locked
   * spec and the parity vectors — is the worst price since entry (the highest), so the stop rarely
   * trails; `peak` is the best (lowest), so a SHORT trails the price down as a LONG trails it up.
   */
  short_trail_from: ShortTrailFrom;
}

export const SHORT_TRAIL_FROM = ["trough", "peak"] as const;
export type ShortTrailFrom = (typeof SHORT_TRAIL_FROM)[number];

export const DEFAULT_STOPS_THETA: StopsTheta = Object.freeze({
  sl_min_pct: 0.005,
  tp_min_pct: 0.01,
  k_sl: Object.freeze({ trend: 1.5, mr: 0.8, chop: 1.0 }),
  k_tp: Object.freeze({ trend: 2.5, mr: 1.2, chop: 1.5 }),
  k_trail: Object.freeze({ trend: 1.2, mr: 1.5, chop: 1.3 }),
  tp_extend_gain: 0.5,
  tp_extend_max: 0.3,
  monotonic_sl: true,
  eps: 1e-8,
  short_trail_from: "trough",
});

/** The part of a P0 market state P1 reads. A missing regime probability counts as 0 (docs/specification.md §2). */
export interface StopsMarketState {
  sigma: number;
  mu?: number;
  ts: number;
  regime_probs: Partial<RegimeProbs>;
}

export interface StopsInput {
  market_state: StopsMarketState;
  /** A Position, or anything: the kernel validates it (Position | unknown is unknown). */
  position: unknown;
  theta?: DeepPartial<StopsTheta>;
}

/** Regime names in the specification's order (docs/specification.md §1); the order decides argmax ties (first wins). */
const REGIMES = ["trend", "mr", "chop"] as const;

interface ValidStopsMarketState {
  sigma: number;
  ts: number;
  probs: RegimeProbs;
}

function validateStopsMarketState(raw: unknown, path = "market_state"): ValidStopsMarketState {
  const obj = requireObject(raw, path);
  const sigma = requireNonNegativeNumber(obj.sigma, `${path}.sigma`);
  const ts = requireFiniteNumber(obj.ts, `${path}.ts`);
  // mu is not used by P1, but a present non-finite mu signals a broken upstream: refuse it.
  if (obj.mu !== undefined) requireFiniteNumber(obj.mu, `${path}.mu`);
  const rp = requireObject(obj.regime_probs, `${path}.regime_probs`);
  const probs = { trend: 0, mr: 0, chop: 0 };
  for (const name of REGIMES) {
    if (rp[name] !== undefined)
      probs[name] = requireProbability(rp[name], `${path}.regime_probs.${name}`);
  }
  return { sigma, ts, probs };
}

function weighted(k: RegimeWeights, p: RegimeProbs): number {
  return k.trend * p.trend + k.mr * p.mr + k.chop * p.chop;
}

/** argmax over trend, mr, chop; strict `>` so the first of equal probabilities wins. */
export function dominantRegime(p: RegimeProbs): keyof RegimeProbs {
  let best: keyof RegimeProbs = REGIMES[0];
  for (const name of REGIMES) if (p[name] > p[best]) best = name;
  return best;
}

/**
 * The defaults (frozen, shared, already valid) when there is no override — the publishers' hot
 * path — else a validated deep-merged copy.
 */
export function resolveTheta(override: unknown): StopsTheta {
  if (override === undefined || override === null) return DEFAULT_STOPS_THETA;
  const theta = mergeTheta<StopsTheta>(DEFAULT_STOPS_THETA, override);
  requireFiniteLeaves(theta, "theta");
  if (!(SHORT_TRAIL_FROM as readonly string[]).includes(theta.short_trail_from)) {
    throw new KernelInputError(
      "theta.short_trail_from",
      theta.short_trail_from,
      `must be one of ${SHORT_TRAIL_FROM.join(", ")}`,
    );
  }
  return theta;
}

/**
 * Computes the P1 proposal. `symbol`, when given, must match position.symbol. Throws
 * KernelInputError for invalid input (see validate.ts).
 */
export function computeStops(input: StopsInput, symbol?: string): StopsResult {
  const root = requireObject(input, "input");
  const theta = resolveTheta(root.theta);
  const { sigma, ts, probs } = validateStopsMarketState(root.market_state);
  const position = validatePosition(root.position, "position", symbol);
  const eps = theta.eps;

  const k_sl_weighted = weighted(theta.k_sl, probs);
  const k_tp_weighted = weighted(theta.k_tp, probs);
  const k_trail_weighted = weighted(theta.k_trail, probs);

  const stop_dist_pct = Math.max(theta.sl_min_pct, k_sl_weighted * sigma);
  // A strong, trend-dominated move earns a wider take-profit, capped by tp_extend_max.
  let tp_extension_factor = 1;
  if (probs.trend > 0.3 && ts > 0.1) {
    tp_extension_factor =
      1 + Math.min(theta.tp_extend_gain * clip(ts, 0, 1) * probs.trend, theta.tp_extend_max);
  }
  const tp_dist_pct = Math.max(theta.tp_min_pct, k_tp_weighted * sigma * tp_extension_factor);
  const trail_gap_pct = Math.max(theta.sl_min_pct, k_trail_weighted * sigma);

  const price = position.current_price;
  const reason_codes: string[] = [];
  const currentSl = position.current_sl;
  let raw_sl: number;
  let raw_tp: number;
  let trail_sl: number;
  let sl: number;

  if (position.side === "LONG") {
    raw_sl = price * (1 - stop_dist_pct);
    raw_tp = price * (1 + tp_dist_pct);
    trail_sl = position.peak_price * (1 - trail_gap_pct);
    sl = Math.max(raw_sl, trail_sl);
    if (trail_sl > raw_sl + eps) reason_codes.push("trail_active");
    if (theta.monotonic_sl && currentSl !== null) {
      // A LONG stop may only move up: never hand back protection already in place.
      if (sl < currentSl - eps) {
        sl = currentSl;
        reason_codes.push("sl_tightened_monotonic");
      } else if (sl > currentSl + eps) {
        reason_codes.push("sl_tightening");
      }
    }
  } else {
    // SHORT mirrors LONG; the locked spec trails from trough_price (the worst, i.e. highest,
    // price); short_trail_from 'peak' trails from the best (lowest) one instead.
    raw_sl = price * (1 + stop_dist_pct);
    raw_tp = price * (1 - tp_dist_pct);
    const trailFrom =
      theta.short_trail_from === "peak" ? position.peak_price : position.trough_price;
    trail_sl = trailFrom * (1 + trail_gap_pct);
    sl = Math.min(raw_sl, trail_sl);
    if (trail_sl < raw_sl - eps) reason_codes.push("trail_active");
    if (theta.monotonic_sl && currentSl !== null) {
      // A SHORT stop may only move down.
      if (sl > currentSl + eps) {
        sl = currentSl;
        reason_codes.push("sl_tightened_monotonic");
      } else if (sl < currentSl - eps) {
        reason_codes.push("sl_tightening");
      }
    }
  }

  reason_codes.push(`regime_${dominantRegime(probs)}`);
  if (tp_extension_factor > 1 + eps) reason_codes.push("tp_extended");

  return {
    proposed_sl: sl,
    proposed_tp: raw_tp,
    reason_codes,
    intermediates: {
      k_sl_weighted,
      k_tp_weighted,
      k_trail_weighted,
      stop_dist_pct,
      tp_dist_pct,
      trail_gap_pct,
      tp_extension_factor,
      raw_sl,
      raw_tp,
      trail_sl,
    },
  };
}
