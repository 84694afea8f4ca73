// Trend slopes for MarketState (SPEC §1 step 4) over y[from..from+len) against x = 0…len−1.
//
// Theil–Sen is the median of the m = len·(len−1)/2 pairwise slopes s_ij = (y_j − y_i)/(j − i).
// The reference materialises and sorts all of them (32,640 for a 256-point window). Here, for
// large windows, the median is found without computing most slopes at all:
//   1. A fixed pseudo-random sample of about m^(2/3) pairs gives two slopes lo ≤ hi whose ranks
//      bracket the median's rank with high probability (3 standard deviations each side).
//   2. Counting pairs below a slope t needs no division: s_ij < t ⟺ y_j − t·j < y_i − t·i, so the
//      pairs below t are the inversions of z(t) = y − t·x, counted by a merge sort in O(len·log len).
//      Pairs whose order flips between z(lo) and z(hi) are exactly those with a slope in [lo, hi];
//      a second merge sort lists them in O(len·log len + their number) — about 3·m^(2/3).
//   3. The two middle slopes are selected among the listed ones.
// Exactness: floating-point z values can misorder pairs whose slope is within rounding of lo or
// hi, so step 2 uses lo and hi widened by a proven rounding bound (see guardBand). A pair counted
// below the widened lo is then certainly below lo as a float slope, and one above the widened hi
// certainly above hi; everything between is listed and its slope computed as the reference does,
// (y_j − y_i) / (j − i) with a true division, and compared exactly. The median is therefore
// bit-identical to sorting all slopes; the sample only decides how much work that takes. If the
// bracket misses (probability ≈ 0.3%) the kernel falls back to selecting among all slopes, which
// is slower but just as exact; heavy ties (e.g. constant prices) list every pair, equally exact.
import { ensureCapacity, selectRankPair } from './stats.js';

/** Below this many pairs the bracketing overhead costs more than it saves: select among all slopes. */
const BRACKET_MIN_PAIRS = 1000;
/**
 * Half-width of the bracket, in standard deviations of the median's rank within the sample. At 3
 * the bracket misses about 0.3% of the time (then that window takes the slower fallback); wider
 * brackets would list proportionally more pairs on every call.
 */
const BRACKET_SIGMAS = 3;
/** Unit roundoff of float64 (2^−53). */
const UNIT_ROUNDOFF = Number.EPSILON / 2;

let slopeScratch = new Float64Array(4096);
let sampleScratch = new Float64Array(1024);
let keyScratch = new Float64Array(256);
let keyTemp = new Float64Array(256);
let indexScratch = new Int32Array(256);
let indexTemp = new Int32Array(256);

/**
 * Theil–Sen slope (median of pairwise slopes) of y[from..from+len); len ≥ 2. `bracketSigmas` is
 * the bracket half-width; it changes only the speed, never the result, and the tests narrow it to
 * force the fallback path.
 */
