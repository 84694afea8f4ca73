// Order statistics and moments on Float64Array ranges, written for the MarketState hot path:
// they work in place on caller-owned scratch buffers and allocate nothing. Each one computes
// exactly the float value the SPEC's definition asks for (same operands, same operations), so the
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
export function minOfRange(a: Float64Array, from: number, to: number): number {
  let min = a[from];
  for (let i = from + 1; i < to; i++) if (a[i] < min) min = a[i];
  return min;
}

/**
 * Median of `a[0..n)` (n ≥ 1), reordering the range. For an even count it is the mean of the two
 * middle values, (lower + upper) / 2, as the reference computes it. After selecting the lower
 * middle at index n/2 − 1, every value above that index is ≥ it, so the upper middle is simply the
 * minimum of that upper part: no second selection pass is needed.
 */
export function medianInPlace(a: Float64Array, n: number): number {
  const lowerIndex = (n - 1) >> 1;
  selectInPlace(a, 0, n - 1, lowerIndex);
  const lower = a[lowerIndex];
  if (n % 2 === 1) return lower;
  return (lower + minOfRange(a, lowerIndex + 1, n)) / 2;
}

/**
 * The q-quantile of the ascending `sorted[0..n)` with linear interpolation between closest ranks:
 * h = q·(n−1), lo = ⌊h⌋, t = h − lo, value = a + (b−a)·t — except that for t ≥ 0.5 the reference
 * interpolates from the upper side, b − (b−a)·(1−t). Both forms are equal in exact arithmetic but
 * not in floating point, and parity depends on using the same one.
 */
export function quantileOfSorted(sorted: Float64Array, n: number, q: number): number {
  const h = q * (n - 1);
  const lo = Math.floor(h);
  const t = h - lo;
  const a = sorted[lo];
  const b = sorted[lo + 1 < n ? lo + 1 : n - 1];
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
export function ensureCapacity(current: Float64Array<ArrayBuffer>, length: number): Float64Array<ArrayBuffer> {
  if (current.length >= length) return current;
  return new Float64Array(Math.max(length, current.length * 2));
}
