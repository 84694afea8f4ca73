// The recorder's mirror of an actor's inputs (src/recorder/inputMirror.ts): for any sequence of
// reads, each delta applied (src/recorder/delta.ts `patch`) to the inputs before gives exactly the
// read's inputs as JSON carries them, and the mirror's full text is them too — whatever changed:
// windows moved, grown or shrunk, members added, removed, reordered, retyped, non-finite.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setCompiling } from "../../src/recorder/compiledCheck.js";
import { InputMirror } from "../../src/recorder/inputMirror.js";
import { JsonBytes } from "../../src/recorder/jsonBytes.js";
import { patch, type Delta, type JsonObject } from "../../src/recorder/delta.js";

/** The inputs as a line must carry them. */
const asJson = (v: unknown): JsonObject => JSON.parse(JSON.stringify(v)) as JsonObject;

/** The read's delta as text (null: none), written after what `out` held already (kept as is). */
function deltaOf(mirror: InputMirror, value: unknown, out = new JsonBytes(8)): string | null {
  const before = out.toString();
  const written = mirror.update(value, out);
  const text = out.toString();
  expect(text.startsWith(before)).toBe(true);
  if (!written) {
    expect(text).toBe(before);
    return null;
  }
  return text.slice(before.length);
}

/** The mirror's full inputs as text. */
function fullOf(mirror: InputMirror): string {
  const out = new JsonBytes(8);
  mirror.jsonInto(out);
  return out.toString();
}

function checkSequence(values: object[]): void {
  const mirror = new InputMirror();
  let inputs: JsonObject | null = null;
  // One buffer for the whole sequence, as a line's: a delta goes after what it holds.
  const out = new JsonBytes(8);
  for (const value of values) {
    out.ascii('{"k":"c"');
    const d = deltaOf(mirror, value, out);
    const expected = asJson(value);
    if (inputs === null) expect(d).toBeNull();
    else {
      expect(d).not.toBeNull();
      inputs = patch(inputs, JSON.parse(d!) as Delta);
      expect(inputs).toEqual(expected);
    }
    inputs ??= expected;
    // Spelled exactly as JSON.stringify spells the read's inputs (no typed arrays in these).
    expect(fullOf(mirror)).toBe(JSON.stringify(value));
    out.reset();
  }
}

const PRICES = Array.from(
  { length: 80 },
  (_, i) => Math.round((100 + Math.sin(i) * 5) * 1e7) / 1e7,
);

/** Inputs shaped like the phases': a moving window of closes, a few members that come and go. */
const phaseLike = fc.record({
  from: fc.integer({ min: 0, max: 30 }),
  size: fc.integer({ min: 0, max: 40 }),
  edit: fc.option(fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 0.5), {
    nil: undefined,
  }),
  x: fc.oneof(fc.integer(), fc.constant(Number.NaN), fc.constant(undefined), fc.constant(null)),
  y: fc.constantFrom("a", "b", 'q"uote', "ü"),
  nested: fc.option(
    fc.record({ deep: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }) }),
    {
      nil: undefined,
    },
  ),
  reorder: fc.boolean(),
  retype: fc.boolean(),
});

function phaseValue(p: typeof phaseLike extends fc.Arbitrary<infer T> ? T : never): object {
  const closes = PRICES.slice(p.from, p.from + p.size);
  if (p.edit !== undefined && closes.length > 0) closes[closes.length >> 1] = p.edit;
  const series = { closes, fingerprint: `${p.from}:${p.size}` };
  const market = p.retype ? [p.x, p.y] : { x: p.x, y: p.y, f: () => 1 };
  const v: Record<string, unknown> = p.reorder
    ? { market, series, nested: p.nested }
    : { series, market, nested: p.nested };
  return v;
}

