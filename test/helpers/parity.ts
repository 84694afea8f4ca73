// Loading and comparing the docs/specification.md §8 parity vectors. The vectors live in test/fixtures/parity
// (copied into the repo so the tests never reach outside it).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface Tolerance {
  rel: number;
  abs: number;
}

export interface ParityCase {
  name: string;
  input: Record<string, unknown>;
  expected: unknown;
}

export interface ParityFile {
  kernel: string;
  seed: number;
  tolerance: Tolerance;
  cases: ParityCase[];
}

export type VectorName = "stops" | "harvest" | "market_state";

export function loadParity(name: VectorName): ParityFile {
  const url = new URL(`../fixtures/parity/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(fileURLToPath(url), "utf8")) as ParityFile;
}

/**
 * Differences between `got` and `want` under the docs/specification.md §8 rule: numbers match when
 * |got − want| ≤ abs + rel·|want|; strings, booleans, nulls, list lengths and object keys match
 * exactly. Returns one line per difference (empty = match), each naming the path.
 */
export function parityDiff(got: unknown, want: unknown, tol: Tolerance, path = "$"): string[] {
  if (typeof want === "number") {
    if (typeof got !== "number" || !Number.isFinite(got))
      return [`${path}: want ${want}, got ${JSON.stringify(got)}`];
    const allowed = tol.abs + tol.rel * Math.abs(want);
    const err = Math.abs(got - want);
    return err <= allowed ? [] : [`${path}: want ${want}, got ${got} (|diff| ${err} > ${allowed})`];
  }
  if (want === null || typeof want !== "object") {
    return got === want
      ? []
      : [`${path}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`];
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got) || got.length !== want.length) {
      return [`${path}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`];
    }
    return want.flatMap((w, i) => parityDiff(got[i], w, tol, `${path}[${i}]`));
  }
  if (typeof got !== "object" || got === null || Array.isArray(got)) {
    return [`${path}: want an object, got ${JSON.stringify(got)}`];
  }
  const g = got as Record<string, unknown>;
  const w = want as Record<string, unknown>;
  const keys = new Set([...Object.keys(w), ...Object.keys(g)]);
  return [...keys].flatMap((k) =>
    k in w
      ? k in g
        ? parityDiff(g[k], w[k], tol, `${path}.${k}`)
        : [`${path}.${k}: missing`]
      : [`${path}.${k}: unexpected key`],
  );
}
