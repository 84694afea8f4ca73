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
// An object's mirror is kept flat, as a tape (below, "The tape"), and the common reads — nothing
// changed, or only leaves and windows — are compared and written on it; the tree (the nodes
// here) is what the tape is decoded to when the shape itself changed.
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
import { compiledCheck, type CompiledCheck } from "./compiledCheck.js";
import { TapeArena, type TapeRange } from "./tapeArena.js";
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
  SHAPE,
  shapeKey,
  STR,
  TRUE,
  UNSURE,
} from "./tapeOps.js";

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
  const s = movedBy(v, nums, 0, m, n);
  if (s < 0) return false;
  const count = m - s;
  if (!writeShift(v, s, count, n, out)) return false;
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

/**
 * How far a window of m numbers, `from[at…at+m)`, moved on to become `v` (n long): the first s
 * such that v begins with from's elements after the first s — at least 1 when the length is the
 * same, at most MAX_SHIFT; −1 when there is none. Shared by the tree (shiftNumbers) and the tape
 * (applyNumbers).
 */
function movedBy(v: ArrayLike<unknown>, from: Float64Array, at: number, m: number, n: number) {
  for (let s = n === m ? 1 : 0; s <= Math.min(MAX_SHIFT, m - 1); s++) {
    const count = m - s;
    if (count > n) continue;
    let j = 0;
    while (j < count && v[j] === from[at + s + j]) j++;
    if (j === count) return s;
  }
  return -1;
}

// ---- The tape: an actor's mirror laid out flat ----
//
// Why: in the service an actor reads once a second or so, and between two of its reads the
// service's own work (hundreds of MB a minute allocated, its code and data) has pushed the
// actor's mirror out of the CPU's caches. Held as a tree — a node object, a keys array and a
// values array per object, a boxed number per numeric leaf — comparing one read walked ~100
// objects spread over the heap, each a cache miss: ~5 µs a read in the service against ~1 µs
// in a loop. On the tape the same mirror is four arrays read front to back: the shape (`ops`),
// the member names in order, every number in one Float64Array, the other leaves.
//
// Most reads change nothing (between candles) or only leaves and windows (at the minute burst):
// check() walks the read and the tape together and tells which, noting each change; emit() then
// writes the delta from those notes and updates the tape in place, with the same text the tree's
// delta() writes. Anything else — members added, removed, reordered or retyped, arrays resized,
// an array of other things changed — goes the tree's way: the tape decoded to a tree, delta() on
// it, the result encoded again. The op kinds and the answers are tapeOps.ts's.
//
// check() is the generic compare, decided by the tape's data at every step; a tape's shape also
// has a compare compiled for it (compiledCheck.ts), tried first: it decides the common reads with
// the same answer and the same notes, and leaves the rest (UNSURE) to check().

/** The tape being read or written, and where in it (module state, as `updated` above). */
let ops: Int32Array = new Int32Array(0);
let names: readonly string[] = [];
let nums: Float64Array = new Float64Array(0);
let strs: string[] = [];
let oi = 0;
let ki = 0;
let ni = 0;
let si = 0;

/** A literal as its tape holds it: TRUE, FALSE or NUL. */
const literalOf = (leaf: boolean | null): number => (leaf === null ? NUL : leaf ? TRUE : FALSE);

// check() notes each change it finds (the op's place and the new value) in the change log below,
// and emit() writes the delta from the log and the tape alone: the read is walked once. (A second
// walk of the read to write the delta, as the mirror did before, looked every member up again
// through a lookup that sees every phase's objects — the mirror's largest cost at the minute
// burst — and boxed each number read from an object a second time.)

/** check()'s change log: `changes` entries, each the op's place and its new value. */
let changes = 0;
/** Each change's op, by its place in `ops`. */
let changeAt = new Int32Array(64);
/** A number's new value, or a literal's (TRUE, FALSE, NUL). */
let changeNum = new Float64Array(64);
/** A string's new value, or the read's window (NUMS); released after the read (releaseLog). */
const changeRef: unknown[] = [];
/** The next change emit() writes. */
let ci = 0;

/** Whether the next change emit() writes is the op at `at`. */
const changedAt = (at: number): boolean => ci < changes && changeAt[ci] === at;

/** The log lets go of the read's strings and windows (the read is not held to the next one). */
function releaseLog(): void {
  for (let k = 0; k < changes; k++) changeRef[k] = null;
}

/** Notes a change of the op at `at`. */
function logChange(at: number, num: number, ref: unknown): void {
  if (changes === changeAt.length) {
    const at2 = new Int32Array(changes * 2);
    at2.set(changeAt);
    changeAt = at2;
    const num2 = new Float64Array(changes * 2);
    num2.set(changeNum);
    changeNum = num2;
  }
  changeAt[changes] = at;
  changeNum[changes] = num;
  changeRef[changes] = ref;
  changes++;
}

