// The recorder observes the phase steps' promises instead of wrapping them (src/recorder/recorder.ts
// `observed`): a recorded cycle's read, publish and heartbeat hand back the step's own promise, so
// the cycle waits no extra turn of the microtask queue — at the minute burst every chain's steps
// would otherwise end later, more of them in flight at once —, and the note still comes before
// the machine's next step. A step that throws instead of rejecting is noted and rejected.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { testRecorder } from "../helpers/flightRecorder.js";
import { readRecording } from "../../src/recorder/reader.js";
import type { CycleRecord } from "../../src/recorder/format.js";
import type { PhaseSteps } from "../../src/phases/steps.js";
import type { ReadOutput } from "../../machines/publisher.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-rec-observed-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cycles(): Promise<CycleRecord[]> {
  const out: CycleRecord[] = [];
  for await (const { record } of readRecording(dir)) if (record.k === "c") out.push(record);
  return out;
}

/** A recorder into `dir` whose clock stands at nowMs. */
const recorderAt = (nowMs: number) => testRecorder(dir, () => nowMs);

it("read, publish and heartbeat hand back the step's own promise; the note comes first", async () => {
  const recorder = recorderAt(1000);
  const read: Promise<ReadOutput<{ v: number }>> = Promise.resolve({
    nowMs: 1000,
    read: { ok: true, value: { v: 1 } },
  });
  const published = Promise.resolve({ memory: null, summary: "", figures: {} });
  const beat = Promise.resolve();
  const steps: PhaseSteps<null, { v: number }, number> = {
    seed: () => Promise.resolve(null),
    read: () => read,
    compute: () => ({ ok: true, value: 2 }),
    decide: () => ({ publish: true, why: "first_publish" }),
    publish: () => published,
    heartbeat: () => beat,
  };
  const wrapped = recorder.wrapSteps("risk", steps);
  const readPromise = wrapped.read("X");
  expect(readPromise).toBe(read);
  const { read: r } = await readPromise;
  if (!r.ok) throw new Error("read failed");
  // The read was noted before the caller went on: the compute's skip ends that cycle.
  wrapped.compute("X", r.value);
  wrapped.decide(null, r.value, 2, 1000);
  const publishPromise = wrapped.publish("X", r.value, 2, 1000);
  expect(publishPromise).toBe(published);
  await publishPromise;
  const again = await wrapped.read("X");
  if (!again.read.ok) throw new Error("read failed");
  const beatPromise = wrapped.heartbeat("X", 1000);
  expect(beatPromise).toBe(beat);
  await beatPromise;
  await recorder.close();
  const lines = await cycles();
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatchObject({ p: "risk", s: "X", d: [true, "first_publish"] });
  expect(lines[0].f).toEqual({ v: 1 });
  expect(lines[1]).toMatchObject({ hb: 1, i: {} });
  expect(recorder.stats().faults).toBe(0);
});

it("a step that throws instead of rejecting is noted, and its promise rejects", async () => {
  const recorder = recorderAt(2000);
  const steps: PhaseSteps<null, { v: number }, number> = {
    seed: () => Promise.resolve(null),
    read: () => {
      throw new Error("connection is closed");
    },
    compute: () => ({ ok: true, value: 2 }),
    decide: () => ({ publish: true, why: "first_publish" }),
    publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
    heartbeat: () => Promise.resolve(),
  };
  const wrapped = recorder.wrapSteps("harvest", steps);
  await expect(wrapped.read("Y")).rejects.toThrow("connection is closed");
  await recorder.close();
  expect(await cycles()).toEqual([
    expect.objectContaining({ p: "harvest", s: "Y", t: 2000, e: "connection is closed" }),
  ]);
});

