// The Redis output contract (SPEC §5): field names and formats of the three hashes and their
// streams. Other services read these; nothing here may change without a SPEC change.
import type { HarvestResult, MarketState, Position, StopsResult } from "../kernels/types.js";
import { formatDecimal, formatEpochSeconds, formatIsoUtc } from "./decimal.js";

export type Fields = Record<string, string>;

/** The market state as risk and harvest read it back from its hash. */
export interface PublishedMarketState {
  sigma: number;
  mu: number;
  ts: number;
  p_trend: number;
  p_mr: number;
  p_chop: number;
  ts_timestamp: number;
}

export function dominantRegimeName(p: {
  trend: number;
  mr: number;
  chop: number;
}): "trend" | "mr" | "chop" {
  // SPEC order trend, mr, chop; the first wins a tie.
  if (p.trend >= p.mr && p.trend >= p.chop) return "trend";
  if (p.mr >= p.chop) return "mr";
  return "chop";
}

export function marketStateFields(ms: MarketState, nowMs: number, bufferSize: number): Fields {
  return {
    sigma: formatDecimal(ms.sigma, "sigma", 8),
    mu: formatDecimal(ms.mu, "mu", 8),
    ts: formatDecimal(ms.ts, "ts", 6),
    p_trend: formatDecimal(ms.regime_probs.trend, "p_trend", 6),
    p_mr: formatDecimal(ms.regime_probs.mr, "p_mr", 6),
    p_chop: formatDecimal(ms.regime_probs.chop, "p_chop", 6),
    dp: formatDecimal(ms.features.dp, "dp", 6),
    vr: formatDecimal(ms.features.vr, "vr", 6),
    spike_proxy: formatDecimal(ms.features.spike_proxy, "spike_proxy", 6),
    ts_timestamp: formatEpochSeconds(nowMs),
    buffer_size: String(bufferSize),
    // The exit brain reads the probabilities as one JSON object (SPEC §5).
    regime_probs: regimeProbsJson(ms.regime_probs),
  };
}

/** `{"trend":…,"mr":…,"chop":…}` with the hash's own 6-decimal spelling of each probability. */
export function regimeProbsJson(p: { trend: number; mr: number; chop: number }): string {
  return `{"trend":${formatDecimal(p.trend, "p_trend", 6)},"mr":${formatDecimal(p.mr, "p_mr", 6)},"chop":${formatDecimal(p.chop, "p_chop", 6)}}`;
}

export function marketStateStreamFields(symbol: string, ms: MarketState, nowMs: number): Fields {
  return {
    symbol,
    ts: formatDecimal(ms.ts, "ts", 6),
    sigma: formatDecimal(ms.sigma, "sigma", 8),
    mu: formatDecimal(ms.mu, "mu", 8),
    regime: dominantRegimeName(ms.regime_probs),
    timestamp: formatEpochSeconds(nowMs),
  };
}

function positionFields(p: Position): Fields {
  return {
    position_side: p.side,
    position_age_sec: formatDecimal(p.age_sec, "position_age_sec"),
    position_current_price: formatDecimal(p.current_price, "position_current_price"),
    position_entry_price: formatDecimal(p.entry_price, "position_entry_price"),
  };
}

function marketEcho(ms: PublishedMarketState): Fields {
  return {
    ts: formatDecimal(ms.ts, "ts"),
    sigma: formatDecimal(ms.sigma, "sigma"),
    p_trend: formatDecimal(ms.p_trend, "p_trend"),
    p_mr: formatDecimal(ms.p_mr, "p_mr"),
    p_chop: formatDecimal(ms.p_chop, "p_chop"),
  };
}

export function riskProposalFields(
  r: StopsResult,
  ms: PublishedMarketState,
  p: Position,
  nowMs: number,
): Fields {
  return {
    proposed_sl: formatDecimal(r.proposed_sl, "proposed_sl"),
    proposed_tp: formatDecimal(r.proposed_tp, "proposed_tp"),
    stop_dist_pct: formatDecimal(r.intermediates.stop_dist_pct, "stop_dist_pct"),
    tp_dist_pct: formatDecimal(r.intermediates.tp_dist_pct, "tp_dist_pct"),
    trail_gap_pct: formatDecimal(r.intermediates.trail_gap_pct, "trail_gap_pct"),
    reason_codes: r.reason_codes.join(","),
    ...marketEcho(ms),
    computed_at_utc: formatIsoUtc(nowMs),
    ...positionFields(p),
    last_update_epoch: formatEpochSeconds(nowMs),
  };
}

/** `policyVersion`: the policy whose theta computed it, '' for the configured theta (SPEC §9). */
export function harvestProposalFields(
  h: HarvestResult,
  ms: PublishedMarketState,
  p: Position,
  nowMs: number,
  policyVersion: string,
): Fields {
  return {
    harvest_action: h.harvest_action,
    new_sl_proposed:
      h.new_sl_proposed === null ? "" : formatDecimal(h.new_sl_proposed, "new_sl_proposed"),
    R_net: formatDecimal(h.R_net, "R_net"),
    risk_unit: formatDecimal(h.risk_unit, "risk_unit"),
    cost_est: formatDecimal(h.cost_est, "cost_est"),
    kill_score: formatDecimal(h.kill_score, "kill_score"),
    k_regime_flip: formatDecimal(h.k_components.regime_flip, "k_regime_flip"),
    k_sigma_spike: formatDecimal(h.k_components.sigma_spike, "k_sigma_spike"),
    k_ts_drop: formatDecimal(h.k_components.ts_drop, "k_ts_drop"),
    k_age_penalty: formatDecimal(h.k_components.age_penalty, "k_age_penalty"),
    reason_codes: h.reason_codes.join(","),
    ...marketEcho(ms),
    computed_at_utc: formatIsoUtc(nowMs),
    ...positionFields(p),
    position_unrealized_pnl: formatDecimal(p.unrealized_pnl, "position_unrealized_pnl"),
    policy_version: policyVersion,
    last_update_epoch: formatEpochSeconds(nowMs),
  };
}

export function heartbeatFields(nowMs: number): Fields {
  return { last_update_epoch: formatEpochSeconds(nowMs) };
}

/** Proposal streams carry the hash fields plus the symbol. */
export function withSymbol(symbol: string, fields: Fields): Fields {
  return { symbol, ...fields };
}
