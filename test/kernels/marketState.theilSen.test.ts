// The fast order statistics behind MarketState, checked bit for bit against the obvious
// sort-based definitions. Arrays use size 'max' so the generated lengths really span the ranges
// given (fast-check's default keeps them near 10, which would never reach the bracketed path).
// Comparisons are exact (===), not within a tolerance. The one freedom: -0 and +0 are equal to
// every sort and selection, so which of the two a median of such ties returns is unspecified
// (the reference's sort does not fix it either). The fast paths are only allowed to be faster, never different, so every
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { quantileOfSorted, selectInPlace, selectRankPair } from "../../src/kernels/stats.js";
import { olsSlope, theilSenSlope } from "../../src/kernels/theilSen.js";

/** Brute-force Theil–Sen: every slope (y_j − y_i)/(j − i) for i < j, sorted, middle (mean of two for even). */
function referenceTheilSen(y: readonly number[]): number {
  const slopes: number[] = [];
  for (let i = 0; i < y.length; i++)
    for (let j = i + 1; j < y.length; j++) slopes.push((y[j] - y[i]) / (j - i));
  return referenceMedian(slopes);
}

function expectExactlyEqual(got: number, want: number, label?: string): void {
  if (got !== want) expect(got, label).toBe(want);
}

function referenceMedian(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  return n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

function fastTheilSen(y: readonly number[], padding = 0, bracketSigmas?: number): number {
  // Embed the window in a longer buffer to exercise the `from` offset.
  const buffer = new Float64Array(y.length + 2 * padding).fill(12345);
  buffer.set(y, padding);
  return theilSenSlope(buffer, padding, y.length, bracketSigmas);
}

/** Log-price-like series: a level plus a random walk of small steps. */
const logPriceSeries = (minLength: number, maxLength: number) =>
  fc
    .tuple(
      fc.double({ min: -27, max: 700, noNaN: true }),
      fc.array(fc.double({ min: -0.05, max: 0.05, noNaN: true }), {
        minLength: minLength - 1,
        maxLength: maxLength - 1,
        size: "max",
      }),
    )
    .map(([level, steps]) => {
      const y = [level];
      for (const step of steps) y.push(y[y.length - 1] + step);
      return y;
    });

/** Values from a tiny set: massive ties among the slopes, including at the median. */
const tiedSeries = (minLength: number, maxLength: number) =>
  fc.array(fc.constantFrom(10, 10.001, 10.002, 9.999), { minLength, maxLength, size: "max" });

describe("theilSenSlope equals the sorted median of all pairwise slopes, exactly", () => {
  // Windows of ≥ 46 points (≥ 1000 pairs) take the sampled-bracket path, smaller ones select
  // among all slopes; both are covered.
  it("on random walks of 2..300 points", () => {
    fc.assert(
      fc.property(logPriceSeries(2, 300), fc.nat(3), (y, padding) => {
        expectExactlyEqual(fastTheilSen(y, padding), referenceTheilSen(y));
      }),
      { numRuns: 150 },
    );
  });

  it("on arbitrary doubles of any magnitude", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), {
          minLength: 2,
          maxLength: 120,
          size: "max",
        }),
        (y) => {
          expectExactlyEqual(fastTheilSen(y), referenceTheilSen(y));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("with heavy ties and repeated values", () => {
    fc.assert(
      fc.property(tiedSeries(2, 200), (y) => {
        expectExactlyEqual(fastTheilSen(y), referenceTheilSen(y));
      }),
      { numRuns: 100 },
    );
  });

  it("on adversarial shapes: constant, exact lines, steps, alternation, a single outlier", () => {
    const shapes: Record<string, number[]> = {};
    for (const n of [2, 3, 45, 46, 47, 64, 128, 256, 257]) {
      shapes[`constant_${n}`] = Array.from({ length: n }, () => 10.7);
      shapes[`line_${n}`] = Array.from({ length: n }, (_, i) => 10.7 + 0.001 * i);
      shapes[`log_geometric_${n}`] = Array.from({ length: n }, (_, i) =>
        Math.log(100 * 1.001 ** i),
      );
      shapes[`step_${n}`] = Array.from({ length: n }, (_, i) => (i < n / 2 ? 1 : 2));
      shapes[`alternating_${n}`] = Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1 : 1.5));
      shapes[`outlier_${n}`] = Array.from({ length: n }, (_, i) => (i === n >> 1 ? 1e6 : 0.5));
      shapes[`descending_${n}`] = Array.from({ length: n }, (_, i) => -0.003 * i);
      shapes[`tiny_differences_${n}`] = Array.from(
        { length: n },
        (_, i) => 1 + (i % 3) * Number.EPSILON,
      );
    }
    for (const [name, y] of Object.entries(shapes)) {
      expectExactlyEqual(fastTheilSen(y), referenceTheilSen(y), name);
    }
  });

  it("stays exact when the bracket misses: narrow brackets (0 to 1.5σ) send many calls to the fallback", () => {
    // At 0σ nearly every call misses, at 1.5σ roughly one in eight: both branches get exercised.
    fc.assert(
      fc.property(logPriceSeries(46, 200), fc.constantFrom(0, 1, 1.5), (y, sigmas) => {
        expectExactlyEqual(fastTheilSen(y, 0, sigmas), referenceTheilSen(y));
      }),
      { numRuns: 60 },
    );
  });

  it("refuses fewer than two points", () => {
    expect(() => theilSenSlope(new Float64Array(1), 0, 1)).toThrow(RangeError);
  });
});

