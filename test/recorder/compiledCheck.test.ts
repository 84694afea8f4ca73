// The mirror's compare compiled for a tape's shape (src/recorder/compiledCheck.ts): it decides
// the common reads as the generic compare does — nothing changed, or leaves and windows changed,
// each change noted at its op in the tape's order — and answers UNSURE to everything else, which
// the generic compare then decides (test/recorder/inputMirror.test.ts runs the mirror both ways).
import { afterEach, describe, expect, it } from "vitest";
import { compiledCheck, setCompiling } from "../../src/recorder/compiledCheck.js";
import {
  ARR,
  FALSE,
  LEAVES,
  LIT,
  NUL,
  NUM,
  NUMS,
  OBJ,
  SAME,
  STR,
  TRUE,
  UNSURE,
} from "../../src/recorder/tapeOps.js";

const op = (kind: number, count = 0): number => kind | (count << 4);

/**
 * The tape of `{a: 1, b: "x", c: [10, 11, 12], d: true, e: {f: 2}}`: ops in order (the object,
 * then each member's value), its names, numbers (a literal's value among them) and strings.
 */
function tape() {
  return {
    ops: Int32Array.from([op(OBJ, 5), op(NUM), op(STR), op(NUMS, 3), op(LIT), op(OBJ, 1), op(NUM)]),
    names: ["a", "b", "c", "d", "e", "f"],
    nums: Float64Array.from([1, 10, 11, 12, TRUE, 2]),
    strs: ["x"],
  };
}

const read = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  a: 1,
  b: "x",
  c: [10, 11, 12],
  d: true,
  e: { f: 2 },
  ...over,
});

/** The compare's answer for `v` and the changes it noted, [op, number, reference]. */
function compare(v: object, t = tape()): { answer: number; notes: unknown[][] } {
  const check = compiledCheck(t.ops, t.names);
  if (check === null) throw new Error("not compiled");
  const notes: unknown[][] = [];
  const answer = check(v, t.nums, 0, t.strs, 0, (at, num, ref) => notes.push([at, num, ref]));
  return { answer, notes };
}

