import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { computeStops, DEFAULT_STOPS_THETA, type StopsInput } from "../../src/kernels/stops.js";
import { KernelInputError, type Position } from "../../src/kernels/types.js";

const longPosition: Position = {
  symbol: "BTCUSDT",
  side: "LONG",
  entry_price: 100,
  current_price: 100,
  peak_price: 100,
  trough_price: 99,
  age_sec: 60,
  unrealized_pnl: 0,
  current_sl: null,
  current_tp: null,
};

function input(overrides: Partial<StopsInput> & { position?: Partial<Position> } = {}): StopsInput {
  return {
    market_state: overrides.market_state ?? {
      sigma: 0.01,
      mu: 0,
      ts: 0.5,
      regime_probs: { trend: 0.6, mr: 0.2, chop: 0.2 },
    },
    position: { ...longPosition, ...overrides.position },
    theta: overrides.theta,
  };
}

describe("computeStops edges", () => {
  it("a tie between regimes reports the first in trend, mr, chop order", () => {
    const tieMrChop = computeStops(
      input({
        market_state: { sigma: 0.01, ts: 0, regime_probs: { trend: 0.2, mr: 0.4, chop: 0.4 } },
      }),
    );
    expect(tieMrChop.reason_codes).toContain("regime_mr");
    const tieAll = computeStops(
      input({
        market_state: { sigma: 0.01, ts: 0, regime_probs: { trend: 0.25, mr: 0.25, chop: 0.25 } },
      }),
    );
    expect(tieAll.reason_codes).toContain("regime_trend");
  });

  it("a missing regime probability counts as 0", () => {
    const r = computeStops(
      input({ market_state: { sigma: 0.01, ts: 0, regime_probs: { chop: 1 } } }),
    );
    expect(r.intermediates.k_sl_weighted).toBe(DEFAULT_STOPS_THETA.k_sl.chop);
    expect(r.reason_codes).toEqual(["regime_chop"]);
  });

  it("sigma 0 falls back to the minimum distances", () => {
    const r = computeStops(
      input({ market_state: { sigma: 0, ts: 0, regime_probs: { trend: 0, mr: 1, chop: 0 } } }),
    );
    expect(r.intermediates.stop_dist_pct).toBe(0.005);
    expect(r.intermediates.tp_dist_pct).toBe(0.01);
    expect(r.intermediates.trail_gap_pct).toBe(0.005);
    expect(r.proposed_sl).toBeCloseTo(99.5, 12);
    expect(r.proposed_tp).toBeCloseTo(101, 12);
  });

  it("with current_sl unset there is no monotonic reason and the computed stop stands", () => {
    const r = computeStops(input());
    expect(r.reason_codes.some((c) => c.startsWith("sl_"))).toBe(false);
    expect(r.proposed_sl).toBe(Math.max(r.intermediates.raw_sl, r.intermediates.trail_sl));
  });

  it("LONG: a looser stop is held at current_sl (sl_tightened_monotonic), a tighter one reported", () => {
    const held = computeStops(input({ position: { current_sl: 99.9 } }));
    expect(held.proposed_sl).toBe(99.9);
    expect(held.reason_codes[0]).toBe("sl_tightened_monotonic");
    const tighter = computeStops(input({ position: { current_sl: 90 } }));
    expect(tighter.proposed_sl).toBeGreaterThan(90);
    expect(tighter.reason_codes[0]).toBe("sl_tightening");
  });

  it("SHORT mirrors LONG and trails from trough_price", () => {
    const r = computeStops(
      input({
        position: {
          side: "SHORT",
          current_price: 100,
          peak_price: 98,
          trough_price: 100.2,
          current_sl: 100.5,
        },
      }),
    );
    expect(r.intermediates.raw_sl).toBeCloseTo(100 * (1 + r.intermediates.stop_dist_pct), 12);
    expect(r.intermediates.trail_sl).toBeCloseTo(100.2 * (1 + r.intermediates.trail_gap_pct), 12);
    expect(r.proposed_tp).toBeLessThan(100);
    expect(r.reason_codes).toEqual(["sl_tightened_monotonic", "regime_trend", "tp_extended"]);
    expect(r.proposed_sl).toBe(100.5);
  });

  it("trail_active when the peak-based stop is above the price-based one (LONG)", () => {
    const r = computeStops(input({ position: { current_price: 100, peak_price: 110 } }));
    expect(r.reason_codes[0]).toBe("trail_active");
    expect(r.proposed_sl).toBe(r.intermediates.trail_sl);
  });

  it("monotonic_sl false never holds the stop", () => {
    const r = computeStops(
      input({ position: { current_sl: 99.9 }, theta: { monotonic_sl: false } }),
    );
    expect(r.proposed_sl).toBeLessThan(99.9);
    expect(r.reason_codes.some((c) => c.startsWith("sl_"))).toBe(false);
  });

  it("tp_extended only above 1 + eps, capped by tp_extend_max", () => {
    expect(
      computeStops(input({ market_state: { sigma: 0.01, ts: 0.1, regime_probs: { trend: 1 } } }))
        .reason_codes,
    ).not.toContain("tp_extended");
    const strong = computeStops(
      input({ market_state: { sigma: 0.01, ts: 5, regime_probs: { trend: 1 } } }),
    );
    expect(strong.intermediates.tp_extension_factor).toBe(1.3);
    expect(strong.reason_codes).toContain("tp_extended");
  });

  it("refuses a symbol mismatch, a bad side and out-of-range probabilities, naming the field", () => {
    expect(() => computeStops(input(), "ETHUSDT")).toThrow(/position\.symbol/);
    expect(() => computeStops(input(), "BTCUSDT")).not.toThrow();
    expect(() => computeStops(input({ position: { side: "BUY" as never } }))).toThrow(
      /position\.side.*"BUY"/,
    );
    expect(() =>
      computeStops(input({ market_state: { sigma: 0.01, ts: 0, regime_probs: { trend: 1.2 } } })),
    ).toThrow(/market_state\.regime_probs\.trend.*1\.2/);
    expect(() =>
      computeStops(input({ market_state: { sigma: NaN, ts: 0, regime_probs: {} } })),
    ).toThrow(/market_state\.sigma/);
    expect(() =>
      computeStops(input({ market_state: { sigma: -0.1, ts: 0, regime_probs: {} } })),
    ).toThrow(KernelInputError);
    expect(() =>
      computeStops(input({ market_state: { sigma: 0.1, ts: Infinity, regime_probs: {} } })),
    ).toThrow(/market_state\.ts/);
    expect(() => computeStops(input({ theta: { eps: NaN } }))).toThrow(/theta\.eps/);
    expect(() => computeStops(input({ theta: { sl_min_pc: 1 } as never }))).toThrow(
      /theta\.sl_min_pc/,
    );
  });
});

