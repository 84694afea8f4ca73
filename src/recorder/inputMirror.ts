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
// shifted in place), and spells the delta of what changed as it goes. Nothing of the steps' values
// is kept: the steps may reuse or change them after the read.
//
// The mirror holds the inputs as JSON carries them: members that are undefined or functions left
// out, non-finite numbers as null, typed arrays as arrays, -0 as 0 (JSON spells both "0", so a
// change between them is no change of the recorded inputs). Objects are walked with for…in
// (their own enumerable members, as the phases' plain-data inputs have).

/** A value JSON spells as it is. */
type Leaf = number | string | boolean | null;

interface ObjectNode {
  readonly kind: "object";
  keys: string[];
  /** Each key as JSON (spelled once, when the member first appears). */
  quoted: string[];
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
  const node: ObjectNode = { kind: "object", keys: [], quoted: [], vals: [] };
  for (const key in v) {
    const x = v[key];
    if (leftOut(x)) continue;
    node.keys.push(key);
    node.quoted.push(JSON.stringify(key));
    node.vals.push(build(x));
  }
  return node;
}

function json(m: Mirror): string {
  if (m === null || typeof m !== "object") return JSON.stringify(m);
  if (m.kind === "array") {
    if (m.nums !== null) return `[${m.nums.join(",")}]`;
    let s = "[";
    for (let i = 0; i < m.vals.length; i++) s += (i === 0 ? "" : ",") + json(m.vals[i]);
    return `${s}]`;
  }
  let s = "{";
  for (let i = 0; i < m.vals.length; i++)
    s += `${i === 0 ? "" : ","}${m.quoted[i]}:${json(m.vals[i])}`;
  return `${s}}`;
}

/** The mirror as the last delta() left it (the same node updated in place, or a new one). */
let updated: Mirror = null;

/** The delta that turns `m` into `v` ("" when equal); `updated` is the mirror of `v` after. */
function delta(v: unknown, m: Mirror): string {
  const leaf = leafOf(v);
  if (leaf !== undefined) {
    updated = leaf;
    return leaf === m ? "" : `{"=":${JSON.stringify(leaf)}}`;
  }
  if (m !== null && typeof m === "object") {
    const array = isArrayLike(v as object);
    if (array && m.kind === "array") return deltaArray(v as ArrayLike<unknown>, m);
    if (!array && m.kind === "object") return deltaObject(v as Record<string, unknown>, m);
  }
  updated = build(v);
  return `{"=":${json(updated)}}`;
}

function deltaObject(v: Record<string, unknown>, node: ObjectNode): string {
  const { keys, quoted, vals } = node;
  // The same members in the same order (almost always): compared and updated in place, in one
  // walk; at the first member out of place the rest are matched by name.
  let parts = "";
  let i = 0;
  for (const key in v) {
    const x = v[key];
    if (leftOut(x)) continue;
    if (i >= keys.length || keys[i] !== key) return deltaByName(v, node, i, parts);
    const d = delta(x, vals[i]);
    if (d !== "") {
      // Only a change is stored: an equal value read now is a new young object, which held by
      // the (old) mirror would survive into the old generation on every cycle for nothing.
      vals[i] = updated;
      parts = parts === "" ? `${quoted[i]}:${d}` : `${parts},${quoted[i]}:${d}`;
    }
    i++;
  }
  if (i !== keys.length) return deltaByName(v, node, i, parts);
  updated = node;
  return parts === "" ? "" : `{${parts}}`;
}

/**
 * deltaObject's members from the `matched`-th on, matched by name (members added, removed or
 * reordered); the first `matched` were the node's own first ones, in place, their delta `parts`.
 */