describe("olsSlope", () => {
  it("recovers the slope of an exact line and is 0 on a constant", () => {
    const line = Float64Array.from({ length: 50 }, (_, i) => 3 - 0.25 * i);
    expect(olsSlope(line, 0, 50)).toBeCloseTo(-0.25, 14);
    expect(olsSlope(new Float64Array(10).fill(7), 0, 10)).toBe(0);
  });

  it("matches the textbook formula Σ(x−x̄)(y−ȳ)/Σ(x−x̄)² on random data", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 2, maxLength: 80 }),
        (y) => {
          const n = y.length;
          const xMean = (n - 1) / 2;
          const yMean = y.reduce((a, b) => a + b, 0) / n;
          let sxy = 0;
          let sxx = 0;
          y.forEach((v, i) => {
            sxy += (i - xMean) * (v - yMean);
            sxx += (i - xMean) ** 2;
          });
          expect(olsSlope(Float64Array.from(y), 0, n)).toBe(sxy / sxx);
        },
      ),
    );
  });
});

describe("selection and quantile helpers", () => {
  const values = fc.array(
    fc.oneof(fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.constantFrom(0, 1, -1)),
    {
      minLength: 1,
      maxLength: 1500,
      size: "max",
    },
  );

  it("selectInPlace puts the k-th smallest at k and partitions around it (ranges above 600 use the Floyd–Rivest sample)", () => {
    fc.assert(
      fc.property(values, fc.double({ min: 0, max: 1, noNaN: true }), (xs, at) => {
        const k = Math.min(xs.length - 1, Math.floor(at * xs.length));
        const a = Float64Array.from(xs);
        selectInPlace(a, 0, a.length - 1, k);
        const sorted = [...xs].sort((p, q) => p - q);
        expectExactlyEqual(a[k], sorted[k]);
        for (let i = 0; i < k; i++) expect(a[i] <= a[k]).toBe(true);
        for (let i = k + 1; i < a.length; i++) expect(a[i] >= a[k]).toBe(true);
        // A permutation of the input.
        const after = [...a].sort((p, q) => p - q);
        after.forEach((v, i) => expectExactlyEqual(v, sorted[i]));
      }),
      { numRuns: 200 },
    );
  });

  it("selectRankPair returns the values of any two ranks, with or without known bounds", () => {
    // Ranks far apart take the split path; adjacent ones the shared one; arrays above 48 values the
    // bucket levels, smaller ones Floyd–Rivest directly.
    fc.assert(
      fc.property(
        values,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.boolean(),
        (xs, p, q, bounded) => {
          const n = xs.length;
          const lower = Math.min(n - 1, Math.floor(Math.min(p, q) * n));
          const upper = Math.min(n - 1, Math.floor(Math.max(p, q) * n));
          const sorted = [...xs].sort((a, b) => a - b);
          const out = new Float64Array(2);
          const [lowBound, highBound] = bounded ? [sorted[0] - 1, sorted[n - 1] + 1] : [NaN, NaN];
          selectRankPair(Float64Array.from(xs), n, lower, upper, out, lowBound, highBound);
          expectExactlyEqual(out[0], sorted[lower]);
          expectExactlyEqual(out[1], sorted[upper]);
          selectRankPair(Float64Array.from(xs), n, lower, Math.min(n - 1, lower + 1), out);
          expectExactlyEqual(out[1], sorted[Math.min(n - 1, lower + 1)]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("selectRankPair copes with spreads a histogram cannot split: huge ranges, subnormal ranges, one outlier", () => {
    const cases: number[][] = [
      [-1.7e308, 1.7e308, 0, 1, 2, ...Array.from({ length: 100 }, (_, i) => i * 1e300)],
      Array.from({ length: 200 }, (_, i) => (i % 3) * Number.MIN_VALUE),
      [...new Array<number>(199).fill(0.5), 1e9],
      Array.from({ length: 300 }, (_, i) => 2 ** (i - 150)), // geometric: every level peels off little
    ];
    const out = new Float64Array(2);
    for (const xs of cases) {
      const sorted = [...xs].sort((a, b) => a - b);
      for (const [lower, upper] of [
        [0, 0],
        [1, 2],
        [xs.length >> 1, (xs.length >> 1) + 1],
        [3, xs.length - 2],
      ]) {
        selectRankPair(Float64Array.from(xs), xs.length, lower, upper, out);
        expectExactlyEqual(out[0], sorted[lower]);
        expectExactlyEqual(out[1], sorted[upper]);
      }
    }
  });

  it("quantileOfSorted interpolates linearly, from the upper neighbour when t ≥ 0.5", () => {
    const sorted = Float64Array.from([1, 2, 4, 8]);
    expect(quantileOfSorted(sorted, 4, 0)).toBe(1);
    expect(quantileOfSorted(sorted, 4, 1)).toBe(8);
    expect(quantileOfSorted(sorted, 4, 0.5)).toBe(4 - (4 - 2) * 0.5); // h = 1.5
    expect(quantileOfSorted(sorted, 4, 0.25)).toBe(2 - (2 - 1) * (1 - 0.75)); // h = 0.75 ≥ 0.5
    expect(quantileOfSorted(sorted, 4, 0.1)).toBe(1 + (2 - 1) * (0.1 * 3)); // h = 0.3
    expect(quantileOfSorted(Float64Array.from([5]), 1, 0.99)).toBe(5);
    // The two forms differ in floating point; the upper one is what the reference computes.
    const a = 0.1;
    const b = 0.7;
    const q = 0.99;
    const t = q * 1 - Math.floor(q * 1);
    expect(quantileOfSorted(Float64Array.from([a, b]), 2, q)).toBe(b - (b - a) * (1 - t));
  });
});
