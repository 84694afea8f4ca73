// The phase registry with the phases' modules: for each phase of PHASE_REGISTRY
// (src/core/phases.ts, the import-light table the config and the machines read), the module that
// owns its steps, its output declaration and its rate-limit rule. The service provides the
// supervisor's publishers by looping over it; nothing else names the phases one by one.
import { byPhase, type PhaseName } from "../core/phases.js";
import type { AnyPublisherMachine } from "../../machines/publisher.js";
import { decideHarvest, harvestPhase } from "./harvest.js";
import { decideMarketState, marketStatePhase } from "./marketstate.js";
import { decideRisk, riskPhase } from "./risk.js";
import type { PhaseDeps, StepsDecorator } from "./steps.js";

export { decideHarvest, decideMarketState, decideRisk };

export const PHASES = {
  marketstate: marketStatePhase,
  risk: riskPhase,
  harvest: harvestPhase,
} as const satisfies { [P in PhaseName]: { name: P } };

/** Every phase's publisher machine, provided with its steps (each decorated first, when asked). */
export function phasePublishers(
  deps: PhaseDeps,
  decorate?: StepsDecorator,
): Record<PhaseName, AnyPublisherMachine> {
  return byPhase((phase) => PHASES[phase].publisher(deps, decorate));
}
