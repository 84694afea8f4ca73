// The output declarations (src/contracts/): each output hash's fields read back what their
// spelling wrote, the key guard allows exactly the declared keys and streams, and the phase
// registry carries the same declarations the phases publish with.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  codeList,
  integer,
  isoUtc,
  optionalDecimal,
  probabilitiesJson,
  type FieldCodec,
} from "../../src/contracts/codecs.js";
import {
  fieldNames,
  heartbeatFields,
  outputKey,
  parseFields,
  spell,
  stamped,
  type AnyOutputDeclaration,
} from "../../src/contracts/output.js";
import { OUTPUTS } from "../../src/contracts/outputs.js";
import { MARKETSTATE_BOOKKEEPING } from "../../src/contracts/marketstateOutput.js";
import {
  CANDLE_PHASE,
  PHASE_NAMES,
  PHASE_REGISTRY,
  phaseOfOutputKey,
} from "../../src/core/phases.js";
import { PHASES } from "../../src/phases/registry.js";
import {
  CALC_PREFIX,
  isWritable,
  OUTPUT_HASH_PREFIXES,
  OUTPUT_STREAMS,
} from "../../src/store/keyGuard.js";

/** A finite double (no -0: the contract writes it as 0, on purpose). */
const finite = (max: number) =>
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -max, max }).map((v) => (v === 0 ? 0 : v));

/** Values a codec can be asked to write (fixed decimals: magnitudes a market state has). */
function arbitraryFor(codec: FieldCodec<unknown>): fc.Arbitrary<unknown> {
  if (codec === integer) return fc.integer({ min: 0, max: 2 ** 40 });
  if (codec === isoUtc) return fc.integer({ min: 0, max: 4_102_444_800_000 });
  if (codec === codeList) return fc.array(fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/));
  if (codec === optionalDecimal) return fc.option(finite(1e12), { nil: null });
  if (codec === probabilitiesJson)
    return fc.record({ trend: finite(1), mr: finite(1), chop: finite(1) });
  if (codec.text) {
    // Text written as it is; a field that must not be empty reads "" as missing.
    const empty = codec.parse("");
    return fc.string({ minLength: empty.ok ? 0 : 1, maxLength: 40 });
  }
  return codec.decimals === undefined ? finite(1e300) : finite(1e6);
}

function arbitraryHash(
  output: Pick<AnyOutputDeclaration, "fields">,
): fc.Arbitrary<Record<string, unknown>> {
  const fields = output.fields as Record<string, FieldCodec<unknown>>;
  return fc.record(
    Object.fromEntries(Object.entries(fields).map(([name, codec]) => [name, arbitraryFor(codec)])),
  );
}

/**
 * How far a fixed-decimals spelling may move a number: half its last digit, and the float noise of
 * numbers of that size — the number read back is a double too, and the difference of two doubles
 * near 186463.06 is exact only to ~3e-11 (−186463.058426885 spelled −186463.05842688 is 4.99e-9
 * away, computed as 5.006e-9).
 */
const within = (decimals: number, magnitude: number) =>
  0.5 * 10 ** -decimals * (1 + 1e-9) + 4 * Math.abs(magnitude) * Number.EPSILON;

describe.each(OUTPUTS.map((output) => [output.title, output] as const))("%s", (_title, output) => {
  const codecs = output.fields as Record<string, FieldCodec<unknown>>;

  it("a spelled hash parses back to the same values (fixed decimals: rounded, and spelled the same again)", () => {
    fc.assert(
      fc.property(arbitraryHash(output), (values) => {
        const hash = spell(output, values);
        expect(Object.keys(hash)).toEqual(fieldNames(output));
        const read = parseFields(output, hash, fieldNames(output));
        if (!read.ok) throw new Error(JSON.stringify(read.problems));
        const parsed = read.values as Record<string, unknown>;
        for (const [name, codec] of Object.entries(codecs)) {
          if (codec.decimals !== undefined) {
            expect(
              Math.abs((parsed[name] as number) - (values[name] as number)),
            ).toBeLessThanOrEqual(within(codec.decimals, values[name] as number));
          } else if (codec === probabilitiesJson) {
            const a = parsed[name] as Record<string, number>;
            const b = values[name] as Record<string, number>;
            for (const k of ["trend", "mr", "chop"])
              expect(Math.abs(a[k] - b[k])).toBeLessThanOrEqual(within(6, b[k]));
          } else expect(parsed[name]).toEqual(values[name]);
        }
        // What was read back is written exactly as before: the spelling is a fixed point.
        expect(spell(output, parsed)).toEqual(hash);
      }),
      { numRuns: 300 },
    );
  });

  it("a publish's hash is the computed fields plus the stamps, in the contract's order; a heartbeat writes only its stamps", () => {
    fc.assert(
      fc.property(arbitraryHash(output), fc.integer({ min: 0, max: 4e12 }), (values, nowMs) => {
        const stamps = output.stampsAt(nowMs) as Record<string, unknown>;
        const computed = spell(
          output,
          Object.fromEntries(Object.entries(values).filter(([name]) => !(name in stamps))),
        );
        const written = stamped(output, computed, nowMs);
        expect(written).toEqual(spell(output, { ...values, ...stamps }));
        expect(Object.keys(written)).toEqual(fieldNames(output));
        // The stamps read back as the publish's clock (whole seconds, or ms).
        const read = parseFields(output, written, [output.publishedStamp, output.updatedStamp]);
        if (!read.ok) throw new Error(JSON.stringify(read.problems));
        const stampValues = read.values as Record<string, number>;
        expect(stampValues[output.publishedStamp]).toBe(stamps[output.publishedStamp]);
        expect(stampValues[output.updatedStamp]).toBe(Math.floor(nowMs / 1000));
        const heartbeat = heartbeatFields(output, nowMs);
        if (output.heartbeat.length === 0) expect(heartbeat).toBeNull();
        else
          expect(heartbeat).toEqual(
            Object.fromEntries(output.heartbeat.map((name: string) => [name, written[name]])),
          );
      }),
      { numRuns: 100 },
    );
  });

  it("the stream entry carries the symbol and the hash's own spellings", () => {
    fc.assert(
      fc.property(arbitraryHash(output), (values) => {
        const fields = spell(output, values);
        const entry = output.stream.entry("BTCUSDT", fields, values);
        expect(entry.symbol).toBe("BTCUSDT");
        for (const [name, text] of Object.entries(entry)) {
          if (name in fields) expect(text).toBe(fields[name]);
        }
      }),
      { numRuns: 50 },
    );
  });

  it("its declared names are fields of its own", () => {
    const names = fieldNames(output);
    for (const name of [
      output.publishedStamp,
      output.updatedStamp,
      ...output.heartbeat,
      ...output.oursOnly,
      ...Object.keys(output.stampsAt(0)),
    ])
      expect(names).toContain(name);
  });
});

