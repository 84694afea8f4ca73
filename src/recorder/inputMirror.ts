// The flight recorder's own copy of one actor's last inputs (its mirror), and each read's delta
// against it as JSON text (the format is docs/recording.md, "Deltas"; src/recorder/delta.ts
// `patch` applies it on replay).
//
// Why a mirror updated in place: the recorder runs on every cycle's path, and at the minute burst
// every symbol's inputs change a little — the closes' window moves by one candle, the market
// state and the position take new values — while most of them stay as they were. Building a
// fresh copy of each read's inputs, then walking the two copies again for the delta, then
// encoding the delta (what this replaced) allocated and walked everything twice. Here one walk
// compares each value with the mirror, writes only what changed into the mirror (the moved window
// shifted in place), and spells the delta of what changed as it goes — as UTF-8 bytes straight
// into a JsonBytes (jsonBytes.ts says why not strings). Nothing of the steps' values is kept: the
// steps may reuse or change them after the read.
//
// The mirror holds the inputs as JSON carries them: members that are undefined or functions left
// out, non-finite numbers as null, typed arrays as arrays, -0 as 0 (JSON spells both "0", so a
// change between them is no change of the recorded inputs). Objects are walked with for…in
// (their own enumerable members, as the phases' plain-data inputs have).
import {
  CLOSE_BRACE,
  CLOSE_BRACKET,
  COLON,
  COMMA,
  JsonBytes,
  OPEN_BRACE,
  OPEN_BRACKET,
} from "./jsonBytes.js";

/** A value JSON spells as it is. */
type Leaf = number | string | boolean | null;

interface ObjectNode {
  readonly kind: "object";
  keys: string[];
  vals: Mirror[];
}

interface ArrayNode {
  readonly kind: "array";
  /**
   * Every element a finite number (the closes' window): held unboxed, outside the collected heap —
   * held as a JS array a mirror's numbers would each be a boxed number to allocate, compare and
   * copy — and it may be shifted ("~"). null: `vals` holds the elements.
   */
  nums: Float64Array | null;
  vals: Mirror[];
}

type Mirror = Leaf | ObjectNode | ArrayNode;

/** How far back a moved window's start is looked for (the window moves a candle or a few). */
const MAX_SHIFT = 16;

/** A member JSON leaves out of an object. */
const leftOut = (v: unknown): boolean => v === undefined || typeof v === "function";

/** `v` as a JSON leaf, or undefined when it is an object or an array (a node). */
function leafOf(v: unknown): Leaf | undefined {
  switch (typeof v) {
    case "number":
      return Number.isFinite(v) ? v : null;
    case "string":
    case "boolean":
      return v;
    case "object":
      return v === null ? null : undefined;
    default:
      return null;
  }
}

const isLeaf = (m: Mirror): m is Leaf => m === null || typeof m !== "object";

const isArrayLike = (v: object): boolean => Array.isArray(v) || ArrayBuffer.isView(v);

function build(v: unknown): Mirror {
  const leaf = leafOf(v);
  if (leaf !== undefined) return leaf;
  return isArrayLike(v as object)
    ? buildArray(v as ArrayLike<unknown>)
    : buildObject(v as Record<string, unknown>);
}

function buildArray(v: ArrayLike<unknown>): ArrayNode {
  const n = v.length ?? 0;
  let i = 0;
  while (i < n && isFiniteNumber(v[i])) i++;
  if (i === n) {
    const nums = new Float64Array(n);
    for (let k = 0; k < n; k++) nums[k] = v[k] as number;
    return { kind: "array", nums, vals: [] };
  }
  const vals: Mirror[] = [];
  for (let k = 0; k < n; k++) vals.push(build(v[k]));
  return { kind: "array", nums: null, vals };
}

