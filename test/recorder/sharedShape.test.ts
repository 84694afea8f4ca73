// The tapes of one shape share its ops and member names (src/recorder/inputMirror.ts
// sharedShape): a literal that changes in one tape (its value kept in that tape's numbers, not in
// the shared ops) leaves every other tape of the shape reading on as it was.
// A file of its own: the shapes are module state, and the property tests elsewhere fill the
// shared ones up to their bound (a tape beyond it keeps its own arrays, which would hide a fault).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setCompiling } from "../../src/recorder/compiledCheck.js";
import { InputMirror } from "../../src/recorder/inputMirror.js";
import { JsonBytes } from "../../src/recorder/jsonBytes.js";

function deltaOf(mirror: InputMirror, value: unknown): string | null {
  const out = new JsonBytes(8);
  return mirror.update(value, out) ? out.toString() : null;
}

function fullOf(mirror: InputMirror): unknown {
  const out = new JsonBytes(8);
  mirror.jsonInto(out);
  return JSON.parse(out.toString());
}

describe.each([
  ["compiled", true, "c"],
  ["generic", false, "g"],
])("mirrors of one shape, their compare %s", (_, compiled, tag) => {
  beforeAll(() => setCompiling(compiled));
  afterAll(() => setCompiling(true));

  it("a literal changed in one mirror leaves the others as they were", () => {
    // Each mode's own member name: its own shape, first seen here.
    const read = (flag: boolean) => ({ [tag]: { flag, none: null, n: 1 }, also: true });
    const first = new InputMirror();
    const second = new InputMirror();
    expect(deltaOf(first, read(true))).toBeNull();
    expect(deltaOf(second, read(true))).toBeNull();
    expect(deltaOf(first, read(false))).toBe(`{"${tag}":{"flag":{"=":false}}}`);
    expect(deltaOf(second, read(true))).toBe("{}");
    // A mirror made after the change takes the shape as it was first seen.
    const third = new InputMirror();
    expect(deltaOf(third, read(true))).toBeNull();
    expect(deltaOf(third, read(true))).toBe("{}");
    expect(deltaOf(second, read(false))).toBe(`{"${tag}":{"flag":{"=":false}}}`);
    expect(deltaOf(first, read(false))).toBe("{}");
    expect(deltaOf(first, read(true))).toBe(`{"${tag}":{"flag":{"=":true}}}`);
    expect(fullOf(first)).toEqual(read(true));
    expect(fullOf(second)).toEqual(read(false));
    expect(fullOf(third)).toEqual(read(true));
  });
});
