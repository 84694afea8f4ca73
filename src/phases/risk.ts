// P1 stops publisher steps: marketstate hash + position → stops kernel → quantum:risk:proposal:{sym}.
import { computeStops, type StopsTheta } from "../kernels/stops.js";
import type { DeepPartial, StopsResult } from "../kernels/types.js";
import type { TrackedPosition } from "../inputs/positionMemory.js";
import { trackPosition } from "./positionInput.js";
import { handed, marketStateHandoffMaxAgeMs, type ChainHandoff } from "../inputs/handoff.js";
import { marketStateTtlSec } from "./marketstate.js";
import type { PublishedMarketState } from "../contracts/marketstateOutput.js";
import { RISK_PROPOSAL_OUTPUT } from "../contracts/riskProposalOutput.js";
import { outputKey, parseFields } from "../contracts/output.js";
import { readPublishedMarketState } from "../inputs/publishedState.js";
import { ok } from "../inputs/types.js";
import { changedVsFloorOne, hold, publish, tooOld, type RateLimitSettings } from "./rateLimit.js";
import type { Decision } from "../../machines/publisher.js";
import { guardRiskResult, outputLimitsFrom, type Spelled } from "./outputGuard.js";
import { publishProposal, proposalHeartbeat } from "./proposalOutput.js";
import {
  computeGuarded,
  definePhase,
  maxInputAgeSec,
  rateLimitSettings,
  readGuarded,
  readOwnHash,
  type PhaseDeps,
  type PhaseSteps,
} from "./steps.js";

export interface RiskInputs {
  market: PublishedMarketState;
  tracked: TrackedPosition;
  outputPresent: boolean;
}

// ---- the rate-limit rule (CONTRACT.md, "Publish rules") ----

/** What the rate limit remembers of the last publish (seeded from the output hash). */
export interface RiskMemory {
  sl: number;
  tp: number;
  publishedAtMs: number;
}

export function decideRisk(
  memory: RiskMemory | null,
  next: { sl: number; tp: number },
  nowMs: number,
  s: RateLimitSettings,
): Decision {
  if (memory === null) return publish("first_publish");
  if (changedVsFloorOne(memory.sl, next.sl, s.changeEpsPct)) return publish("sl_changed");
  if (changedVsFloorOne(memory.tp, next.tp, s.changeEpsPct)) return publish("tp_changed");
  if (tooOld(memory.publishedAtMs, nowMs, s)) return publish("max_age");
  return hold;
}

const OUTPUT = RISK_PROPOSAL_OUTPUT;

export function riskSteps(
  deps: PhaseDeps,
): PhaseSteps<RiskMemory, RiskInputs, Spelled<StopsResult>> {
  const { store, config } = deps;
  const theta = config.theta.stops as DeepPartial<StopsTheta> | undefined;
  const settings = rateLimitSettings(config);
  const maxAge = maxInputAgeSec(config);
  const limits = outputLimitsFrom(config);
  const marketHandoffMaxAgeMs = marketStateHandoffMaxAgeMs(marketStateTtlSec(config));

  return {
    async seed(symbol) {
      const hash = await readOwnHash(store, outputKey(OUTPUT, symbol));
      const read = parseFields(OUTPUT, hash, ["proposed_sl", "proposed_tp", "computed_at_utc"]);
      if (!read.ok) return null;
      const { proposed_sl: sl, proposed_tp: tp, computed_at_utc: at } = read.values;
      return { sl, tp, publishedAtMs: at };
    },

    async read(symbol, handoff) {
      const nowMs = deps.now();
      // The chain's marketstate, as its publish wrote it (src/inputs/handoff.ts).
      const handedMarket = handed(handoff?.marketstate, nowMs, marketHandoffMaxAgeMs);
      let passOn: ChainHandoff | null = null;
      const read = await readGuarded<RiskInputs>(async () => {
        const [market, position, stamp] = await Promise.all([
          readPublishedMarketState(store, symbol, nowMs, maxAge, handedMarket?.fields ?? null),
          trackPosition(deps, symbol, nowMs, null),
          store.hget(outputKey(OUTPUT, symbol), OUTPUT.publishedStamp),
        ]);
        // Harvest of this chain judges the same market and position at its own clock.
        passOn = {
          ...(handedMarket !== null ? { marketstate: handedMarket } : {}),
          ...(position.fetched !== null
            ? { position: { fetched: position.fetched, atMs: nowMs } }
            : {}),
        };
        const tracked = position.tracked;
        if (!market.ok) return market;
        if (!tracked.ok) return tracked;
        return ok({ market: market.value, tracked: tracked.value, outputPresent: stamp !== null });
      });
      return { nowMs, read, handoff: passOn };
    },

    compute(symbol, { market, tracked }) {
      return computeGuarded(() => {
        const result = computeStops(
          {
            market_state: {
              sigma: market.sigma,
              mu: market.mu,
              ts: market.ts,
              // CONTRACT.md, deliberate difference 2: the Python publisher lost p_trend here; we pass all three.
              regime_probs: { trend: market.p_trend, mr: market.p_mr, chop: market.p_chop },
            },
            position: tracked.position,
            theta,
          },
          symbol,
        );
        // The output guard last (CONTRACT.md, "Plausibility"): an implausible result skips the
        // cycle here, in compute, so nothing of it is written — no hash, no heartbeat, no memory.
        return guardRiskResult(result, market, tracked.position, limits);
      });
    },

    decide(memory, inputs, { result }, nowMs) {
      if (!inputs.outputPresent)
        return { publish: true, why: memory === null ? "first_publish" : "output_missing" };
      return decideRisk(
        memory,
        { sl: result.proposed_sl, tp: result.proposed_tp },
        nowMs,
        settings,
      );
    },

    async publish(symbol, { market, tracked }, spelled, nowMs) {
      const { result } = spelled;
      const position = tracked.position;
      // The fields the output guard checked in compute, with the publish's stamps.
      const fields = await publishProposal(deps, OUTPUT, symbol, spelled.fields, nowMs);
      return {
        memory: { sl: result.proposed_sl, tp: result.proposed_tp, publishedAtMs: nowMs },
        // What harvest of this chain takes instead of reading the risk hash back.
        handoff: { risk: { fields, atMs: nowMs } },
        figures: {
          proposed_sl: result.proposed_sl,
          proposed_tp: result.proposed_tp,
          stop_dist_pct: result.intermediates.stop_dist_pct,
          marketstate_age_sec: nowMs / 1000 - market.ts_timestamp,
        },
        // The same spellings as the hash: a log line and `redis-cli hgetall` never disagree.
        summary: `${position.side} SL=${fields.proposed_sl} TP=${fields.proposed_tp} [${fields.reason_codes}]`,
      };
    },

    async heartbeat(symbol, nowMs) {
      await proposalHeartbeat(deps, OUTPUT, symbol, nowMs);
    },
  };
}

/** The risk phase: its steps, its output hash and its rate-limit rule (src/phases/registry.ts). */
export const riskPhase = definePhase({
  name: "risk",
  output: RISK_PROPOSAL_OUTPUT,
  rateLimit: decideRisk,
  steps: riskSteps,
});
