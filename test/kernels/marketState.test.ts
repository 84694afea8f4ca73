import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  computeMarketState,
  DEFAULT_MARKET_STATE_THETA,
  marketStateMinRequired,
  type MarketStateTheta,
} from "../../src/kernels/marketState.js";
import { KernelInputError, type DeepPartial, type MarketState } from "../../src/kernels/types.js";
import { parityDiff } from "../helpers/parity.js";

// --- a deliberately plain reference ------------------------------------------------------------
// docs/specification.md §1 written the obvious way (arrays, sorts, every slope materialised), independent of the
// kernel's helpers. The kernel must agree with it exactly: its speed-ups reorder work, never
// arithmetic.

function sortedCopy(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

function median(xs: readonly number[]): number {
  const s = sortedCopy(xs);
  const n = s.length;
  return n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

function quantile(xs: readonly number[], q: number): number {
  const s = sortedCopy(xs);
  const h = q * (s.length - 1);
  const lo = Math.floor(h);
  const t = h - lo;
  const a = s[lo];
  const b = s[Math.min(lo + 1, s.length - 1)];
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

function populationVariance(xs: readonly number[]): number {
  let sum = 0;
  for (const x of xs) sum += x;
  const mean = sum / xs.length;
  let squares = 0;
  for (const x of xs) squares += (x - mean) * (x - mean);
  return squares / xs.length;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);

function referenceMarketState(
  prices: readonly number[],
  theta: MarketStateTheta,
): MarketState | null {
  const { eps, vol, trend, regime } = theta;
  const n = prices.length;
  if (n < Math.max(vol.window, ...trend.windows, regime.window) + 1) return null;
  const lp = prices.map((p) => Math.log(p + eps));
  const r = lp.slice(1).map((v, i) => v - lp[i]);

  const rw = r.slice(r.length - Math.min(vol.window, r.length));
  const qLo = quantile(rw, vol.winsor_q_low);
  const qHi = quantile(rw, vol.winsor_q_high);
  const rwc = rw.map((x) => clamp(x, qLo, qHi));
  let v = populationVariance(rwc.slice(0, Math.min(10, rwc.length)));
  for (const x of rwc) v = vol.ewma_lambda * v + (1 - vol.ewma_lambda) * (x * x);
  const sigmaEwma = Math.sqrt(v);
  const m = median(rwc);
  const sigmaMad = 1.4826 * median(rwc.map((x) => Math.abs(x - m)));
  const spikeProxy = clamp(sigmaMad / (sigmaEwma + eps), 0, vol.spike_proxy_cap);
  const w = 1 / (1 + Math.exp(-clamp((spikeProxy - vol.spike_center) / vol.spike_scale, -50, 50)));
  const sigma = Math.max(vol.sigma_floor, (1 - w) * sigmaEwma + w * sigmaMad);

  const weightSum = trend.weights.reduce((a, b) => a + b, 0);
  let mu = 0;
  trend.windows.forEach((window, k) => {
    const len = n < window + 1 ? n - 1 : window;
    const y = lp.slice(n - len);
    let slope: number;
    if (trend.method === "theil_sen") {
      const slopes: number[] = [];
      for (let i = 0; i < len; i++)
        for (let j = i + 1; j < len; j++) slopes.push((y[j] - y[i]) / (j - i));
      slope = median(slopes);
    } else {
      const xMean = (len - 1) / 2;
      const yMean = y.reduce((a, b) => a + b, 0) / len;
      let sxy = 0;
      let sxx = 0;
      y.forEach((yi, i) => {
        sxy += (i - xMean) * (yi - yMean);
        sxx += (i - xMean) * (i - xMean);
      });
      slope = sxy / sxx;
    }
    mu += (trend.weights[k] / weightSum) * slope;
  });
  const ts = Math.abs(mu) / (sigma + eps);

  const rr = r.slice(r.length - Math.min(regime.window, r.length));
  let dp = 0.5;
  if (rr.length >= 2) {
    const s = rr.map(Math.sign);
    let same = 0;
    for (let i = 0; i + 1 < s.length; i++) if (s[i] === s[i + 1]) same++;
    dp = same / (s.length - 1);
  }
  const k = regime.vr_k;
  let vr = 1.0;
  if (rr.length >= k + 1) {
    const sums: number[] = [];
    for (let i = 0; i + k <= rr.length; i++) {
      let s = 0;
      for (let j = i; j < i + k; j++) s += rr[j];
      sums.push(s);
    }
    vr = populationVariance(sums) / (k * populationVariance(rr) + eps);
  }

  const c = regime.score;
  const d = Math.abs(vr - 1);
  const scores = [
    c.a1 * ts + c.a2 * dp - c.a3 * d,
    c.b1 * d - c.b2 * ts - c.b3 * Math.abs(dp),
    c.c1 * (1 - Math.abs(dp)) + c.c2 * (1 - Math.min(ts, 1)) - c.c3 * d,
  ].map((x) => x / regime.softmax_temp);
  const top = Math.max(...scores);
  const exps = scores.map((x) => Math.exp(x - top));
  const total = exps[0] + exps[1] + exps[2];
  return {
    sigma,
    mu,
    ts,
    regime_probs: { trend: exps[0] / total, mr: exps[1] / total, chop: exps[2] / total },
    features: { dp, vr, spike_proxy: spikeProxy },
  };
}

/** The merged theta the way a reader of docs/specification.md would build it (independent of mergeTheta). */
function withOverride(override: DeepPartial<MarketStateTheta>): MarketStateTheta {
  const t = structuredClone<MarketStateTheta>(DEFAULT_MARKET_STATE_THETA);
  return {
    eps: override.eps ?? t.eps,
    vol: { ...t.vol, ...override.vol },
    trend: { ...t.trend, ...override.trend },
    regime: {
      ...t.regime,
      ...override.regime,
      score: { ...t.regime.score, ...override.regime?.score },
    },
  };
}

const EXACT = { rel: 0, abs: 0 };

// --- generators --------------------------------------------------------------------------------

/** Price paths: any scale, random multiplicative steps, some flat stretches (zero returns) and jumps. */
const pricePath = (minLength: number, maxLength: number) =>
  fc
    .tuple(
      fc.constantFrom<number>(0.00031, 1.7, 100, 45000, 1e-9, 1e9),
      fc.array(
        fc.oneof(
          { weight: 6, arbitrary: fc.double({ min: -0.03, max: 0.03, noNaN: true }) },
          { weight: 2, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.double({ min: -0.5, max: 0.5, noNaN: true }) },
        ),
        { minLength: minLength - 1, maxLength: maxLength - 1, size: "max" },
      ),
    )
    .map(([start, steps]) => {
      const prices = [start];
      for (const step of steps) prices.push(prices[prices.length - 1] * Math.exp(step));
      return prices;
    });

/** Small valid thetas, so many shapes (windows, k, quantiles, methods) run fast. */
const smallTheta: fc.Arbitrary<DeepPartial<MarketStateTheta>> = fc
  .record({
    volWindow: fc.integer({ min: 1, max: 60 }),
    qLow: fc.double({ min: 0, max: 0.5, noNaN: true }),
    qSpan: fc.double({ min: 0, max: 0.5, noNaN: true }),
    lambda: fc.double({ min: 0.01, max: 0.99, noNaN: true }),
    windows: fc.array(fc.integer({ min: 2, max: 60 }), { minLength: 1, maxLength: 4 }),
    method: fc.constantFrom("theil_sen" as const, "ols" as const),
    regimeWindow: fc.integer({ min: 1, max: 60 }),
    vrK: fc.integer({ min: 1, max: 8 }),
    temp: fc.double({ min: 0.05, max: 5, noNaN: true }),
    a1: fc.double({ min: -3, max: 3, noNaN: true }),
  })
  .map((t) => ({
    vol: {
      window: t.volWindow,
      winsor_q_low: t.qLow,
      winsor_q_high: t.qLow + t.qSpan,
      ewma_lambda: t.lambda,
    },
    trend: { windows: t.windows, weights: t.windows.map((_, i) => i + 1), method: t.method },
    regime: { window: t.regimeWindow, vr_k: t.vrK, softmax_temp: t.temp, score: { a1: t.a1 } },
  }));

function allNumbers(state: MarketState): number[] {
  return [
    state.sigma,
    state.mu,
    state.ts,
    state.regime_probs.trend,
    state.regime_probs.mr,
    state.regime_probs.chop,
    state.features.dp,
    state.features.vr,
    state.features.spike_proxy,
  ];
}

function expectInputError(run: () => unknown, field: string, value?: unknown): KernelInputError {
  let caught: unknown;
  try {
    run();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(KernelInputError);
  const err = caught as KernelInputError;
  expect(err.field).toBe(field);
  if (arguments.length > 2) expect(err.value).toEqual(value);
  expect(err.message).toContain(field);
  return err;
}

const walk300 = Array.from(
  { length: 300 },
  (_, i) => 100 * Math.exp(0.01 * Math.sin(i * 0.37) + 0.0004 * i + 0.003 * Math.cos(i * 2.1)),
);

// --- tests -------------------------------------------------------------------------------------

describe("computeMarketState agrees exactly with the plain reference", () => {
  it("default theta on random price paths of 257..330 closes", () => {
    fc.assert(
      fc.property(pricePath(257, 330), (prices) => {
        const got = computeMarketState(prices);
        expect(
          parityDiff(got, referenceMarketState(prices, DEFAULT_MARKET_STATE_THETA), EXACT),
        ).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });

  it("random small thetas (both methods, any k, quantiles, windows) on random paths", () => {
    fc.assert(
      fc.property(smallTheta, pricePath(2, 90), (override, prices) => {
        const got = computeMarketState(prices, override);
        expect(
          parityDiff(got, referenceMarketState(prices, withOverride(override)), EXACT),
        ).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it("the ols method", () => {
    const override = { trend: { method: "ols" as const } };
    const got = computeMarketState(walk300, override);
    expect(parityDiff(got, referenceMarketState(walk300, withOverride(override)), EXACT)).toEqual(
      [],
    );
    expect(got?.mu).not.toBe(computeMarketState(walk300)?.mu);
  });

  it("accepts any ArrayLike (a Float64Array gives the same result as an array)", () => {
    expect(computeMarketState(Float64Array.from(walk300))).toEqual(computeMarketState(walk300));
  });

  it("scratch reuse leaks nothing between calls of different lengths and thetas", () => {
    const first = computeMarketState(walk300);
    computeMarketState([...walk300, ...walk300].slice(0, 520));
    computeMarketState(walk300.slice(0, 80), {
      vol: { window: 20 },
      trend: { windows: [5, 70], weights: [1, 1] },
      regime: { window: 30 },
    });
    expect(computeMarketState(walk300)).toEqual(first);
  });
});

describe("computeMarketState properties", () => {
  it("probabilities are in [0,1] and sum to 1, sigma ≥ sigma_floor, no NaN or Infinity anywhere", () => {
    fc.assert(
      fc.property(
        fc.option(smallTheta, { nil: undefined }),
        pricePath(2, 320),
        (override, prices) => {
          const state = computeMarketState(prices, override);
          if (state === null) return;
          const p = state.regime_probs;
          for (const x of [p.trend, p.mr, p.chop]) {
            expect(x).toBeGreaterThanOrEqual(0);
            expect(x).toBeLessThanOrEqual(1);
          }
          expect(Math.abs(p.trend + p.mr + p.chop - 1)).toBeLessThanOrEqual(1e-12);
          expect(state.sigma).toBeGreaterThanOrEqual(withOverride(override ?? {}).vol.sigma_floor);
          for (const x of allNumbers(state)) expect(Number.isFinite(x)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("computeMarketState edges", () => {
  it("returns a result at exactly min_required closes and null at one fewer", () => {
    expect(marketStateMinRequired()).toBe(257);
    expect(computeMarketState(walk300.slice(0, 257))).not.toBeNull();
    expect(computeMarketState(walk300.slice(0, 256))).toBeNull();
    expect(computeMarketState([])).toBeNull();

    const override = {
      vol: { window: 30 },
      trend: { windows: [12, 40], weights: [1, 1] },
      regime: { window: 25 },
    };
    expect(marketStateMinRequired(override)).toBe(41);
    expect(computeMarketState(walk300.slice(0, 41), override)).not.toBeNull();
    expect(computeMarketState(walk300.slice(0, 40), override)).toBeNull();
  });

  it("constant prices: sigma at its floor, no trend, equal regime probabilities", () => {
    const state = computeMarketState(new Array(300).fill(45000));
    expect(state).toEqual({
      sigma: DEFAULT_MARKET_STATE_THETA.vol.sigma_floor,
      mu: 0,
      ts: 0,
      regime_probs: { trend: 1 / 3, mr: 1 / 3, chop: 1 / 3 },
      features: { dp: 1, vr: 0, spike_proxy: 0 },
    });
    expect(
      computeMarketState(new Array(300).fill(45000), { vol: { sigma_floor: 1e-5 } })?.sigma,
    ).toBe(1e-5);
  });

  it("a partial theta override changes only its leaf (deep merge onto the defaults)", () => {
    const base = computeMarketState(walk300)!;
    const override = { regime: { score: { a1: 2 } } };
    const changed = computeMarketState(walk300, override)!;
    expect(
      parityDiff(changed, referenceMarketState(walk300, withOverride(override)), EXACT),
    ).toEqual([]);
    // a1 only enters the trend score: sigma, mu and the features are untouched.
    expect(changed.sigma).toBe(base.sigma);
    expect(changed.mu).toBe(base.mu);
    expect(changed.features).toEqual(base.features);
    expect(changed.regime_probs.trend).toBeGreaterThan(base.regime_probs.trend);
    // Overriding a leaf to its default value changes nothing at all.
    expect(
      computeMarketState(walk300, { vol: { ewma_lambda: 0.94 }, trend: { method: "theil_sen" } }),
    ).toEqual(base);
    // The defaults themselves are frozen and never modified by a merge.
    expect(Object.isFrozen(DEFAULT_MARKET_STATE_THETA.regime.score)).toBe(true);
    expect(Object.isFrozen(DEFAULT_MARKET_STATE_THETA.trend.windows)).toBe(true);
    expect(DEFAULT_MARKET_STATE_THETA.regime.score.a1).toBe(1);
  });

  it("normalises the trend weights: scaling them all changes nothing", () => {
    const a = computeMarketState(walk300, { trend: { weights: [5, 3, 2] } })!;
    const b = computeMarketState(walk300, { trend: { weights: [0.5, 0.3, 0.2] } })!;
    expect(a.mu).toBeCloseTo(b.mu, 15);
  });
});

describe("computeMarketState input validation", () => {
  const bad: [string, unknown][] = [
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["-Infinity", -Infinity],
    ["zero", 0],
    ["negative", -3],
    ["a numeric string", "100"],
    ["null", null],
    ["undefined", undefined],
  ];
  it.each(bad)("a bad price (%s) at index k is refused, naming prices[k]", (_label, value) => {
    for (const k of [0, 137, 299]) {
      const prices: unknown[] = [...walk300];
      prices[k] = value;
      expectInputError(() => computeMarketState(prices as number[]), `prices[${k}]`, value);
    }
  });

  it("names the first bad index, and refuses bad prices even in a too-short series", () => {
    const prices: number[] = [...walk300];
    prices[40] = -1;
    prices[12] = NaN;
    expectInputError(() => computeMarketState(prices), "prices[12]");
    expectInputError(() => computeMarketState([1, 2, 0]), "prices[2]", 0);
  });

  it("refuses a prices argument that is not an array", () => {
    expectInputError(() => computeMarketState(null as unknown as number[]), "prices", null);
    expectInputError(() => computeMarketState(42 as unknown as number[]), "prices", 42);
  });

  const badTheta: [
    string,
    DeepPartial<MarketStateTheta> | Record<string, unknown>,
    string,
    unknown,
  ][] = [
    ["eps = 0", { eps: 0 }, "theta.eps", 0],
    ["vol.window = 0", { vol: { window: 0 } }, "theta.vol.window", 0],
    ["vol.window not an integer", { vol: { window: 2.5 } }, "theta.vol.window", 2.5],
    ["winsor_q_low < 0", { vol: { winsor_q_low: -0.1 } }, "theta.vol.winsor_q_low", -0.1],
    ["winsor_q_high > 1", { vol: { winsor_q_high: 1.5 } }, "theta.vol.winsor_q_high", 1.5],
    [
      "winsor_q_low > winsor_q_high",
      { vol: { winsor_q_low: 0.9, winsor_q_high: 0.1 } },
      "theta.vol.winsor_q_high",
      0.1,
    ],
    ["ewma_lambda = 1", { vol: { ewma_lambda: 1 } }, "theta.vol.ewma_lambda", 1],
    ["ewma_lambda = 0", { vol: { ewma_lambda: 0 } }, "theta.vol.ewma_lambda", 0],
    ["sigma_floor < 0", { vol: { sigma_floor: -1e-6 } }, "theta.vol.sigma_floor", -1e-6],
    ["spike_proxy_cap < 0", { vol: { spike_proxy_cap: -1 } }, "theta.vol.spike_proxy_cap", -1],
    ["spike_center NaN", { vol: { spike_center: NaN } }, "theta.vol.spike_center", NaN],
    ["spike_scale = 0", { vol: { spike_scale: 0 } }, "theta.vol.spike_scale", 0],
    ["no trend windows", { trend: { windows: [], weights: [] } }, "theta.trend.windows", []],
    ["a trend window of 1", { trend: { windows: [64, 1, 256] } }, "theta.trend.windows[1]", 1],
    [
      "a fractional trend window",
      { trend: { windows: [64.5, 128, 256] } },
      "theta.trend.windows[0]",
      64.5,
    ],
    ["fewer weights than windows", { trend: { weights: [1, 2] } }, "theta.trend.weights", [1, 2]],
    ["a NaN weight", { trend: { weights: [1, NaN, 1] } }, "theta.trend.weights[1]", NaN],
    ["weights summing to 0", { trend: { weights: [1, -1, 0] } }, "theta.trend.weights", [1, -1, 0]],
    ["an unknown method", { trend: { method: "median" } }, "theta.trend.method", "median"],
    ["regime.window = 0", { regime: { window: 0 } }, "theta.regime.window", 0],
    ["vr_k = 0", { regime: { vr_k: 0 } }, "theta.regime.vr_k", 0],
    ["vr_k not an integer", { regime: { vr_k: 1.5 } }, "theta.regime.vr_k", 1.5],
    ["softmax_temp = 0", { regime: { softmax_temp: 0 } }, "theta.regime.softmax_temp", 0],
    [
      "an infinite score coefficient",
      { regime: { score: { b2: Infinity } } },
      "theta.regime.score.b2",
      Infinity,
    ],
    ["an unknown key", { vol: { windw: 5 } }, "theta.vol.windw", 5],
    ["a string where a number belongs", { vol: { window: "256" } }, "theta.vol.window", "256"],
  ];
  it.each(badTheta)(
    "refuses %s, naming the theta path and the value",
    (_label, override, field, value) => {
      const theta = override as DeepPartial<MarketStateTheta>;
      expectInputError(() => computeMarketState(walk300, theta), field, value);
      expectInputError(() => marketStateMinRequired(theta), field, value);
    },
  );

  it("refuses (rather than emits) a non-finite result from extreme but finite coefficients", () => {
    const geometric = Array.from({ length: 300 }, (_, i) => 100 * 1.001 ** i);
    const err = expectInputError(
      () => computeMarketState(geometric, { regime: { score: { a1: 1.7e308, a2: 1.7e308 } } }),
      "theta",
    );
    expect(err.message).toMatch(/non-finite/);
  });
});