it("each step's note goes to the cycle that read its inputs: decide right after compute, or not", async () => {
  const recorder = recorderAt(3000);
  let n = 0;
  const steps: PhaseSteps<null, { v: number }, number> = {
    seed: () => Promise.resolve(null),
    read: () => Promise.resolve({ nowMs: 3000, read: { ok: true, value: { v: ++n } } }),
    compute: (_symbol, inputs) => ({ ok: true, value: inputs.v }),
    decide: (_memory, inputs) => ({ publish: inputs.v === 1, why: `why_${inputs.v}` }),
    publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
    heartbeat: () => Promise.resolve(),
  };
  const wrapped = recorder.wrapSteps("risk", steps);
  const a = await wrapped.read("A");
  const b = await wrapped.read("B");
  if (!a.read.ok || !b.read.ok) throw new Error("read failed");
  // B's compute runs last; A's decide comes after it, handed A's inputs (not the machine's order).
  wrapped.compute("A", a.read.value);
  wrapped.compute("B", b.read.value);
  wrapped.decide(null, a.read.value, 1, 3000);
  wrapped.decide(null, b.read.value, 2, 3000);
  // Inputs no read of this symbol returned note nothing on its cycle.
  wrapped.decide(null, { v: 9 }, 9, 3000);
  await wrapped.publish("B", a.read.value, 1, 3000);
  await wrapped.publish("A", a.read.value, 1, 3000);
  await wrapped.heartbeat("B", 3000);
  await recorder.close();
  const lines = await cycles();
  expect(lines.map((l) => [l.s, l.d, l.hb])).toEqual([
    ["A", [true, "why_1"], undefined],
    ["B", [false, "why_2"], 1],
  ]);
  expect(recorder.stats().faults).toBe(0);
});

it("a publish that fails, by rejecting or by throwing, ends its cycle with the error", async () => {
  const recorder = recorderAt(4000);
  const failures = [
    () => Promise.reject(new Error("READONLY You can't write against a read only replica.")),
    () => {
      throw new Error("fenced: not the lease holder");
    },
  ];
  let k = 0;
  const steps: PhaseSteps<null, { v: number }, number> = {
    seed: () => Promise.resolve(null),
    read: () => Promise.resolve({ nowMs: 4000, read: { ok: true, value: { v: 1 } } }),
    compute: () => ({ ok: true, value: 1 }),
    decide: () => ({ publish: true, why: "first_publish" }),
    publish: () => failures[k++](),
    heartbeat: () => Promise.resolve(),
  };
  const wrapped = recorder.wrapSteps("harvest", steps);
  for (const symbol of ["P", "Q"]) {
    const { read } = await wrapped.read(symbol);
    if (!read.ok) throw new Error("read failed");
    wrapped.compute(symbol, read.value);
    wrapped.decide(null, read.value, 1, 4000);
    await expect(wrapped.publish(symbol, read.value, 1, 4000)).rejects.toThrow();
  }
  await recorder.close();
  expect((await cycles()).map((l) => [l.s, l.d, l.we])).toEqual([
    ["P", [true, "first_publish"], "READONLY You can't write against a read only replica."],
    ["Q", [true, "first_publish"], "fenced: not the lease holder"],
  ]);
  expect(recorder.stats().faults).toBe(0);
});

it("a stopped cycle's heartbeat that settles after the next cycle began notes nothing on it", async () => {
  const recorder = recorderAt(5000);
  let settle: () => void = () => undefined;
  let n = 0;
  const steps: PhaseSteps<null, { v: number }, number> = {
    seed: () => Promise.resolve(null),
    read: () => Promise.resolve({ nowMs: 5000, read: { ok: true, value: { v: ++n } } }),
    compute: () => ({ ok: true, value: 1 }),
    decide: () => ({ publish: false, why: "rate_limited" }),
    publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
    heartbeat: () => new Promise<void>((resolve) => (settle = resolve)),
  };
  const wrapped = recorder.wrapSteps("marketstate", steps);
  const first = await wrapped.read("M");
  if (!first.read.ok) throw new Error("read failed");
  wrapped.compute("M", first.read.value);
  wrapped.decide(null, first.read.value, 1, 5000);
  const beat = wrapped.heartbeat("M", 5000);
  // The publisher stopped mid-heartbeat (a lost lease) and a new cycle began before it settled.
  await wrapped.read("M");
  settle();
  await beat;
  await recorder.close();
  expect((await cycles()).map((l) => [l.i ?? l.f, l.hb, l.z])).toEqual([
    [{ v: 1 }, undefined, 1],
    [{ v: { "=": 2 } }, undefined, 1],
  ]);
});