// Every test both ways: with the compares compiled per tape shape (as the service runs) and with
// the generic compare alone — the two must write the same deltas.
describe.each([
  ["compiled", true],
  ["generic", false],
])("InputMirror, its compare %s", (_, compiled) => {
  beforeAll(() => setCompiling(compiled));
  afterAll(() => setCompiling(true));

  it("a delta applied to the inputs before gives the read's inputs (phase-like sequences)", () => {
    fc.assert(
      fc.property(fc.array(phaseLike, { minLength: 1, maxLength: 12 }), (ps) =>
        checkSequence(ps.map(phaseValue)),
      ),
      { numRuns: 400 },
    );
  });

  it("… and for arbitrary JSON objects", () => {
    fc.assert(
      fc.property(
        fc.array(fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue()), {
          minLength: 1,
          maxLength: 6,
        }),
        (vs) => checkSequence(vs),
      ),
      { numRuns: 300 },
    );
  });

  it("a read equal to the last one is an empty delta; one that differs in a single place is not", () => {
    // Steps applied to the value before: a fresh copy (equal: "{}"), one element of the window
    // changed (to a number, or to what JSON cannot hold as one), two members swapped (same
    // values, another order), a member renamed (same value), a leaf changed, a flag set.
    const step = fc.oneof(
      fc.constant({ kind: "copy" as const }),
      fc.record({
        kind: fc.constant("close" as const),
        at: fc.nat(20),
        to: fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, "x")),
      }),
      fc.record({ kind: fc.constant("flag" as const), to: fc.constantFrom(true, false, null) }),
      fc.constant({ kind: "swap" as const }),
      fc.constant({ kind: "rename" as const }),
      fc.record({ kind: fc.constant("leaf" as const), to: fc.oneof(fc.integer(), fc.string()) }),
    );
    const base = {
      series: { key: "candles:X:1m", closes: PRICES.slice(0, 21) },
      market: { sigma: 0.5, mu: 0.25, regime: "trend" },
      tracked: {
        position: { side: "LONG", entry_price: 100, age_sec: 7200, open: true as boolean | null },
        memory: null,
      },
    };
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 10 }), (steps) => {
        let value = structuredClone(base);
        const values: object[] = [value];
        const copies: boolean[] = [false];
        for (const s of steps) {
          value = structuredClone(value);
          if (s.kind === "close") (value.series.closes as unknown[])[s.at] = s.to;
          else if (s.kind === "flag") value.tracked.position.open = s.to;
          else if (s.kind === "swap")
            value.market = {
              mu: value.market.mu,
              sigma: value.market.sigma,
              regime: value.market.regime,
            };
          else if (s.kind === "leaf") (value.market as Record<string, unknown>).regime = s.to;
          else if (s.kind === "rename") {
            // The same values under another name: {…, regime} ⇄ {…, state}.
            const { regime, state, ...rest } = value.market as Record<string, unknown>;
            value.market = (
              regime !== undefined ? { ...rest, state: regime } : { ...rest, regime: state }
            ) as typeof value.market;
          }
          values.push(value);
          copies.push(s.kind === "copy");
        }
        checkSequence(values);
        const mirror = new InputMirror();
        values.forEach((v, i) => {
          const d = deltaOf(mirror, v);
          if (copies[i]) expect(d).toBe("{}");
        });
      }),
      { numRuns: 500 },
    );
  });

  it("a window moved by one candle is one shift; an unchanged read is an empty delta", () => {
    const mirror = new InputMirror();
    const closes = PRICES.slice(0, 10);
    expect(deltaOf(mirror, { series: { closes }, n: 1 })).toBeNull();
    expect(deltaOf(mirror, { series: { closes: PRICES.slice(1, 11) }, n: 1 })).toBe(
      `{"series":{"closes":{"~":[1,9,[${PRICES[10]}]]}}}`,
    );
    expect(deltaOf(mirror, { series: { closes: PRICES.slice(1, 11) }, n: 1 })).toBe("{}");
    // a typed array is an array of numbers
    expect(
      deltaOf(mirror, { series: { closes: Float64Array.from(PRICES.slice(2, 12)) }, n: 1 }),
    ).toBe(`{"series":{"closes":{"~":[1,9,[${PRICES[11]}]]}}}`);
    expect(fullOf(mirror)).toBe(`{"series":{"closes":[${PRICES.slice(2, 12).join(",")}]},"n":1}`);
    // a window still filling up grows by its new candles, kept whole: a shift of 0
    expect(deltaOf(mirror, { series: { closes: PRICES.slice(2, 13) }, n: 1 })).toBe(
      `{"series":{"closes":{"~":[0,10,[${PRICES[12]}]]}}}`,
    );
    expect(fullOf(mirror)).toBe(`{"series":{"closes":[${PRICES.slice(2, 13).join(",")}]},"n":1}`);
  });

  it("holds nothing of the value it was given: a value changed after its read is not in the mirror", () => {
    const mirror = new InputMirror();
    const value = { series: { closes: [1, 2, 3] }, m: { a: 1 } };
    deltaOf(mirror, value);
    value.series.closes.push(4);
    value.m.a = 2;
    expect(JSON.parse(fullOf(mirror))).toEqual({ series: { closes: [1, 2, 3] }, m: { a: 1 } });
  });
});
