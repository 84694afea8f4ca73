// Trend slopes for MarketState (docs/specification.md §1 step 4) over y[from..from+len) against x = 0…len−1.
//
// Theil–Sen is the median of the m = len·(len−1)/2 pairwise slopes s_ij = (y_j − y_i)/(j − i).
// The reference materialises and sorts all of them (32,640 for a 256-point window). Here, for
// large windows, the median is found without computing most slopes at all:
//   1. A fixed pseudo-random sample of about m^(2/3) pairs, binned in a histogram, gives an
//      estimate A of the median slope.
//   2. Counting pairs below a slope t needs no division: s_ij < t ⟺ y_j − t·j < y_i − t·i, so the
//      pairs below t are the inversions of z(t) = y − t·x, counted by a merge sort in O(len·log len).
//      That exact count says on which side of A the median lies and how many pairs away; the
//      sample's histogram then names a second slope B far enough on that side.
//   3. Pairs whose order differs between z(A) and z(B) are exactly those with a slope between; a
//      stable insertion sort from the first order to z(B) passes each of them once and lists it
//      (O(len + their number), typically ~3% of the pairs), and the middle slopes are selected
//      among the listed ones.
// Exactness: floating-point z values can misorder pairs whose slope is within rounding of A or
// B, so steps 2–3 use thresholds widened by a proven rounding bound (see guardBand). A pair that
// keeps its order in both sorts is then certainly below the bracket (inverted) or above it (in
// order); every pair that changes order is listed and its slope computed as the reference does,
// (y_j − y_i) / (j − i) with a true division, and compared exactly. The median is therefore
// bit-identical to sorting all slopes; the sample only decides how much work that takes. If the
// bracket misses (≈ 0.3% of windows) the kernel falls back to selecting among all slopes, which
// is slower but just as exact; heavy ties (e.g. constant prices) take that path too.
import { ensureCapacity, selectInPlace, selectRankPair } from "./stats.js";

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
/** Pilot pairs that set the sample histogram's range, and that histogram's bins inside the range. */
const PILOT = 32;
const SAMPLE_BINS = 512;
const pilotScratch = new Float64Array(PILOT);
const sampleBins = new Int32Array(SAMPLE_BINS + 2);
let keyScratch = new Float64Array(256);
let keyTemp = new Float64Array(256);
let indexScratch = new Int32Array(256);
let indexTemp = new Int32Array(256);

/**
 * Theil–Sen slope (median of pairwise slopes) of y[from..from+len); len ≥ 2. `bracketSigmas` is
 * the bracket half-width; it changes only the speed, never the result, and the tests narrow it to
 * force the fallback path.
 */
export function theilSenSlope(
  y: Float64Array,
  from: number,
  len: number,
  bracketSigmas = BRACKET_SIGMAS,
): number {
  if (!(len >= 2)) throw new RangeError(`theilSenSlope needs at least 2 points, got ${len}`);
  const pairs = (len * (len - 1)) / 2;
  // 0-based ranks of the lower and upper middle slope (equal when the count is odd).
  const lowerRank = Math.floor((pairs - 1) / 2);
  const upperRank = Math.floor(pairs / 2);
  if (pairs >= BRACKET_MIN_PAIRS) {
    const median = bracketedMedian(y, from, len, pairs, lowerRank, upperRank, bracketSigmas);
    if (median !== null) return median;
  }
  // A constant window (a frozen or illiquid feed) has every slope (y − y)/d = +0.
  let constant = true;
  for (let i = 1; i < len && constant; i++) constant = y[from + i] === y[from];
  if (constant) return 0;
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

/** A fixed pseudo-random sample of pairs for one window length: i < j, with 1/(j − i). */
interface PairSample {
  size: number;
  lo: Int32Array;
  hi: Int32Array;
  inverseGap: Float64Array;
}

/** Sample tables by window length (a theta has a few trend windows; the table is ~16 bytes a pair). */
const pairSamples = new Map<number, PairSample>();
const PAIR_SAMPLE_CACHE_MAX = 16;

/**
 * The sample for `len` points: about m^(2/3) pairs drawn uniformly (i ≠ j independently; a slope is
 * symmetric in i and j) by a fixed-seed xorshift, so the kernel is deterministic. Only the speed
 * depends on it: the sample picks the bracket, the exact counting decides the result.
 */
function pairSample(len: number, pairs: number): PairSample {
  let sample = pairSamples.get(len);
  if (sample !== undefined) return sample;
  const size = Math.ceil(Math.pow(pairs, 2 / 3));
  const lo = new Int32Array(size);
  const hi = new Int32Array(size);
  const inverseGap = new Float64Array(size);
  let state = 0x9e3779b9 | 0;
  for (let s = 0; s < size;) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const a = (state >>> 1) % len;
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const b = (state >>> 1) % len;
    if (a === b) continue;
    lo[s] = a < b ? a : b;
    hi[s] = a < b ? b : a;
    inverseGap[s] = 1 / (hi[s] - lo[s]);
    s++;
  }
  if (pairSamples.size >= PAIR_SAMPLE_CACHE_MAX) pairSamples.clear();
  sample = { size, lo, hi, inverseGap };
  pairSamples.set(len, sample);
  return sample;
}

