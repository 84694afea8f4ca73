// The risk proposal hash `quantum:risk:proposal:{symbol}` (CONTRACT.md, "Outputs"): P1's stop
// and take-profit, read back by harvest (its stop distance) and by the apply layer. A
// rate-limited cycle refreshes last_update_epoch only.
import type { Position, StopsResult } from "../kernels/types.js";
import { codeList, decimal } from "./codecs.js";
import type { PublishedMarketState } from "./marketstateOutput.js";
import { spell, type OutputDeclaration } from "./output.js";
import {
  COMPUTED_AT_CODEC,
  LAST_UPDATE_CODEC,
  MARKET_ECHO_CODECS,
  marketEcho,
  POSITION_ECHO_CODECS,
  positionEcho,
  proposalStampsAt,
  type MarketEcho,
  type PositionEcho,
  type ProposalStamps,
} from "./proposalFields.js";

export interface RiskProposalHash extends MarketEcho, PositionEcho, ProposalStamps {
  proposed_sl: number;
  proposed_tp: number;
  stop_dist_pct: number;
  tp_dist_pct: number;
  trail_gap_pct: number;
  reason_codes: string[];
}

export const RISK_PROPOSAL_OUTPUT: OutputDeclaration<RiskProposalHash> = {
  title: "risk proposal hash",
  keyPrefix: "quantum:risk:proposal:",
  fields: {
    proposed_sl: decimal(),
    proposed_tp: decimal(),
    stop_dist_pct: decimal(),
    tp_dist_pct: decimal(),
    trail_gap_pct: decimal(),
    reason_codes: codeList,
    ...MARKET_ECHO_CODECS,
    computed_at_utc: COMPUTED_AT_CODEC,
    ...POSITION_ECHO_CODECS,
    last_update_epoch: LAST_UPDATE_CODEC,
  },
  stampsAt: proposalStampsAt,
  publishedStamp: "computed_at_utc",
  updatedStamp: "last_update_epoch",
  heartbeat: ["last_update_epoch"],
  oursOnly: ["last_update_epoch"],
  stream: {
    key: "quantum:stream:risk.proposal",
    maxLen: 10_000,
    when: "enableStream",
    // The hash fields plus the symbol.
    entry: (symbol, fields) => ({ symbol, ...fields }),
  },
};

/** The hash's computed values (all but the publish's stamps). */
export function riskProposalValues(
  r: StopsResult,
  ms: PublishedMarketState,
  p: Position,
): Omit<RiskProposalHash, keyof ProposalStamps> {
  return {
    proposed_sl: r.proposed_sl,
    proposed_tp: r.proposed_tp,
    stop_dist_pct: r.intermediates.stop_dist_pct,
    tp_dist_pct: r.intermediates.tp_dist_pct,
    trail_gap_pct: r.intermediates.trail_gap_pct,
    reason_codes: r.reason_codes,
    ...marketEcho(ms),
    ...positionEcho(p),
  };
}

/** The computed fields of a stops result, spelled (the publish adds the stamps). */
export function riskProposalFields(r: StopsResult, ms: PublishedMarketState, p: Position) {
  return spell(RISK_PROPOSAL_OUTPUT, riskProposalValues(r, ms, p));
}
