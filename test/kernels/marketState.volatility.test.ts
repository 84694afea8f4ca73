// The volatility step (docs/specification.md §1 step 3) finds its quantiles, median and MAD by selection (a pass
// over the extremes for the default winsor quantiles, bucket selection otherwise). Checked here bit
// for bit against the sort-based definition, for quantiles on both paths and windows of any length.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeMarketState, DEFAULT_MARKET_STATE_THETA } from "../../src/kernels/marketState.js";
import { clip, sigmoid } from "../../src/kernels/math.js";

function quantileOfSorted(sorted: readonly number[], q: number): number {
  const n = sorted.length;
  const h = q * (n - 1);
  const lo = Math.floor(h);
  const t = h - lo;
  const a = sorted[lo];
  const b = sorted[lo + 1 < n ? lo + 1 : n - 1];
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

function median(sorted: readonly number[]): number {
  const n = sorted.length;
  return n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/** docs/specification.md §1 step 3 by sorting: {sigma, spike_proxy}. */
function referenceVolatility(
  prices: readonly number[],
  vol: { window: number; winsor_q_low: number; winsor_q_high: number },
) {
  const th = DEFAULT_MARKET_STATE_THETA;
  const lp = prices.map((p) => Math.log(p + th.eps));
  const r = lp.slice(1).map((x, i) => x - lp[i]);
  const w = r.slice(-Math.min(vol.window, r.length));
  const sorted = [...w].sort((a, b) => a - b);
  const qLo = quantileOfSorted(sorted, vol.winsor_q_low);
  const qHi = quantileOfSorted(sorted, vol.winsor_q_high);
  const rwc = w.map((x) => clip(x, qLo, qHi));
  const seed = rwc.slice(0, Math.min(10, rwc.length));
  const mean = seed.reduce((a, b) => a + b, 0) / seed.length;
  let v = seed.reduce((a, b) => a + (b - mean) * (b - mean), 0) / seed.length;
  const lambda = th.vol.ewma_lambda;
  for (const x of rwc) v = lambda * v + (1 - lambda) * (x * x);
  const sigmaEwma = Math.sqrt(v);
  const sortedClipped = [...rwc].sort((a, b) => a - b);
  const m = median(sortedClipped);
  const sigmaMad = 1.4826 * median(rwc.map((x) => Math.abs(x - m)).sort((a, b) => a - b));
  const spike = clip(sigmaMad / (sigmaEwma + th.eps), 0, th.vol.spike_proxy_cap);
  const wt = sigmoid((spike - th.vol.spike_center) / th.vol.spike_scale);
  return {
    sigma: Math.max(th.vol.sigma_floor, (1 - wt) * sigmaEwma + wt * sigmaMad),
    spike_proxy: spike,
  };
}

const walk = fc
  .tuple(
    fc.double({ min: 1, max: 1e5, noNaN: true }),
    fc.array(fc.double({ min: -0.02, max: 0.02, noNaN: true }), {
      minLength: 300,
      maxLength: 320,
      size: "max",
    }),
  )
  .map(([start, steps]) => {
    const prices = [start];
    for (const s of steps) prices.push(prices[prices.length - 1] * Math.exp(s));
    return prices;
  });

describe("volatility by selection equals the sort-based definition exactly", () => {
  it.each([
    ["default quantiles (0.01, 0.99): the extremes pass", 0.01, 0.99, 256],
    ["0.05 / 0.95 on 100 returns", 0.05, 0.95, 100],
    ["0.25 / 0.75: bucket selection", 0.25, 0.75, 256],
    ["0 / 1: min and max", 0, 1, 256],
    ["0.5 / 0.5 on an odd window", 0.5, 0.5, 255],
    ["0.02 / 0.6: one side each way", 0.02, 0.6, 257],
  ])("%s", (_name, qLow, qHigh, window) => {
    fc.assert(
      fc.property(walk, (prices) => {
        const vol = { window, winsor_q_low: qLow, winsor_q_high: qHigh };
        const got = computeMarketState(prices, {
          vol,
          regime: { window: 256 },
          trend: { windows: [64, 128, 256] },
        });
        const want = referenceVolatility(prices, vol);
        expect(got?.sigma).toBe(want.sigma);
        expect(got?.features.spike_proxy).toBe(want.spike_proxy);
      }),
      { numRuns: 40 },
    );
  });

  it("with ties: prices repeating from a tiny set", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(100, 100.01, 100.02, 99.99), { minLength: 300, maxLength: 300 }),
        fc.constantFrom(0.01, 0.25),
        (prices, q) => {
          const vol = { window: 256, winsor_q_low: q, winsor_q_high: 1 - q };
          const got = computeMarketState(prices, { vol });
          const want = referenceVolatility(prices, vol);
          expect(got?.sigma).toBe(want.sigma);
          expect(got?.features.spike_proxy).toBe(want.spike_proxy);
        },
      ),
      { numRuns: 40 },
    );
  });
});
