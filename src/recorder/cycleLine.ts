// A cycle line (format.ts CycleRecord; docs/recording.md), spelled into a buffer of its own as
// the cycle goes: each step's note adds its members when it happens, and the line is copied once,
// whole, into the segment writer's chunk when the cycle ends (the buffer then serves another
// line: recorder.ts takeLine).
//
// Why: in the steady state every actor writes a line a cycle, and the recorder's code and its
// per-actor data are cold each time (the service's own work runs between two cycles of an actor).
// Kept as a record object (its members added one by one, a new shape for each mix of them), then
// spelled member by member into a line buffer with the inputs' delta and the batch copied in from
// buffers of their own, a line touched four buffers and a record, and copied its inputs and its
// batch twice. Spelled where it is noted, the line is one buffer, written front to back.
//
// The members go in the order the cycle's steps note them: the clock reading and the inputs
// (read), a compute skip or error, the decision, the batch written (publish or heartbeat), a
// write error, a heartbeat that wrote nothing, a stop mid-way, the trigger (cycle done), the
// segment's memory (when the line is written). A line's members are found by name, not by place;
// the text is JSON.stringify's for a record built in that order (test/recorder/cycleLine.test.ts).
// A skipped or failed read's line (`x`, `e`: no inputs) is a record, folded while identical ones
// repeat, and spelled by JSON.stringify (recorder.ts).
import type { PhaseName } from "../core/phases.js";
import { CLOSE_BRACKET, COMMA, type JsonBytes } from "./jsonBytes.js";

/** A cycle line's start, `{"k":"c","p":<phase>,"s":<symbol>,"t":`. */
export function writeCycleHead(out: JsonBytes, phase: PhaseName, symbol: string): void {
  out.ascii('{"k":"c","p":');
  out.string(phase);
  out.ascii(',"s":');
  out.string(symbol);
  out.ascii(',"t":');
}

/** `,"name":[a,b]` for a [reason, detail] pair (`name` given as `,"name":[`). */
export function writePair(out: JsonBytes, name: string, a: string, b: string): void {
  out.ascii(name);
  out.string(a);
  out.byte(COMMA);
  out.string(b);
  out.byte(CLOSE_BRACKET);
}

/** `,"name":"text"` (`name` given as `,"name":`). */
export function writeText(out: JsonBytes, name: string, value: string): void {
  out.ascii(name);
  out.string(value);
}

/** `,"d":[publish,why]`: the decision. */
export function writeDecision(out: JsonBytes, publish: boolean, why: string): void {
  out.ascii(publish ? ',"d":[true,' : ',"d":[false,');
  out.string(why);
  out.byte(CLOSE_BRACKET);
}
