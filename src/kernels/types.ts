// Shared kernel data shapes. Names follow docs/specification.md (snake_case) on purpose: they are
// the field names of the parity vectors, of `quantum-calc compute` and of the Redis contract,
// so no layer has to translate them.

export type Side = "LONG" | "SHORT";

/** docs/specification.md §4 position snapshot. `current_sl`/`current_tp` are null when unset. */
export interface Position {
  symbol: string;
  side: Side;
  entry_price: number;
  current_price: number;
  peak_price: number;
  trough_price: number;
  age_sec: number;
  unrealized_pnl: number;
  current_sl: number | null;
  current_tp: number | null;
}

export interface RegimeProbs {
  trend: number;
  mr: number;
  chop: number;
}

/** P0 output (docs/specification.md §1). */
export interface MarketState {
  sigma: number;
  mu: number;
  ts: number;
  regime_probs: RegimeProbs;
  features: { dp: number; vr: number; spike_proxy: number };
}

/** P1 output (docs/specification.md §2). */
export interface StopsResult {
  proposed_sl: number;
  proposed_tp: number;
  reason_codes: string[];
  intermediates: {
    k_sl_weighted: number;
    k_tp_weighted: number;
    k_trail_weighted: number;
    stop_dist_pct: number;
    tp_dist_pct: number;
    trail_gap_pct: number;
    tp_extension_factor: number;
    raw_sl: number;
    raw_tp: number;
    trail_sl: number;
  };
}

export type HarvestAction =
  "NONE" | "PARTIAL_25" | "PARTIAL_50" | "PARTIAL_75" | "FULL_CLOSE_PROPOSED";

/** P2 market-state input (docs/specification.md §3): flat probabilities, as the harvest publisher reads them. */
export interface HarvestMarketState {
  sigma: number;
  ts: number;
  p_trend: number;
  p_mr: number;
  p_chop: number;
}

/** P2 output (docs/specification.md §3). */
export interface HarvestResult {
  harvest_action: HarvestAction;
  new_sl_proposed: number | null;
  R_net: number;
  risk_unit: number;
  cost_est: number;
  kill_score: number;
  reason_codes: string[];
  k_components: { regime_flip: number; sigma_spike: number; ts_drop: number; age_penalty: number };
  tranche_weights: [number, number, number];
}

/** Recursive partial used for theta overrides (deep-merged onto the defaults). */
export type DeepPartial<T> = T extends readonly (infer _U)[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/**
 * Thrown for invalid kernel input. `field` is the dotted path of the offending value
 * (e.g. `position.entry_price`, `prices[17]`), `value` the value itself, so an operator can
 * find it without a debugger.
 */
export class KernelInputError extends Error {
  readonly field: string;
  readonly value: unknown;
  constructor(field: string, value: unknown, why: string) {
    super(`${field}: ${why} (got ${describeValue(value)})`);
    this.name = "KernelInputError";
    this.field = field;
    this.value = value;
  }
}

function describeValue(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (value === undefined) return "undefined";
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
