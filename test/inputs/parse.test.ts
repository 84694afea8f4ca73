import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseFiniteNumber, parsePositiveNumber } from "../../src/inputs/parse.js";

describe("parseFiniteNumber", () => {
  it("accepts finite numbers and plain decimal/exponent strings", () => {
    const cases: Array<[unknown, number]> = [
      [101.5, 101.5],
      ["101.5", 101.5],
      ["-3", -3],
      ["+2", 2],
      ["1e-5", 1e-5],
      ["2.5E+3", 2500],
      [".5", 0.5],
      ["5.", 5],
      ["0", 0],
      ["-0", 0],
      [-0, 0],
      ["00012", 12],
      ["1.7976931348623157e308", Number.MAX_VALUE],
    ];
    for (const [raw, want] of cases) expect(parseFiniteNumber(raw), String(raw)).toBe(want);
    expect(Object.is(parseFiniteNumber("-0"), 0)).toBe(true);
  });

  it("refuses everything else", () => {
    const bad: unknown[] = [
      "",
      " ",
      "\t\n",
      "NaN",
      "nan",
      "Infinity",
      "-Infinity",
      "inf",
      "1e400",
      "-1e400",
      "0x10",
      "0b1",
      "0o7",
      "12abc",
      "abc",
      " 1",
      "1 ",
      "1,5",
      "1_000",
      "1e",
      "e5",
      ".",
      "-",
      "+",
      "--1",
      "None",
      "null",
      "true",
      NaN,
      Infinity,
      -Infinity,
      true,
      false,
      null,
      undefined,
      {},
      [],
      [1],
      1n,
      () => 1,
    ];
    for (const raw of bad) expect(parseFiniteNumber(raw), String(raw)).toBeNull();
  });

  it("parsePositiveNumber also requires > 0", () => {
    expect(parsePositiveNumber("0.0001")).toBe(0.0001);
    expect(parsePositiveNumber("0")).toBeNull();
    expect(parsePositiveNumber("-1")).toBeNull();
    expect(parsePositiveNumber("x")).toBeNull();
  });

  it("property: any string yields a finite number or null, never NaN/Infinity", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (raw) => {
        const value = parseFiniteNumber(raw);
        return value === null || Number.isFinite(value);
      }),
      { numRuns: 2000 },
    );
  });

  it("property: number-like strings from the decimal grammar round-trip through Number()", () => {
    const digits = fc.string({
      unit: fc.constantFrom(..."0123456789"),
      minLength: 1,
      maxLength: 12,
    });
    const numeric = fc
      .tuple(
        fc.constantFrom("", "-", "+"),
        digits,
        fc.option(digits),
        fc.option(
          fc.tuple(
            fc.constantFrom("e", "E"),
            fc.constantFrom("", "-", "+"),
            fc.integer({ min: 0, max: 400 }),
          ),
        ),
      )
      .map(
        ([sign, int, frac, exp]) =>
          `${sign}${int}${frac === null ? "" : `.${frac}`}${exp === null ? "" : `${exp[0]}${exp[1]}${exp[2]}`}`,
      );
    fc.assert(
      fc.property(numeric, (raw) => {
        const value = parseFiniteNumber(raw);
        const expected = Number(raw);
        return Number.isFinite(expected)
          ? value === (expected === 0 ? 0 : expected)
          : value === null;
      }),
      { numRuns: 3000 },
    );
  });

  it("property: finite doubles, as numbers or as their String(), parse back exactly", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const want = x === 0 ? 0 : x;
        return parseFiniteNumber(x) === want && parseFiniteNumber(String(x)) === want;
      }),
      { numRuns: 3000 },
    );
  });
});
