import { describe, expect, it } from "vitest";
import { computeHarvest, type HarvestInput } from "../../src/kernels/harvest.js";
import { loadParity, parityDiff } from "../helpers/parity.js";

const vectors = loadParity("harvest");

describe(`P2 harvest parity (${vectors.cases.length} cases, rel ${vectors.tolerance.rel}, abs ${vectors.tolerance.abs})`, () => {
  it.each(vectors.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const got = computeHarvest(c.input as unknown as HarvestInput);
    expect(parityDiff(got, c.expected, vectors.tolerance)).toEqual([]);
  });
});