/**
 * Whether the read `v` is the tape from (oi, ki, ni, si) on, changed only where emit() can write
 * it; each change is noted in the change log.
 */
function check(v: unknown): number {
  const at = oi++;
  const op = ops[at];
  const kind = op & 15;
  const leaf = leafOf(v);
  if (leaf !== undefined) {
    if (kind === NUM) {
      if (typeof leaf !== "number") return SHAPE;
      if (leaf === nums[ni++]) return SAME;
      logChange(at, leaf, null);
      return LEAVES;
    }
    if (kind === STR) {
      if (typeof leaf !== "string") return SHAPE;
      if (leaf === strs[si++]) return SAME;
      logChange(at, 0, leaf);
      return LEAVES;
    }
    if (kind !== LIT) return SHAPE;
    if (typeof leaf === "number" || typeof leaf === "string") return SHAPE;
    const now = literalOf(leaf);
    if (now === nums[ni++]) return SAME;
    logChange(at, now, null);
    return LEAVES;
  }
  const n = op >> 4;
  if (isArrayLike(v as object)) {
    const a = v as ArrayLike<unknown>;
    if ((a.length ?? 0) !== n) return SHAPE;
    if (kind === NUMS) {
      let answer = SAME;
      for (let i = 0; i < n; i++) {
        const x = a[i];
        if (x === nums[ni + i]) continue;
        // Not isFiniteNumber(x): handed to a function, a number read from a "holey" array (one
        // made at its size, as a series' closes are) is boxed, a heap number per element of every
        // moved window (~1.9 MB a recording burst); tested here it is not.
        if (typeof x !== "number" || x - x !== 0) return SHAPE;
        answer = LEAVES;
      }
      ni += n;
      if (answer === LEAVES) logChange(at, 0, a);
      return answer;
    }
    if (kind !== ARR) return SHAPE;
    // Any change in an array of other things is the tree's (it writes the array whole).
    for (let i = 0; i < n; i++) if (check(a[i]) !== SAME) return SHAPE;
    return SAME;
  }
  if (kind !== OBJ) return SHAPE;
  const o = v as Record<string, unknown>;
  let answer = SAME;
  let i = 0;
  for (const key in o) {
    const x = o[key];
    if (leftOut(x)) continue;
    if (i === n || names[ki] !== key) return SHAPE;
    ki++;
    i++;
    const r = check(x);
    if (r === SHAPE) return SHAPE;
    if (r === LEAVES) answer = LEAVES;
  }
  return i === n ? answer : SHAPE;
}

/** Moves the cursors past the op at oi, a leaf or a window (no member names in it). */
function skipFlat(): void {
  const op = ops[oi++];
  const kind = op & 15;
  if (kind === NUM || kind === LIT) ni++;
  else if (kind === STR) si++;
  else if (kind === NUMS) ni += op >> 4;
}

/**
 * Writes the delta of the changes check() logged, from the tape at the cursors on, and updates
 * the tape in place; true when something changed here. Only after check() answered LEAVES: the
 * read's shape is the tape's. The text is delta()'s for the same change.
 */
function emit(out: JsonBytes): boolean {
  const at = oi++;
  const op = ops[at];
  const kind = op & 15;
  const n = op >> 4;
  switch (kind) {
    case NUM: {
      const k = ni++;
      if (!changedAt(at)) return false;
      const x = changeNum[ci++];
      nums[k] = x;
      replacedBy(x, out);
      return true;
    }
    case STR: {
      const k = si++;
      if (!changedAt(at)) return false;
      const x = changeRef[ci++] as string;
      strs[k] = x;
      replacedBy(x, out);
      return true;
    }
    case NUMS: {
      const changed = changedAt(at);
      if (changed) applyNumbers(changeRef[ci++] as ArrayLike<number>, n, out);
      ni += n;
      return changed;
    }
    case ARR:
      // Unchanged (check()): walked only to move the cursors past it.
      for (let i = 0; i < n; i++) emit(out);
      return false;
    case OBJ: {
      const start = out.len;
      out.byte(OPEN_BRACE);
      let changed = false;
      // Past the last change nothing more is written: the rest of the tape stays as it is.
      for (let i = 0; i < n && ci < changes; i++) {
        const name = names[ki++];
        const next = ops[oi] & 15;
        // A leaf or a window changed or not is known before its name is written.
        if (next !== OBJ && next !== ARR && !changedAt(oi)) {
          skipFlat();
          continue;
        }
        const mark = out.len;
        if (changed) out.byte(COMMA);
        out.string(name);
        out.byte(COLON);
        if (emit(out)) changed = true;
        else out.len = mark;
      }
      return closeObject(out, start, changed);
    }
    default: {
      // A literal (LIT): its value in nums, as a number's.
      const k = ni++;
      if (!changedAt(at)) return false;
      const now = changeNum[ci++];
      nums[k] = now;
      replacedBy(literalValue(now), out);
      return true;
    }
  }
}