const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function buildObject(v: Record<string, unknown>): ObjectNode {
  const node: ObjectNode = { kind: "object", keys: [], vals: [] };
  for (const key in v) {
    const x = v[key];
    if (leftOut(x)) continue;
    node.keys.push(key);
    node.vals.push(build(x));
  }
  return node;
}

function leafInto(m: Leaf, out: JsonBytes): void {
  if (m === null) out.ascii("null");
  else if (typeof m === "number") out.number(m);
  else if (typeof m === "string") out.string(m);
  else out.ascii(m ? "true" : "false");
}

function jsonInto(m: Mirror, out: JsonBytes): void {
  if (m === null || typeof m !== "object") {
    leafInto(m, out);
    return;
  }
  if (m.kind === "array") {
    out.byte(OPEN_BRACKET);
    if (m.nums !== null) {
      const { nums } = m;
      for (let i = 0; i < nums.length; i++) {
        if (i > 0) out.byte(COMMA);
        out.number(nums[i]);
      }
    } else {
      for (let i = 0; i < m.vals.length; i++) {
        if (i > 0) out.byte(COMMA);
        jsonInto(m.vals[i], out);
      }
    }
    out.byte(CLOSE_BRACKET);
    return;
  }
  out.byte(OPEN_BRACE);
  for (let i = 0; i < m.vals.length; i++) {
    if (i > 0) out.byte(COMMA);
    out.string(m.keys[i]);
    out.byte(COLON);
    jsonInto(m.vals[i], out);
  }
  out.byte(CLOSE_BRACE);
}

/** `{"=":…}`: the value replaced by `m`. */
function replacedBy(m: Mirror, out: JsonBytes): void {
  out.ascii('{"=":');
  jsonInto(m, out);
  out.byte(CLOSE_BRACE);
}

/** The mirror as the last delta() left it (the same node updated in place, or a new one). */
let updated: Mirror = null;

/**
 * Writes the delta that turns `m` into `v` and returns true, or writes nothing and returns false
 * when they are equal; `updated` is the mirror of `v` after.
 */
function delta(v: unknown, m: Mirror, out: JsonBytes): boolean {
  const leaf = leafOf(v);
  if (leaf !== undefined) {
    updated = leaf;
    if (leaf === m) return false;
    replacedBy(leaf, out);
    return true;
  }
  if (m !== null && typeof m === "object") {
    const array = isArrayLike(v as object);
    if (array && m.kind === "array") return deltaArray(v as ArrayLike<unknown>, m, out);
    if (!array && m.kind === "object") return deltaObject(v as Record<string, unknown>, m, out);
  }
  updated = build(v);
  replacedBy(updated, out);
  return true;
}

function deltaObject(v: Record<string, unknown>, node: ObjectNode, out: JsonBytes): boolean {
  const { keys, vals } = node;
  // The same members in the same order (almost always): compared and updated in place, in one
  // walk; at the first member out of place the rest are matched by name.
  const start = out.len;
  out.byte(OPEN_BRACE);
  let changed = false;
  let i = 0;
  for (const key in v) {
    const x = v[key];
    if (leftOut(x)) continue;
    if (i >= keys.length || keys[i] !== key) return deltaByName(v, node, i, out, start, changed);
    const leaf = leafOf(x);
    if (leaf !== undefined) {
      // Most members are leaves, and most are unchanged: compared before anything is written.
      if (leaf !== vals[i]) {
        // Only a change is stored: an equal value read now is a new young object, which held by
        // the (old) mirror would survive into the old generation on every cycle for nothing.
        vals[i] = leaf;
        if (changed) out.byte(COMMA);
        out.string(key);
        out.byte(COLON);
        replacedBy(leaf, out);
        changed = true;
      }
    } else {
      // A node: its member name goes first, taken back when nothing in it changed.
      const mark = out.len;
      if (changed) out.byte(COMMA);
      out.string(key);
      out.byte(COLON);
      if (delta(x, vals[i], out)) {
        vals[i] = updated;
        changed = true;
      } else {
        out.len = mark;
        // Unchanged, but maybe reordered inside (deltaByName's new node): kept in the new order.
        vals[i] = updated;
      }
    }
    i++;
  }
  if (i !== keys.length) return deltaByName(v, node, i, out, start, changed);
  updated = node;
  return closeObject(out, start, changed);
}

