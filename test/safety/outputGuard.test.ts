// The output guard's rules, one by one (src/phases/outputGuard.ts; CONTRACT.md, "Plausibility"):
// each implausible field is a skip `implausible_result` whose detail names the field and value.
import { describe, expect, it } from "vitest";
import type { PublishedMarketState } from "../../src/contracts/marketstateOutput.js";
import { marketStateFields } from "../../src/contracts/marketstateOutput.js";
import { riskProposalFields } from "../../src/contracts/riskProposalOutput.js";
import { harvestProposalFields } from "../../src/contracts/harvestProposalOutput.js";
import { computeHarvest } from "../../src/kernels/harvest.js";
import { computeMarketState } from "../../src/kernels/marketState.js";
import { computeStops } from "../../src/kernels/stops.js";
import type { HarvestResult, Position, StopsResult } from "../../src/kernels/types.js";
import {
  checkPrice,
  checkPriceDistance,
  guardHarvestResult,
  guardMarketState,
  guardRiskResult,
  MAX_NUMBER_CHARS,
  outputLimitsFrom,
} from "../../src/phases/outputGuard.js";
import { serviceConfig } from "../helpers/serviceHarness.js";
import { loadParity } from "../helpers/parity.js";

const LIMITS = outputLimitsFrom(serviceConfig({}));
const MARKET: PublishedMarketState = {
  sigma: 0.01,
  mu: 0.0001,
  ts: 0.4,
  p_trend: 0.6,
  p_mr: 0.2,
  p_chop: 0.2,
  ts_timestamp: 1_796_518_455,
};
const LONG: Position = {
  symbol: "BTCUSDT",
  side: "LONG",
  entry_price: 98,
  current_price: 100,
  peak_price: 101,
  trough_price: 97,
  age_sec: 3600,
  unrealized_pnl: 1,
  current_sl: null,
  current_tp: null,
};

const stops = (position: Position = LONG, market: PublishedMarketState = MARKET): StopsResult =>
  computeStops({
    market_state: {
      sigma: market.sigma,
      mu: market.mu,
      ts: market.ts,
      regime_probs: { trend: market.p_trend, mr: market.p_mr, chop: market.p_chop },
    },
    position,
  });
const harvest = (position: Position = LONG): HarvestResult =>
  computeHarvest({
    position,
    market_state: { sigma: 0.01, ts: 0.4, p_trend: 0.6, p_mr: 0.2, p_chop: 0.2 },
    p1_proposal: { stop_dist_pct: 0.02 },
  });
const detailOf = (read: { ok: boolean; reason?: string; detail?: string }): string => {
  expect(read.ok).toBe(false);
  expect(read.reason).toBe("implausible_result");
  return read.detail ?? "";
};

describe("limits", () => {
  it("come from the configuration (maxPriceRatio 10, maxStopDistPct 0.5 by default)", () => {
    expect(LIMITS).toEqual({ maxPriceRatio: 10, maxStopDistPct: 0.5 });
    expect(outputLimitsFrom(serviceConfig({ maxPriceRatio: 3, maxStopDistPct: 0.2 }))).toEqual({
      maxPriceRatio: 3,
      maxStopDistPct: 0.2,
    });
    expect(MAX_NUMBER_CHARS).toBe(32);
  });

  it("checkPrice: both ends of [current / ratio, current × ratio] are allowed", () => {
    expect(checkPrice("p", 10, 100, 10)).toBeNull();
    expect(checkPrice("p", 1000, 100, 10)).toBeNull();
    expect(checkPrice("p", 1000.0000000001, 100, 10)).toBe(
      "p=1000.0000000001 is more than maxPriceRatio 10 away from the current price 100 (allowed 10 to 1000)",
    );
    expect(checkPrice("p", 9.99, 100, 10)).toMatch(/^p=9\.99 is more than maxPriceRatio 10/);
    expect(checkPrice("p", 0, 100, 10)).toBe("p=0 is not > 0");
    expect(checkPrice("p", Number.POSITIVE_INFINITY, 100, 10)).toBe("p=Infinity is not finite");
  });

  it("checkPriceDistance (risk_unit): > 0 and at most current × ratio, no lower bound (a distance is a fraction of the price)", () => {
    expect(checkPriceDistance("risk_unit", 0.5, 100, 10)).toBeNull();
    expect(checkPriceDistance("risk_unit", 1e-9, 100, 10)).toBeNull();
    expect(checkPriceDistance("risk_unit", 1000, 100, 10)).toBeNull();
    expect(checkPriceDistance("risk_unit", 1001, 100, 10)).toBe(
      "risk_unit=1001 is more than maxPriceRatio 10 times the current price 100 (at most 1000)",
    );
    expect(checkPriceDistance("risk_unit", -1, 100, 10)).toBe("risk_unit=-1 is not > 0");
  });
});

