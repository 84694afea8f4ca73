// Every Redis stream this service reads or writes, by name (docs/specification.md §5, §9). One declaration each:
// other modules import these, so a reviewer finds every use of a stream from here.
import { HARVEST_PROPOSAL_OUTPUT } from "./harvestProposalOutput.js";
import { MARKETSTATE_OUTPUT } from "./marketstateOutput.js";
import { RISK_PROPOSAL_OUTPUT } from "./riskProposalOutput.js";

/** Written by the market publisher: every closed 1m candle (read with XREAD, never a group). */
export const KLINES_STREAM = "quantum:stream:market.klines";
/** Written by the universe generator on every policy update. */
export const POLICY_UPDATE_STREAM = "quantum:stream:policy.update";
/** Written by the execution service (POSITION_OPENED/UPDATED/CLOSED), for the redis_stream position source. */
export const EXECUTION_RESULT_STREAM = "quantum:stream:execution.result";

// Ours: each output's stream is declared with its hash (marketstateOutput.ts,
// riskProposalOutput.ts, harvestProposalOutput.ts); named here too, so this file lists them all.

/** Ours: every marketstate publish (always written). */
export const MARKETSTATE_STREAM = MARKETSTATE_OUTPUT.stream.key;
/** Ours, only with enableStream. */
export const RISK_PROPOSAL_STREAM = RISK_PROPOSAL_OUTPUT.stream.key;
/** Ours, only with enableStream (leave it off on the live stack: the heat gate writes this stream). */
export const HARVEST_PROPOSAL_STREAM = HARVEST_PROPOSAL_OUTPUT.stream.key;
