import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decimalParts, shortestDecimal } from "../../src/recorder/decimalDigits.js";
import { JsonBytes } from "../../src/recorder/jsonBytes.js";

/** How JsonBytes spells n. */
function spelled(n: number): string {
  const out = new JsonBytes(8);
  out.number(n);
  return out.toString();
}

/** A fixed-seed generator: the same numbers on every run. */
function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

/** Every number tried is spelled as String(n) spells it, and how many took the fast way. */
function checkAll(ns: Iterable<number>): number {
  let fast = 0;
  for (const n of ns) {
    const want = Number.isFinite(n) ? String(n) : "null";
    const got = spelled(n);
    if (got !== want) expect.fail(`${want}: spelled ${got}`);
    if (shortestDecimal(Math.abs(n))) fast++;
  }
  return fast;
}

describe("shortest decimal digits without String(n)", () => {
  it("takes the two common kinds apart: a clock reading and a short decimal", () => {
    expect(shortestDecimal(1796592825176.3726)).toBe(true);
    expect({ ...decimalParts }).toEqual({ int: 1796592825176, frac: 3726, places: 4 });
    expect(shortestDecimal(0.00136631)).toBe(true);
    expect({ ...decimalParts }).toEqual({ int: 0, frac: 136631, places: 8 });
    expect(shortestDecimal(132.6496567)).toBe(true);
    expect({ ...decimalParts }).toEqual({ int: 132, frac: 6496567, places: 7 });
    expect(shortestDecimal(0.05)).toBe(true);
    expect({ ...decimalParts }).toEqual({ int: 0, frac: 5, places: 2 });
  });

  it("leaves to String(n) what it does not decide: exponent notation, beyond 2^46, long digits", () => {
    for (const n of [1e-7, 2 ** 46 + 0.5, 1e21, 0.1 + 0.2, 1.3264965670000066, Math.PI])
      expect(shortestDecimal(n)).toBe(false);
  });

  it("every fraction of a clock reading, at several whole parts, spelled as String(n)", () => {
    // In [2^40, 2^41) a fraction is k/4096: all of them, at four whole parts (epoch ms of now).
    const ns: number[] = [];
    for (const int of [1796592825176, 1765057223456, 2 ** 40, 2 ** 41 - 1])
      for (let k = 1; k < 4096; k++) ns.push(int + k / 4096);
    const fast = checkAll(ns);
    expect(fast).toBeGreaterThan(ns.length * 0.9);
  });

  it("numbers in [2^32, 2^46), every binary exponent, spelled as String(n)", () => {
    const next = seeded(0x9e3779b9);
    const ns: number[] = [];
    for (let e = 32; e < 46; e++) {
      const units = 2 ** (52 - e);
      for (let i = 0; i < 4000; i++) {
        const int = 2 ** e + Math.floor(next() * 2 ** e);
        const k = Math.floor(next() * units);
        ns.push(int + k / units, -(int + k / units));
      }
      // The edges of the exponent's range.
      ns.push(2 ** e + 1 / units, 2 ** (e + 1) - 1 / units);
    }
    expect(checkAll(ns)).toBeGreaterThan(ns.length * 0.9);
  });

  it("short decimals as parsed from text (prices, rates, probabilities), spelled as String(n)", () => {
    const next = seeded(12345);
    const ns: number[] = [];
    for (let i = 0; i < 60_000; i++) {
      const intDigits = Math.floor(next() * 10);
      const fracDigits = 1 + Math.floor(next() * 16);
      let text = intDigits === 0 ? "0" : String(1 + Math.floor(next() * 9));
      for (let j = 1; j < intDigits; j++) text += String(Math.floor(next() * 10));
      text += ".";
      for (let j = 0; j < fracDigits; j++) text += String(Math.floor(next() * 10));
      const n = Number(text);
      ns.push(n, -n);
    }
    // Around the limits: 1e-6 (below it String(n) writes an exponent), 2^32, whole numbers.
    for (let j = 1; j < 2000; j++) {
      ns.push(1e-6 * (1 + j / 1e4), 1e-6 * (1 - j / 1e6), 2 ** 32 - j / 1024, j + 0.5, j - 1e-9);
      ns.push(0.1 * j, 0.7 * j, 1 / j, j / 3);
    }
    expect(checkAll(ns)).toBeGreaterThan(ns.length * 0.5);
  });

  it("any double is spelled as String(n) (JSON.stringify's digits)", () => {
    fc.assert(
      fc.property(fc.double(), (n) => {
        expect(spelled(n)).toBe(Number.isFinite(n) ? String(n) : "null");
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(fc.double({ min: 1e-7, max: 2 ** 47, noNaN: true }), (n) => {
        expect(spelled(n)).toBe(String(n));
        expect(spelled(-n)).toBe(String(-n));
      }),
      { numRuns: 20_000 },
    );
  });

  it("reads back as the same number, every spelling it makes", () => {
    const next = seeded(777);
    for (let i = 0; i < 50_000; i++) {
      const n = (next() * 10 ** Math.floor(next() * 18)) / 10 ** Math.floor(next() * 10);
      expect(JSON.parse(spelled(n))).toBe(n);
    }
  });
});