/**
 * How many sample slopes past the estimate to go so that the pairs between hold at least `need`
 * pairs with high probability: the sample count between two slopes is binomial, so take the
 * expected count plus `sigmas` standard deviations (and a small constant for tiny counts).
 */
function sampleSteps(need: number, sampleSize: number, pairs: number, sigmas: number): number {
  const expected = (Math.max(need, 0) * sampleSize) / pairs;
  return Math.ceil(expected + sigmas * Math.sqrt(expected + 1) + sigmas);
}

/**
 * Theil–Sen by an estimate and one exact count (the steps of the header comment, one-sided):
 *   1. A = the sample's median slope, the estimate.
 *   2. Sort the points by z(A − band) (merge sort): its inversions I0 are pairs certainly below A.
 *      I0 against the median's rank says on which side of A the median lies, and how many pairs
 *      away; the sample names a second slope B far enough on that side.
 *   3. From that order, a stable insertion sort by z(B ± band) passes exactly the pairs whose order
 *      differs between the two sorts: those are listed, each slope computed as the reference does
 *      and counted below, inside or above the bracket [L, H] ([A, B] or [B, A − 2·band]).
 * Every pair not listed keeps its order in both sorts, which proves it below L (inverted) or above H
 * (in order) — see the guard band. So `below` and the listed slopes in [L, H] are exact, and when
 * the median's ranks fall among the latter the result is the reference's. null when they do not
 * (the sample misled, ≈ 0.3% at 3σ; the caller falls back).
 */
