// The recorder's copies of a cycle's inputs (src/recorder/recorder.ts `snapshot`): each read's copy
// shares its unchanged parts with the actor's previous copy (the recorder's cost on the cycle's
// path), never with the steps' values. Here the steps hand back ONE object, changed in place
// between reads — arrays shifted, members changed, added, removed, reordered, non-finite — and
// every recorded line, its delta applied to the one before, must still be exactly what that read
// returned at the time; an unchanged read is an empty delta.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { testRecorder } from "../helpers/flightRecorder.js";
import { readRecording } from "../../src/recorder/reader.js";
import { patch, type Delta, type JsonObject } from "../../src/recorder/delta.js";
import type { CycleRecord } from "../../src/recorder/format.js";
import type { PhaseSteps } from "../../src/phases/steps.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-rec-copies-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Value = Record<string, unknown>;

it("every recorded cycle's inputs are what its read returned then, though the steps reuse and change one object", async () => {
  let nowMs = Date.UTC(2026, 11, 1, 12, 0, 0);
  const recorder = testRecorder(dir, () => nowMs);
  const value: Value = { series: { closes: [1, 2, 3, 4] }, market: { x: 1, y: "a" }, n: 7 };
  const changes: Array<(v: Value) => void> = [
    () => undefined, // the first read: full inputs
    (v) => {
      const closes = (v.series as { closes: number[] }).closes;
      closes.shift();
      closes.push(5.5); // the window moved one candle, in place
      (v.market as Value).x = 2;
    },
    () => undefined, // unchanged: an empty delta
    (v) => {
      delete (v.market as Value).y;
      (v.market as Value).z = Number.NaN; // recorded as null
      v.extra = [{ deep: [1, 2] }];
    },
    (v) => {
      ((v.extra as Value[])[0].deep as number[])[1] = 3; // deep in a shared part
      v.n = undefined; // left out
    },
    (v) => {
      // The same members in another order, and one more.
      const { market, series } = v;
      for (const k of Object.keys(v)) delete v[k];
      Object.assign(v, { market, series, n: 8 });
    },
    (v) => {
      const closes = (v.series as { closes: number[] }).closes;
      closes.shift();
      closes.push(Number.POSITIVE_INFINITY); // moved on, its new close not finite: null
    },
    (v) => {
      const closes = (v.series as { closes: number[] }).closes;
      closes.shift();
      closes.push(6);
      closes[1] = -0; // moved on and one older close corrected
    },
    (v) => {
      const closes = (v.series as { closes: number[] }).closes;
      closes.shift();
      closes.push(7); // moved on again, the copy of a copy
    },
  ];
  const steps: PhaseSteps<null, Value, number> = {
    seed: () => Promise.resolve(null),
    read: () => Promise.resolve({ nowMs, read: { ok: true, value } }),
    compute: () => ({ ok: true, value: 1 }),
    decide: () => ({ publish: true, why: "test" }),
    publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
    heartbeat: () => Promise.resolve(),
  };
  const wrapped = recorder.wrapSteps("marketstate", steps);
  const expected: unknown[] = [];
  for (const change of changes) {
    change(value);
    nowMs += 1000;
    const { read } = await wrapped.read("BTCUSDT");
    if (!read.ok) throw new Error("read failed");
    expected.push(JSON.parse(JSON.stringify(read.value)) as unknown);
    const result = wrapped.compute("BTCUSDT", read.value);
    if (!result.ok) throw new Error("compute failed");
    wrapped.decide(null, read.value, result.value, nowMs);
    await wrapped.publish("BTCUSDT", read.value, result.value, nowMs);
  }
  // Changed after the last read: in no line.
  (value.series as { closes: number[] }).closes.push(99);
  await recorder.close();
  expect(recorder.stats()).toMatchObject({ linesDropped: 0, faults: 0 });

  const cycles: CycleRecord[] = [];
  for await (const { record } of readRecording(dir)) if (record.k === "c") cycles.push(record);
  expect(cycles).toHaveLength(changes.length);
  let inputs: JsonObject | null = null;
  const replayed = cycles.map((c) => {
    inputs = c.f !== undefined ? c.f : patch(inputs!, c.i as Delta);
    return inputs;
  });
  expect(replayed).toEqual(expected);
  expect(cycles[0].f).toBeDefined();
  expect(cycles[1].i).toMatchObject({ series: { closes: { "~": [1, 3, [5.5]] } } });
  expect(cycles[2].i).toEqual({});
  expect(replayed[3]).toMatchObject({ market: { x: 2, z: null } });
});