// --- properties -------------------------------------------------------------------------------

const prob3 = fc
  .tuple(
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.double({ min: 0, max: 1, noNaN: true }),
  )
  .map(([a, b, c]) => {
    const s = a + b + c || 1;
    return { trend: a / s, mr: b / s, chop: c / s };
  });
const price = fc.double({ min: 1e-4, max: 1e5, noNaN: true });
const marketState = fc.record({
  sigma: fc.double({ min: 0, max: 0.2, noNaN: true }),
  ts: fc.double({ min: 0, max: 5, noNaN: true }),
  regime_probs: prob3,
});

describe("computeStops properties", () => {
  it("with monotonic_sl the LONG stop never goes below current_sl − eps", () => {
    fc.assert(
      fc.property(
        marketState,
        price,
        fc.double({ min: 1, max: 1.5, noNaN: true }),
        fc.double({ min: 0.6, max: 1.2, noNaN: true }),
        (ms, p, pk, slf) => {
          const current_sl = p * slf;
          const r = computeStops({
            market_state: ms,
            position: {
              ...longPosition,
              current_price: p,
              peak_price: p * pk,
              trough_price: p,
              current_sl,
            },
          });
          return r.proposed_sl >= current_sl - DEFAULT_STOPS_THETA.eps;
        },
      ),
    );
  });

  it("with monotonic_sl the SHORT stop never goes above current_sl + eps", () => {
    fc.assert(
      fc.property(
        marketState,
        price,
        fc.double({ min: 0.5, max: 1.5, noNaN: true }),
        fc.double({ min: 0.6, max: 1.6, noNaN: true }),
        (ms, p, tr, slf) => {
          const current_sl = p * slf;
          const r = computeStops({
            market_state: ms,
            position: {
              ...longPosition,
              side: "SHORT",
              current_price: p,
              peak_price: p,
              trough_price: p * tr,
              current_sl,
            },
          });
          return r.proposed_sl <= current_sl + DEFAULT_STOPS_THETA.eps;
        },
      ),
    );
  });

  it("a sequence of proposals fed back as current_sl never loosens (LONG and SHORT)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("LONG", "SHORT"),
        fc.array(fc.tuple(fc.double({ min: -0.03, max: 0.03, noNaN: true }), marketState), {
          minLength: 2,
          maxLength: 30,
        }),
        (side, steps) => {
          let p = 100;
          let peak = 100;
          let trough = 100;
          let sl: number | null = null;
          for (const [ret, ms] of steps) {
            p *= 1 + ret;
            peak = side === "LONG" ? Math.max(peak, p) : Math.min(peak, p);
            trough = side === "LONG" ? Math.min(trough, p) : Math.max(trough, p);
            const r = computeStops({
              market_state: ms,
              position: {
                ...longPosition,
                side,
                current_price: p,
                peak_price: peak,
                trough_price: trough,
                current_sl: sl,
              },
            });
            if (sl !== null) {
              if (side === "LONG" && r.proposed_sl < sl - DEFAULT_STOPS_THETA.eps) return false;
              if (side === "SHORT" && r.proposed_sl > sl + DEFAULT_STOPS_THETA.eps) return false;
            }
            sl = r.proposed_sl;
          }
          return true;
        },
      ),
    );
  });

  it("every output number is finite", () => {
    fc.assert(
      fc.property(marketState, price, fc.constantFrom("LONG", "SHORT"), (ms, p, side) => {
        const r = computeStops({
          market_state: ms,
          position: { ...longPosition, side, current_price: p, peak_price: p, trough_price: p },
        });
        return [r.proposed_sl, r.proposed_tp, ...Object.values(r.intermediates)].every(
          Number.isFinite,
        );
      }),
    );
  });
});
