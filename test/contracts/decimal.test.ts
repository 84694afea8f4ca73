import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatDecimal, NonFiniteValueError } from "../../src/contracts/decimal.js";

describe("formatDecimal", () => {
  it("never uses exponent notation and round-trips exactly", () => {
    expect(formatDecimal(1.5e-7, "x")).toBe("0.00000015");
    expect(formatDecimal(-2e-10, "x")).toBe("-0.0000000002");
    expect(formatDecimal(1e21, "x")).toBe("1000000000000000000000");
    expect(formatDecimal(-0, "x")).toBe("0");
    expect(formatDecimal(0.1 + 0.2, "x")).toBe("0.30000000000000004");
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const text = formatDecimal(x, "x");
        expect(text).toMatch(/^-?\d+(\.\d+)?$/);
        expect(Number(text)).toBe(x === 0 ? 0 : x);
      }),
    );
  });

  it('fixed decimals like Python, without "-0.000000"', () => {
    expect(formatDecimal(0.123456789, "mu", 8)).toBe("0.12345679");
    expect(formatDecimal(-1e-9, "mu", 6)).toBe("0.000000");
  });

  it("refuses NaN and Infinity, naming the field", () => {
    expect(() => formatDecimal(Number.NaN, "sigma")).toThrow(NonFiniteValueError);
    expect(() => formatDecimal(Number.POSITIVE_INFINITY, "kill_score", 6)).toThrow(/kill_score/);
  });
});
