// P0 MarketState publisher steps: candles → kernel → quantum:marketstate:{sym} (+ stream).
import type { CandleSeries } from "../candles/index.js";
import {
  CandleParseCache,
  CandleWindowCache,
  candleGuardsFromConfig,
  readCandles,
} from "../candles/index.js";
import {
  computeMarketState,
  marketStateMinRequired,
  type MarketStateTheta,
} from "../kernels/marketState.js";
import type { DeepPartial, MarketState } from "../kernels/types.js";
import {
  dominantRegimeName,
  MARKETSTATE_BOOKKEEPING,
  MARKETSTATE_OUTPUT,
} from "../contracts/marketstateOutput.js";
import { outputKey, parseField, spell, stamped } from "../contracts/output.js";
import { calcKey } from "../store/keyGuard.js";
import { ok, skip } from "../inputs/types.js";
import { hold, publish, tooOld, type RateLimitSettings } from "./rateLimit.js";
import type { Decision } from "../../machines/publisher.js";
import { guardMarketState, type Spelled } from "./outputGuard.js";
import type { Config } from "../config/schema.js";
import {
  computeGuarded,
  definePhase,
  rateLimitSettings,
  readGuarded,
  readOwnHash,
  type PhaseDeps,
  type PhaseSteps,
} from "./steps.js";

export interface MarketStateInputs {
  series: CandleSeries;
  /** False when our output hash is gone (expired, Redis restarted empty): publish regardless. */
  outputPresent: boolean;
}

/** Our own bookkeeping: the candle fingerprint of the last publish (MARKETSTATE_BOOKKEEPING). */
export const marketStateBookkeepingKey = (symbol: string): string => calcKey("marketstate", symbol);

const OUTPUT = MARKETSTATE_OUTPUT;
const outputKeyOf = (symbol: string): string => outputKey(OUTPUT, symbol);

