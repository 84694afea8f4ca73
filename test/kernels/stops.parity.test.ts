import { describe, expect, it } from "vitest";
import { computeStops, type StopsInput } from "../../src/kernels/stops.js";
import { loadParity, parityDiff } from "../helpers/parity.js";

const vectors = loadParity("stops");

describe(`P1 stops parity (${vectors.cases.length} cases, rel ${vectors.tolerance.rel}, abs ${vectors.tolerance.abs})`, () => {
  it.each(vectors.cases.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const got = computeStops(c.input as unknown as StopsInput);
    expect(parityDiff(got, c.expected, vectors.tolerance)).toEqual([]);
  });
});
