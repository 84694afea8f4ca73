// P2 harvest publisher steps: marketstate hash + position + (fresh) risk proposal → harvest
// kernel → quantum:harvest:proposal:{sym}.
import { computeHarvest, type HarvestTheta } from "../kernels/harvest.js";
import type { DeepPartial, HarvestResult } from "../kernels/types.js";
import type { TrackedPosition } from "../inputs/positionMemory.js";
import { trackPosition } from "./positionInput.js";
import { handed, marketStateHandoffMaxAgeMs } from "../inputs/handoff.js";
import { marketStateTtlSec } from "./marketstate.js";
import type { Position } from "../kernels/types.js";
import { ok, type Read } from "../inputs/types.js";
import type { RNetBasis } from "../config/schema.js";
import type { PublishedMarketState } from "../contracts/marketstateOutput.js";
import { HARVEST_PROPOSAL_OUTPUT } from "../contracts/harvestProposalOutput.js";
import { outputKey, parseField, parseFields } from "../contracts/output.js";
import {
  readPublishedMarketState,
  readRiskProposal,
  type RiskProposalInput,
} from "../inputs/publishedState.js";
import { hold, publish, tooOld, type RateLimitSettings } from "./rateLimit.js";
import type { Decision } from "../../machines/publisher.js";
import { guardHarvestResult, outputLimitsFrom, type Spelled } from "./outputGuard.js";
import { proposalHeartbeat, publishProposal } from "./proposalOutput.js";
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
import type { Config } from "../config/schema.js";
import type { ThetaInForce } from "../policy/policyBook.js";

export interface HarvestInputs {
  market: PublishedMarketState;
  tracked: TrackedPosition;
  risk: RiskProposalInput;
  /** The theta this cycle computes with: the policy's or the configured one (docs/specification.md §9). */
  theta: ThetaInForce;
  outputPresent: boolean;
}

/**
 * The configured harvest theta: the config's fallbackStopPct (FALLBACK_STOP_PCT) is the kernel's
 * fallback_stop_pct unless theta.harvest names it; a policy's values go on top of this.
 */
export function configuredHarvestTheta(
  config: Pick<Config, "fallbackStopPct" | "theta">,
): DeepPartial<HarvestTheta> {
  return {
    fallback_stop_pct: config.fallbackStopPct,
    ...((config.theta.harvest ?? {}) as DeepPartial<HarvestTheta>),
  };
}

/**
 * The harvest kernel's position under the configured R_net basis (docs/specification.md §4.4): `locked` gives it
 * the snapshot's unrealized PnL as written (on the live stack the whole position's, so R_net
 * grows with the size); `per_unit` divides it by the quantity first, making R_net a true R
 * multiple — which needs a quantity > 0.
 */
export function kernelPositionFor(tracked: TrackedPosition, basis: RNetBasis): Read<Position> {
  if (basis === "locked") return { ok: true, value: tracked.position };
  const quantity = tracked.snapshot.quantity;
  if (quantity === null || !(quantity > 0)) {
    return {
      ok: false,
      reason: "bad_position",
      detail: `${tracked.snapshot.origin}: rNetBasis per_unit needs quantity (or position_amt) > 0 (got ${quantity === null ? "none" : quantity})`,
    };
  }
  return {
    ok: true,
    value: { ...tracked.position, unrealized_pnl: tracked.position.unrealized_pnl / quantity },
  };
}

// ---- the rate-limit rule (CONTRACT.md, "Publish rules") ----

/** What the rate limit remembers of the last publish (seeded from the output hash). */
export interface HarvestMemory {
  action: string;
  newSl: number | null;
  killScore: number;
  publishedAtMs: number;
  /** policy_version of the theta the last publish computed with ('' = the configured theta). */
  policyVersion: string;
}

export function decideHarvest(
  memory: HarvestMemory | null,
  next: { action: string; newSl: number | null; killScore: number; policyVersion: string },
  nowMs: number,
  s: RateLimitSettings,
): Decision {
  if (memory === null) return publish("first_publish");
  if (memory.action !== next.action) return publish("action_changed");
  // The hash must say which theta computed it: a switch of theta is published even when the
  // proposal came out the same.
  if (memory.policyVersion !== next.policyVersion) return publish("theta_changed");
  if ((memory.newSl === null) !== (next.newSl === null)) return publish("new_sl_set_changed");
  if (memory.newSl !== null && next.newSl !== null) {
    const relative =
      Math.abs(next.newSl - memory.newSl) / Math.max(Math.abs(memory.newSl), Number.MIN_VALUE);
    if (relative > s.changeEpsPct) return publish("new_sl_changed");
  }
  if (Math.abs(next.killScore - memory.killScore) > s.changeEpsPct)
    return publish("kill_score_changed");
  if (tooOld(memory.publishedAtMs, nowMs, s)) return publish("max_age");
  return hold;
}

const OUTPUT = HARVEST_PROPOSAL_OUTPUT;

