// The shortest round-trip digits of the two kinds of number a recording spells most, found with
// integer arithmetic instead of String(n): the clock reading of every cycle line (epoch
// milliseconds with a fraction, 1796592825176.3726) and the inputs' decimals that were parsed from
// short decimal text (a market state's 0.00136631, a price's 132.6496567). Used by jsonBytes.ts
// number(); the text is exactly String(n)'s (test/recorder/decimalDigits.test.ts holds it to that).
//
// Why: String(n) of a number it has not seen lately (V8 keeps a small cache of recent ones) is a
// general shortest-digits search, 0.2–0.8 µs each in the service, and every cycle line spells a new
// clock reading, every read at the minute burst a dozen new decimals. Here a number of these two
// kinds costs a few multiplications; any other number (or any doubt, below) is String(n)'s.
//
// The rule both follow is ECMAScript's Number::toString: the fewest significant digits whose
// decimal reads back as the same double, and of two such decimals the closer one. Decimals with d
// digits after the point that read back as n are looked for, and the fewest d that has one gives
// the fewest digits (n's integer digits are the same for every candidate). Where two
// candidates at that d are as close (a tie), or the arithmetic could be inexact, the answer is
// false and String(n) decides.

/** 10^d, exact as doubles for d ≤ 22. */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/** A short decimal's digits m/10^d, m below this: exact, and alone in reading back as n. */
const SMALL_DIGITS_MAX = 2 ** 50;
/** How near n·10^d is to a whole number for it to be a candidate: 1.5 units of it, and then some. */
const NEAR = 2 ** -50;
/** Below this a number is a short decimal's or String(n)'s; at and above, a fraction of 2^-k. */
const LARGE_FROM = 2 ** 32;
/** Above this (2^46, ~7e13: the year 4200 in epoch ms) String(n) decides. */
const LARGE_TO = 2 ** 46;

/**
 * A positive non-integer n's digits as an integer part and a fraction: n = int + frac / 10^places,
 * String(n) = int, ".", frac with `places` digits (leading zeros kept). Set by shortestDecimal.
 */
export const decimalParts = { int: 0, frac: 0, places: 0 };

/**
 * Finds n's shortest round-trip digits into decimalParts and returns true, for a positive number
 * that is not whole, in fixed notation (1e-6 ≤ n < 2^46); false: String(n) is to spell it.
 */
export function shortestDecimal(n: number): boolean {
  if (n >= LARGE_FROM) return n < LARGE_TO && fractionOfUlps(n);
  if (!(n >= 1e-6)) return false;
  for (let d = 1; d < POW10.length; d++) {
    const p = POW10[d];
    const scaled = n * p;
    const m = Math.round(scaled);
    if (m >= SMALL_DIGITS_MAX) return false;
    // A decimal that reads back as n is within half of n's unit of it, so m is within 1.5 units
    // of n·10^d's (rounded) product: farther, it is not one — told without the division below.
    if (Math.abs(scaled - m) > scaled * NEAR) continue;
    // m/p is the double nearest the decimal m·10^-d (one correctly rounded division of two exact
    // values), which is what reading that decimal gives.
    if (m / p !== n) continue;
    // m is the only one at this d: its neighbours are 1/10^d away, more than n's unit (at most
    // n·2^-51) when m is below 2^50, so neither reads back as n — no closer one to choose.
    // Exact: m is below 2^50, so m / p is never rounded up to the next whole number.
    const int = Math.floor(m / p);
    decimalParts.int = int;
    decimalParts.frac = m - int * p;
    decimalParts.places = d;
    return true;
  }
  return false;
}

/**
 * n in [2^32, 2^46): its fraction is a whole number k of units 2^-u (u = 52 − its binary
 * exponent, 7 … 20), and a decimal frac/10^d reads back as n when it is within half a unit of it:
 * |2·frac·2^u − 2·k·10^d| < 10^d, all in integers below 2^53 (d ≤ 7). Of the decimals with the
 * fewest digits, the closest is taken (String(n) takes it too). A decimal exactly half a
 * unit away cannot happen at these d (its 2-adic order is d, the other side's at least u + 1).
 */
function fractionOfUlps(n: number): boolean {
  const int = Math.floor(n);
  SCRATCH[0] = n;
  const exponent = ((WORDS[HIGH_WORD] >>> 20) & 0x7ff) - 1023; // 32 … 45 here
  const unitsPerOne = UNITS_PER_ONE[exponent - 32]; // 2^u
  const oneUnit = 1 / unitsPerOne; // exact: a power of two
  const k = (n - int) * unitsPerOne; // exact: the fraction is whole units
  if (k === 0) return false;
  // At MOST_PLACES[…] digits a decimal within half a unit always exists (10^-d ≤ the unit), and a
  // decimal that has one at d digits has one at every d after: the fewest is found going down
  // from there, to the first d that has none — most often two steps, not four up from one.
  let best = -1;
  let places = 0;
  for (let d = MOST_PLACES[exponent - 32]; d >= 1; d--) {
    const p = POW10[d];
    const scaled = k * p; // exact, below 2^44
    const frac = Math.round(scaled * oneUnit); // the closest; exact: a power of two's scaling
    const gap = Math.abs(2 * frac * unitsPerOne - 2 * scaled);
    if (gap >= p) break;
    // Two closest (a tie): String(n) takes the even one; not decided here.
    if (gap === unitsPerOne || frac >= p) return false;
    best = frac;
    places = d;
  }
  if (best < 0) return false;
  decimalParts.int = int;
  decimalParts.frac = best;
  decimalParts.places = places;
  return true;
}

/** A double's bits, read through a word view: its binary exponent without a logarithm. */
const SCRATCH = new Float64Array(1);
const WORDS = new Uint32Array(SCRATCH.buffer);
/** Which of the two words holds the sign and the exponent (the machine's byte order). */
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
/** 2^(52 − e) for the binary exponents e = 32 … 45: how many units a whole one holds. */
const UNITS_PER_ONE = Array.from({ length: 14 }, (_, i) => 2 ** (20 - i));
/** For the same exponents, the fewest d with 10^d ≥ 2^(52 − e): 7 … 3. */
const MOST_PLACES = UNITS_PER_ONE.map((units) => POW10.findIndex((p) => p >= units));
