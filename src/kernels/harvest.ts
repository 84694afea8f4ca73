// Kernel P2 — harvest (docs/specification.md §3, spec v1.0). Pure: a position, a market state and (optionally) the
// P1 stop distance in; a harvest action, a profit-lock stop and a kill score out.
import { mergeTheta } from "./theta.js";
import { clip, sigmoid, softmax } from "./math.js";
import type {
  DeepPartial,
  HarvestAction,
  HarvestMarketState,
  HarvestResult,
  Position,
} from "./types.js";
import {
  requireFiniteLeaves,
  requireFiniteNumber,
  requireNonNegativeNumber,
  requireObject,
  requirePositiveNumber,
  requireProbability,
  validatePosition,
} from "./validate.js";

export type { HarvestMarketState } from "./types.js";

export interface HarvestTheta {
  fallback_stop_pct: number;
  cost_bps: number;
  T1_R: number;
  T2_R: number;
  T3_R: number;
  u1: number;
  u2: number;
  u3: number;
  softmax_temp: number;
  lock_R: number;
  be_plus_pct: number;
  trend_min: number;
  sigma_ref: number;
  sigma_spike_cap: number;
  ts_ref: number;
  ts_drop_cap: number;
  max_age_sec: number;
  k_regime_flip: number;
  k_sigma_spike: number;
  k_ts_drop: number;
  k_age_penalty: number;
  kill_threshold: number;
}

export const DEFAULT_HARVEST_THETA: HarvestTheta = Object.freeze({
  fallback_stop_pct: 0.02,
  cost_bps: 10,
  T1_R: 2,
  T2_R: 4,
  T3_R: 6,
  u1: 0,
  u2: 0,
  u3: 0,
  softmax_temp: 1,
  lock_R: 1.5,
  be_plus_pct: 0.002,
  trend_min: 0.3,
  sigma_ref: 0.01,
  sigma_spike_cap: 2,
  ts_ref: 0.3,
  ts_drop_cap: 0.5,
  max_age_sec: 86400,
  k_regime_flip: 1,
  k_sigma_spike: 0.5,
  k_ts_drop: 0.5,
  k_age_penalty: 0.3,
  kill_threshold: 0.6,
});

/** The P1 output P2 uses. Other P1 fields may ride along and are ignored. */
export interface HarvestP1Proposal {
  stop_dist_pct: number;
}

export interface HarvestInput {
  /** A Position, or anything: the kernel validates it (Position | unknown is unknown). */
  position: unknown;
  market_state: HarvestMarketState;
  p1_proposal?: HarvestP1Proposal | null;
  theta?: DeepPartial<HarvestTheta>;
}

/** Kill-score components above these values are named in the reason codes (docs/specification.md §3). */
const KILL_REASON_THRESHOLDS = [
  ["regime_flip", 0],
  ["sigma_spike", 0.5],
  ["ts_drop", 0.2],
  ["age_penalty", 0.5],
] as const;

/** Floor on the risk unit, so R_net never divides by zero. */
const MIN_RISK_UNIT = 1e-9;

function validateHarvestMarketState(raw: unknown, path = "market_state"): HarvestMarketState {
  const obj = requireObject(raw, path);
  return {
    sigma: requireNonNegativeNumber(obj.sigma, `${path}.sigma`),
    ts: requireFiniteNumber(obj.ts, `${path}.ts`),
    p_trend: requireProbability(obj.p_trend, `${path}.p_trend`),
    p_mr: requireProbability(obj.p_mr, `${path}.p_mr`),
    p_chop: requireProbability(obj.p_chop, `${path}.p_chop`),
  };
}

/** null/undefined → absent; otherwise stop_dist_pct must be finite and ≥ 0. */
function validateP1Proposal(raw: unknown, path = "p1_proposal"): HarvestP1Proposal | null {
  if (raw === null || raw === undefined) return null;
  const obj = requireObject(raw, path);
  return { stop_dist_pct: requireNonNegativeNumber(obj.stop_dist_pct, `${path}.stop_dist_pct`) };
}

function actionForR(R_net: number, theta: HarvestTheta): HarvestAction {
  if (R_net >= theta.T3_R) return "PARTIAL_75";
  if (R_net >= theta.T2_R) return "PARTIAL_50";
  if (R_net >= theta.T1_R) return "PARTIAL_25";
  return "NONE";
}

/**
 * Break-even-plus stop once the trade has earned lock_R: returns the stop to propose, or null when
 * it would not tighten the current one (a profit lock never loosens a stop).
 */
function profitLockStop(position: Position, theta: HarvestTheta): number | null {
  const current = position.current_sl;
  if (position.side === "LONG") {
    const be = position.entry_price * (1 + theta.be_plus_pct);
    const candidate = current === null ? be : Math.max(current, be);
    return current === null || candidate > current ? candidate : null;
  }
  const be = position.entry_price * (1 - theta.be_plus_pct);
  const candidate = current === null ? be : Math.min(current, be);
  return current === null || candidate < current ? candidate : null;
}

/**
 * The defaults (frozen, shared, already valid) when there is no override — the publishers' hot
 * path — else a validated deep-merged copy.
 */
