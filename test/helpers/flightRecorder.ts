// A flight recorder as the recorder's tests make it: into their own directory, a day's retention,
// no size bound they reach, no configuration to record, on the test's clock — with whatever option
// a test sets on top (triggers, a failing disk, …).
import { FlightRecorder, type FlightRecorderOptions } from "../../src/recorder/recorder.js";

export function testRecorder(
  dir: string,
  now: () => number,
  options: Partial<FlightRecorderOptions> = {},
): FlightRecorder {
  return new FlightRecorder({
    dir,
    retentionMs: 86_400_000,
    maxBytes: 1e9,
    config: {},
    now,
    ...options,
  });
}
