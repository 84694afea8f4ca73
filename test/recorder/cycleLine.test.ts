// A cycle line's members spelled by their own writer (src/recorder/cycleLine.ts): for any cycle
// record built in the order the recorder's steps add its members, the actor's line start and the
// members written after it are exactly JSON.stringify's text of the record.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CYCLE_MEMBER_ORDER,
  cycleLineHead,
  writeCycleMembers,
} from "../../src/recorder/cycleLine.js";
import type { CycleRecord } from "../../src/recorder/format.js";
import { JsonBytes } from "../../src/recorder/jsonBytes.js";

/** Strings with escapes, non-ASCII, astral characters and lone surrogates. */
const anyString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.string({ maxLength: 8 }),
  fc.constantFrom('q"uote', "back\\slash", "nul\u0000", "\ud800", "é€😀", "SYM0091USDT"),
);
const pairOf = fc.tuple(anyString, anyString);
const clock = fc.oneof(
  fc.double(),
  fc.constantFrom(1796566871624.8762, 1796566871624, -0, Number.NaN, 2 ** 53),
);

/** Each optional member: present (with a value) or not. */
const members = {
  f: fc.option(fc.dictionary(anyString, fc.jsonValue(), { maxKeys: 3 }), { nil: undefined }),
  i: fc.option(fc.dictionary(anyString, fc.jsonValue(), { maxKeys: 3 }), { nil: undefined }),
  x: fc.option(pairOf, { nil: undefined }),
  e: fc.option(anyString, { nil: undefined }),
  cx: fc.option(pairOf, { nil: undefined }),
  ce: fc.option(anyString, { nil: undefined }),
  d: fc.option(fc.tuple(fc.boolean(), anyString), { nil: undefined }),
  w: fc.option(
    fc.record({
      h: fc.array(
        fc.tuple(
          anyString,
          fc.dictionary(anyString, anyString, { maxKeys: 2 }),
          fc.option(fc.nat(), { nil: null }),
        ),
        { maxLength: 2 },
      ),
      x: fc.array(
        fc.tuple(anyString, fc.dictionary(anyString, anyString, { maxKeys: 2 }), fc.nat()),
        {
          maxLength: 1,
        },
      ),
    }),
    { nil: undefined },
  ),
  we: fc.option(anyString, { nil: undefined }),
  hb: fc.option(fc.constant(1 as const), { nil: undefined }),
  z: fc.option(fc.constant(1 as const), { nil: undefined }),
  tr: fc.option(fc.constantFrom("interval", "run", "retry", "wake"), { nil: undefined }),
  m: fc.option(fc.jsonValue(), { nil: undefined }),
  n: fc.option(fc.nat(), { nil: undefined }),
  t2: fc.option(clock, { nil: undefined }),
} satisfies Record<(typeof CYCLE_MEMBER_ORDER)[number], fc.Arbitrary<unknown>>;

const record = fc
  .tuple(
    fc.constantFrom("marketstate" as const, "risk" as const, "harvest" as const),
    anyString,
    clock,
    fc.record(members),
  )
  .map(([p, s, t, optional]) => {
    // Built member by member in the writer's order, as the recorder's steps add them.
    const rec: Record<string, unknown> = { k: "c", p, s, t };
    for (const name of CYCLE_MEMBER_ORDER)
      if (optional[name] !== undefined) rec[name] = optional[name];
    return rec as unknown as CycleRecord;
  });

function written(rec: CycleRecord, before = ""): string {
  const out = new JsonBytes(1);
  out.ascii(before);
  out.bytes(cycleLineHead(rec.p, rec.s));
  writeCycleMembers(rec, out);
  out.ascii("}");
  return out.toString();
}

describe("cycle line", () => {
  it("is JSON.stringify's text of the record, after what the buffer held", () => {
    fc.assert(
      fc.property(record, (rec) => {
        expect(written(rec, "[")).toBe(`[${JSON.stringify(rec)}`);
      }),
      { numRuns: 2000 },
    );
  });

  it("spells the steady state's usual line", () => {
    const rec: CycleRecord = { k: "c", p: "risk", s: "SYM0091USDT", t: 1796566872671.3015 };
    rec.d = [false, "rate_limited"];
    rec.tr = "interval";
    expect(written(rec)).toBe(
      '{"k":"c","p":"risk","s":"SYM0091USDT","t":1796566872671.3015,"d":[false,"rate_limited"],"tr":"interval"}',
    );
  });
});
