// Every output hash this service writes, one declaration each (CONTRACT.md, "Outputs"). The key
// guard's allow-list (src/store/keyGuard.ts) is built from this list, and the phase registry
// (src/core/phases.ts) names which phase writes which.
import { HARVEST_PROPOSAL_OUTPUT } from "./harvestProposalOutput.js";
import { MARKETSTATE_OUTPUT } from "./marketstateOutput.js";
import type { AnyOutputDeclaration } from "./output.js";
import { RISK_PROPOSAL_OUTPUT } from "./riskProposalOutput.js";

export { HARVEST_PROPOSAL_OUTPUT, MARKETSTATE_OUTPUT, RISK_PROPOSAL_OUTPUT };

/** In the phases' order: marketstate, risk, harvest. */
export const OUTPUTS: readonly AnyOutputDeclaration[] = [
  MARKETSTATE_OUTPUT,
  RISK_PROPOSAL_OUTPUT,
  HARVEST_PROPOSAL_OUTPUT,
];