describe("risk", () => {
  it("a plausible proposal passes as it is", () => {
    const result = stops();
    // Formatted once: the guard hands on the fields the publish writes.
    expect(guardRiskResult(result, MARKET, LONG, LIMITS)).toEqual({
      ok: true,
      value: { result, fields: riskProposalFields(result, MARKET, LONG) },
    });
  });

  it("a stop below zero (a volatility that moves the stop past the price) names proposed_sl and its value", () => {
    const wild = { ...MARKET, sigma: 1 };
    const result = stops(LONG, wild);
    expect(result.proposed_sl).toBeLessThan(0);
    expect(detailOf(guardRiskResult(result, wild, LONG, LIMITS))).toBe(
      `proposed_sl=${result.proposed_sl} is not > 0`,
    );
  });

  it("a stop far from the market (a monotonic stop kept from a bad current_sl) names proposed_sl", () => {
    const position = { ...LONG, current_sl: 5000 };
    const result = stops(position);
    expect(result.proposed_sl).toBe(5000);
    expect(detailOf(guardRiskResult(result, MARKET, position, LIMITS))).toBe(
      "proposed_sl=5000 is more than maxPriceRatio 10 away from the current price 100 (allowed 10 to 1000)",
    );
  });

  it("proposed_tp, stop_dist_pct ≥ maxStopDistPct, the entry price", () => {
    const result = stops();
    expect(
      detailOf(guardRiskResult({ ...result, proposed_tp: Number.NaN }, MARKET, LONG, LIMITS)),
    ).toBe("proposed_tp=NaN is not finite");
    const far = { ...result, intermediates: { ...result.intermediates, stop_dist_pct: 0.5 } };
    expect(detailOf(guardRiskResult(far, MARKET, LONG, LIMITS))).toBe(
      "stop_dist_pct=0.5 is not below maxStopDistPct 0.5",
    );
    expect(
      guardRiskResult(
        { ...result, intermediates: { ...result.intermediates, stop_dist_pct: 0.4999 } },
        MARKET,
        LONG,
        LIMITS,
      ).ok,
    ).toBe(true);
    const glitch = { ...LONG, entry_price: 98_000 };
    expect(detailOf(guardRiskResult(stops(glitch), MARKET, glitch, LIMITS))).toBe(
      "position_entry_price=98000 is more than maxPriceRatio 10 away from the current price 100 (allowed 10 to 1000)",
    );
  });

  it("a number that would be written with more than 32 characters; a non-finite echo", () => {
    const result = stops();
    const tiny = {
      ...result,
      intermediates: { ...result.intermediates, trail_gap_pct: 1.2345678901234567e-20 },
    };
    expect(detailOf(guardRiskResult(tiny, MARKET, LONG, LIMITS))).toBe(
      "trail_gap_pct=0.000000000000000000012345678901234567 would be written with 38 characters (at most 32)",
    );
    expect(detailOf(guardRiskResult(result, { ...MARKET, sigma: Number.NaN }, LONG, LIMITS))).toBe(
      "sigma=NaN is not finite",
    );
  });
});

