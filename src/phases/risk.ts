// P1 stops publisher steps: marketstate hash + position → stops kernel → quantum:risk:proposal:{sym}.
import { computeStops, type StopsTheta } from "../kernels/stops.js";
import type { DeepPartial, StopsResult } from "../kernels/types.js";
import type { TrackedPosition } from "../inputs/positionMemory.js";
import { publishWithMemory, readTrackedPosition } from "./positionInput.js";
import {
  heartbeatFields,
  riskProposalFields,
  withSymbol,
  type PublishedMarketState,
} from "../contracts/fields.js";
import { readPublishedMarketState } from "../inputs/publishedState.js";
import { parseFiniteNumber } from "../inputs/parse.js";
import { ok } from "../inputs/types.js";
import { riskProposalKey, RISK_PROPOSAL_STREAM } from "../store/keyGuard.js";
import { decideRisk, type RiskMemory } from "./rateLimit.js";
import { guardRiskResult, outputLimitsFrom } from "./outputGuard.js";
import { STREAM_MAXLEN } from "./marketstate.js";
import {
  computeGuarded,
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

export function riskSteps(deps: PhaseDeps): PhaseSteps<RiskMemory, RiskInputs, StopsResult> {
  const { store, config } = deps;
  const theta = config.theta.stops as DeepPartial<StopsTheta> | undefined;
  const settings = rateLimitSettings(config);
  const maxAge = maxInputAgeSec(config);
  const limits = outputLimitsFrom(config);

  return {
    async seed(symbol) {
      const hash = await readOwnHash(store, riskProposalKey(symbol));
      const sl = parseFiniteNumber(hash.proposed_sl);
      const tp = parseFiniteNumber(hash.proposed_tp);
      const at = hash.computed_at_utc ? Date.parse(hash.computed_at_utc) : Number.NaN;
      if (sl === null || tp === null || !Number.isFinite(at)) return null;
      return { sl, tp, publishedAtMs: at };
    },

    async read(symbol) {
      const nowMs = deps.now();
      const read = await readGuarded<RiskInputs>(async () => {
        const [market, position, stamp] = await Promise.all([
          readPublishedMarketState(store, symbol, nowMs, maxAge),
          readTrackedPosition(deps, symbol, nowMs),
          store.hget(riskProposalKey(symbol), "computed_at_utc"),
        ]);
        if (!market.ok) return market;
        if (!position.ok) return position;
        return ok({ market: market.value, tracked: position.value, outputPresent: stamp !== null });
      });
      return { nowMs, read };
    },

    compute(symbol, { market, tracked }) {
      return computeGuarded(() => {
        const result = computeStops(
          {
            market_state: {
              sigma: market.sigma,
              mu: market.mu,
              ts: market.ts,
              // SPEC §7.2: the Python publisher lost p_trend here; we pass all three.
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

    decide(memory, inputs, result, nowMs) {
      if (!inputs.outputPresent)
        return { publish: true, why: memory === null ? "first_publish" : "output_missing" };
      return decideRisk(
        memory,
        { sl: result.proposed_sl, tp: result.proposed_tp },
        nowMs,
        settings,
      );
    },

    async publish(symbol, { market, tracked }, result, nowMs) {
      const position = tracked.position;
      const fields = riskProposalFields(result, market, position, nowMs);
      await publishWithMemory(deps, symbol, nowMs, {
        hashes: [{ key: riskProposalKey(symbol), fields }],
        streams: config.enableStream
          ? [
              {
                key: RISK_PROPOSAL_STREAM,
                fields: withSymbol(symbol, fields),
                maxLen: STREAM_MAXLEN,
              },
            ]
          : [],
      });
      return {
        memory: { sl: result.proposed_sl, tp: result.proposed_tp, publishedAtMs: nowMs },
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
      await publishWithMemory(deps, symbol, nowMs, {
        hashes: [{ key: riskProposalKey(symbol), fields: heartbeatFields(nowMs) }],
        streams: [],
      });
    },
  };
}
