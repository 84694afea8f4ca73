// Inputs as deltas against what the same actor's previous recorded read saw (docs/recording.md,
// "Deltas"). A cycle's inputs are plain JSON data (numbers, strings, booleans, null, arrays,
// objects): the candle series, the market state and the tracked position as read. Most of it is
// unchanged from one cycle to the next — the same 300 closes shifted by one candle, the same
// position with a new price — so the recorder writes only what changed, and the replay rebuilds
// the full inputs by applying the delta to its own copy of the previous ones.
//
// A delta is an object: for every key whose value changed, `{"=": value}` (set) or, when both
// sides are objects, the nested delta; `{"-": 1}` for a key that is gone; and for an array of
// numbers that shifted (the closes), `{"~": [from, count, [added…]]}`: the new array is
// previous.slice(from, from + count) followed by `added`. Keys that did not change are absent.
// The encoding is exact: numbers go through JSON, which spells every double so it round-trips.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** One key's change. */
export type DeltaOp = { "=": Json } | { "-": 1 } | { "~": [number, number, number[]] } | Delta;
export type Delta = { [key: string]: DeltaOp };

const isObject = (v: unknown): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** How far back a shifted array's start is looked for (the window moves a candle or a few). */
const MAX_SHIFT = 16;

function sameJson(a: Json, b: Json): boolean {
  if (typeof a === "number") return typeof b === "number" && Object.is(a, b);
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    for (const k of ka) if (!(k in b) || !sameJson(a[k], b[k])) return false;
    return true;
  }
  return false;
}

function isNumberArray(v: unknown): v is number[] {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== "number") return false;
  return true;
}

/**
 * next as previous.slice(from, from + count) + added, for the shift that keeps the most of the
 * previous array (tried up to MAX_SHIFT elements in); null when nothing is kept.
 */
function arrayShift(prev: number[], next: number[]): [number, number, number[]] | null {
  let best: [number, number] | null = null;
  for (let from = 0; from <= Math.min(MAX_SHIFT, prev.length - 1); from++) {
    let count = 0;
    const most = Math.min(prev.length - from, next.length);
    while (count < most && Object.is(prev[from + count], next[count])) count++;
    if (count > 0 && (best === null || count > best[1])) best = [from, count];
    if (count === most && count === prev.length - from) break; // everything after `from` kept
  }
  if (best === null) return null;
  return [best[0], best[1], next.slice(best[1])];
}

/** The delta that turns `prev` into `next` (both JSON objects); {} when they are equal. */
export function diff(prev: JsonObject, next: JsonObject): Delta {
  const out: Delta = {};
  for (const key of Object.keys(next)) {
    const a = prev[key];
    const b = next[key];
    if (!(key in prev)) {
      out[key] = { "=": b };
      continue;
    }
    if (sameJson(a, b)) continue;
    if (isObject(a) && isObject(b)) {
      out[key] = diff(a, b);
      continue;
    }
    if (isNumberArray(a) && isNumberArray(b) && a.length > 0) {
      const shift = arrayShift(a, b);
      if (shift !== null && shift[2].length < b.length) {
        out[key] = { "~": shift };
        continue;
      }
    }
    out[key] = { "=": b };
  }
  for (const key of Object.keys(prev)) if (!(key in next)) out[key] = { "-": 1 };
  return out;
}

/** An error naming what in a delta did not fit the object it was applied to. */
export class DeltaError extends Error {}

/** `prev` with `delta` applied: a new object; unchanged parts are shared with `prev`. */
export function patch(prev: JsonObject, delta: Delta, path = ""): JsonObject {
  const out: JsonObject = { ...prev };
  for (const [key, op] of Object.entries(delta)) {
    if ("=" in op && Object.keys(op).length === 1) out[key] = (op as { "=": Json })["="];
    else if ("-" in op && Object.keys(op).length === 1) delete out[key];
    else if ("~" in op && Object.keys(op).length === 1) {
      const [from, count, added] = (op as { "~": [number, number, number[]] })["~"];
      const base = prev[key];
      if (!isNumberArray(base) || from + count > base.length)
        throw new DeltaError(`delta ${path}${key}: no array of ${from + count} numbers to shift`);
      out[key] = [...base.slice(from, from + count), ...added];
    } else {
      const base = prev[key];
      if (!isObject(base)) throw new DeltaError(`delta ${path}${key}: no object to patch`);
      out[key] = patch(base, op as Delta, `${path}${key}.`);
    }
  }
  return out;
}

/** Whether a delta changes nothing. */
export const isEmptyDelta = (delta: Delta): boolean => Object.keys(delta).length === 0;

export type { Json, JsonObject };
