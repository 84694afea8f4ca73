// The fields the two proposal hashes (risk, harvest) share, declared once: the market state the
// proposal was computed on (echoed with the shortest spelling), the position, and the stamps of a
// publish and of a heartbeat. riskProposalOutput.ts and harvestProposalOutput.ts place them in
// their contract order.
import type { Position } from "../kernels/types.js";
import { decimal, integer, isoUtc, text } from "./codecs.js";
import type { PublishedMarketState } from "./marketstateOutput.js";

export interface MarketEcho {
  ts: number;
  sigma: number;
  p_trend: number;
  p_mr: number;
  p_chop: number;
}

export const MARKET_ECHO_CODECS = {
  ts: decimal(),
  sigma: decimal(),
  p_trend: decimal(),
  p_mr: decimal(),
  p_chop: decimal(),
};

export function marketEcho(ms: PublishedMarketState): MarketEcho {
  return { ts: ms.ts, sigma: ms.sigma, p_trend: ms.p_trend, p_mr: ms.p_mr, p_chop: ms.p_chop };
}

export interface PositionEcho {
  position_side: string;
  position_age_sec: number;
  position_current_price: number;
  position_entry_price: number;
}

export const POSITION_ECHO_CODECS = {
  position_side: text(),
  position_age_sec: decimal(),
  position_current_price: decimal(),
  position_entry_price: decimal(),
};

export function positionEcho(p: Position): PositionEcho {
  return {
    position_side: p.side,
    position_age_sec: p.age_sec,
    position_current_price: p.current_price,
    position_entry_price: p.entry_price,
  };
}

export interface ProposalStamps {
  /** ms since epoch; changes only on a real publish (the apply layer builds its plan id from it). */
  computed_at_utc: number;
  /** Epoch seconds; refreshed by heartbeats too. */
  last_update_epoch: number;
}

export const COMPUTED_AT_CODEC = isoUtc;
export const LAST_UPDATE_CODEC = integer;

export function proposalStampsAt(nowMs: number): ProposalStamps {
  return { computed_at_utc: nowMs, last_update_epoch: Math.floor(nowMs / 1000) };
}