/**
 * A window of n finite numbers, at nums[ni…], become `a`'s (same length; check() found it
 * changed): as shiftNumbers() — moved by s and added to, `{"~":[s,count,[added…]]}` — or else
 * replaced whole, `{"=":[…]}`.
 */
function applyNumbers(a: ArrayLike<number>, n: number, out: JsonBytes): void {
  const at = ni;
  const s = movedBy(a, nums, at, n, n);
  if (s > 0) {
    const count = n - s;
    writeShift(a, s, count, n, out); // every one finite: check() saw to it
    nums.copyWithin(at, at + s, at + n);
    for (let k = count; k < n; k++) nums[at + k] = a[k];
    return;
  }
  out.ascii('{"=":[');
  for (let k = 0; k < n; k++) {
    if (k > 0) out.byte(COMMA);
    out.number(a[k]);
    nums[at + k] = a[k];
  }
  out.ascii("]}");
}

/** TRUE, FALSE or NUL as the literal it stands for. */
const literalValue = (x: number): boolean | null =>
  x === TRUE ? true : x === FALSE ? false : null;

/**
 * A tape: its shape (ops and names, shared), and its numbers and strings at its ranges of an
 * arena (tapeArena.ts says why). An InputMirror holds its tape in its own members, not as an
 * object of its own: one object fewer per actor for every full collection to mark
 * (docs/performance.md).
 */
interface Tape extends TapeRange {
  shape: Shape;
  readonly arena: TapeArena;
}

/** A tape's shape: its ops and member names, and the compare compiled for it (null: none). */
interface Shape {
  ops: Int32Array;
  names: readonly string[];
  check: CompiledCheck | null;
}

/**
 * The shapes seen, by their ops and names: each shape's arrays made once and shared by every
 * tape of that shape. The service's 1,200 actors have a handful of shapes, and held by each actor
 * those arrays (~1,200 of each) were live memory that every full collection marks
 * (docs/performance.md). A tape never writes its shape's arrays: a literal's value is in its
 * numbers, not in its op. Beyond MAX_SHARED_SHAPES a shape is not kept: its tape alone has it.
 */
const shapes = new Map<string, Shape>();
const MAX_SHARED_SHAPES = 256;

/** The shape of these ops and names: the one seen before, or made (and kept, while there is room). */
function sharedShape(opList: number[], nameList: string[]): Shape {
  const key = shapeKey(opList, nameList);
  let shape = shapes.get(key);
  if (shape === undefined) {
    const ops = Int32Array.from(opList);
    shape = { ops, names: nameList, check: compiledCheck(ops, nameList) };
    if (shapes.size < MAX_SHARED_SHAPES) shapes.set(key, shape);
  }
  return shape;
}

/** The tree `m` laid out as a tape, into `into`'s members and its ranges of its arena. */
function encode(m: Mirror, into: Tape): void {
  const opList: number[] = [];
  const nameList: string[] = [];
  const numList: number[] = [];
  const strList: string[] = [];
  const walk = (x: Mirror): void => {
    if (x === null || typeof x === "boolean") {
      opList.push(LIT);
      numList.push(literalOf(x));
    } else if (typeof x === "number") {
      opList.push(NUM);
      numList.push(x);
    } else if (typeof x === "string") {
      opList.push(STR);
      strList.push(x);
    } else if (x.kind === "object") {
      opList.push(OBJ | (x.keys.length << 4));
      for (let i = 0; i < x.keys.length; i++) {
        nameList.push(x.keys[i]);
        walk(x.vals[i]);
      }
    } else if (x.nums !== null) {
      opList.push(NUMS | (x.nums.length << 4));
      for (let i = 0; i < x.nums.length; i++) numList.push(x.nums[i]);
    } else {
      opList.push(ARR | (x.vals.length << 4));
      for (const e of x.vals) walk(e);
    }
  };
  walk(m);
  const shape = sharedShape(opList, nameList);
  into.shape = shape;
  const { arena } = into;
  arena.place(into, numList.length, strList.length);
  arena.nums.set(numList, into.numsAt);
  const { strs: arenaStrs } = arena;
  for (let i = 0; i < into.strsRoom; i++)
    // Slots the tape does not use now are emptied: they hold no string of an earlier read alive.
    arenaStrs[into.strsAt + i] = i < strList.length ? strList[i] : "";
}

