// The recorder's byte-level JSON (src/recorder/jsonBytes.ts): for any plain data — and for what is
// not plain data, which it hands to JSON.stringify — the bytes it writes decode to exactly the
// text JSON.stringify gives, after whatever the buffer held, however small the buffer began.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { JsonBytes } from "../../src/recorder/jsonBytes.js";

/** Strings with escapes, non-ASCII, astral characters and lone surrogates. */
const anyString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.string({ maxLength: 8 }),
  fc.constantFrom(
    'q"uote',
    "back\\slash",
    "tab\t",
    "nul\u0000",
    "\u2028",
    "\ud800",
    "é€😀",
    "\u007f",
  ),
);

/** Plain data with what JSON leaves out or spells specially: undefined, functions, NaN, -0. */
const plain = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    anyString,
    fc.double(),
    fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, 1e21, 5e-324, 0.1 + 0.2),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.constantFrom(2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 1796557772825, 9.5, 10, 100, -10),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.constant(() => 1),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(anyString, tie("value"), { maxKeys: 4 }),
  ),
})).value;

function spelled(v: unknown, before = ""): string {
  const out = new JsonBytes(1);
  out.ascii(before);
  out.value(v);
  return out.toString();
}

describe("JsonBytes", () => {
  it("spells plain data exactly as JSON.stringify does, after what the buffer held", () => {
    fc.assert(
      fc.property(fc.array(plain, { maxLength: 3 }), (vs) => {
        expect(spelled(vs, "{")).toBe(`{${JSON.stringify(vs)}`);
      }),
      { numRuns: 1000 },
    );
  });

  it("hands what is not plain data to JSON.stringify: toJSON, a Date, a null-prototype object", () => {
    const noProto = Object.assign(Object.create(null) as object, { a: 1, b: [2] });
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const v = {
      at: new Date(Date.UTC(2026, 11, 6, 12, 0, 0)),
      own: { toJSON: () => "mine" },
      noProto,
      point: new Point(1, 2),
      typed: Float64Array.from([1.5, 2]),
    };
    expect(spelled(v)).toBe(JSON.stringify(v));
  });

  it("keeps what an earlier value wrote when the buffer grows (a line spelled piece by piece)", () => {
    const out = new JsonBytes(2);
    const parts = ["[", '"x"', ",", "1.5", "]"];
    for (const p of parts) out.text(p);
    out.value({ é: "€".repeat(100) });
    const other = new JsonBytes(1);
    other.ascii(",");
    out.append(other);
    // … and a buffer's bytes past the small copy, whole
    const long = new JsonBytes(1);
    long.value({ pad: "p".repeat(200) });
    out.append(long);
    expect(out.toString()).toBe(
      `["x",1.5]${JSON.stringify({ é: "€".repeat(100) })},${JSON.stringify({ pad: "p".repeat(200) })}`,
    );
    out.reset();
    out.number(Number.NaN);
    expect(out.toString()).toBe("null");
  });
});
