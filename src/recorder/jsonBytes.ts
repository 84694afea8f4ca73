// JSON text written straight into UTF-8 bytes, in a growable buffer outside the JS heap: how the
// flight recorder spells its lines (docs/recording.md, "Cost").
//
// Why bytes and not strings: at the minute burst every cycle's line is a few hundred bytes of
// text, and spelled as strings it was built from many young pieces — each changed input's
// `{"=":…}`, the member lists joined around them, each hash's JSON, the line joined from those,
// then flattened and encoded — several copies of the text allocated for each line. Every megabyte
// allocated during the burst brings the next scavenge closer, and each scavenge copies (and then
// promotes) whatever of the service's cycles is in flight: the recorder's garbage made the
// service's own objects survive more. Written here, a line allocates only the spelling of the
// numbers that are neither whole, nor clock readings, nor short decimals (String(n): the shortest
// round-trip digits, as JSON.stringify spells them; decimalDigits.ts spells those two kinds).
//
// What is written is exactly JSON.stringify's text for the same plain data (a property test holds
// it to that): strings escaped as it escapes them, -0 as 0, non-finite numbers as null, members
// that are undefined or functions left out of objects and null in arrays. Objects are walked with
// for…in (their own enumerable members, as plain data has); anything that is not plain data (a
// toJSON, a Date, a class instance) is spelled by JSON.stringify itself.

import { decimalParts, shortestDecimal } from "./decimalDigits.js";

const UTF8 = new TextEncoder();
const DECODER = new TextDecoder();

/** Bytes copied one by one below this length (append). */
const SMALL_COPY = 64;

// JSON's punctuation as bytes, for the writers that spell into a JsonBytes (inputMirror.ts,
// recorder.ts) as well as for this one.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
export const COMMA = 0x2c;
export const COLON = 0x3a;
export const OPEN_BRACE = 0x7b;
export const CLOSE_BRACE = 0x7d;
export const OPEN_BRACKET = 0x5b;
export const CLOSE_BRACKET = 0x5d;

/** A value JSON leaves out of an object (and writes as null in an array). */
const unspellable = (v: unknown): boolean =>
  v === undefined || typeof v === "function" || typeof v === "symbol";

export class JsonBytes {
  /** The bytes written are buf[0, len). */
  buf: Uint8Array;
  len = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  /** Forgets what was written; the buffer is kept for the next text. */
  reset(): void {
    this.len = 0;
  }

  /** The text written, decoded (tests, and the rare paths that need a string). */
  toString(): string {
    return DECODER.decode(this.buf.subarray(0, this.len));
  }

