import { describe, expect, it } from "vitest";
import {
  optionalPositiveNumber,
  requireFiniteLeaves,
  requireFiniteNumber,
  requireProbability,
  validatePosition,
} from "../../src/kernels/validate.js";
import { KernelInputError } from "../../src/kernels/types.js";
import { thrown } from "../helpers/thrown.js";

const good = {
  symbol: "ETHUSDT",
  side: "SHORT",
  entry_price: 2000,
  current_price: 1990,
  peak_price: 1980,
  trough_price: 2010,
  age_sec: 0,
  unrealized_pnl: -3.5,
  current_sl: 2050,
  current_tp: undefined,
};

const errorOf = (fn: () => unknown): KernelInputError => thrown(KernelInputError, fn);

describe("validatePosition", () => {
  it("returns a clean copy with unset stops as null", () => {
    expect(validatePosition(good)).toEqual({ ...good, current_tp: null });
    expect(validatePosition({ ...good, current_sl: null }).current_sl).toBeNull();
  });

  it.each([
    ["entry_price", NaN],
    ["entry_price", 0],
    ["current_price", -1],
    ["peak_price", Infinity],
    ["trough_price", "2010"],
    ["age_sec", -1],
    ["unrealized_pnl", NaN],
    ["current_sl", 0],
    ["current_tp", -5],
    ["side", "long"],
    ["side", undefined],
    ["symbol", ""],
    ["entry_price", undefined],
  ])("refuses %s = %s and names the field", (field, value) => {
    const err = errorOf(() => validatePosition({ ...good, [field]: value }));
    expect(err.field).toBe(`position.${field}`);
    expect(err.value).toBe(value);
    expect(err.message).toContain(`position.${field}`);
  });

  it("uses the given path prefix and checks the requested symbol", () => {
    expect(errorOf(() => validatePosition({ ...good, age_sec: NaN }, "positions[3]")).field).toBe(
      "positions[3].age_sec",
    );
    const err = errorOf(() => validatePosition(good, "position", "BTCUSDT"));
    expect(err.field).toBe("position.symbol");
    expect(err.message).toContain('"BTCUSDT"');
    expect(err.message).toContain('"ETHUSDT"');
    expect(validatePosition(good, "position", "ETHUSDT").symbol).toBe("ETHUSDT");
  });

  it("refuses a non-object", () => {
    expect(errorOf(() => validatePosition(null)).field).toBe("position");
    expect(errorOf(() => validatePosition([1])).field).toBe("position");
  });
});

describe("small validators", () => {
  it("requireFiniteNumber", () => {
    expect(requireFiniteNumber(-0.5, "x")).toBe(-0.5);
    expect(() => requireFiniteNumber(NaN, "x")).toThrow("x: must be finite (got NaN)");
    expect(() => requireFiniteNumber(null, "x")).toThrow(/x: missing/);
  });
  it("requireProbability", () => {
    expect(requireProbability(0, "p")).toBe(0);
    expect(requireProbability(1, "p")).toBe(1);
    expect(() => requireProbability(1.0000001, "p")).toThrow(/p: must be a probability/);
    expect(() => requireProbability(-1e-9, "p")).toThrow(KernelInputError);
  });
  it("optionalPositiveNumber", () => {
    expect(optionalPositiveNumber(undefined, "x")).toBeNull();
    expect(optionalPositiveNumber(3, "x")).toBe(3);
    expect(() => optionalPositiveNumber(NaN, "x")).toThrow(KernelInputError);
  });
  it("requireFiniteLeaves names the nested leaf", () => {
    expect(() => requireFiniteLeaves({ a: { b: [1, Infinity] } })).toThrow(/theta\.a\.b\[1\]/);
    expect(() => requireFiniteLeaves({ a: true, b: "ols", c: [1, 2] })).not.toThrow();
  });
});
