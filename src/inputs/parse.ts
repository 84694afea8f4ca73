// Strict numeric parsing of values read from Redis or JSON. Everything this service reads is a
// string somebody else wrote; JavaScript's Number()/parseFloat() accept far too much ('' → 0,
// '0x10' → 16, '12abc' → 12, ' ' → 0, 'Infinity'), and any of those would turn bad input into a
// plausible-looking number. Here a value is either a plain finite decimal or it is refused (null),
// so the caller can skip the symbol with a reason instead of computing on garbage.

// Optional sign, digits with an optional fraction (or a bare fraction), optional exponent.
// No whitespace, no hex/octal/binary prefixes, no digit separators, no words (NaN, inf, None).
// The fraction's digits only follow a literal '.': with `\d+\.?\d*` the two digit runs could
// split a long digit string every which way, and a 1 MB value of digits ending in a letter took
// ~100 s of backtracking — the event loop blocked on one position hash
// (test/badinput/service.test.ts). This form fails such a string in linear time.
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * A finite number from a number or a decimal string ("101.5", "-3", "1e-5", ".5"), else null.
 * Strings that overflow to ±Infinity ("1e400") are refused. -0 is returned as 0 so it can never
 * be written back as "-0".
 */
export function parseFiniteNumber(raw: unknown): number | null {
  let value: number;
  if (typeof raw === "number") {
    value = raw;
  } else if (typeof raw === "string") {
    if (!DECIMAL.test(raw)) return null;
    value = Number(raw);
  } else {
    return null;
  }
  if (!Number.isFinite(value)) return null;
  return value === 0 ? 0 : value;
}

/** parseFiniteNumber, additionally requiring > 0 (prices, closes). */
export function parsePositiveNumber(raw: unknown): number | null {
  const value = parseFiniteNumber(raw);
  return value !== null && value > 0 ? value : null;
}
