// Numbers go to Redis as plain decimal strings (docs/specification.md §5): never NaN, Infinity or exponent
// notation, which some readers of these hashes (float("1e-07") is fine in Python, but the
// dashboards' regex parsers are not) would choke on.

export class NonFiniteValueError extends Error {
  readonly field: string;
  readonly value: unknown;
  constructor(field: string, value: unknown) {
    super(`refusing to write ${field}=${String(value)}: not a finite number`);
    this.name = "NonFiniteValueError";
    this.field = field;
    this.value = value;
  }
}

/**
 * `decimals` given: fixed-point with that many decimals (like Python's f"{x:.8f}").
 * Otherwise the shortest string that round-trips to the same double, without an exponent.
 */
export function formatDecimal(value: number, field: string, decimals?: number): string {
  if (typeof value !== "number" || !Number.isFinite(value))
    throw new NonFiniteValueError(field, value);
  if (decimals !== undefined) {
    // toFixed switches to exponent notation at 1e21; such magnitudes are not prices.
    if (Math.abs(value) >= 1e21) return expandExponent(String(value));
    const text = value.toFixed(decimals);
    // No "-0.000000": only a negative value can round to it, so only then is it looked for.
    return value < 0 && text === negativeZero(decimals) ? text.slice(1) : text;
  }
  if (Object.is(value, -0)) return "0";
  const text = String(value);
  return text.includes("e") ? expandExponent(text) : text;
}

/** "-0.000000" for 6 decimals, spelled once per decimals (formatDecimal runs for every figure). */
const negativeZeros = new Map<number, string>();

function negativeZero(decimals: number): string {
  let text = negativeZeros.get(decimals);
  if (text === undefined) {
    text = `-${(0).toFixed(decimals)}`;
    negativeZeros.set(decimals, text);
  }
  return text;
}

/** "1.5e-7" → "0.00000015", "1e+21" → "1000000000000000000000" (exact digit shifting). */
function expandExponent(text: string): string {
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!match) return text;
  const [, sign, lead, frac = "", expText] = match;
  const digits = lead + frac;
  const exponent = Number(expText);
  const point = 1 + exponent; // position of the decimal point within `digits`
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Epoch seconds as an integer string. */
export function formatEpochSeconds(ms: number): string {
  return String(Math.floor(ms / 1000));
}

/** ISO-8601 UTC, e.g. 2026-11-22T06:15:00.000Z. */
export function formatIsoUtc(ms: number): string {
  return new Date(ms).toISOString();
}
