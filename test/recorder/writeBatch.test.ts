// A published batch as its cycle line's `w` (src/recorder/recorder.ts `writeBatch`): hashes with
// their TTL, streams with their MAXLEN, each hash's fields spelled by their own walk — exactly
// JSON.stringify's text of the same batch written as docs/recording.md says, whatever the
// fields hold (escapes, non-ASCII, lone surrogates, members JSON leaves out, an object of a class).
import fc from "fast-check";
import { expect, it } from "vitest";
import { writeBatch } from "../../src/recorder/recorder.js";
import { JsonBytes } from "../../src/recorder/jsonBytes.js";
import type { PublishBatch } from "../../src/store/types.js";

const anyString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 8 }),
  fc.string({ maxLength: 8 }),
  fc.constantFrom('q"uote', "back\\slash", "nul\u0000", "\ud800", "é€😀", "last_update_epoch"),
);

/** Fields as the steps write them (strings), and now and then what a string record should not hold. */
const fieldValue = fc.oneof(
  { weight: 8, arbitrary: anyString },
  { weight: 1, arbitrary: fc.constantFrom(undefined, 1.5, null, () => 1) },
);

class Fields {
  constructor(readonly a: string) {}
  toJSON(): Record<string, string> {
    return { spelled: this.a };
  }
}

const fields = fc.oneof(
  { weight: 9, arbitrary: fc.dictionary(anyString, fieldValue, { maxKeys: 4 }) },
  {
    weight: 1,
    arbitrary: anyString.map((a) => new Fields(a) as unknown as Record<string, string>),
  },
);

const batch = fc.record({
  hashes: fc.array(
    fc.record({ key: anyString, fields, ttlSec: fc.nat() }, { requiredKeys: ["key", "fields"] }),
    { maxLength: 3 },
  ),
  streams: fc.array(fc.record({ key: anyString, fields, maxLen: fc.nat() }), { maxLength: 2 }),
}) as fc.Arbitrary<PublishBatch>;

it("is JSON.stringify's text of the batch as a line carries it", () => {
  fc.assert(
    fc.property(batch, (b) => {
      const out = new JsonBytes(1);
      out.ascii("x");
      writeBatch(b, out);
      const expected = {
        h: b.hashes.map((h) => [h.key, h.fields, h.ttlSec ?? null]),
        x: b.streams.map((s) => [s.key, s.fields, s.maxLen]),
      };
      expect(out.toString()).toBe(`x${JSON.stringify(expected)}`);
    }),
    { numRuns: 1500 },
  );
});