describe("harvest", () => {
  it("a plausible proposal passes as it is (with and without new_sl_proposed)", () => {
    const plain = harvest();
    expect(plain.new_sl_proposed).toBeNull();
    expect(guardHarvestResult(plain, MARKET, LONG, LIMITS, "v7")).toEqual({
      ok: true,
      value: { result: plain, fields: harvestProposalFields(plain, MARKET, LONG, "v7") },
    });
    const winner = { ...LONG, entry_price: 90, unrealized_pnl: 10 };
    const locked = harvest(winner);
    expect(locked.new_sl_proposed).not.toBeNull();
    expect(guardHarvestResult(locked, MARKET, winner, LIMITS).ok).toBe(true);
  });

  it("new_sl_proposed, risk_unit, R_net, the position prices", () => {
    const result = harvest();
    expect(
      detailOf(guardHarvestResult({ ...result, new_sl_proposed: -3 }, MARKET, LONG, LIMITS)),
    ).toBe("new_sl_proposed=-3 is not > 0");
    expect(
      detailOf(guardHarvestResult({ ...result, new_sl_proposed: 1e6 }, MARKET, LONG, LIMITS)),
    ).toMatch(/^new_sl_proposed=1000000 is more than maxPriceRatio 10/);
    expect(detailOf(guardHarvestResult({ ...result, risk_unit: 5000 }, MARKET, LONG, LIMITS))).toBe(
      "risk_unit=5000 is more than maxPriceRatio 10 times the current price 100 (at most 1000)",
    );
    expect(
      detailOf(
        guardHarvestResult({ ...result, R_net: Number.POSITIVE_INFINITY }, MARKET, LONG, LIMITS),
      ),
    ).toBe("R_net=Infinity is not finite");
    // -1e-25 is "-0.0000000000000000000000001", 28 characters: written; 17 digits that far down are not.
    expect(guardHarvestResult({ ...result, R_net: -1e-25 }, MARKET, LONG, LIMITS).ok).toBe(true);
    expect(
      detailOf(
        // eslint-disable-next-line no-loss-of-precision -- a number whose shortest spelling is long
        guardHarvestResult({ ...result, R_net: -1.2345678901234567e-25 }, MARKET, LONG, LIMITS),
      ),
    ).toBe(
      "R_net=-0.00000000000000000000000012345678901234566 would be written with 44 characters (at most 32)",
    );
    expect(
      detailOf(guardHarvestResult(result, MARKET, { ...LONG, current_price: -1 }, LIMITS)),
    ).toBe("position_current_price=-1 is not > 0");
  });
});

describe("market state", () => {
  const prices = (
    loadParity("market_state").cases.find((c) => c.expected !== null)!.input as { prices: number[] }
  ).prices;
  const state = computeMarketState(prices)!;

  it("a computed state passes as it is", () => {
    expect(guardMarketState(state, prices.length)).toEqual({
      ok: true,
      value: { result: state, fields: marketStateFields(state, prices.length) },
    });
  });

  it("a figure written longer than 32 characters at its fixed decimals, or not finite", () => {
    // 8 decimals: below 1e21 at most 30 characters; from 1e21 the digits without decimals, so
    // only from 1e32 on is a figure too long.
    expect(guardMarketState({ ...state, sigma: 1e31 }, 300).ok).toBe(true);
    expect(detailOf(guardMarketState({ ...state, sigma: 1e33 }, 300))).toBe(
      `sigma=1${"0".repeat(33)} would be written with 34 characters (at most 32)`,
    );
    expect(
      detailOf(
        guardMarketState({ ...state, features: { ...state.features, vr: Number.NaN } }, 300),
      ),
    ).toBe("vr=NaN is not finite");
  });
});
