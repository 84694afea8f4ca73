// Deterministic synthetic close prices for demos and replays. A seed fully determines the path,
// so a replay or a test prints the same numbers on every machine. Pure: no clock, no Math.random.
//
// The three regimes are shaped for the docs/specification.md §1 regime scores, which is what the demo shows:
// - trend:       steady log drift about as large as the noise, so ts ≈ 1 and returns share a sign.
// - mr: the price swings around a fixed level (a slow oscillation plus small noise).
//                Within a swing returns keep their sign, so the variance ratio is far from 1,
//                while the long-window slope stays near 0 — the specification's mean-reversion signature (docs/specification.md §1).
// - chop:        driftless random walk: dp ≈ 0.5, vr ≈ 1, ts ≈ 0.

export const REGIMES = ["trend", "mr", "chop"] as const;
export type SyntheticRegime = (typeof REGIMES)[number];

export function isSyntheticRegime(value: string): value is SyntheticRegime {
  return (REGIMES as readonly string[]).includes(value);
}

export interface SyntheticOptions {
  /** Number of closes (default 300). */
  length?: number;
  /** PRNG seed (default 1). Any integer; the same seed gives the same path. */
  seed?: number;
  /** First close (default 100). */
  start?: number;
}

/** Per-step parameters of each regime (log-return units). */
const SHAPES: Record<
  SyntheticRegime,
  { drift: number; noise: number; swing: number; period: number }
> = {
  trend: { drift: 0.001, noise: 0.001, swing: 0, period: 1 },
  mr: { drift: 0, noise: 0.0005, swing: 0.02, period: 48 },
  chop: { drift: 0, noise: 0.002, swing: 0, period: 1 },
};

/**
 * mulberry32: a tiny 32-bit PRNG with good enough statistics for synthetic data. Returns a
 * function yielding uniforms in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws from a uniform source (Box–Muller, one value per call). */
function normalSource(uniform: () => number): () => number {
  return () => {
    const u1 = 1 - uniform(); // (0, 1]: keeps ln finite
    const u2 = uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  };
}

/**
 * A stepwise price walk: each call returns the next close; the first call returns `start`.
 * Used by the demo to grow candles one at a time with the same statistics as syntheticPrices.
 */
export function createPriceWalk(regime: SyntheticRegime, seed = 1, start = 100): () => number {
  if (!isSyntheticRegime(regime))
    throw new Error(`unknown regime ${JSON.stringify(regime)} (expected ${REGIMES.join("|")})`);
  if (!(Number.isFinite(start) && start > 0))
    throw new Error(`start must be a finite price > 0 (got ${start})`);
  if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number (got ${seed})`);
  const shape = SHAPES[regime];
  const normal = normalSource(mulberry32(seed));
  const omega = (2 * Math.PI) / shape.period;
  let step = 0;
  let logPrice = Math.log(start);
  return () => {
    // exp(ln(start)) need not equal start exactly; the first close is returned as given.
    if (step++ === 0) return start;
    // The swing term is the increment of swing·sin(ωt), so the level itself oscillates.
    const t = step - 1;
    const swing = shape.swing * (Math.sin(omega * t) - Math.sin(omega * (t - 1)));
    logPrice += shape.drift + swing + shape.noise * normal();
    return Math.exp(logPrice);
  };
}

/** `length` closes of the given regime, oldest first. */
export function syntheticPrices(regime: SyntheticRegime, options: SyntheticOptions = {}): number[] {
  const length = options.length ?? 300;
  if (!(Number.isInteger(length) && length >= 0))
    throw new Error(`length must be an integer >= 0 (got ${length})`);
  const next = createPriceWalk(regime, options.seed ?? 1, options.start ?? 100);
  return Array.from({ length }, () => next());
}