export function resolveTheta(override: unknown): HarvestTheta {
  if (override === undefined || override === null) return DEFAULT_HARVEST_THETA;
  const theta = mergeTheta<HarvestTheta>(DEFAULT_HARVEST_THETA, override);
  requireFiniteLeaves(theta, "theta");
  // These divide: a zero or negative value would turn the kill score or the weights into NaN.
  requirePositiveNumber(theta.sigma_ref, "theta.sigma_ref");
  requirePositiveNumber(theta.max_age_sec, "theta.max_age_sec");
  requirePositiveNumber(theta.softmax_temp, "theta.softmax_temp");
  return theta;
}

/**
 * The last override resolved (a copy of its leaves) and its theta. A publisher passes the same
 * override on every cycle (the configured theta, or a policy's until it changes): merging and
 * validating it again each time built the same theta anew. Only a flat override of plain values
 * is remembered — the shape a harvest theta has — and it is compared leaf by leaf, so an override
 * changed in place is resolved again. The theta is frozen like the defaults: the kernel only reads it.
 */
let lastOverride: Readonly<Record<string, unknown>> | null = null;
let lastOverrideKeys = 0;
let lastTheta: HarvestTheta = DEFAULT_HARVEST_THETA;

function thetaFor(override: unknown): HarvestTheta {
  if (override === undefined || override === null) return DEFAULT_HARVEST_THETA;
  if (lastOverride !== null && sameLeaves(override, lastOverride, lastOverrideKeys))
    return lastTheta;
  const theta = Object.freeze(resolveTheta(override));
  lastOverride = leavesOf(override);
  lastOverrideKeys = lastOverride === null ? 0 : Object.keys(lastOverride).length;
  lastTheta = theta;
  return theta;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype
  );
}

/** A copy of a plain object whose own values are all primitives; null for anything else. */
function leavesOf(value: unknown): Readonly<Record<string, unknown>> | null {
  if (!isPlainRecord(value)) return null;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const leaf = value[key];
    if ((typeof leaf === "object" && leaf !== null) || typeof leaf === "function") return null;
    copy[key] = leaf;
  }
  return copy;
}

/** The same own keys with the same primitive values (Object.is: -0 and NaN as themselves). */
function sameLeaves(
  value: unknown,
  leaves: Readonly<Record<string, unknown>>,
  leafCount: number,
): boolean {
  if (!isPlainRecord(value)) return false;
  const keys = Object.keys(value);
  if (keys.length !== leafCount) return false;
  for (const key of keys)
    if (!Object.hasOwn(leaves, key) || !Object.is(value[key], leaves[key])) return false;
  return true;
}

/** Computes the P2 proposal. Throws KernelInputError for invalid input (see validate.ts). */
export function computeHarvest(input: HarvestInput): HarvestResult {
  const root = requireObject(input, "input");
  const theta = thetaFor(root.theta);
  const position = validatePosition(root.position, "position");
  const ms = validateHarvestMarketState(root.market_state);
  const p1 = validateP1Proposal(root.p1_proposal);

  // A zero P1 distance means "no usable stop", so the fallback applies just as when P1 is absent.
  const stopPct =
    p1 !== null && p1.stop_dist_pct !== 0 ? p1.stop_dist_pct : theta.fallback_stop_pct;
  const entry = position.entry_price;
  const risk_unit = Math.max(entry * stopPct, MIN_RISK_UNIT);
  const cost_est = (theta.cost_bps / 10000) * entry;
  // Locked spec: unrealized PnL over a per-unit price distance (docs/specification.md §3 note) — kept as is.
  const R_net = (position.unrealized_pnl - cost_est) / risk_unit;

  let harvest_action = actionForR(R_net, theta);
  const reason_codes: string[] = [];
  if (harvest_action !== "NONE") reason_codes.push(`harvest_${harvest_action.toLowerCase()}`);

  let new_sl_proposed: number | null = null;
  if (R_net >= theta.lock_R) {
    new_sl_proposed = profitLockStop(position, theta);
    if (new_sl_proposed !== null) reason_codes.push("profit_lock");
  }

  const k_components = {
    regime_flip: ms.p_trend < theta.trend_min && ms.p_chop + ms.p_mr > 0.5 ? 1 : 0,
    sigma_spike: clip(ms.sigma / theta.sigma_ref - 1, 0, theta.sigma_spike_cap),
    ts_drop: clip(theta.ts_ref - ms.ts, 0, theta.ts_drop_cap),
    age_penalty: clip(position.age_sec / theta.max_age_sec, 0, 1),
  };
  const kill_score = sigmoid(
    theta.k_regime_flip * k_components.regime_flip +
      theta.k_sigma_spike * k_components.sigma_spike +
      theta.k_ts_drop * k_components.ts_drop +
      theta.k_age_penalty * k_components.age_penalty,
  );
  if (kill_score >= theta.kill_threshold) {
    harvest_action = "FULL_CLOSE_PROPOSED";
    reason_codes.push("kill_score_triggered");
    for (const [name, threshold] of KILL_REASON_THRESHOLDS) {
      if (k_components[name] > threshold) reason_codes.push(name);
    }
  }

  // Audit only: how a partial would be split across the three tranches.
  const [w1, w2, w3] = softmax([theta.u1, theta.u2, theta.u3], theta.softmax_temp);
  return {
    harvest_action,
    new_sl_proposed,
    R_net,
    risk_unit,
    cost_est,
    kill_score,
    reason_codes,
    k_components,
    tranche_weights: [w1, w2, w3],
  };
}
