// The harvest proposal hash `quantum:harvest:proposal:{symbol}` (CONTRACT.md, "Outputs"): P2's
// action, proposed stop and kill score with K's components, and the policy whose theta computed
// it. Other services add fields to the same hash (the heat gate's `action`): we HSET only ours.
// A rate-limited cycle refreshes last_update_epoch only.
import type { HarvestResult, Position } from "../kernels/types.js";
import { codeList, decimal, optionalDecimal, text } from "./codecs.js";
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

export interface HarvestProposalHash extends MarketEcho, PositionEcho, ProposalStamps {
  harvest_action: string;
  /** null: no new stop proposed ("" in the hash). */
  new_sl_proposed: number | null;
  R_net: number;
  risk_unit: number;
  cost_est: number;
  kill_score: number;
  k_regime_flip: number;
  k_sigma_spike: number;
  k_ts_drop: number;
  k_age_penalty: number;
  reason_codes: string[];
  position_unrealized_pnl: number;
  /** The policy whose theta computed it; "" for the configured theta (also when absent: an older writer). */
  policy_version: string;
}

export const HARVEST_PROPOSAL_OUTPUT: OutputDeclaration<HarvestProposalHash> = {
  title: "harvest proposal hash",
  keyPrefix: "quantum:harvest:proposal:",
  fields: {
    harvest_action: text({ nonEmpty: true }),
    new_sl_proposed: optionalDecimal,
    R_net: decimal(),
    risk_unit: decimal(),
    cost_est: decimal(),
    kill_score: decimal(),
    k_regime_flip: decimal(),
    k_sigma_spike: decimal(),
    k_ts_drop: decimal(),
    k_age_penalty: decimal(),
    reason_codes: codeList,
    ...MARKET_ECHO_CODECS,
    computed_at_utc: COMPUTED_AT_CODEC,
    ...POSITION_ECHO_CODECS,
    position_unrealized_pnl: decimal(),
    policy_version: text({ orAbsent: "" }),
    last_update_epoch: LAST_UPDATE_CODEC,
  },
  stampsAt: proposalStampsAt,
  publishedStamp: "computed_at_utc",
  updatedStamp: "last_update_epoch",
  heartbeat: ["last_update_epoch"],
  oursOnly: [
    "k_regime_flip",
    "k_sigma_spike",
    "k_ts_drop",
    "k_age_penalty",
    "policy_version",
    "last_update_epoch",
  ],
  stream: {
    key: "quantum:stream:harvest.proposal",
    maxLen: 10_000,
    // Leave it off on the live stack: the heat gate writes this stream.
    when: "enableStream",
    entry: (symbol, fields) => ({ symbol, ...fields }),
  },
};

/** The hash's computed values (all but the publish's stamps); `policyVersion` "" = the configured theta. */
export function harvestProposalValues(
  h: HarvestResult,
  ms: PublishedMarketState,
  p: Position,
  policyVersion: string,
): Omit<HarvestProposalHash, keyof ProposalStamps> {
  return {
    harvest_action: h.harvest_action,
    new_sl_proposed: h.new_sl_proposed,
    R_net: h.R_net,
    risk_unit: h.risk_unit,
    cost_est: h.cost_est,
    kill_score: h.kill_score,
    k_regime_flip: h.k_components.regime_flip,
    k_sigma_spike: h.k_components.sigma_spike,
    k_ts_drop: h.k_components.ts_drop,
    k_age_penalty: h.k_components.age_penalty,
    reason_codes: h.reason_codes,
    ...marketEcho(ms),
    ...positionEcho(p),
    position_unrealized_pnl: p.unrealized_pnl,
    policy_version: policyVersion,
  };
}

/** The computed fields of a harvest result, spelled (the publish adds the stamps). */
export function harvestProposalFields(
  h: HarvestResult,
  ms: PublishedMarketState,
  p: Position,
  policyVersion: string,
) {
  return spell(HARVEST_PROPOSAL_OUTPUT, harvestProposalValues(h, ms, p, policyVersion));
}