export function theilSenSlope(y: Float64Array, from: number, len: number, bracketSigmas = BRACKET_SIGMAS): number {
  if (!(len >= 2)) throw new RangeError(`theilSenSlope needs at least 2 points, got ${len}`);
  const pairs = (len * (len - 1)) / 2;
  // 0-based ranks of the lower and upper middle slope (equal when the count is odd).
  const lowerRank = Math.floor((pairs - 1) / 2);
  const upperRank = Math.floor(pairs / 2);
  if (pairs >= BRACKET_MIN_PAIRS) {
    const median = bracketedMedian(y, from, len, pairs, lowerRank, upperRank, bracketSigmas);
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

const rankPair = new Float64Array(2);

/** The median from `a[0..count)` (clobbered), given the ranks within it of the lower and upper middle. */
function middleOf(
  a: Float64Array,
  count: number,
  lowerRank: number,
  upperRank: number,
  lowBound = NaN,
  highBound = NaN,
): number {
  selectRankPair(a, count, lowerRank, upperRank, rankPair, lowBound, highBound);
  return upperRank === lowerRank ? rankPair[0] : (rankPair[0] + rankPair[1]) / 2;
}

/**
 * How far to widen a slope bound t so that comparing z(t) values in floating point never
 * misclassifies a pair. Rounding in z_i = y_i − t·i is at most u·(|y_i| + 2|t|·i) per value, so
 * z_j < z_i implies the exact slope r < t + 2u·(Y + 2T) (Y = max|y|, T = |t|·len); the float slope
 * differs from r by at most 2u·|r| ≤ 4u·Y. Sixteen u·(Y + (|t| + 1)·len) covers both with room to
 * spare (the +1 also covers subnormal results, whose error is absolute rather than relative).
 */
function guardBand(yAbsMax: number, tAbsMax: number, len: number): number {
  return 16 * UNIT_ROUNDOFF * (yAbsMax + (tAbsMax + 1) * len);
}

/** The steps of the header comment; null when the bracket missed (the caller falls back). */
function bracketedMedian(
  y: Float64Array,
  from: number,
  len: number,
  pairs: number,
  lowerRank: number,
  upperRank: number,
  bracketSigmas: number,
): number | null {
  // 1. Sample pairs uniformly (i ≠ j drawn independently; a slope is symmetric in i and j). A
  //    fixed-seed xorshift keeps the kernel deterministic.
  const sampleSize = Math.ceil(Math.pow(pairs, 2 / 3));
  sampleScratch = ensureCapacity(sampleScratch, sampleSize);
  const sample = sampleScratch;
  let state = 0x9e3779b9 | 0;
  for (let s = 0; s < sampleSize; ) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const a = (state >>> 1) % len; // >>> 1 keeps it a small integer (fast int modulo)
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const b = (state >>> 1) % len; // >>> 1 keeps it a small integer (fast int modulo)
    if (a === b) continue;
    const i = a < b ? a : b;
    const j = a < b ? b : a;
    sample[s++] = (y[from + j] - y[from + i]) / (j - i);
  }
  const halfWidth = bracketSigmas * Math.sqrt(sampleSize / 4);
  const loIndex = Math.max(0, Math.floor((lowerRank / pairs) * sampleSize - halfWidth));
  const hiIndex = Math.min(sampleSize - 1, Math.ceil((upperRank / pairs) * sampleSize + halfWidth));
  selectRankPair(sample, sampleSize, loIndex, hiIndex, rankPair);
  const lo = rankPair[0];
  const hi = rankPair[1];

  let yAbsMax = 0;
  for (let i = 0; i < len; i++) yAbsMax = Math.max(yAbsMax, Math.abs(y[from + i]));
  const band = guardBand(yAbsMax, Math.max(Math.abs(lo), Math.abs(hi)), len);
  const tLow = lo - band;
  const tHigh = hi + band;

  if (keyScratch.length < len) {
    keyScratch = new Float64Array(len);
    keyTemp = new Float64Array(len);
    indexScratch = new Int32Array(len);
    indexTemp = new Int32Array(len);
  }
  const keys = keyScratch;
  const order = indexScratch;

  // 2a. Sort the points by z(tLow); every inversion is a pair certainly below lo.
  for (let i = 0; i < len; i++) {
    keys[i] = y[from + i] - tLow * i;
    order[i] = i;
  }
  let below = sortCountingInversions(len);

  // 2b. In that order, sort by z(tHigh). A pair i < j still in index order in 2a (not certainly
  //     below) that z(tHigh) does not put in order either is not certainly above hi: list it.
  //     Pairs already counted in 2a can show up here too (when rounding is close); they are skipped.
  for (let k = 0; k < len; k++) keys[k] = y[from + order[k]] - tHigh * order[k];
  slopeScratch = ensureCapacity(slopeScratch, pairs);
  const kept = slopeScratch;
  let count = 0;
  let srcKeys = keys;
  let srcOrder = order;
  let dstKeys = keyTemp;
  let dstOrder = indexTemp;
  for (let width = 1; width < len; width *= 2) {
    for (let start = 0; start < len; start += 2 * width) {
      const mid = Math.min(start + width, len);
      const end = Math.min(start + 2 * width, len);
      let l = start;
      let r = mid;
      let o = start;
      while (l < mid && r < end) {
        if (srcKeys[l] < srcKeys[r]) {
          dstKeys[o] = srcKeys[l];
          dstOrder[o++] = srcOrder[l++];
        } else {
          // Every left element still waiting has a key ≥ this right one: each pair is listed.
          const q = srcOrder[r];
          const yq = y[from + q];
          for (let m = l; m < mid; m++) {
            const p = srcOrder[m];
            if (p > q) continue; // counted in 2a
            const slope = (yq - y[from + p]) / (q - p);
            // Nearly every listed slope lies in [lo, hi] (only the guard band's few do not), so
            // these tests are well predicted; the store is unconditional, the cursor is not.
            kept[count] = slope;
            below += slope < lo ? 1 : 0;
            count += slope >= lo && slope <= hi ? 1 : 0;
          }
          dstKeys[o] = srcKeys[r];
          dstOrder[o++] = srcOrder[r++];
        }
      }
      while (l < mid) {
        dstKeys[o] = srcKeys[l];
        dstOrder[o++] = srcOrder[l++];
      }
      while (r < end) {
        dstKeys[o] = srcKeys[r];
        dstOrder[o++] = srcOrder[r++];
      }
    }
    const tk = srcKeys;
    srcKeys = dstKeys;
    dstKeys = tk;
    const to = srcOrder;
    srcOrder = dstOrder;
    dstOrder = to;
  }

  // 3. Both middle ranks must lie among the listed slopes in [lo, hi].
  if (below > lowerRank || below + count <= upperRank) return null;
  // Every kept slope lies in [lo, hi], which spares the selection its range pass.
  return middleOf(kept, count, lowerRank - below, upperRank - below, lo, hi);
}

/**
 * Stable bottom-up merge sort of keyScratch[0..n) (carrying indexScratch along) ascending; returns
 * the number of inversions — pairs whose later element has a strictly smaller key. Leaves the
 * sorted result in keyScratch / indexScratch.
 */
function sortCountingInversions(n: number): number {
  let srcKeys = keyScratch;
  let srcOrder = indexScratch;
  let dstKeys = keyTemp;
  let dstOrder = indexTemp;
  let inversions = 0;
  for (let width = 1; width < n; width *= 2) {
    for (let start = 0; start < n; start += 2 * width) {
      const mid = Math.min(start + width, n);
      const end = Math.min(start + 2 * width, n);
      let l = start;
      let r = mid;
      let o = start;
      while (l < mid && r < end) {
        if (srcKeys[l] <= srcKeys[r]) {
          dstKeys[o] = srcKeys[l];
          dstOrder[o++] = srcOrder[l++];
        } else {
          inversions += mid - l; // the right element passes every left one still waiting
          dstKeys[o] = srcKeys[r];
          dstOrder[o++] = srcOrder[r++];
        }
      }
      while (l < mid) {
        dstKeys[o] = srcKeys[l];
        dstOrder[o++] = srcOrder[l++];
      }
      while (r < end) {
        dstKeys[o] = srcKeys[r];
        dstOrder[o++] = srcOrder[r++];
      }
    }
    const tk = srcKeys;
    srcKeys = dstKeys;
    dstKeys = tk;
    const to = srcOrder;
    srcOrder = dstOrder;
    dstOrder = to;
  }
  if (srcKeys !== keyScratch) {
    keyScratch.set(srcKeys.subarray(0, n));
    indexScratch.set(srcOrder.subarray(0, n));
  }
  return inversions;
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