/** Ends an object delta begun at `start`: closed when a member changed, else taken back. */
function closeObject(out: JsonBytes, start: number, changed: boolean): boolean {
  if (changed) out.byte(CLOSE_BRACE);
  else out.len = start;
  return changed;
}

/**
 * deltaObject's members from the `matched`-th on, matched by name (members added, removed or
 * reordered); the first `matched` were the node's own first ones, in place, their delta written
 * after `start` (`changed`: some of it).
 */
function deltaByName(
  v: Record<string, unknown>,
  node: ObjectNode,
  matched: number,
  out: JsonBytes,
  start: number,
  changed: boolean,
): boolean {
  const { keys, vals } = node;
  const next: ObjectNode = {
    kind: "object",
    keys: keys.slice(0, matched),
    vals: vals.slice(0, matched),
  };
  let seen = 0;
  for (const key in v) {
    const x = v[key];
    if (leftOut(x) || seen++ < matched) continue;
    const at = keys.indexOf(key);
    const mark = out.len;
    if (changed) out.byte(COMMA);
    out.string(key);
    out.byte(COLON);
    let d: boolean;
    if (at < 0) {
      updated = build(x);
      replacedBy(updated, out);
      d = true;
    } else d = delta(x, vals[at], out);
    next.keys.push(key);
    // An unchanged leaf stays the mirror's own (see deltaObject); a node is the one delta() left,
    // reordered inside or not.
    next.vals.push(!d && at >= 0 && isLeaf(updated) ? vals[at] : updated);
    if (d) changed = true;
    else out.len = mark;
  }
  for (let j = matched; j < keys.length; j++) {
    if (next.keys.includes(keys[j])) continue;
    if (changed) out.byte(COMMA);
    out.string(keys[j]);
    out.ascii(':{"-":1}');
    changed = true;
  }
  updated = next;
  return closeObject(out, start, changed);
}

function deltaArray(v: ArrayLike<unknown>, node: ArrayNode, out: JsonBytes): boolean {
  const n = v.length ?? 0;
  const { nums, vals } = node;
  if (nums !== null) {
    if (n === nums.length) {
      let i = 0;
      while (i < n && v[i] === nums[i]) i++;
      if (i === n) {
        updated = node;
        return false;
      }
    }
    if (shiftNumbers(v, node, nums, n, out)) return true;
  } else if (n === vals.length) {
    // The elements' deltas are not kept (a changed array is written whole): only whether any.
    const mark = out.len;
    let changed = false;
    for (let i = 0; i < n; i++) {
      if (!delta(v[i], vals[i], out)) {
        if (!isLeaf(updated)) vals[i] = updated; // reordered inside, as in deltaObject
        continue;
      }
      changed = true;
      vals[i] = updated;
    }
    out.len = mark;
    if (!changed) {
      updated = node;
      return false;
    }
    // Rebuilt rather than patched: its elements may all be numbers now.
  }
  updated = build(v);
  replacedBy(updated, out);
  return true;
}

/**
 * A window of numbers that moved on: `v` as the mirror without its first `s` elements followed
 * by new finite numbers — writes `{"~":[s, count, [added…]]}` and shifts the mirror in place when
 * the length is the same; writes nothing and returns false when `v` is not that.
 */
