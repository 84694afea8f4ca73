// Trend slopes for MarketState (SPEC §1 step 4) over y[from..from+len) against x = 0…len−1.
//
// Theil–Sen is the median of the len·(len−1)/2 pairwise slopes (y_j − y_i)/(j − i). The
// reference materialises and sorts all of them (32,640 for a 256-point window); here the median is
// found by selection, and for large windows without even storing most slopes:
//   1. draw a fixed pseudo-random sample of pairs and pick, from the sample's order statistics,
//      two bounds [lo, hi] that bracket the median rank with overwhelming probability;
//   2. one fused pass computes every slope, counts those below lo and keeps only those inside
//      [lo, hi] (about a tenth of them), branch-free;
//   3. if the ranks of the two middle slopes fall inside the kept set, select them there;
//      otherwise (a bad sample, or heavy ties at a bound) fall back to selecting among all slopes.
// Every slope is the same float expression the reference evaluates — (y_j − y_i) / (j − i), with a
// true division — so the median is bit-identical to sorting all slopes; the sample only decides
// how much work that takes, never the answer.
import { ensureCapacity, minOfRange, selectInPlace } from './stats.js';

/** Below this many pairs the sampling step costs more than it saves: select among all slopes. */
const SAMPLING_MIN_PAIRS = 2048;
/** Sample size for the bracket. */
const SAMPLE_SIZE = 512;
/**
 * Half-width of the bracket in sample ranks, in standard deviations of the median's rank within
 * the sample (√(S/4)). At 4σ a bracket misses with probability ≈ 6e-5; a miss only costs time.
 */
const BRACKET_SIGMAS = 4;

let slopeScratch = new Float64Array(4096);
const sampleScratch = new Float64Array(SAMPLE_SIZE);

/** Theil–Sen slope (median of pairwise slopes) of y[from..from+len); len ≥ 2. */
export function theilSenSlope(y: Float64Array, from: number, len: number): number {
  if (!(len >= 2)) throw new RangeError(`theilSenSlope needs at least 2 points, got ${len}`);
  const pairs = (len * (len - 1)) / 2;
  // 0-based ranks of the lower and upper middle slope (equal when the count is odd).
  const lowerRank = Math.floor((pairs - 1) / 2);
  const upperRank = Math.floor(pairs / 2);
  if (pairs >= SAMPLING_MIN_PAIRS) {
    const median = bracketedMedian(y, from, len, pairs, lowerRank, upperRank);
    if (median !== null) return median;
  }
  slopeScratch = ensureCapacity(slopeScratch, pairs);
  const slopes = slopeScratch;
  let c = 0;
  for (let i = 0; i < len; i++) {
    const yi = y[from + i];
    for (let j = i + 1, d = 1; j < len; j++, d++) slopes[c++] = (y[from + j] - yi) / d;
  }
  return middleOf(slopes, pairs, lowerRank, upperRank);
}

/**
 * The median from the kept slopes `a[0..count)`, given the ranks (relative to the kept set) of the
 * lower and upper middle. Selecting the lower one leaves everything above its index ≥ it, so the
 * upper one is the minimum of that part.
 */
function middleOf(a: Float64Array, count: number, lowerRank: number, upperRank: number): number {
  selectInPlace(a, 0, count - 1, lowerRank);
  const lower = a[lowerRank];
  if (upperRank === lowerRank) return lower;
  return (lower + minOfRange(a, lowerRank + 1, count)) / 2;
}

/** Steps 1–3 of the header comment; null when the bracket missed (caller falls back). */
function bracketedMedian(
  y: Float64Array,
  from: number,
  len: number,
  pairs: number,
  lowerRank: number,
  upperRank: number,
): number | null {
  // 1. Sample pairs uniformly (i ≠ j drawn independently; the slope is symmetric in i and j).
  //    The generator is a fixed-seed xorshift, so the kernel stays deterministic.
  const sample = sampleScratch;
  let state = 0x9e3779b9;
  for (let s = 0; s < SAMPLE_SIZE; ) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const a = (state >>> 0) % len;
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const b = (state >>> 0) % len;
    if (a === b) continue;
    const i = a < b ? a : b;
    const j = a < b ? b : a;
    sample[s++] = (y[from + j] - y[from + i]) / (j - i);
  }
  const halfWidth = BRACKET_SIGMAS * Math.sqrt(SAMPLE_SIZE / 4);
  const loIndex = Math.max(0, Math.floor((lowerRank / pairs) * SAMPLE_SIZE - halfWidth));
  const hiIndex = Math.min(SAMPLE_SIZE - 1, Math.ceil((upperRank / pairs) * SAMPLE_SIZE + halfWidth));
  selectInPlace(sample, 0, SAMPLE_SIZE - 1, loIndex);
  const lo = sample[loIndex];
  selectInPlace(sample, loIndex, SAMPLE_SIZE - 1, hiIndex);
  const hi = sample[hiIndex];

  // 2. One pass over all pairs: count slopes < lo, keep slopes in [lo, hi]. The store is
  //    unconditional and only the write cursor moves conditionally, so there is no
  //    data-dependent branch for the predictor to miss.
  slopeScratch = ensureCapacity(slopeScratch, pairs);
  const kept = slopeScratch;
  let below = 0;
  let count = 0;
  for (let i = 0; i < len; i++) {
    const yi = y[from + i];
    for (let j = i + 1, d = 1; j < len; j++, d++) {
      const slope = (y[from + j] - yi) / d;
      kept[count] = slope;
      below += slope < lo ? 1 : 0;
      count += slope >= lo && slope <= hi ? 1 : 0;
    }
  }

  // 3. Both middle ranks must lie among the kept slopes.
  if (below > lowerRank || below + count <= upperRank) return null;
  return middleOf(kept, count, lowerRank - below, upperRank - below);
}

/** Ordinary least-squares slope of y[from..from+len) against x = 0…len−1; len ≥ 2. */
export function olsSlope(y: Float64Array, from: number, len: number): number {
  if (!(len >= 2)) throw new RangeError(`olsSlope needs at least 2 points, got ${len}`);
  const xMean = (len - 1) / 2;
  let ySum = 0;
  for (let i = 0; i < len; i++) ySum += y[from + i];
  const yMean = ySum / len;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < len; i++) {
    const dx = i - xMean;
    sxy += dx * (y[from + i] - yMean);
    sxx += dx * dx;
  }
  return sxy / sxx;
}
