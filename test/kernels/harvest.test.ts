import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  computeHarvest,
  DEFAULT_HARVEST_THETA,
  type HarvestInput,
} from "../../src/kernels/harvest.js";
import type { HarvestMarketState, Position } from "../../src/kernels/types.js";

const position: Position = {
  symbol: "BTCUSDT",
  side: "LONG",
  entry_price: 100,
  current_price: 105,
  peak_price: 106,
  trough_price: 99,
  age_sec: 3600,
  unrealized_pnl: 5,
  current_sl: 99,
  current_tp: null,
};
const calm: HarvestMarketState = { sigma: 0.01, ts: 0.4, p_trend: 0.6, p_mr: 0.2, p_chop: 0.2 };

function run(
  over: {
    position?: Partial<Position>;
    market_state?: Partial<HarvestMarketState>;
    p1_proposal?: HarvestInput["p1_proposal"];
    theta?: HarvestInput["theta"];
  } = {},
) {
  return computeHarvest({
    position: { ...position, ...over.position },
    market_state: { ...calm, ...over.market_state },
    p1_proposal: "p1_proposal" in over ? over.p1_proposal : { stop_dist_pct: 0.02 },
    theta: over.theta,
  });
}

describe("computeHarvest edges", () => {
  it("p1 absent (null or undefined) uses fallback_stop_pct", () => {
    expect(run({ p1_proposal: null }).risk_unit).toBe(
      100 * DEFAULT_HARVEST_THETA.fallback_stop_pct,
    );
    expect(run({ p1_proposal: undefined }).risk_unit).toBe(2);
  });

  it("stop_dist_pct 0 falls back to fallback_stop_pct", () => {
    expect(
      run({ p1_proposal: { stop_dist_pct: 0 }, theta: { fallback_stop_pct: 0.05 } }).risk_unit,
    ).toBeCloseTo(5, 12);
  });

  it("uses the P1 stop distance when present", () => {
    const r = run({ p1_proposal: { stop_dist_pct: 0.01 } });
    expect(r.risk_unit).toBe(1);
    expect(r.R_net).toBeCloseTo(4.9, 12);
    expect(r.harvest_action).toBe("PARTIAL_50");
  });

  it("R_net below T1_R: NONE and no reasons; no profit lock below lock_R", () => {
    const r = run({ position: { unrealized_pnl: 2 } });
    expect(r.R_net).toBeCloseTo(0.95, 12);
    expect(r.harvest_action).toBe("NONE");
    expect(r.new_sl_proposed).toBeNull();
    expect(r.reason_codes).toEqual([]);
  });

  it("profit lock with current_sl unset proposes break-even-plus", () => {
    expect(run({ position: { current_sl: null } }).new_sl_proposed).toBeCloseTo(100.2, 12);
    expect(run({ position: { side: "SHORT", current_sl: null } }).new_sl_proposed).toBeCloseTo(
      99.8,
      12,
    );
  });

  it("profit lock never proposes a stop that is not tighter", () => {
    const long = run({ position: { current_sl: 101 } });
    expect(long.new_sl_proposed).toBeNull();
    expect(long.reason_codes).not.toContain("profit_lock");
    const short = run({ position: { side: "SHORT", current_sl: 99 } });
    expect(short.new_sl_proposed).toBeNull();
  });

  it("kill score: reason thresholds are strict (>) and the action becomes FULL_CLOSE_PROPOSED", () => {
    // ts_drop exactly 0.2 in binary is 0.19999999999999998, not > 0.2.
    const r = run({
      market_state: { sigma: 0.03, ts: 0.1, p_trend: 0.1, p_mr: 0.3, p_chop: 0.6 },
      position: { age_sec: 100800 },
    });
    expect(r.harvest_action).toBe("FULL_CLOSE_PROPOSED");
    expect(r.kill_score).toBeCloseTo(0.917, 3);
    expect(r.reason_codes).toEqual([
      "harvest_partial_25",
      "profit_lock",
      "kill_score_triggered",
      "regime_flip",
      "sigma_spike",
      "age_penalty",
    ]);
    // age_penalty exactly 0.5 is not named.
    const half = run({
      market_state: { p_trend: 0.1, p_mr: 0.3, p_chop: 0.6 },
      position: { age_sec: 43200, unrealized_pnl: 0 },
    });
    expect(half.k_components.age_penalty).toBe(0.5);
    expect(half.reason_codes).toEqual(["kill_score_triggered", "regime_flip"]);
  });

  it("tranche weights are the softmax of u1..u3 / softmax_temp", () => {
    const r = run({ theta: { u1: 1, u2: 0, u3: 0, softmax_temp: 0.5 } });
    const e = Math.exp(2);
    expect(r.tranche_weights[0]).toBeCloseTo(e / (e + 2), 14);
    expect(r.tranche_weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
  });

  it("refuses bad input naming the field and the value", () => {
    expect(() => run({ market_state: { p_trend: 1.5 } })).toThrow(/market_state\.p_trend.*1\.5/);
    expect(() => run({ market_state: { sigma: NaN } })).toThrow(/market_state\.sigma/);
    expect(() => run({ market_state: { ts: undefined as never } })).toThrow(
      /market_state\.ts: missing/,
    );
    expect(() => run({ p1_proposal: { stop_dist_pct: -0.01 } })).toThrow(
      /p1_proposal\.stop_dist_pct.*-0\.01/,
    );
    expect(() => run({ p1_proposal: {} as never })).toThrow(/p1_proposal\.stop_dist_pct: missing/);
    expect(() => run({ position: { entry_price: 0 } })).toThrow(/position\.entry_price.*0/);
    expect(() => run({ position: { unrealized_pnl: Infinity } })).toThrow(
      /position\.unrealized_pnl/,
    );
    expect(() => run({ theta: { softmax_temp: 0 } })).toThrow(/theta\.softmax_temp/);
    expect(() => run({ theta: { sigma_ref: 0 } })).toThrow(/theta\.sigma_ref/);
  });
});

describe("computeHarvest theta override, resolved once while it stays the same", () => {
  it("an override changed in place, or another with the same leaves, gives what a fresh one gives", () => {
    const theta: Record<string, number> = { fallback_stop_pct: 0.05 };
    const first = run({ p1_proposal: null, theta });
    expect(first.risk_unit).toBeCloseTo(5, 12);
    expect(run({ p1_proposal: null, theta: { fallback_stop_pct: 0.05 } })).toEqual(first);
    // The same object, another value: the remembered theta must not answer for it.
    theta.fallback_stop_pct = 0.04;
    expect(run({ p1_proposal: null, theta }).risk_unit).toBeCloseTo(4, 12);
    // A leaf added in place (same first leaves): resolved again.
    theta.cost_bps = 0;
    expect(run({ p1_proposal: null, theta }).cost_est).toBe(0);
    // -0 is its own leaf value (Object.is), not the 0 remembered.
    expect(
      run({ p1_proposal: null, theta: { fallback_stop_pct: 0.04, cost_bps: -0 } }).cost_est,
    ).toBe(-0);
    // A bad override after a good one still throws, every time.
    expect(() => run({ theta: { softmax_temp: 0 } })).toThrow(/theta\.softmax_temp/);
    expect(() => run({ theta: { softmax_temp: 0 } })).toThrow(/theta\.softmax_temp/);
    expect(() => run({ theta: { no_such_leaf: 1 } as never })).toThrow(/unknown theta key/);
  });
});

describe("computeHarvest properties", () => {
  const arb = fc.record({
    side: fc.constantFrom("LONG" as const, "SHORT" as const),
    entry: fc.double({ min: 1e-3, max: 1e5, noNaN: true }),
    pnl: fc.double({ min: -1e4, max: 1e4, noNaN: true }),
    sl: fc.option(fc.double({ min: 0.5, max: 1.5, noNaN: true }), { nil: null }),
    age: fc.double({ min: 0, max: 1e6, noNaN: true }),
    sigma: fc.double({ min: 0, max: 0.5, noNaN: true }),
    ts: fc.double({ min: -1, max: 5, noNaN: true }),
    pt: fc.double({ min: 0, max: 1, noNaN: true }),
    pm: fc.double({ min: 0, max: 1, noNaN: true }),
    pc: fc.double({ min: 0, max: 1, noNaN: true }),
    stop: fc.option(fc.double({ min: 0, max: 0.2, noNaN: true }), { nil: null }),
  });

  type Drawn = typeof arb extends fc.Arbitrary<infer T> ? T : never;
  const build = (a: Drawn): HarvestInput => ({
    position: {
      ...position,
      side: a.side,
      entry_price: a.entry,
      unrealized_pnl: a.pnl,
      current_sl: a.sl === null ? null : a.entry * a.sl,
      age_sec: a.age,
    },
    market_state: { sigma: a.sigma, ts: a.ts, p_trend: a.pt, p_mr: a.pm, p_chop: a.pc },
    p1_proposal: a.stop === null ? null : { stop_dist_pct: a.stop },
  });

  it("K is in (0, 1) and every number is finite", () => {
    fc.assert(
      fc.property(arb, (a) => {
        const r = computeHarvest(build(a));
        const nums = [
          r.R_net,
          r.risk_unit,
          r.cost_est,
          r.kill_score,
          ...Object.values(r.k_components),
          ...r.tranche_weights,
        ];
        return r.kill_score > 0 && r.kill_score < 1 && nums.every(Number.isFinite);
      }),
    );
  });

  it("the profit-lock stop only ever tightens", () => {
    fc.assert(
      fc.property(arb, (a) => {
        const input = build(a);
        const r = computeHarvest(input);
        const current = (input.position as Position).current_sl;
        if (r.new_sl_proposed === null || current === null) return true;
        return a.side === "LONG" ? r.new_sl_proposed > current : r.new_sl_proposed < current;
      }),
    );
  });
});