  /** Room for n more bytes. */
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }

  /** Text that is ASCII and JSON already (punctuation, digits, literals): written as it is. */
  ascii(s: string): void {
    const n = s.length;
    this.room(n);
    const { buf } = this;
    let at = this.len;
    for (let i = 0; i < n; i++) buf[at++] = s.charCodeAt(i);
    this.len = at;
  }

  /** Any text that is JSON already (it may hold any character): encoded to UTF-8. */
  text(s: string): void {
    this.room(s.length * 3);
    this.len += UTF8.encodeInto(s, this.buf.subarray(this.len)).written;
  }

  /** Another buffer's bytes, appended. */
  append(other: JsonBytes): void {
    this.bytes(other.buf, other.len);
  }

  /** Bytes that are JSON text already, src[0, n), appended. */
  bytes(src: Uint8Array, n: number = src.length): void {
    this.room(n);
    if (n <= SMALL_COPY) {
      // Most deltas are a few bytes ("{}" between candles), a line's start a few dozen: copied
      // here, without the view object and the native call that set() takes.
      const { buf } = this;
      let at = this.len;
      for (let i = 0; i < n; i++) buf[at++] = src[i];
      this.len = at;
      return;
    }
    this.buf.set(src.subarray(0, n), this.len);
    this.len += n;
  }

  /** `s` as a JSON string, quoted and escaped as JSON.stringify does it. */
  string(s: string): void {
    const n = s.length;
    // Room for the most it can take here: every character a quote or a backslash, two bytes each.
    this.room(2 * n + 2);
    const { buf } = this;
    const start = this.len;
    let at = start;
    buf[at++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c <= 0x7e) {
        // Printable ASCII: as it is, the quote and the backslash after a backslash — a marketstate
        // hash's regime_probs is JSON text, quotes and all, in every batch.
        if (c === QUOTE || c === BACKSLASH) buf[at++] = BACKSLASH;
        buf[at++] = c;
        continue;
      }
      // Anything else (a control character, a non-ASCII one) is rare in these lines: the whole
      // string is JSON.stringify's.
      this.len = start;
      this.text(JSON.stringify(s));
      return;
    }
    buf[at++] = QUOTE;
    this.len = at;
  }

  /** A number as JSON spells it: the shortest round-trip digits; null when not finite. */
  number(n: number): void {
    if (Number.isSafeInteger(n)) this.integer(n);
    // A clock reading or a short decimal: its digits found without String(n) (decimalDigits.ts).
    else if (n > 0 ? shortestDecimal(n) : n < 0 && shortestDecimal(-n)) this.decimal(n < 0);
    else this.ascii(Number.isFinite(n) ? String(n) : "null");
  }

  /** The number shortestDecimal() just took apart (decimalParts), with its sign. */
  private decimal(negative: boolean): void {
    const { int, frac, places } = decimalParts;
    if (negative) this.byte(0x2d);
    this.integer(int);
    this.room(places + 1);
    this.buf[this.len] = 0x2e; // "."
    this.len += 1 + places;
    writeDigits(this.buf, this.len, frac, places);
  }

  /**
   * A safe integer's digits, written without a string: most of a line's numbers are whole (epoch
   * seconds and milliseconds, counts, ages), and String(n) of one above 2^31 is a double's
   * conversion and a new string. -0 is written 0, as JSON spells it.
   */
  private integer(n: number): void {
    this.room(17); // a sign and at most 16 digits (2^53 − 1 has 16)
    let v = n;
    if (v < 0) {
      this.buf[this.len++] = 0x2d;
      v = -v;
    }
    const count = v < 2 ** 31 ? smallDigitCount(v) : largeDigitCount(v);
    this.len += count;
    writeDigits(this.buf, this.len, v, count);
  }

  /** `v` as JSON.stringify(v) spells it (v must be spellable: not undefined, not a function). */
  value(v: unknown): void {
    switch (typeof v) {
      case "string":
        this.string(v);
        return;
      case "number":
        this.number(v);
        return;
      case "boolean":
        this.ascii(v ? "true" : "false");
        return;
      case "object":
        if (v === null) {
          this.ascii("null");
          return;
        }
        if (Array.isArray(v)) {
          this.array(v);
          return;
        }
        if (isPlainObject(v)) {
          this.object(v as Record<string, unknown>);
          return;
        }
        break;
      default:
        break;
    }
    const spelled = JSON.stringify(v) as string | undefined;
    this.text(spelled ?? "null");
  }

  private array(v: readonly unknown[]): void {
    this.byte(OPEN_BRACKET);
    for (let i = 0; i < v.length; i++) {
      if (i > 0) this.byte(COMMA);
      const x = v[i];
      if (unspellable(x)) this.ascii("null");
      else this.value(x);
    }
    this.byte(CLOSE_BRACKET);
  }

  /**
   * A plain object's members, as JSON.stringify spells them — for a caller that knows `v` is one
   * and has no toJSON to call (value() looks that up first).
   */
  object(v: Record<string, unknown>): void {
    this.byte(OPEN_BRACE);
    let first = true;
    for (const key in v) {
      const x = v[key];
      if (unspellable(x)) continue;
      if (!first) this.byte(COMMA);
      first = false;
      this.string(key);
      this.byte(COLON);
      this.value(x);
    }
    this.byte(CLOSE_BRACE);
  }
}

/** Digits of a whole number below 2^31 (at least 1). */
function smallDigitCount(v: number): number {
  let count = 1;
  for (let p = 10; p <= v && count < 10; p *= 10) count++;
  return count;
}

/** Digits of a whole number from 2^31 to 2^53: eight below 10^8, and its part above. */
function largeDigitCount(v: number): number {
  return 8 + smallDigitCount(Math.floor(v / 1e8));
}

/**
 * Writes the last `count` digits of the whole number v (below 2^53; zeros in front when it has
 * fewer) into buf, ending before `end`. Split at 10^8 into two parts below 2^31 whose digits are
 * taken with int32 arithmetic (a division by 10 the compiler makes a multiplication), not a
 * double's division per digit.
 */
function writeDigits(buf: Uint8Array, end: number, v: number, count: number): void {
  let at = end;
  let left = count;
  let rest = v;
  if (rest >= 2 ** 31) {
    // Exact below 2^53: rest / 1e8 never rounds up to the next whole number there.
    const high = Math.floor(rest / 1e8);
    at = writeSmall(buf, at, rest - high * 1e8, 8);
    left -= 8;
    rest = high;
  }
  writeSmall(buf, at, rest, left);
}

/** The last `count` digits of v (0 ≤ v < 2^31) ending before `end`; returns where they begin. */
function writeSmall(buf: Uint8Array, end: number, v: number, count: number): number {
  let at = end;
  let x = v | 0;
  for (let i = 0; i < count; i++) {
    const q = (x / 10) | 0;
    buf[--at] = 0x30 + x - q * 10;
    x = q;
  }
  return at;
}

/** Plain data: an object literal's prototype (or none), and no toJSON of its own to call. */
function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as unknown;
  return (
    (proto === Object.prototype || proto === null) &&
    typeof (v as { toJSON?: unknown }).toJSON !== "function"
  );
}