/** The tape from the cursors on, as a tree (the tree's way, and the full inputs' text). */
function decode(): Mirror {
  const op = ops[oi++];
  const n = op >> 4;
  switch (op & 15) {
    case NUM:
      return nums[ni++];
    case STR:
      return strs[si++];
    case LIT:
      return literalValue(nums[ni++]);
    case NUMS: {
      const window = nums.slice(ni, ni + n);
      ni += n;
      return { kind: "array", nums: window, vals: [] };
    }
    case ARR: {
      const vals: Mirror[] = [];
      for (let i = 0; i < n; i++) vals.push(decode());
      return { kind: "array", nums: null, vals };
    }
    default: {
      const node: ObjectNode = { kind: "object", keys: [], vals: [] };
      for (let i = 0; i < n; i++) {
        node.keys.push(names[ki++]);
        node.vals.push(decode());
      }
      return node;
    }
  }
}

/** Points the cursors at the start of `tape`. */
function load(tape: Tape): void {
  ({ nums, strs } = tape.arena);
  ({ ops, names } = tape.shape);
  oi = ki = 0;
  ni = tape.numsAt;
  si = tape.strsAt;
}

/**
 * `{"~":[s,count,[v[count]…v[n−1]]]}`: a window moved on by s, `count` of its numbers kept, the
 * rest of `v` added (docs/recording.md, "Deltas"). False, with nothing written, when one added is
 * not a finite number (the window is then written whole).
 */
function writeShift(
  v: ArrayLike<unknown>,
  s: number,
  count: number,
  n: number,
  out: JsonBytes,
): boolean {
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
  return true;
}

/** `value` as JSON text, as a line carries it (the rules above): no mirror kept. */
export function jsonText(value: unknown): string {
  const out = new JsonBytes();
  jsonInto(build(value), out);
  return out.toString();
}

/** A shape no tape has: an InputMirror's before its inputs are an object. */
const NO_SHAPE: Shape = { ops: new Int32Array(0), names: [], check: null };

/** One actor's last inputs, as the recorder saw them, and the delta of each read against them. */
export class InputMirror implements Tape {
  /** Inputs that are an object: their tape's shape (NO_SHAPE: not one), numbers and strings. */
  shape: Shape = NO_SHAPE;
  numsAt = 0;
  numsRoom = 0;
  strsAt = 0;
  strsRoom = 0;
  /** Inputs that are not (no delta against them): their tree. */
  private other: Mirror | undefined = undefined;

  /** `arena`: where its tape's numbers and strings are kept (a recorder's, for all its actors). */
  constructor(readonly arena: TapeArena = new TapeArena()) {}

  /**
   * The mirror becomes `value`. Writes the delta from the previous value into `out` as a JSON
   * object ("{}" when nothing changed) and returns true; writes nothing and returns false when there
   * is no previous value to be a delta against (the first read, or inputs that are not an object).
   */
  update(value: unknown, out: JsonBytes): boolean {
    const isObject = typeof value === "object" && value !== null && !isArrayLike(value);
    if (this.shape === NO_SHAPE || !isObject) {
      const tree = build(value);
      if (isObject) {
        encode(tree, this);
        this.other = undefined;
      } else {
        this.shape = NO_SHAPE;
        this.other = tree;
      }
      return false;
    }
    load(this);
    changes = 0;
    let answer = UNSURE;
    const { check: compiled } = this.shape;
    if (compiled !== null) {
      answer = compiled(value, nums, this.numsAt, strs, this.strsAt, logChange);
      if (answer === UNSURE) {
        releaseLog();
        changes = 0;
      }
    }
    if (answer === UNSURE) answer = check(value);
    if (answer === SAME) {
      out.ascii("{}");
      return true;
    }
    load(this);
    if (answer === LEAVES) {
      ci = 0;
      const changed = emit(out);
      releaseLog();
      if (!changed) out.ascii("{}");
      return true;
    }
    releaseLog();
    const before = decode() as ObjectNode;
    const changed = deltaObject(value as Record<string, unknown>, before, out);
    encode(updated, this);
    if (!changed) out.ascii("{}");
    return true;
  }

  /** Writes the mirrored inputs (a line's full inputs) into `out`. */
  jsonInto(out: JsonBytes): void {
    if (this.shape !== NO_SHAPE) {
      load(this);
      jsonInto(decode(), out);
    } else if (this.other === undefined) out.ascii("null");
    else jsonInto(this.other, out);
  }
}