function shiftNumbers(
  v: ArrayLike<unknown>,
  node: ArrayNode,
  nums: Float64Array,
  n: number,
  out: JsonBytes,
): boolean {
  const m = nums.length;
  for (let s = n === m ? 1 : 0; s <= Math.min(MAX_SHIFT, m - 1); s++) {
    const count = m - s;
    if (count > n) continue;
    let j = 0;
    while (j < count && v[j] === nums[s + j]) j++;
    if (j < count) continue;
    const mark = out.len;
    out.ascii('{"~":[');
    out.number(s);
    out.byte(COMMA);
    out.number(count);
    out.ascii(",[");
    for (let k = count; k < n; k++) {
      const a = v[k];
      if (!isFiniteNumber(a)) {
        out.len = mark;
        return false;
      }
      if (k > count) out.byte(COMMA);
      out.number(a);
    }
    out.ascii("]]}");
    let into = nums;
    if (n === m) nums.copyWithin(0, s);
    else {
      into = new Float64Array(n);
      into.set(nums.subarray(s));
      node.nums = into;
    }
    for (let k = count; k < n; k++) into[k] = v[k] as number;
    updated = node;
    return true;
  }
  return false;
}

/**
 * Whether `v` is what the mirror `m` holds already: exactly when delta() would write nothing and
 * keep the mirror as it is — the same members in the same order, equal leaves, equal elements.
 * Between candles most reads are (the delta is "{}"), and this walk is a fraction of delta()'s
 * code: nothing written, nothing marked and taken back. In the service the recorder's code runs
 * cold between the service's own, so how much of it a read runs is most of what it costs
 * (docs/performance.md, "Flight recorder cost"). It stops at the first difference.
 */
function same(v: unknown, m: Mirror): boolean {
  const leaf = leafOf(v);
  if (leaf !== undefined) return leaf === m;
  if (m === null || typeof m !== "object") return false;
  if (isArrayLike(v as object)) {
    if (m.kind !== "array") return false;
    const a = v as ArrayLike<unknown>;
    const n = a.length ?? 0;
    const { nums, vals } = m;
    if (nums !== null) {
      if (n !== nums.length) return false;
      for (let i = 0; i < n; i++) if (a[i] !== nums[i]) return false;
      return true;
    }
    if (n !== vals.length) return false;
    for (let i = 0; i < n; i++) if (!same(a[i], vals[i])) return false;
    return true;
  }
  if (m.kind !== "object") return false;
  const o = v as Record<string, unknown>;
  const { keys, vals } = m;
  let i = 0;
  for (const key in o) {
    const x = o[key];
    if (leftOut(x)) continue;
    if (i >= keys.length || keys[i] !== key || !same(x, vals[i])) return false;
    i++;
  }
  return i === keys.length;
}

/** `value` as JSON text, as a line carries it (the rules above): no mirror kept. */
export function jsonText(value: unknown): string {
  const out = new JsonBytes();
  jsonInto(build(value), out);
  return out.toString();
}

/** One actor's last inputs, as the recorder saw them, and the delta of each read against them. */
export class InputMirror {
  private root: Mirror | undefined = undefined;

  /**
   * The mirror becomes `value`. Writes the delta from the previous value into `out` as a JSON
   * object ("{}" when nothing changed) and returns true; writes nothing and returns false when there
   * is no previous value to be a delta against (the first read, or inputs that are not an object).
   */
  update(value: unknown, out: JsonBytes): boolean {
    const before = this.root;
    const isObject = typeof value === "object" && value !== null && !isArrayLike(value);
    if (
      before === undefined ||
      !isObject ||
      before === null ||
      typeof before !== "object" ||
      before.kind !== "object"
    ) {
      this.root = build(value);
      return false;
    }
    if (same(value, before)) {
      out.ascii("{}");
      return true;
    }
    const changed = deltaObject(value as Record<string, unknown>, before, out);
    this.root = updated;
    if (!changed) out.ascii("{}");
    return true;
  }

  /** Writes the mirrored inputs (a line's full inputs) into `out`. */
  jsonInto(out: JsonBytes): void {
    if (this.root === undefined) out.ascii("null");
    else jsonInto(this.root, out);
  }
}
