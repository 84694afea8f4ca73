// Small pure numeric helpers shared by the kernels. They follow the definitions of docs/specification.md exactly
// (e.g. the sigmoid clips its argument to ±50), because parity with the reference depends on it.

/** `x` limited to [lo, hi]. Callers guarantee lo ≤ hi. */
export function clip(x: number, lo: number, hi: number): number {
  return Math.min(Math.max(x, lo), hi);
}

/** docs/specification.md: sigmoid(x) = 1 / (1 + e^(−clip(x, −50, 50))). The clip keeps e^x finite. */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-clip(x, -50, 50)));
}

/**
 * softmax(xs / temp). The maximum is subtracted before exponentiating so large scores do not
 * overflow; this does not change the result mathematically.
 */
export function softmax(xs: readonly number[], temp = 1): number[] {
  const scaled = xs.map((x) => x / temp);
  const max = Math.max(...scaled);
  const exps = scaled.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}