function deltaByName(
  v: Record<string, unknown>,
  node: ObjectNode,
  matched: number,
  parts: string,
): string {
  const { keys, quoted, vals } = node;
  const next: ObjectNode = {
    kind: "object",
    keys: keys.slice(0, matched),
    quoted: quoted.slice(0, matched),
    vals: vals.slice(0, matched),
  };
  let seen = 0;
  for (const key in v) {
    const x = v[key];
    if (leftOut(x) || seen++ < matched) continue;
    const at = keys.indexOf(key);
    let d: string;
    if (at < 0) {
      updated = build(x);
      d = `{"=":${json(updated)}}`;
    } else d = delta(x, vals[at]);
    const q = at < 0 ? JSON.stringify(key) : quoted[at];
    next.keys.push(key);
    next.quoted.push(q);
    next.vals.push(d === "" && at >= 0 ? vals[at] : updated);
    if (d !== "") parts += `${parts === "" ? "" : ","}${q}:${d}`;
  }
  for (let j = matched; j < keys.length; j++)
    if (!next.keys.includes(keys[j])) parts += `${parts === "" ? "" : ","}${quoted[j]}:{"-":1}`;
  updated = next;
  return parts === "" ? "" : `{${parts}}`;
}

function deltaArray(v: ArrayLike<unknown>, node: ArrayNode): string {
  const n = v.length ?? 0;
  const { nums, vals } = node;
  if (nums !== null) {
    if (n === nums.length) {
      let i = 0;
      while (i < n && v[i] === nums[i]) i++;
      if (i === n) {
        updated = node;
        return "";
      }
    }
    const shifted = shiftNumbers(v, node, nums, n);
    if (shifted !== null) return shifted;
  } else if (n === vals.length) {
    let changed = false;
    for (let i = 0; i < n; i++) {
      if (delta(v[i], vals[i]) === "") continue;
      changed = true;
      vals[i] = updated;
    }
    if (!changed) {
      updated = node;
      return "";
    }
    // Rebuilt rather than patched: its elements may all be numbers now.
  }
  updated = build(v);
  return `{"=":${json(updated)}}`;
}

/**
 * A window of numbers that moved on: `v` as the mirror without its first `s` elements followed
 * by new finite numbers — `{"~":[s, count, [added…]]}`, the mirror shifted in place when the
 * length is the same; null when `v` is not that.
 */
function shiftNumbers(
  v: ArrayLike<unknown>,
  node: ArrayNode,
  nums: Float64Array,
  n: number,
): string | null {
  const m = nums.length;
  for (let s = n === m ? 1 : 0; s <= Math.min(MAX_SHIFT, m - 1); s++) {
    const count = m - s;
    if (count > n) continue;
    let j = 0;
    while (j < count && v[j] === nums[s + j]) j++;
    if (j < count) continue;
    let added = "";
    for (let k = count; k < n; k++) {
      const a = v[k];
      if (!isFiniteNumber(a)) return null;
      added += k === count ? String(a) : `,${String(a)}`;
    }
    let into = nums;
    if (n === m) nums.copyWithin(0, s);
    else {
      into = new Float64Array(n);
      into.set(nums.subarray(s));
      node.nums = into;
    }
    for (let k = count; k < n; k++) into[k] = v[k] as number;
    updated = node;
    return `{"~":[${s},${count},[${added}]]}`;
  }
  return null;
}

/** `value` as JSON text, as a line carries it (the rules above): no mirror kept. */
export const jsonText = (value: unknown): string => json(build(value));

/** One actor's last inputs, as the recorder saw them, and the delta of each read against them. */
export class InputMirror {
  private root: Mirror | undefined = undefined;

  /**
   * The mirror becomes `value`; returns the delta from the previous value as a JSON object's text
   * ("{}" when nothing changed), or null when there is no previous value to be a delta against (the
   * first read, or inputs that are not an object).
   */
  update(value: unknown): string | null {
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
      return null;
    }
    const d = deltaObject(value as Record<string, unknown>, before);
    this.root = updated;
    return d === "" ? "{}" : d;
  }

  /** The mirrored inputs as JSON text (a line's full inputs). */
  json(): string {
    return this.root === undefined ? "null" : json(this.root);
  }
}