describe("the marketstate bookkeeping hash (ours)", () => {
  it("reads back exactly what it wrote", () => {
    fc.assert(
      fc.property(arbitraryHash(MARKETSTATE_BOOKKEEPING), (values) => {
        const hash = spell(MARKETSTATE_BOOKKEEPING, values);
        const read = parseFields(
          MARKETSTATE_BOOKKEEPING,
          hash,
          fieldNames(MARKETSTATE_BOOKKEEPING),
        );
        expect(read).toEqual({ ok: true, values });
      }),
      { numRuns: 200 },
    );
  });
});

describe("the key guard allows the declared outputs and nothing else", () => {
  it("every output hash prefix and stream it allows comes from a declaration, and every declaration's is allowed", () => {
    expect(OUTPUT_HASH_PREFIXES).toEqual(OUTPUTS.map((o) => o.keyPrefix));
    expect(OUTPUT_STREAMS).toEqual(OUTPUTS.map((o) => o.stream.key));
    for (const output of OUTPUTS) {
      expect(isWritable(outputKey(output, "BTCUSDT"), "hash")).toBe(true);
      expect(isWritable(output.stream.key, "stream")).toBe(true);
      expect(isWritable(output.keyPrefix, "hash")).toBe(false);
    }
  });

  it("a random key is writable as a hash exactly when a declaration (or our bookkeeping) names its prefix", () => {
    const prefixes = [...OUTPUTS.map((o) => o.keyPrefix), CALC_PREFIX];
    const key = fc.oneof(
      fc.string(),
      fc
        .tuple(
          fc.constantFrom(...prefixes, "quantum:", "quantum:risk:", "quantum:state:"),
          fc.string(),
        )
        .map(([prefix, rest]) => prefix + rest),
    );
    fc.assert(
      fc.property(key, (k) => {
        const declared = prefixes.some((p) => k.startsWith(p) && k.length > p.length);
        expect(isWritable(k, "hash")).toBe(declared);
        const streamDeclared = OUTPUTS.some((o) => o.stream.key === k);
        const calc = k.startsWith(CALC_PREFIX) && k.length > CALC_PREFIX.length;
        expect(isWritable(k, "stream")).toBe(streamDeclared || calc);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("the phase registry carries the declarations", () => {
  it("each phase's output is a declared one, the one its module publishes with, in the phases' order", () => {
    expect(PHASE_NAMES.map((phase) => PHASE_REGISTRY[phase].output)).toEqual(OUTPUTS);
    for (const phase of PHASE_NAMES) {
      expect(PHASES[phase].name).toBe(phase);
      expect(PHASES[phase].output).toBe(PHASE_REGISTRY[phase].output);
      expect(phaseOfOutputKey(outputKey(PHASES[phase].output, "ETHUSDT"))).toEqual({
        phase,
        symbol: "ETHUSDT",
      });
    }
    expect(phaseOfOutputKey("quantum:calc:marketstate:ETHUSDT")).toBeNull();
  });

  it("a closed candle runs the chain's head: the first phase, the one that chains only on a publish", () => {
    expect(CANDLE_PHASE).toBe(PHASE_NAMES[0]);
    expect(PHASE_NAMES.filter((phase) => PHASE_REGISTRY[phase].chainsOnlyWhenPublished)).toEqual([
      CANDLE_PHASE,
    ]);
  });
});
