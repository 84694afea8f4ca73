// The output guard only ever removes a publish of an implausible result (CONTRACT.md,
// "Plausibility"): on the reference's own vectors (test/fixtures/parity) — plausible inputs — it
// never fires, and it hands the kernel's result through untouched (the same object), so parity and
// every publish are unchanged. Also a seeded property run over random plausible positions.
import { describe, expect, it } from "vitest";
import type { PublishedMarketState } from "../../src/contracts/marketstateOutput.js";
import { computeHarvest, type HarvestInput } from "../../src/kernels/harvest.js";
import { computeMarketState, type MarketStateTheta } from "../../src/kernels/marketState.js";
import { computeStops, type StopsInput } from "../../src/kernels/stops.js";
import type { DeepPartial, Position } from "../../src/kernels/types.js";
import {
  guardHarvestResult,
  guardMarketState,
  guardRiskResult,
  type OutputLimits,
} from "../../src/phases/outputGuard.js";
import { loadParity } from "../helpers/parity.js";

/** The configuration keys' defaults (maxPriceRatio 10, maxStopDistPct 0.5). */
const DEFAULTS: OutputLimits = { maxPriceRatio: 10, maxStopDistPct: 0.5 };
const TS = 1_796_518_455;

describe("the guard never fires on the parity vectors", () => {
  it("stops: every case passes, the result is handed through as it is", () => {
    const vectors = loadParity("stops");
    const fired: string[] = [];
    for (const c of vectors.cases) {
      const input = c.input as unknown as StopsInput;
      const result = computeStops(input);
      const ms = input.market_state as {
        sigma: number;
        mu: number;
        ts: number;
        regime_probs: { trend: number; mr: number; chop: number };
      };
      const market: PublishedMarketState = {
        sigma: ms.sigma,
        mu: ms.mu,
        ts: ms.ts,
        p_trend: ms.regime_probs.trend,
        p_mr: ms.regime_probs.mr,
        p_chop: ms.regime_probs.chop,
        ts_timestamp: TS,
      };
      const guarded = guardRiskResult(result, market, input.position as Position, DEFAULTS);
      if (!guarded.ok) fired.push(`${c.name}: ${guarded.detail}`);
      else expect(guarded.value.result).toBe(result);
    }
    expect(fired).toEqual([]);
    expect(vectors.cases.length).toBeGreaterThan(100);
  });

  it("harvest: every case passes, the result is handed through as it is", () => {
    const vectors = loadParity("harvest");
    const fired: string[] = [];
    for (const c of vectors.cases) {
      const input = c.input as unknown as HarvestInput;
      const result = computeHarvest(input);
      const ms = input.market_state;
      const market: PublishedMarketState = { ...ms, mu: 0, ts_timestamp: TS };
      const guarded = guardHarvestResult(result, market, input.position as Position, DEFAULTS);
      if (!guarded.ok) fired.push(`${c.name}: ${guarded.detail}`);
      else expect(guarded.value.result).toBe(result);
    }
    expect(fired).toEqual([]);
    expect(vectors.cases.length).toBeGreaterThan(100);
  });

  it("market state: every computed case passes", () => {
    const vectors = loadParity("market_state");
    const fired: string[] = [];
    for (const c of vectors.cases) {
      const input = c.input as { prices: number[]; theta?: DeepPartial<MarketStateTheta> };
      const result = computeMarketState(input.prices, input.theta);
      if (result === null) continue;
      const guarded = guardMarketState(result, input.prices.length);
      if (!guarded.ok) fired.push(`${c.name}: ${guarded.detail}`);
      else expect(guarded.value.result).toBe(result);
    }
    expect(fired).toEqual([]);
  });
});

/** A small seeded generator (mulberry32): the same cases on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("property: plausible positions and market states never trip the guard", () => {
  it("2,000 random LONG/SHORT positions from 1e-6 to 1e5, moves within ±50 %, sigma up to 5 %", () => {
    const next = random(21);
    const fired: string[] = [];
    for (let i = 0; i < 2000; i += 1) {
      const scale = 10 ** (next() * 11 - 6);
      const entry = scale * (0.5 + next());
      const current = entry * (0.5 + next());
      const side = next() < 0.5 ? "LONG" : "SHORT";
      const best = current * (1 + next() * 0.3);
      const worst = current * (1 - next() * 0.3);
      const position: Position = {
        symbol: "X",
        side,
        entry_price: entry,
        current_price: current,
        peak_price: side === "LONG" ? best : worst,
        trough_price: side === "LONG" ? worst : best,
        age_sec: Math.floor(next() * 200_000),
        unrealized_pnl:
          (side === "LONG" ? current - entry : entry - current) * (0.01 + next() * 10),
        current_sl: null,
        current_tp: null,
      };
      const raw = [next(), next(), next()];
      const sum = raw[0] + raw[1] + raw[2];
      // As the marketstate hash spells them (8 and 6 decimals), then read back.
      const market: PublishedMarketState = {
        sigma: Number((next() * 0.05).toFixed(8)),
        mu: Number(((next() - 0.5) * 0.01).toFixed(8)),
        ts: Number(next().toFixed(6)),
        p_trend: Number((raw[0] / sum).toFixed(6)),
        p_mr: Number((raw[1] / sum).toFixed(6)),
        p_chop: Number((raw[2] / sum).toFixed(6)),
        ts_timestamp: TS,
      };
      const stops = computeStops({
        market_state: {
          sigma: market.sigma,
          mu: market.mu,
          ts: market.ts,
          regime_probs: { trend: market.p_trend, mr: market.p_mr, chop: market.p_chop },
        },
        position,
      });
      const risk = guardRiskResult(stops, market, position, DEFAULTS);
      if (!risk.ok) fired.push(`risk #${i}: ${risk.detail}`);
      const harvest = computeHarvest({
        position,
        market_state: {
          sigma: market.sigma,
          ts: market.ts,
          p_trend: market.p_trend,
          p_mr: market.p_mr,
          p_chop: market.p_chop,
        },
        p1_proposal: { stop_dist_pct: stops.intermediates.stop_dist_pct },
      });
      const h = guardHarvestResult(harvest, market, position, DEFAULTS);
      if (!h.ok) fired.push(`harvest #${i}: ${h.detail}`);
    }
    expect(fired).toEqual([]);
  });
});
