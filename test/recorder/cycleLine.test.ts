// A cycle line spelled as its cycle goes (src/recorder/cycleLine.ts): for any cycle record built
// in the order the recorder's steps note its members, the line's start and the members
// written after it by their writers are exactly JSON.stringify's text of the record.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  writeCycleHead,
  writeDecision,
  writePair,
  writeText,
} from "../../src/recorder/cycleLine.js";
import type { CycleRecord, WrittenBatch } from "../../src/recorder/format.js";
import { JsonBytes } from "../../src/recorder/jsonBytes.js";
import { writeBatch } from "../../src/recorder/recorder.js";

/** A line's members after k, p, s and t, in the order the recorder's steps note them. */
const LINE_ORDER = ["i", "f", "cx", "ce", "d", "w", "we", "hb", "z", "tr", "m"] as const;

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
} satisfies Record<(typeof LINE_ORDER)[number], fc.Arbitrary<unknown>>;

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
    for (const name of LINE_ORDER) if (optional[name] !== undefined) rec[name] = optional[name];
    return rec as unknown as CycleRecord;
  });

/** The batch as it was published (writeBatch spells it from the batch, not from `w`). */
const batchOf = (w: WrittenBatch) => ({
  hashes: w.h.map(([key, fields, ttl]) => ({
    key,
    fields,
    ...(ttl === null ? {} : { ttlSec: ttl }),
  })),
  streams: w.x.map(([key, fields, maxLen]) => ({ key, fields, maxLen })),
});

/** The line as the recorder's notes spell it, each member by its writer. */
function written(rec: CycleRecord, before = ""): string {
  const out = new JsonBytes(1);
  out.ascii(before);
  writeCycleHead(out, rec.p, rec.s);
  out.number(rec.t);
  // The inputs (mirror.update or jsonInto in the service) and the memory are JSON of any shape.
  if (rec.i !== undefined) {
    out.ascii(',"i":');
    out.value(rec.i);
  }
  if (rec.f !== undefined) {
    out.ascii(',"f":');
    out.value(rec.f);
  }
  if (rec.cx !== undefined) writePair(out, ',"cx":[', ...rec.cx);
  if (rec.ce !== undefined) writeText(out, ',"ce":', rec.ce);
  if (rec.d !== undefined) writeDecision(out, ...rec.d);
  if (rec.w !== undefined) {
    out.ascii(',"w":');
    writeBatch(batchOf(rec.w), out);
  }
  if (rec.we !== undefined) writeText(out, ',"we":', rec.we);
  if (rec.hb !== undefined) out.ascii(',"hb":1');
  if (rec.z !== undefined) out.ascii(',"z":1');
  if (rec.tr !== undefined) writeText(out, ',"tr":', rec.tr);
  if (rec.m !== undefined) {
    out.ascii(',"m":');
    out.value(rec.m);
  }
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
    rec.i = {};
    rec.d = [false, "rate_limited"];
    rec.tr = "interval";
    expect(written(rec)).toBe(
      '{"k":"c","p":"risk","s":"SYM0091USDT","t":1796566872671.3015,"i":{},"d":[false,"rate_limited"],"tr":"interval"}',
    );
  });
});