describe("compiledCheck", () => {
  afterEach(() => setCompiling(true));

  it("an equal read is SAME, with nothing noted — members JSON leaves out are passed over", () => {
    expect(compare(read())).toEqual({ answer: SAME, notes: [] });
    const withLeftOut = {
      a: 1,
      z: undefined,
      b: "x",
      g: () => 1,
      c: [10, 11, 12],
      d: true,
      e: { f: 2 },
    };
    expect(compare(withLeftOut)).toEqual({ answer: SAME, notes: [] });
    // -0 is 0, as JSON spells it
    expect(compare(read({ e: { f: 2 }, a: 1 }))).toEqual({ answer: SAME, notes: [] });
    expect(compare(read({ c: [10, -0 + 11, 12] }))).toEqual({ answer: SAME, notes: [] });
  });

  it("leaves and windows changed are LEAVES, each noted at its op in the tape's order", () => {
    const window = [11, 12, 13];
    const { answer, notes } = compare(read({ a: 1.5, b: "y", c: window, d: false, e: { f: 3 } }));
    expect(answer).toBe(LEAVES);
    expect(notes).toEqual([
      [1, 1.5, null],
      [2, 0, "y"],
      [3, 0, window],
      [4, FALSE, null],
      [6, 3, null],
    ]);
    // a literal's value is read from the tape's numbers (emit() writes it there): false is now
    // no change
    const t = tape();
    t.nums[4] = FALSE;
    expect(compare(read({ d: false }), t)).toEqual({ answer: SAME, notes: [] });
    expect(compare(read({ d: null }), t).notes).toEqual([[4, NUL, null]]);
    // a number JSON cannot hold is null: a literal's change, not a number's
    expect(compare(read({ d: Number.NaN }), t).notes).toEqual([[4, NUL, null]]);
  });

  it("reads the tape's values at its ranges of a shared arena (numsAt, strsAt)", () => {
    const t = tape();
    const check = compiledCheck(t.ops, t.names)!;
    const nums = Float64Array.from([9, 9, 9, ...t.nums, 9]);
    const strs = ["y", ...t.strs, "z"];
    const notes: unknown[][] = [];
    const log = (at: number, num: number, ref: unknown) => notes.push([at, num, ref]);
    expect(check(read(), nums, 3, strs, 1, log)).toBe(SAME);
    expect(check(read({ a: 9, b: "y" }), nums, 3, strs, 1, log)).toBe(LEAVES);
    expect(notes).toEqual([
      [1, 9, null],
      [2, 0, "y"],
    ]);
  });

  it("answers UNSURE to whatever the generic compare must decide", () => {
    const unsure = [
      read({ x: 1 }), // a member added
      { a: 1, b: "x", c: [10, 11, 12], d: true }, // one removed
      { b: "x", a: 1, c: [10, 11, 12], d: true, e: { f: 2 } }, // reordered
      { a: 1, b: "x", c: [10, 11, 12], d: true, e: { f: 2, g: 1 } }, // added deeper
      { a: 1, b: "x", c: [10, 11, 12], d: true, g: { f: 2 } }, // renamed
      read({ a: Number.NaN }), // a number JSON cannot hold
      read({ a: "1" }), // retyped
      read({ b: 1 }),
      read({ c: [10, 11] }), // a window resized
      read({ c: [10, Number.POSITIVE_INFINITY, 12] }),
      read({ c: [10, "11", 12] }),
      read({ c: Float64Array.from([10, 11, 12]) }), // not an Array: the generic compare's
      read({ c: { 0: 10, 1: 11, 2: 12 } }),
      read({ d: "true" }),
      read({ d: 1 }),
      read({ e: null }),
      read({ e: [2] }),
    ];
    for (const v of unsure) expect(compare(v).answer, JSON.stringify(v)).toBe(UNSURE);
    // an array is not an object whose members are named 0, 1, …
    const indexed = {
      ops: Int32Array.from([op(OBJ, 1), op(OBJ, 2), op(NUM), op(NUM)]),
      names: ["p", "0", "1"],
      nums: Float64Array.from([5, 6]),
      strs: [],
    };
    expect(compare({ p: { 0: 5, 1: 6 } }, indexed).answer).toBe(SAME);
    expect(compare({ p: [5, 6] }, indexed).answer).toBe(UNSURE);
  });

  it("any change inside an array of other things is UNSURE (the tree writes such an array whole)", () => {
    const t = {
      ops: Int32Array.from([op(OBJ, 1), op(ARR, 2), op(NUM), op(OBJ, 1), op(STR)]),
      names: ["l", "s"],
      nums: Float64Array.from([7]),
      strs: ["q"],
    };
    expect(compare({ l: [7, { s: "q" }] }, t)).toEqual({ answer: SAME, notes: [] });
    expect(compare({ l: [8, { s: "q" }] }, t).answer).toBe(UNSURE);
    expect(compare({ l: [7, { s: "r" }] }, t).answer).toBe(UNSURE);
    expect(compare({ l: [7, { s: "q" }, 1] }, t).answer).toBe(UNSURE);
  });

  it("is made once a shape — a literal's value is not part of it — and not for what it does not serve", () => {
    const t = tape();
    const first = compiledCheck(t.ops, t.names);
    expect(compiledCheck(Int32Array.from(t.ops), t.names)).toBe(first);
    expect(compiledCheck(t.ops, ["a", "b", "c", "d", "e", "g"])).not.toBe(first);
    // a name that is not an identifier is a string literal in the code
    const odd = ['q"uote', "back\\slash", "line\u2028sep"];
    const oddTape = Int32Array.from([op(OBJ, 3), op(NUM), op(NUM), op(NUM)]);
    const check = compiledCheck(oddTape, odd)!;
    const v = { [odd[0]]: 1, [odd[1]]: 2, [odd[2]]: 3 };
    expect(check(v, Float64Array.from([1, 2, 3]), 0, [], 0, () => undefined)).toBe(SAME);
    // not an object at the top, or switched off: the generic compare's
    expect(compiledCheck(Int32Array.from([op(NUM)]), [])).toBeNull();
    setCompiling(false);
    expect(compiledCheck(t.ops, t.names)).toBeNull();
  });
});
