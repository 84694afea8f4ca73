// Order statistics and moments on Float64Array ranges, written for the MarketState hot path:
// they work in place on caller-owned scratch buffers and allocate nothing. Each one computes
// exactly the float value the specification's definition asks for (docs/specification.md) (same operands, same operations), so the
// speed-ups never move a result by even one ulp against a sort-based implementation.

/**
 * Partially orders `a[left..right]` (inclusive) so that `a[k]` holds the value it would have if
 * the range were sorted ascending, everything in `a[left..k)` is ≤ a[k] and everything in
 * `a(k..right]` is ≥ a[k]. Floyd–Rivest selection: on large ranges it first recurses into a
 * small sample to find two bounds that almost surely bracket the k-th value, so the partitioning
 * pass converges in ~n + min(k, n−k) comparisons instead of quickselect's ~3.4n for a median.
 * Values must not be NaN (callers validate their inputs).
 */
export function selectInPlace(a: Float64Array, left: number, right: number, k: number): void {
  while (right > left) {
    if (right - left > 600) {
      // Sample size and bracket width from Floyd & Rivest (1975): recurse on a window around k
      // whose size grows like n^(2/3), placed so the k-th value lies inside it with high odds.
      const n = right - left + 1;
      const i = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * Math.sign(i - n / 2);
      const sampleLeft = Math.max(left, Math.floor(k - (i * s) / n + sd));
      const sampleRight = Math.min(right, Math.floor(k + ((n - i) * s) / n + sd));
      selectInPlace(a, sampleLeft, sampleRight, k);
    }
    // Hoare-style partition around t = a[k]; t is parked at `left` (or `right`) as a sentinel so
    // the inner scans need no bounds checks.
    const t = a[k];
    let i = left;
    let j = right;
    swap(a, left, k);
    if (a[right] > t) swap(a, right, left);
    while (i < j) {
      swap(a, i, j);
      i++;
      j--;
      while (a[i] < t) i++;
      while (a[j] > t) j--;
    }
    if (a[left] === t) {
      swap(a, left, j);
    } else {
      j++;
      swap(a, j, right);
    }
    // a[j] === t is now in its sorted place; continue in the side that holds k.
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

function swap(a: Float64Array, i: number, j: number): void {
  const tmp = a[i];
  a[i] = a[j];
  a[j] = tmp;
}

/** Smallest value of `a[from..to)` (to > from). */
function minOfRange(a: Float64Array, from: number, to: number): number {
  let min = a[from];
  for (let i = from + 1; i < to; i++) if (a[i] < min) min = a[i];
  return min;
}

/** Histogram width of one bucket-select level: 1 KiB of counts, comfortably in L1. */
const HISTOGRAM_BUCKETS = 256;
/** Below this many candidates the final Floyd–Rivest pass is cheaper than another level. */
const BUCKET_SELECT_MIN = 48;
/** A level that fails to shrink the candidates (pathological spreads) hands over to Floyd–Rivest after this many. */
const BUCKET_SELECT_MAX_LEVELS = 6;
const bucketCounts = new Int32Array(HISTOGRAM_BUCKETS);
let bucketSpare = new Float64Array(1024);

/**
 * The histogram bucket of x ≥ min, for buckets of width 1/scale from `min`, clamped to
 * [0, HISTOGRAM_BUCKETS). Monotone non-decreasing in x — subtraction, multiplication by a positive
 * number, min and truncation are each monotone in IEEE arithmetic — so a lower bucket only ever
 * holds smaller values. Counting and filtering must both use this one function.
 */
function bucketOf(x: number, min: number, scale: number): number {
  return Math.min((x - min) * scale, HISTOGRAM_BUCKETS - 1) | 0;
}

/**
 * Writes the values of rank `lowerRank` and `upperRank` (0-based, lowerRank ≤ upperRank < n) of
 * `a[0..n)` to out[0] and out[1]. Clobbers `a[0..n)`. When the caller knows that every value lies
 * in [lowBound, highBound] it may say so, which saves the first pass.
 *
 * Bucket selection: one pass finds the range, one counts the values per linear bucket of that
 * range, a cumulative sum names the bucket(s) holding the two ranks, and one pass copies just
 * those values out; repeat on the (typically ~1/100 as many) survivors, then finish with
 * Floyd–Rivest. Two ranks in distant buckets are copied out separately in the same pass and
 * finished one by one. Unlike a partition-based select, none of these passes branches on the
 * data, so on fresh data (every call in production) they do not pay a branch misprediction per
 * element. Exact, because bucketOf is monotone: the ranks are counted exactly. A range too wide or
 * too narrow to scale in floating point, or a level that does not shrink the candidates, hands
 * over to Floyd–Rivest directly.
 */
export function selectRankPair(
  a: Float64Array,
  n: number,
  lowerRank: number,
  upperRank: number,
  out: Float64Array,
  lowBound = NaN,
  highBound = NaN,
): void {
  bucketSpare = ensureCapacity(bucketSpare, n);
  let src: Float64Array = a;
  let dst: Float64Array = bucketSpare;
  let count = n;
  let lo = lowerRank;
  let hi = upperRank;
  for (let level = 0; level < BUCKET_SELECT_MAX_LEVELS && count > BUCKET_SELECT_MIN; level++) {
    let min: number;
    let max: number;
    if (level === 0 && lowBound <= highBound) {
      min = lowBound;
      max = highBound;
    } else {
      min = src[0];
      max = src[0];
      for (let i = 1; i < count; i++) {
        const x = src[i];
        min = Math.min(min, x);
        max = Math.max(max, x);
      }
    }
    if (min === max) {
      // Every candidate is equal (±0 aside): both ranks have this value.
      out[0] = min;
      out[1] = min;
      return;
    }
    const scale = HISTOGRAM_BUCKETS / (max - min);
    if (!(scale > 0 && scale < Infinity)) break;
    const counts = bucketCounts;
    counts.fill(0);
    for (let i = 0; i < count; i++) counts[bucketOf(src[i], min, scale)]++;
    let below = 0;
    let bucket = 0;
    while (below + counts[bucket] <= lo) below += counts[bucket++];
    const firstBucket = bucket;
    let through = below;
    while (through + counts[bucket] <= hi) through += counts[bucket++];
    const lastBucket = bucket;
    if (lastBucket > firstBucket + 1) {
      // Read the counts first: the nested calls below reuse the shared histogram.
      const lowCount = counts[firstBucket];
      const highCount = counts[lastBucket];
      splitBoth(src, count, min, scale, firstBucket, lowCount, lastBucket, highCount);
      selectRankPair(splitLow, lowCount, lo - below, lo - below, splitOut);
      out[0] = splitOut[0];
      selectRankPair(splitHigh, highCount, hi - through, hi - through, splitOut);
      out[1] = splitOut[0];
      return;
    }
    const kept = through + counts[lastBucket] - below;
    if (kept === count) break;
    let c = 0;
    for (let i = 0; i < count; i++) {
      const x = src[i];
      const b = bucketOf(x, min, scale);
      dst[c] = x; // unconditional store, conditional cursor
      c += +(b >= firstBucket) & +(b <= lastBucket);
    }
    count = kept;
    lo -= below;
    hi -= below;
    const t = src;
    src = dst;
    dst = t;
  }
  selectInPlace(src, 0, count - 1, lo);
  out[0] = src[lo];
  out[1] =
    hi === lo
      ? src[lo]
      : hi === lo + 1
        ? minOfRange(src, lo + 1, count)
        : selectedAbove(src, lo, count, hi);
}

let splitLow = new Float64Array(256);
let splitHigh = new Float64Array(256);
const splitOut = new Float64Array(2);

/** Copies the values of bucket `low` to splitLow and those of bucket `high` to splitHigh, in one pass. */
function splitBoth(
  src: Float64Array,
  count: number,
  min: number,
  scale: number,
  low: number,
  lowCount: number,
  high: number,
  highCount: number,
): void {
  splitLow = ensureCapacity(splitLow, lowCount + 1);
  splitHigh = ensureCapacity(splitHigh, highCount + 1);
  const lowOut = splitLow;
  const highOut = splitHigh;
  let cLow = 0;
  let cHigh = 0;
  for (let i = 0; i < count; i++) {
    const x = src[i];
    const b = bucketOf(x, min, scale);
    // Unconditional stores, conditional cursors; the +1 capacity absorbs the final overwrite.
    lowOut[cLow] = x;
    cLow += +(b === low);
    highOut[cHigh] = x;
    cHigh += +(b === high);
  }
}

/** After selectInPlace(a, 0, count − 1, k): the value of rank `rank` > k, selected within a(k..count). */
function selectedAbove(a: Float64Array, k: number, count: number, rank: number): number {
  selectInPlace(a, k + 1, count - 1, rank);
  return a[rank];
}

/**
 * The q-quantile of the ascending `sorted[0..n)` with linear interpolation between closest ranks:
 * h = q·(n−1), lo = ⌊h⌋, t = h − lo, value = a + (b−a)·t — except that for t ≥ 0.5 the reference
 * interpolates from the upper side, b − (b−a)·(1−t). Both forms are equal in exact arithmetic but
 * not in floating point, and parity depends on using the same one.
 */
export function quantileOfSorted(sorted: Float64Array, n: number, q: number): number {
  const { lower, upper, fraction } = quantileRanks(n, q);
  return interpolateQuantile(sorted[lower], sorted[upper], fraction);
}

/**
 * The ranks quantileOfSorted reads for the q-quantile of n values (h = q·(n−1): ⌊h⌋ and the next
 * one, clamped to n−1) and the fraction t = h − ⌊h⌋, for callers that select those two values
 * instead of sorting.
 */
export function quantileRanks(
  n: number,
  q: number,
): { lower: number; upper: number; fraction: number } {
  const h = q * (n - 1);
  const lower = Math.floor(h);
  return { lower, upper: lower + 1 < n ? lower + 1 : n - 1, fraction: h - lower };
}

/** The interpolation of quantileOfSorted between the values a (rank ⌊h⌋) and b (the next rank). */
export function interpolateQuantile(a: number, b: number, t: number): number {
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/** Population variance (divisor n) of `a[from..from+n)`, n ≥ 1: mean first, then mean square deviation. */
export function populationVariance(a: Float64Array, from: number, n: number): number {
  const end = from + n;
  let sum = 0;
  for (let i = from; i < end; i++) sum += a[i];
  const mean = sum / n;
  let squares = 0;
  for (let i = from; i < end; i++) {
    const d = a[i] - mean;
    squares += d * d;
  }
  return squares / n;
}

/**
 * A Float64Array of at least `length` elements, reusing `current` when it is big enough. Scratch
 * buffers grow geometrically, so a caller that alternates sizes settles after a few calls and
 * then never allocates again.
 */
export function ensureCapacity(
  current: Float64Array<ArrayBuffer>,
  length: number,
): Float64Array<ArrayBuffer> {
  if (current.length >= length) return current;
  return new Float64Array(Math.max(length, current.length * 2));
}
