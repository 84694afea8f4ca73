// Input validation for the kernels. Every check throws a KernelInputError that names the dotted
// path of the offending field and its value, so bad input is refused loudly instead of turning
// into NaN somewhere downstream (the reference services defaulted or propagated NaN).
import { KernelInputError, type Position, type Side } from "./types.js";

/** A plain (non-null, non-array) object; anything else is refused with the path named. */
export function requireObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new KernelInputError(
      path,
      value,
      value === undefined ? "missing required object" : "must be an object",
    );
  }
  return value as Record<string, unknown>;
}

/** A finite number. Strings are refused too: parsing belongs to the I/O layer, not the kernel. */
export function requireFiniteNumber(value: unknown, path: string): number {
  if (value === undefined || value === null)
    throw new KernelInputError(path, value, "missing required number");
  if (typeof value !== "number") throw new KernelInputError(path, value, "must be a number");
  if (!Number.isFinite(value)) throw new KernelInputError(path, value, "must be finite");
  return value;
}

/** A finite number > 0 (prices). */
export function requirePositiveNumber(value: unknown, path: string): number {
  const x = requireFiniteNumber(value, path);
  if (!(x > 0)) throw new KernelInputError(path, value, "must be > 0");
  return x;
}

/** A finite number ≥ 0 (ages, volatilities, distances). */
export function requireNonNegativeNumber(value: unknown, path: string): number {
  const x = requireFiniteNumber(value, path);
  if (!(x >= 0)) throw new KernelInputError(path, value, "must be >= 0");
  return x;
}

/** A probability: a finite number in [0, 1]. */
export function requireProbability(value: unknown, path: string): number {
  const x = requireFiniteNumber(value, path);
  if (!(x >= 0 && x <= 1))
    throw new KernelInputError(path, value, "must be a probability in [0, 1]");
  return x;
}

/** An optional price: null/undefined mean "unset" (→ null); anything else must be finite > 0. */
export function optionalPositiveNumber(value: unknown, path: string): number | null {
  if (value === null || value === undefined) return null;
  return requirePositiveNumber(value, path);
}

/** A non-empty string. */
export function requireNonEmptyString(value: unknown, path: string): string {
  if (value === undefined || value === null)
    throw new KernelInputError(path, value, "missing required string");
  if (typeof value !== "string") throw new KernelInputError(path, value, "must be a string");
  if (value.length === 0) throw new KernelInputError(path, value, "must not be empty");
  return value;
}

export function requireSide(value: unknown, path: string): Side {
  if (value === "LONG" || value === "SHORT") return value;
  throw new KernelInputError(
    path,
    value,
    value === undefined ? "missing required side (LONG|SHORT)" : "must be LONG or SHORT",
  );
}

/**
 * Validates a docs/specification.md §4 position snapshot and returns a clean copy. `expectedSymbol`, when given,
 * must equal position.symbol: a proposal computed for one symbol from another's position would be
 * published under the wrong key.
 */
export function validatePosition(
  raw: unknown,
  path = "position",
  expectedSymbol?: string,
): Position {
  const obj = requireObject(raw, path);
  const symbol = requireNonEmptyString(obj.symbol, `${path}.symbol`);
  if (expectedSymbol !== undefined && symbol !== expectedSymbol) {
    throw new KernelInputError(
      `${path}.symbol`,
      symbol,
      `does not match the requested symbol ${JSON.stringify(expectedSymbol)}`,
    );
  }
  return {
    symbol,
    side: requireSide(obj.side, `${path}.side`),
    entry_price: requirePositiveNumber(obj.entry_price, `${path}.entry_price`),
    current_price: requirePositiveNumber(obj.current_price, `${path}.current_price`),
    peak_price: requirePositiveNumber(obj.peak_price, `${path}.peak_price`),
    trough_price: requirePositiveNumber(obj.trough_price, `${path}.trough_price`),
    age_sec: requireNonNegativeNumber(obj.age_sec, `${path}.age_sec`),
    unrealized_pnl: requireFiniteNumber(obj.unrealized_pnl, `${path}.unrealized_pnl`),
    current_sl: optionalPositiveNumber(obj.current_sl, `${path}.current_sl`),
    current_tp: optionalPositiveNumber(obj.current_tp, `${path}.current_tp`),
  };
}

/**
 * Checks that every numeric leaf of a (merged) theta is finite. A theta override of NaN or
 * Infinity would otherwise flow straight into every proposal.
 */
export function requireFiniteLeaves(value: unknown, path = "theta"): void {
  if (typeof value === "number") {
    requireFiniteNumber(value, path);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => requireFiniteLeaves(item, `${path}[${i}]`));
  } else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) requireFiniteLeaves(item, `${path}.${key}`);
  }
}
