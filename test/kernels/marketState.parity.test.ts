import { describe, expect, it } from "vitest";
import { computeMarketState, type MarketStateTheta } from "../../src/kernels/marketState.js";
import type { DeepPartial } from "../../src/kernels/types.js";
import { loadParity, parityDiff } from "../helpers/parity.js";

const vectors = loadParity("market_state");

describe(`P0 market state parity (${vectors.cases.length} cases, rel ${vectors.tolerance.rel}, abs ${vectors.tolerance.abs})`, () => {
  it.each(vectors.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const input = c.input as { prices: number[]; theta?: DeepPartial<MarketStateTheta> };
    const got = computeMarketState(input.prices, input.theta);
    expect(parityDiff(got, c.expected, vectors.tolerance)).toEqual([]);
  });

  it("covers both the insufficient-data (null) and the computed cases", () => {
    expect(vectors.cases.some((c) => c.expected === null)).toBe(true);
    expect(vectors.cases.some((c) => c.expected !== null)).toBe(true);
  });
});
