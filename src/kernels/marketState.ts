// P0 MarketState kernel (docs/specification.md §1, spec v1.0): volatility (sigma), trend (mu), trend strength (ts)
// and regime probabilities from a series of closes.
//
// It is called for every symbol on every candle, so the arithmetic runs on module-level scratch
// Float64Arrays that grow on demand and are reused: after warm-up a call allocates only its
// result. The scratch never carries information from one call to the next (every buffer is
// written before it is read), so the kernel behaves as a pure function.
import { clip, sigmoid, softmax } from "./math.js";
import {
  ensureCapacity,
  interpolateQuantile,
  populationVariance,
  quantileRanks,
  selectRankPair,
} from "./stats.js";
import { mergeTheta } from "./theta.js";
import { olsSlope, theilSenSlope } from "./theilSen.js";
import { KernelInputError, type DeepPartial, type MarketState } from "./types.js";
import { requireFiniteNumber, requirePositiveNumber } from "./validate.js";

export type TrendMethod = "theil_sen" | "ols";

export interface MarketStateTheta {
  /** Added to prices before the log and to denominators, so nothing divides by zero. */
  eps: number;
  vol: {
    window: number;
    winsor_q_low: number;
    winsor_q_high: number;
    ewma_lambda: number;
    sigma_floor: number;
    spike_proxy_cap: number;
    spike_center: number;
    spike_scale: number;
  };
  trend: { windows: number[]; weights: number[]; method: TrendMethod };
  regime: {
    window: number;
    vr_k: number;
    softmax_temp: number;
    score: {
      a1: number;
      a2: number;
      a3: number;
      b1: number;
      b2: number;
      b3: number;
      c1: number;
      c2: number;
      c3: number;
    };
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/** docs/specification.md §1 defaults. Frozen: callers override by passing a theta, never by mutating these. */
export const DEFAULT_MARKET_STATE_THETA: MarketStateTheta = deepFreeze({
  eps: 1e-12,
  vol: {
    window: 256,
    winsor_q_low: 0.01,
    winsor_q_high: 0.99,
    ewma_lambda: 0.94,
    sigma_floor: 1e-6,
    spike_proxy_cap: 5.0,
    spike_center: 1.2,
    spike_scale: 0.3,
  },
  trend: { windows: [64, 128, 256], weights: [0.5, 0.3, 0.2], method: "theil_sen" },
  regime: {
    window: 256,
    vr_k: 5,
    softmax_temp: 1.0,
    score: { a1: 1.0, a2: 1.0, a3: 1.0, b1: 1.0, b2: 1.0, b3: 1.0, c1: 1.0, c2: 1.0, c3: 1.0 },
  },
});

/** The EWMA variance is seeded with the population variance of at most this many clipped returns. */
const EWMA_SEED_COUNT = 10;
/** Consistency constant that makes the MAD an estimate of the standard deviation for normal data. */
const MAD_TO_SIGMA = 1.4826;

// --- theta -----------------------------------------------------------------------------------

function requireInteger(value: unknown, path: string, min: number): number {
  const x = requireFiniteNumber(value, path);
  if (!Number.isInteger(x) || x < min)
    throw new KernelInputError(path, value, `must be an integer >= ${min}`);
  return x;
}

function requireInRange(
  value: unknown,
  path: string,
  lo: number,
  hi: number,
  open: boolean,
): number {
  const x = requireFiniteNumber(value, path);
  const inside = open ? x > lo && x < hi : x >= lo && x <= hi;
  if (!inside)
    throw new KernelInputError(
      path,
      value,
      `must be in ${open ? "(" : "["}${lo}, ${hi}${open ? ")" : "]"}`,
    );
  return x;
}

function requireAbove(value: unknown, path: string, bound: number, inclusive: boolean): number {
  const x = requireFiniteNumber(value, path);
  if (inclusive ? !(x >= bound) : !(x > bound)) {
    throw new KernelInputError(path, value, `must be ${inclusive ? ">=" : ">"} ${bound}`);
  }
  return x;
}

/**
 * Refuses a merged theta that would make the kernel divide by zero, index outside its data or
 * produce NaN, naming the theta path and the value. Windows must be ≥ 2 for trend (a slope needs
 * two points) and ≥ 1 elsewhere.
 */
function validateTheta(theta: MarketStateTheta): void {
  requireAbove(theta.eps, "theta.eps", 0, false);

  const vol = theta.vol;
  requireInteger(vol.window, "theta.vol.window", 1);
  const qLow = requireInRange(vol.winsor_q_low, "theta.vol.winsor_q_low", 0, 1, false);
  const qHigh = requireInRange(vol.winsor_q_high, "theta.vol.winsor_q_high", 0, 1, false);
  if (qLow > qHigh) {
    throw new KernelInputError(
      "theta.vol.winsor_q_high",
      qHigh,
      `must be >= theta.vol.winsor_q_low (${qLow})`,
    );
  }
  requireInRange(vol.ewma_lambda, "theta.vol.ewma_lambda", 0, 1, true);
  requireAbove(vol.sigma_floor, "theta.vol.sigma_floor", 0, true);
  requireAbove(vol.spike_proxy_cap, "theta.vol.spike_proxy_cap", 0, true);
  requireFiniteNumber(vol.spike_center, "theta.vol.spike_center");
  requireAbove(vol.spike_scale, "theta.vol.spike_scale", 0, false);

  const trend = theta.trend;
  if (!Array.isArray(trend.windows) || trend.windows.length === 0) {
    throw new KernelInputError(
      "theta.trend.windows",
      trend.windows,
      "must be a non-empty array of integers >= 2",
    );
  }
  trend.windows.forEach((w, k) => requireInteger(w, `theta.trend.windows[${k}]`, 2));
  if (!Array.isArray(trend.weights) || trend.weights.length !== trend.windows.length) {
    throw new KernelInputError(
      "theta.trend.weights",
      trend.weights,
      `must be an array with one weight per window (${trend.windows.length})`,
    );
  }
  let weightSum = 0;
  trend.weights.forEach(
    (w, k) => (weightSum += requireFiniteNumber(w, `theta.trend.weights[${k}]`)),
  );
  if (!(weightSum > 0) || !Number.isFinite(weightSum)) {
    throw new KernelInputError(
      "theta.trend.weights",
      trend.weights,
      "must sum to a finite value > 0",
    );
  }
  if (trend.method !== "theil_sen" && trend.method !== "ols") {
    throw new KernelInputError("theta.trend.method", trend.method, "must be 'theil_sen' or 'ols'");
  }

  const regime = theta.regime;
  requireInteger(regime.window, "theta.regime.window", 1);
  requireInteger(regime.vr_k, "theta.regime.vr_k", 1);
  requireAbove(regime.softmax_temp, "theta.regime.softmax_temp", 0, false);
  for (const [key, value] of Object.entries(regime.score))
    requireFiniteNumber(value, `theta.regime.score.${key}`);
}

validateTheta(DEFAULT_MARKET_STATE_THETA);

/** The defaults with `override` deep-merged in, validated. The common no-override case reuses the frozen defaults. */
function resolveTheta(override: DeepPartial<MarketStateTheta> | undefined): MarketStateTheta {
  if (override === undefined) return DEFAULT_MARKET_STATE_THETA;
  const theta = mergeTheta<MarketStateTheta>(DEFAULT_MARKET_STATE_THETA, override);
  validateTheta(theta);
  return theta;
}

function minRequired(theta: MarketStateTheta): number {
  return Math.max(theta.vol.window, Math.max(...theta.trend.windows), theta.regime.window) + 1;
}

/** docs/specification.md §1 step 1: the fewest closes for which the kernel returns a result (fewer → null). */
export function marketStateMinRequired(theta?: DeepPartial<MarketStateTheta>): number {
  return minRequired(resolveTheta(theta));
}

// --- kernel ----------------------------------------------------------------------------------

let logPrices = new Float64Array(512);
let returns = new Float64Array(512);
let sumScratch = new Float64Array(512);
let clippedScratch = new Float64Array(512);

/**
 * docs/specification.md §1. `prices` are closes, oldest first; every one must be finite and > 0 (else a
 * KernelInputError naming `prices[i]` of the first bad one). Returns null when there are fewer
 * than `marketStateMinRequired(theta)` prices.
 */
export function computeMarketState(
  prices: ArrayLike<number>,
  theta?: DeepPartial<MarketStateTheta>,
): MarketState | null {
  const th = resolveTheta(theta);
  if (typeof prices !== "object" || prices === null || typeof prices.length !== "number") {
    throw new KernelInputError("prices", prices, "must be an array of numbers");
  }
  const n = prices.length;
  for (let i = 0; i < n; i++) {
    const p = prices[i];
    // Inline test first so the valid path builds no error path strings.
    if (!(typeof p === "number" && p > 0 && p < Infinity)) requirePositiveNumber(p, `prices[${i}]`);
  }
  if (n < minRequired(th)) return null;

  // Step 2: log prices and returns.
  logPrices = ensureCapacity(logPrices, n);
  returns = ensureCapacity(returns, n);
  const lp = logPrices;
  const r = returns;
  for (let i = 0; i < n; i++) lp[i] = Math.log(prices[i] + th.eps);
  const returnCount = n - 1;
  for (let i = 0; i < returnCount; i++) r[i] = lp[i + 1] - lp[i];

  const { sigma, spikeProxy } = volatility(r, returnCount, th);
  const mu = trendSlope(lp, n, th);
  const ts = Math.abs(mu) / (sigma + th.eps);

  // Steps 6–7 on the last min(regime.window, #returns) returns.
  const regimeCount = Math.min(th.regime.window, returnCount);
  const regimeFrom = returnCount - regimeCount;
  const dp = directionalPersistence(r, regimeFrom, regimeCount);
  const vr = varianceRatio(r, regimeFrom, regimeCount, th.regime.vr_k, th.eps);

  // Step 8.
  const c = th.regime.score;
  const vrDistance = Math.abs(vr - 1);
  const sTrend = c.a1 * ts + c.a2 * dp - c.a3 * vrDistance;
  const sMeanReversion = c.b1 * vrDistance - c.b2 * ts - c.b3 * Math.abs(dp);
  const sChop = c.c1 * (1 - Math.abs(dp)) + c.c2 * (1 - Math.min(ts, 1)) - c.c3 * vrDistance;
  const [pTrend, pMr, pChop] = softmax([sTrend, sMeanReversion, sChop], th.regime.softmax_temp);

  const result: MarketState = {
    sigma,
    mu,
    ts,
    regime_probs: { trend: pTrend, mr: pMr, chop: pChop },
    features: { dp, vr, spike_proxy: spikeProxy },
  };
  requireFiniteResult(result);
  return result;
}

/**
 * docs/specification.md §1 step 3 on the last min(vol.window, #returns) returns: winsorise at the two quantiles,
 * blend the EWMA and MAD volatility estimates by a sigmoid of their ratio (the spike proxy).
 */
function volatility(
  r: Float64Array,
  returnCount: number,
  th: MarketStateTheta,
): { sigma: number; spikeProxy: number } {
  const vol = th.vol;
  const count = Math.min(vol.window, returnCount);
  const from = returnCount - count;

  // The two winsorising quantiles need four order statistics; with the default q (0.01, 0.99)
  // they lie next to the extremes, where one pass keeping the few smallest and largest finds them.
  const low = quantileRanks(count, vol.winsor_q_low);
  const high = quantileRanks(count, vol.winsor_q_high);
  orderStatistics(r, from, count, low.lower, low.upper, high.lower, high.upper, quantileStats);
  const qLo = interpolateQuantile(quantileStats[0], quantileStats[1], low.fraction);
  const qHi = interpolateQuantile(quantileStats[2], quantileStats[3], high.fraction);

  // EWMA over rwc in time order, seeded with the population variance of its first min(10, N)
  // values, then updated with every value including those ten.
  clippedScratch = ensureCapacity(clippedScratch, count);
  const rwc = clippedScratch;
  for (let i = 0; i < count; i++) rwc[i] = clip(r[from + i], qLo, qHi);
  const lambda = vol.ewma_lambda;
  let v = populationVariance(rwc, 0, Math.min(EWMA_SEED_COUNT, count));
  for (let i = 0; i < count; i++) v = lambda * v + (1 - lambda) * (rwc[i] * rwc[i]);
  const sigmaEwma = Math.sqrt(v);

  const sigmaMad = MAD_TO_SIGMA * medianAbsoluteDeviation(rwc, count);
  const spikeProxy = clip(sigmaMad / (sigmaEwma + th.eps), 0, vol.spike_proxy_cap);
  const w = sigmoid((spikeProxy - vol.spike_center) / vol.spike_scale);
  const sigma = Math.max(vol.sigma_floor, (1 - w) * sigmaEwma + w * sigmaMad);
  return { sigma, spikeProxy };
}

const quantileStats = new Float64Array(4);
const rankOut = new Float64Array(2);
/** Order statistics this close to either end are found by one pass keeping the extremes. */
const EXTREME_RANKS = 8;
const smallest = new Float64Array(EXTREME_RANKS);
const largest = new Float64Array(EXTREME_RANKS);

/**
 * The values of ranks r0 ≤ r1 and r2 ≤ r3 (0-based, ascending) of a[from..from+n) into out[0..4).
 * Near the ends: one pass that keeps the few smallest and largest values in sorted order (each
 * value is compared with the current boundary, rarely passing it). Otherwise by selection.
 */
function orderStatistics(
  a: Float64Array,
  from: number,
  n: number,
  r0: number,
  r1: number,
  r2: number,
  r3: number,
  out: Float64Array,
): void {
  const k = r1 + 1; // the k smallest hold ranks r0 and r1
  const kk = n - r2; // the kk largest hold ranks r2 and r3
  if (k <= EXTREME_RANKS && kk <= EXTREME_RANKS) {
    smallest.fill(Infinity, 0, k);
    largest.fill(-Infinity, 0, kk);
    for (let i = from; i < from + n; i++) {
      const x = a[i];
      if (x < smallest[k - 1]) {
        let m = k - 1;
        while (m > 0 && smallest[m - 1] > x) {
          smallest[m] = smallest[m - 1];
          m--;
        }
        smallest[m] = x;
      }
      if (x > largest[kk - 1]) {
        let m = kk - 1;
        while (m > 0 && largest[m - 1] < x) {
          largest[m] = largest[m - 1];
          m--;
        }
        largest[m] = x;
      }
    }
    out[0] = smallest[r0];
    out[1] = smallest[r1];
    out[2] = largest[n - 1 - r2];
    out[3] = largest[n - 1 - r3];
    return;
  }
  selectionScratch = ensureCapacity(selectionScratch, n);
  const copy = selectionScratch;
  copy.set(a.subarray(from, from + n));
  selectRankPair(copy, n, r0, r1, rankOut);
  out[0] = rankOut[0];
  out[1] = rankOut[1];
  copy.set(a.subarray(from, from + n));
  selectRankPair(copy, n, r2, r3, rankOut);
  out[2] = rankOut[0];
  out[3] = rankOut[1];
}

let selectionScratch = new Float64Array(512);
let deviationScratch = new Float64Array(512);

/**
 * median(|x − median(x)|) of a[0..n), by selection: the median's two middle ranks, then the
 * deviations' (for x below the median |x − m| is exactly m − x: IEEE subtraction is
 * sign-symmetric, so these are the deviations a sorted pass would compute).
 */
function medianAbsoluteDeviation(a: Float64Array, n: number): number {
  const mid = n >> 1;
  const odd = n % 2 === 1;
  selectionScratch = ensureCapacity(selectionScratch, n);
  const copy = selectionScratch;
  copy.set(a.subarray(0, n));
  selectRankPair(copy, n, odd ? mid : mid - 1, mid, rankOut);
  const median = odd ? rankOut[1] : (rankOut[0] + rankOut[1]) / 2;
  deviationScratch = ensureCapacity(deviationScratch, n);
  const dev = deviationScratch;
  for (let i = 0; i < n; i++) dev[i] = Math.abs(a[i] - median);
  const lowerRank = (n - 1) >> 1;
  selectRankPair(dev, n, lowerRank, odd ? lowerRank : lowerRank + 1, rankOut);
  return odd ? rankOut[0] : (rankOut[0] + rankOut[1]) / 2;
}

/** docs/specification.md §1 step 4: weighted sum of per-window slopes of the log prices, weights normalised to 1. */
function trendSlope(lp: Float64Array, n: number, th: MarketStateTheta): number {
  const { windows, weights, method } = th.trend;
  let weightSum = 0;
  for (let k = 0; k < weights.length; k++) weightSum += weights[k];
  let mu = 0;
  for (let k = 0; k < windows.length; k++) {
    const len = n < windows[k] + 1 ? n - 1 : windows[k];
    const slope =
      method === "theil_sen" ? theilSenSlope(lp, n - len, len) : olsSlope(lp, n - len, len);
    mu += (weights[k] / weightSum) * slope;
  }
  return mu;
}

/** docs/specification.md §1 step 6: share of consecutive returns with the same sign (sign(0) = 0); 0.5 with < 2 returns. */
function directionalPersistence(r: Float64Array, from: number, count: number): number {
  if (count < 2) return 0.5;
  let same = 0;
  let previous = Math.sign(r[from]);
  for (let i = from + 1; i < from + count; i++) {
    const s = Math.sign(r[i]);
    if (s === previous) same++;
    previous = s;
  }
  return same / (count - 1);
}

/** docs/specification.md §1 step 7: variance of k-sums over k × variance of single returns; 1.0 with < k+1 returns. */
function varianceRatio(
  r: Float64Array,
  from: number,
  count: number,
  k: number,
  eps: number,
): number {
  if (count < k + 1) return 1.0;
  const var1 = populationVariance(r, from, count);
  const sumCount = count - k + 1;
  sumScratch = ensureCapacity(sumScratch, sumCount);
  const sums = sumScratch;
  for (let i = 0; i < sumCount; i++) {
    let s = 0;
    for (let j = from + i; j < from + i + k; j++) s += r[j];
    sums[i] = s;
  }
  const varK = populationVariance(sums, 0, sumCount);
  return varK / (k * var1 + eps);
}

/**
 * Last line of defence for "never NaN written": with a validated theta every value is finite, but
 * extreme (finite) score coefficients could still overflow the softmax. Refuse rather than emit.
 */
function requireFiniteResult(result: MarketState): void {
  const { regime_probs: p, features: f } = result;
  requireFiniteOutput(result.sigma, "sigma");
  requireFiniteOutput(result.mu, "mu");
  requireFiniteOutput(result.ts, "ts");
  requireFiniteOutput(p.trend, "regime_probs.trend");
  requireFiniteOutput(p.mr, "regime_probs.mr");
  requireFiniteOutput(p.chop, "regime_probs.chop");
  requireFiniteOutput(f.dp, "features.dp");
  requireFiniteOutput(f.vr, "features.vr");
  requireFiniteOutput(f.spike_proxy, "features.spike_proxy");
}

function requireFiniteOutput(value: number, name: string): void {
  if (!Number.isFinite(value))
    throw new KernelInputError("theta", value, `makes ${name} non-finite`);
}
