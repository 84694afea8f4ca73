// A cycle line's own members (format.ts CycleRecord; docs/recording.md), spelled by a writer made
// for them rather than by JsonBytes#value's walk of any object.
//
// Why: in the steady state every actor writes a line a cycle, and the generic walk of the record
// (for…in over an object of a new shape each time, a type switch and a prototype check per
// member) was the largest part of the line's cost — ~3 µs a line in the service, where the
// recorder's code runs cold between the service's own, against ~0.5 µs in a loop. Here the start
// of the line, which never changes for an actor (`{"k":"c","p":…,"s":…,"t":`), is spelled once
// when the actor is first seen and copied; the rest are a few typed members, each written by
// what it is.
//
// The members go in the order the cycle's steps add them (read, compute, decide, publish, the
// trigger, the segment's memory) — the order JSON.stringify spelled them in before — and the text
// is JSON.stringify's for a record built in that order (test/recorder/cycleLine.test.ts).
import type { PhaseName } from "../core/phases.js";
import type { CycleRecord } from "./format.js";
import { CLOSE_BRACKET, COMMA, JsonBytes } from "./jsonBytes.js";

/** One actor's line start, `{"k":"c","p":<phase>,"s":<symbol>,"t":`, as bytes. */
export function cycleLineHead(phase: PhaseName, symbol: string): Uint8Array {
  const out = new JsonBytes(64);
  out.ascii('{"k":"c","p":');
  out.string(phase);
  out.ascii(',"s":');
  out.string(symbol);
  out.ascii(',"t":');
  return out.buf.slice(0, out.len);
}

/** `,"name":[a,b]` for a [reason, detail] pair (`name` given as `,"name":[`). */
function pair(out: JsonBytes, name: string, [a, b]: [string, string]): void {
  out.ascii(name);
  out.string(a);
  out.byte(COMMA);
  out.string(b);
  out.byte(CLOSE_BRACKET);
}

/** `,"name":"text"` (`name` given as `,"name":`). */
function text(out: JsonBytes, name: string, value: string): void {
  out.ascii(name);
  out.string(value);
}

/** `,"name":<value as JSON>`, for the members that are JSON of any shape. */
function json(out: JsonBytes, name: string, value: unknown): void {
  out.ascii(name);
  out.value(value);
}

/**
 * Writes `rec` after its actor's head (cycleLineHead): its clock reading and its other members,
 * without the closing brace (the inputs and the batch go after them). Every member of a
 * CycleRecord is written; those the recorder appends as bytes (`f`, `i`, `w`) are not set on the
 * records it writes, and are spelled by JsonBytes#value when they are.
 */
export function writeCycleMembers(rec: CycleRecord, out: JsonBytes): void {
  out.number(rec.t);
  if (rec.f !== undefined) json(out, ',"f":', rec.f);
  if (rec.i !== undefined) json(out, ',"i":', rec.i);
  if (rec.x !== undefined) pair(out, ',"x":[', rec.x);
  if (rec.e !== undefined) text(out, ',"e":', rec.e);
  if (rec.cx !== undefined) pair(out, ',"cx":[', rec.cx);
  if (rec.ce !== undefined) text(out, ',"ce":', rec.ce);
  if (rec.d !== undefined) {
    out.ascii(rec.d[0] ? ',"d":[true,' : ',"d":[false,');
    out.string(rec.d[1]);
    out.byte(CLOSE_BRACKET);
  }
  if (rec.w !== undefined) json(out, ',"w":', rec.w);
  if (rec.we !== undefined) text(out, ',"we":', rec.we);
  if (rec.hb !== undefined) out.ascii(',"hb":1');
  if (rec.z !== undefined) out.ascii(',"z":1');
  if (rec.tr !== undefined) text(out, ',"tr":', rec.tr);
  if (rec.m !== undefined) json(out, ',"m":', rec.m);
  if (rec.n !== undefined) json(out, ',"n":', rec.n);
  if (rec.t2 !== undefined) json(out, ',"t2":', rec.t2);
}

/**
 * The members in the order writeCycleMembers writes them, after k, p, s and t: declared so that a
 * test fails when CycleRecord gains a member the writer does not know.
 */
export const CYCLE_MEMBER_ORDER = [
  "f",
  "i",
  "x",
  "e",
  "cx",
  "ce",
  "d",
  "w",
  "we",
  "hb",
  "z",
  "tr",
  "m",
  "n",
  "t2",
] as const satisfies ReadonlyArray<Exclude<keyof CycleRecord, "k" | "p" | "s" | "t">>;

// A member of CycleRecord missing from the list above fails to type-check here.
type Unlisted = Exclude<
  Exclude<keyof CycleRecord, "k" | "p" | "s" | "t">,
  (typeof CYCLE_MEMBER_ORDER)[number]
>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;