export function harvestSteps(
  deps: PhaseDeps,
): PhaseSteps<HarvestMemory, HarvestInputs, Spelled<HarvestResult>> {
  const { store, config } = deps;
  const configured = configuredHarvestTheta(config);
  const configuredOnly: ThetaInForce = {
    theta: configured,
    source: "config",
    version: "",
    why: "no policy book",
  };
  const settings = rateLimitSettings(config);
  const maxAge = maxInputAgeSec(config);
  const limits = outputLimitsFrom(config);
  const marketHandoffMaxAgeMs = marketStateHandoffMaxAgeMs(marketStateTtlSec(config));

  return {
    async seed(symbol) {
      const hash = await readOwnHash(store, outputKey(OUTPUT, symbol));
      const read = parseFields(OUTPUT, hash, [
        "harvest_action",
        "kill_score",
        "computed_at_utc",
        "policy_version",
      ]);
      if (!read.ok) return null;
      // An unreadable stop seeds as none: the next publish's comparison then counts it as set.
      const newSl = parseField(OUTPUT, hash, "new_sl_proposed");
      // policy_version absent (an older publisher) reads as the configured theta's "".
      return {
        action: read.values.harvest_action,
        newSl: newSl.ok ? newSl.value : null,
        killScore: read.values.kill_score,
        publishedAtMs: read.values.computed_at_utc,
        policyVersion: read.values.policy_version,
      };
    },

    async read(symbol, handoff) {
      const nowMs = deps.now();
      // What this chain's marketstate and risk published and its risk fetched
      // (src/inputs/handoff.ts); what was not handed on is read.
      const handedMarket = handed(handoff?.marketstate, nowMs, marketHandoffMaxAgeMs);
      const fetched = handed(handoff?.position, nowMs)?.fetched ?? null;
      const proposal = handed(handoff?.risk, nowMs);
      const read = await readGuarded<HarvestInputs>(async () => {
        const [market, tracked, risk, stamp] = await Promise.all([
          readPublishedMarketState(store, symbol, nowMs, maxAge, handedMarket?.fields ?? null),
          trackPosition(deps, symbol, nowMs, fetched),
          readRiskProposal(store, symbol, nowMs, maxAge, proposal?.fields ?? null),
          store.hget(outputKey(OUTPUT, symbol), OUTPUT.publishedStamp),
        ]);
        const position = tracked.tracked;
        if (!market.ok) return market;
        if (!position.ok) return position;
        // Asked per cycle: a new policy applies from the next cycle, an expired one stops at once.
        const theta = deps.policy?.thetaAt(nowMs) ?? configuredOnly;
        return ok({
          market: market.value,
          tracked: position.value,
          risk,
          theta,
          outputPresent: stamp !== null,
        });
      });
      return { nowMs, read };
    },

    compute(_symbol, { market, tracked, risk, theta }) {
      const position = kernelPositionFor(tracked, config.rNetBasis);
      if (!position.ok) return position;
      return computeGuarded(() => {
        const result = computeHarvest({
          position: position.value,
          market_state: {
            sigma: market.sigma,
            ts: market.ts,
            p_trend: market.p_trend,
            p_mr: market.p_mr,
            p_chop: market.p_chop,
          },
          p1_proposal: risk.proposal,
          theta: theta.theta,
        });
        // The output guard last (CONTRACT.md, "Plausibility"): an implausible result skips the
        // cycle here, in compute, so nothing of it is written — no hash, no heartbeat, no memory.
        // The position checked is the one publish writes (kernelPositionFor, as above).
        return guardHarvestResult(result, market, position.value, limits, theta.version);
      });
    },

    decide(memory, inputs, { result }, nowMs) {
      if (!inputs.outputPresent)
        return { publish: true, why: memory === null ? "first_publish" : "output_missing" };
      return decideHarvest(
        memory,
        {
          action: result.harvest_action,
          newSl: result.new_sl_proposed,
          killScore: result.kill_score,
          policyVersion: inputs.theta.version,
        },
        nowMs,
        settings,
      );
    },

    async publish(symbol, { market, theta }, spelled, nowMs) {
      const { result } = spelled;
      // The fields the output guard checked in compute (the position as kernelPositionFor gave
      // it to the kernel, the theta's policy_version), with the publish's stamps.
      const fields = await publishProposal(deps, OUTPUT, symbol, spelled.fields, nowMs);
      return {
        memory: {
          action: result.harvest_action,
          newSl: result.new_sl_proposed,
          killScore: result.kill_score,
          publishedAtMs: nowMs,
          policyVersion: theta.version,
        },
        figures: {
          kill_score: result.kill_score,
          k_regime_flip: result.k_components.regime_flip,
          k_sigma_spike: result.k_components.sigma_spike,
          k_ts_drop: result.k_components.ts_drop,
          k_age_penalty: result.k_components.age_penalty,
          R_net: result.R_net,
          // The old exporter's quantum_harvest_new_sl: 0 when no new stop is proposed.
          new_sl: result.new_sl_proposed ?? 0,
          marketstate_age_sec: nowMs / 1000 - market.ts_timestamp,
        },
        labels: {
          harvest_action: result.harvest_action,
          theta_source: theta.source,
          policy_version: theta.version,
        },
        // The same spellings as the hash: a log line and `redis-cli hgetall` never disagree.
        summary: `${fields.harvest_action} R=${fields.R_net} K=${fields.kill_score} SL=${fields.new_sl_proposed === "" ? "-" : fields.new_sl_proposed}${theta.source === "policy" ? ` policy=${theta.version}` : ""}`,
      };
    },

    async heartbeat(symbol, nowMs) {
      await proposalHeartbeat(deps, OUTPUT, symbol, nowMs);
    },
  };
}

/** The harvest phase: its steps, its output hash and its rate-limit rule (src/phases/registry.ts). */
export const harvestPhase = definePhase({
  name: "harvest",
  output: HARVEST_PROPOSAL_OUTPUT,
  rateLimit: decideHarvest,
  steps: harvestSteps,
});