function bracketedMedian(
  y: Float64Array,
  from: number,
  len: number,
  pairs: number,
  lowerRank: number,
  upperRank: number,
  bracketSigmas: number,
): number | null {
  // 1. The sample's slopes, binned. They only steer: products with 1/(j − i) are close enough,
  //    and their order statistics are read off a histogram rather than selected.
  const table = pairSample(len, pairs);
  const sampleSize = table.size;
  const sLo = table.lo;
  const sHi = table.hi;
  const sInv = table.inverseGap;
  // A pilot of the first PILOT pairs sets the histogram's range: its median ± its interquartile range.
  const pilot = pilotScratch;
  for (let s = 0; s < PILOT; s++) pilot[s] = (y[from + sHi[s]] - y[from + sLo[s]]) * sInv[s];
  selectInPlace(pilot, 0, PILOT - 1, PILOT >> 1);
  const pilotMedian = pilot[PILOT >> 1];
  selectInPlace(pilot, 0, (PILOT >> 1) - 1, PILOT >> 2);
  selectInPlace(pilot, (PILOT >> 1) + 1, PILOT - 1, (3 * PILOT) >> 2);
  const spread = pilot[(3 * PILOT) >> 2] - pilot[PILOT >> 2];
  if (!(spread > 0 && spread < Infinity)) return null; // heavy ties: the exhaustive path
  const rangeLow = pilotMedian - spread;
  const scale = SAMPLE_BINS / (2 * spread);
  if (!(scale > 0 && scale < Infinity)) return null;
  // Bin 0 holds the slopes below the range, SAMPLE_BINS + 1 those above it.
  const bins = sampleBins;
  bins.fill(0);
  for (let s = 0; s < sampleSize; s++) {
    const slope = (y[from + sHi[s]] - y[from + sLo[s]]) * sInv[s];
    bins[Math.min(Math.max((slope - rangeLow) * scale + 1, 0), SAMPLE_BINS + 1.5) | 0]++;
  }
  // The estimate A: the lower edge of the bin holding the sample's median rank.
  const estimateRank = Math.floor(((lowerRank + 0.5) / pairs) * sampleSize);
  let binA = 0;
  let belowA = 0;
  while (belowA + bins[binA] <= estimateRank) belowA += bins[binA++];
  if (binA === 0 || binA > SAMPLE_BINS) return null;
  const binEdge = (bin: number): number => rangeLow + (bin - 1) / scale;
  const a = binEdge(binA);

  let yAbsMax = 0;
  for (let i = 0; i < len; i++) yAbsMax = Math.max(yAbsMax, Math.abs(y[from + i]));
  // Every threshold used below is a bin edge (within the range) moved by at most 2·band (≪ 1).
  const band = guardBand(
    yAbsMax,
    Math.max(Math.abs(rangeLow), Math.abs(rangeLow + 2 * spread)) + 1,
    len,
  );

  if (keyScratch.length < len) {
    keyScratch = new Float64Array(len);
    keyTemp = new Float64Array(len);
    indexScratch = new Int32Array(len);
    indexTemp = new Int32Array(len);
  }
  const keys = keyScratch;
  const order = indexScratch;

  // 2. Sort by z(A − band): each inversion is a pair whose slope is certainly below A.
  const tFirst = a - band;
  for (let i = 0; i < len; i++) {
    keys[i] = y[from + i] - tFirst * i;
    order[i] = i;
  }
  const inversions = sortCountingInversions(len);

  let low: number;
  let high: number;
  let tSecond: number;
  if (inversions <= lowerRank) {
    // The median is at or above A: L = A, H = B, the upper edge of the bin where enough sample
    // slopes lie between.
    const steps = sampleSteps(upperRank + 1 - inversions, sampleSize, pairs, bracketSigmas);
    let bin = binA;
    let between = bins[bin];
    while (between < steps && bin < SAMPLE_BINS) between += bins[++bin];
    if (between < steps) return null;
    low = a;
    high = binEdge(bin + 1);
    tSecond = high + band;
  } else {
    // Certainly below A: L = B, the lower edge of the bin where enough sample slopes lie between,
    // H = A − 2·band (so that z(H + band) is the first sort).
    const steps = sampleSteps(inversions - lowerRank, sampleSize, pairs, bracketSigmas);
    let bin = binA - 1;
    let between = bins[bin];
    while (between < steps && bin > 1) between += bins[--bin];
    if (between < steps || bin < 1) return null;
    low = binEdge(bin);
    high = a - 2 * band;
    if (!(low < high)) return null;
    tSecond = low - band;
  }

  // 3. Insertion sort by z(tSecond), starting from the first sort's order; list every pass.
  for (let k = 0; k < len; k++) keys[k] = y[from + order[k]] - tSecond * order[k];
  slopeScratch = ensureCapacity(slopeScratch, pairs);
  const kept = slopeScratch;
  let count = 0;
  let below = inversions;
  for (let k = 1; k < len; k++) {
    const key = keys[k];
    let m = k - 1;
    if (!(keys[m] > key)) continue;
    const q = order[k];
    const yq = y[from + q];
    do {
      const p = order[m];
      // The reference's slope of the pair, (y_j − y_i) / (j − i) with i < j: the same quotient
      // with both signs flipped is the same number, except that 0 / −d is −0 where the reference
      // has +0; adding +0 turns −0 into +0 and changes nothing else. No branch on p < q.
      const slope = (yq - y[from + p]) / (q - p) + 0;
      // A pair inverted in the first sort was counted in `inversions`; it is classified here instead.
      below += +(slope < low) - +(p > q);
      kept[count] = slope;
      count += +(slope >= low) & +(slope <= high);
      keys[m + 1] = keys[m];
      order[m + 1] = p;
      m--;
    } while (m >= 0 && keys[m] > key);
    keys[m + 1] = key;
    order[m + 1] = q;
  }

  // Both middle ranks must lie among the listed slopes in [L, H].
  if (below > lowerRank || below + count <= upperRank) return null;
  // Every kept slope lies in [L, H], which spares the selection its range pass.
  return middleOf(kept, count, lowerRank - below, upperRank - below, low, high);
}

/**
 * Stable bottom-up merge sort of keyScratch[0..n) (carrying indexScratch along) ascending; returns
 * the number of inversions — pairs whose later element has a strictly smaller key. Leaves the
 * sorted result in keyScratch / indexScratch.
 */
const INSERTION_RUN = 16;

function sortCountingInversions(n: number): number {
  let inversions = 0;
  // Runs of INSERTION_RUN by insertion sort (each shift passes one inversion), then merges.
  const runKeys = keyScratch;
  const runOrder = indexScratch;
  for (let start = 0; start < n; start += INSERTION_RUN) {
    const end = Math.min(start + INSERTION_RUN, n);
    for (let k = start + 1; k < end; k++) {
      const key = runKeys[k];
      const index = runOrder[k];
      let m = k - 1;
      while (m >= start && runKeys[m] > key) {
        runKeys[m + 1] = runKeys[m];
        runOrder[m + 1] = runOrder[m];
        m--;
      }
      inversions += k - 1 - m;
      runKeys[m + 1] = key;
      runOrder[m + 1] = index;
    }
  }
  let srcKeys = keyScratch;
  let srcOrder = indexScratch;
  let dstKeys = keyTemp;
  let dstOrder = indexTemp;
  for (let width = INSERTION_RUN; width < n; width *= 2) {
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