function sameCloses(a: Float64Array, b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A copy that shares nothing with `s` (the cached result is never handed out itself). */
function copyMarketState(s: MarketState): MarketState {
  return { ...s, regime_probs: { ...s.regime_probs }, features: { ...s.features } };
}

/**
 * EXPIRE of the marketstate hash (docs/specification.md §5): 10 × the interval, and never shorter than the time to
 * the next forced publish plus one interval. An unchanged market state is republished when its
 * last publish is maxPublishAge old, which the first cycle after that notices — up to one
 * interval later — so a healthy publisher refreshes the hash within maxPublishAge + interval; one
 * interval more is the margin. With 1 s intervals and maxPublishAge 60 that is 62 s, not 10 s.
 */
export function marketStateTtlSec(
  config: Pick<Config, "marketstateInterval" | "maxPublishAge">,
): number {
  const interval = config.marketstateInterval;
  return Math.max(1, Math.ceil(Math.max(10 * interval, config.maxPublishAge + 2 * interval)));
}

/**
 * docs/specification.md §5 says malformed candle members are skipped *and counted*; the reader counted them but
 * nothing reported the count, so a feed going bad was invisible while enough good candles
 * remained. It is shown in the publish line (and figures) and in an insufficient_data detail.
 */
function candleNotes(series: CandleSeries): string {
  const notes: string[] = [];
  const n = (count: number, one: string, many: string): string =>
    `${count} ${count === 1 ? one : many}`;
  if (series.malformed > 0)
    notes.push(
      `${n(series.malformed, "malformed candle member", "malformed candle members")} skipped`,
    );
  if (series.duplicates > 0)
    notes.push(`${n(series.duplicates, "duplicate open time", "duplicate open times")} dropped`);
  if (series.future > 0)
    notes.push(
      `${n(series.future, "member", "members")} dated after now + maxClockSkew skipped (future_candle)`,
    );
  if (series.gapMinutes !== null && series.gapMinutes > 0)
    notes.push(`${n(series.gapMinutes, "minute", "minutes")} missing in the window`);
  return notes.length === 0 ? "" : ` (${notes.join(", ")})`;
}

// ---- the rate-limit rule (CONTRACT.md, "Publish rules") ----

/** What the rate limit remembers of the last publish (seeded from the output hash). */
export interface MarketStateMemory {
  /** Candle fingerprint of the last publish; null when unknown (e.g. seeded without one). */
  fingerprint: string | null;
  publishedAtMs: number;
}

export function decideMarketState(
  memory: MarketStateMemory | null,
  fingerprint: string,
  nowMs: number,
  s: RateLimitSettings,
): Decision {
  if (memory === null) return publish("first_publish");
  if (memory.fingerprint !== fingerprint) return publish("new_candles");
  if (tooOld(memory.publishedAtMs, nowMs, s)) return publish("max_age");
  return hold;
}

export function marketStateSteps(
  deps: PhaseDeps,
): PhaseSteps<MarketStateMemory, MarketStateInputs, Spelled<MarketState>> {
  const { store, config } = deps;
  const theta = config.theta.marketstate as DeepPartial<MarketStateTheta> | undefined;
  const minRequired = marketStateMinRequired(theta);
  const settings = rateLimitSettings(config);
  const ttlSec = marketStateTtlSec(config);
  const maxCandleAgeMs = config.maxCandleAge * 1000;
  // The parsed tail of each symbol's data-sink key, read incrementally (src/candles/window.ts);
  // the parse cache serves the older layouts' keys.
  const window = new CandleWindowCache();
  const parseCache = new CandleParseCache();

  // The kernel is a pure function of the closes (theta is fixed for these steps): a cycle whose
  // window holds exactly the closes of the symbol's previous cycle (an interval cycle before the
  // next candle) gets the previous result, compared close by close — never by a hash.
  const lastComputed = new Map<string, { closes: Float64Array; result: MarketState | null }>();
  const computeCached = (symbol: string, closes: readonly number[]): MarketState | null => {
    const last = lastComputed.get(symbol);
    if (last !== undefined && sameCloses(last.closes, closes))
      return last.result === null ? null : copyMarketState(last.result);
    const result = computeMarketState(closes, theta);
    lastComputed.set(symbol, {
      closes: Float64Array.from(closes),
      result: result === null ? null : copyMarketState(result),
    });
    return result;
  };

  return {
    async seed(symbol) {
      const [hash, book] = await Promise.all([
        readOwnHash(store, outputKeyOf(symbol)),
        readOwnHash(store, marketStateBookkeepingKey(symbol)),
      ]);
      const published = parseField(OUTPUT, hash, "ts_timestamp");
      if (!published.ok) return null;
      const fingerprint = parseField(MARKETSTATE_BOOKKEEPING, book, "candle_fingerprint");
      return {
        fingerprint: fingerprint.ok ? fingerprint.value : null,
        publishedAtMs: published.value * 1000,
      };
    },

    async read(symbol) {
      const nowMs = deps.now();
      const read = await readGuarded<MarketStateInputs>(async () => {
        let candles: Awaited<ReturnType<typeof readCandles>>;
        let stamp: string | null;
        try {
          [candles, stamp] = await Promise.all([
            readCandles(store, symbol, {
              patterns: config.candlePatterns,
              windowSize: config.windowSize,
              cache: parseCache,
              window,
              live: deps.live.get(symbol),
              // The cycle's clock: a candle dated after it (+ maxClockSkew) is future_candle.
              ...candleGuardsFromConfig(config, nowMs),
            }),
            store.hget(outputKeyOf(symbol), OUTPUT.publishedStamp),
          ]);
        } catch (error) {
          // A failed read (Redis gone, as before a klines RESYNC): every symbol's next read is a
          // full one, so nothing written meanwhile, however far back, is missed.
          window.clear();
          throw error;
        }
        if (!candles.ok) return candles;
        // A frozen feed must not produce fresh-looking market states (docs/specification.md §5). A series without
        // open times (bare closes in a list, an older layout) cannot be checked.
        const opened = candles.value.lastOpenTimeMs;
        if (opened !== null && nowMs - opened > maxCandleAgeMs) {
          return skip(
            "stale_candles",
            `newest candle in ${candles.value.key} opened ${Math.round((nowMs - opened) / 1000)} s ago (maxCandleAge ${config.maxCandleAge} s)${candleNotes(candles.value)}`,
          );
        }
        // Missing minutes are reported (figures, status, the gap gauge) and computed on: the
        // winsorized returns and the MAD clip bound the one return across a gap, and Theil–Sen is a
        // median. maxCandleGap (off by default) refuses a window with more (CONTRACT.md, "Plausibility").
        const gap = candles.value.gapMinutes;
        if (config.maxCandleGap !== null && gap !== null && gap > config.maxCandleGap) {
          return skip(
            "gapped_candles",
            `${gap} minutes missing between the candles of the window in ${candles.value.key} (maxCandleGap ${config.maxCandleGap})`,
          );
        }
        return ok({ series: candles.value, outputPresent: stamp !== null });
      });
      return { nowMs, read };
    },

    compute(symbol, inputs) {
      return computeGuarded(() => {
        const result = computeCached(symbol, inputs.series.closes);
        if (result === null) {
          return {
            ok: false,
            reason: "insufficient_data",
            detail: `${inputs.series.closes.length} closes in ${inputs.series.key}${candleNotes(inputs.series)}, ${minRequired} needed`,
          };
        }
        // The output guard (CONTRACT.md, "Plausibility"): a figure that is not finite or would be
        // written longer than 32 characters skips the cycle here, so nothing of it is written.
        return guardMarketState(result, inputs.series.closes.length);
      });
    },

    decide(memory, inputs, _spelled, nowMs) {
      if (!inputs.outputPresent)
        return { publish: true, why: memory === null ? "first_publish" : "output_missing" };
      return decideMarketState(memory, inputs.series.fingerprint, nowMs, settings);
    },

    async publish(symbol, inputs, spelled, nowMs) {
      const result = spelled.result;
      // The fields the output guard checked in compute, with the publish's stamp.
      const fields = stamped(OUTPUT, spelled.fields, nowMs);
      await store.publish({
        hashes: [
          { key: outputKeyOf(symbol), fields, ttlSec },
          {
            key: marketStateBookkeepingKey(symbol),
            fields: spell(MARKETSTATE_BOOKKEEPING, {
              candle_fingerprint: inputs.series.fingerprint,
              // Floored as ts_timestamp is: a clock reading of …999.6 ms rounded would put the
              // bookkeeping in the next second while the hash it was written with says this one.
              published_at_ms: Math.floor(nowMs),
            }),
            ttlSec,
          },
        ],
        streams: [
          {
            key: OUTPUT.stream.key,
            fields: OUTPUT.stream.entry(symbol, fields, { regime_probs: result.regime_probs }),
            maxLen: OUTPUT.stream.maxLen,
          },
        ],
      });
      const p = result.regime_probs;
      return {
        memory: { fingerprint: inputs.series.fingerprint, publishedAtMs: nowMs },
        figures: {
          sigma: result.sigma,
          mu: result.mu,
          ts: result.ts,
          p_trend: p.trend,
          p_mr: p.mr,
          p_chop: p.chop,
          buffer_size: inputs.series.closes.length,
          candles_malformed: inputs.series.malformed,
          candles_duplicate: inputs.series.duplicates,
          candles_live_only: inputs.series.liveOnly,
          candles_future: inputs.series.future,
          ...(inputs.series.gapMinutes !== null
            ? { candle_gap_minutes: inputs.series.gapMinutes }
            : {}),
          // From the newest candle's close to this publish: the feed-to-marketstate lag.
          ...(inputs.series.lastCloseTimeMs !== null
            ? { candle_lag_sec: Math.max(0, nowMs - inputs.series.lastCloseTimeMs) / 1000 }
            : {}),
        },
        // What risk and harvest of this chain take instead of reading the hash back (src/inputs/handoff.ts).
        handoff: { marketstate: { fields, atMs: nowMs } },
        // The same spellings as the hash: a log line and `redis-cli hgetall` never disagree.
        summary: `${dominantRegimeName(p)} sigma=${fields.sigma} mu=${fields.mu} ts=${fields.ts} p=${fields.p_trend}/${fields.p_mr}/${fields.p_chop}${candleNotes(inputs.series)}`,
      };
    },

    // The marketstate hash has no heartbeat field: a quiet cycle writes nothing.
    async heartbeat() {},
  };
}

/** The marketstate phase: its steps, its output hash and its rate-limit rule (src/phases/registry.ts). */
export const marketStatePhase = definePhase({
  name: "marketstate",
  output: MARKETSTATE_OUTPUT,
  rateLimit: decideMarketState,
  steps: marketStateSteps,
});