it("a note finds its own phase's cycle though another phase's read, of the same symbol and the same inputs object, was noted last", async () => {
  // The recorder finds a step's cycle from the one it noted last when that one fits
  // (src/recorder/recorder.ts cycleOf): fitting means this phase's, not only these inputs'.
  const recorder = recorderAt(6000);
  const shared = { v: 1 };
  const stepsOf = (skip: boolean): PhaseSteps<null, { v: number }, number> => ({
    seed: () => Promise.resolve(null),
    read: () => Promise.resolve({ nowMs: 6000, read: { ok: true, value: shared } }),
    compute: () =>
      skip
        ? { ok: false, reason: "bad_input", detail: "marketstate's own" }
        : { ok: true, value: 1 },
    decide: () => ({ publish: false, why: "rate_limited" }),
    publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
    heartbeat: () => Promise.resolve(),
  });
  const market = recorder.wrapSteps("marketstate", stepsOf(true));
  const risk = recorder.wrapSteps("risk", stepsOf(false));
  await market.read("X");
  await risk.read("X");
  // marketstate's compute, handed the object risk's read (noted last) returned as well.
  market.compute("X", shared);
  risk.compute("X", shared);
  risk.decide(null, shared, 1, 6000);
  await risk.heartbeat("X", 6000);
  await recorder.close();
  expect((await cycles()).map((l) => [l.p, l.cx, l.d, l.hb])).toEqual([
    ["marketstate", ["bad_input", "marketstate's own"], undefined, undefined],
    ["risk", undefined, [false, "rate_limited"], 1],
  ]);
  expect(recorder.stats().faults).toBe(0);
});

it("a trigger goes to its own actor's held cycle though another actor's cycle was held last", async () => {
  const recorder = testRecorder(dir, () => 7000, { triggers: true });
  let n = 0;
  const steps: PhaseSteps<null, { v: number }, number> = {
    seed: () => Promise.resolve(null),
    read: () => Promise.resolve({ nowMs: 7000, read: { ok: true, value: { v: ++n } } }),
    compute: () => ({ ok: true, value: 1 }),
    decide: () => ({ publish: false, why: "rate_limited" }),
    publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
    heartbeat: () => Promise.resolve(),
  };
  const risk = recorder.wrapSteps("risk", steps);
  const harvest = recorder.wrapSteps("harvest", steps);
  for (const [wrapped, symbol] of [
    [risk, "A"],
    [harvest, "A"],
    [risk, "B"],
  ] as const) {
    const { read } = await wrapped.read(symbol);
    if (!read.ok) throw new Error("read failed");
    wrapped.compute(symbol, read.value);
    wrapped.decide(null, read.value, 1, 7000);
    await wrapped.heartbeat(symbol, 7000);
  }
  // Held: risk A, harvest A, risk B (the last). Their triggers come in another order.
  recorder.noteCycle({ phase: "risk", symbol: "A", trigger: "interval" });
  recorder.noteCycle({ phase: "risk", symbol: "B", trigger: "wake" });
  recorder.noteCycle({ phase: "harvest", symbol: "A", trigger: "run" });
  await recorder.close();
  expect((await cycles()).map((l) => [l.p, l.s, l.tr])).toEqual([
    ["risk", "A", "interval"],
    ["risk", "B", "wake"],
    ["harvest", "A", "run"],
  ]);
  expect(recorder.stats().faults).toBe(0);
});
