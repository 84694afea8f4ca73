// The store the phase steps publish through, as the recorder hands it over (src/recorder/recorder.ts
// `wrapStore`): a plain object made once rather than a Proxy asked on every call (the recorder's
// cost on the cycle's path, docs/performance.md). It must still behave as the store itself: every
// method called on the store (its `this`), the store's method of the moment (a store may swap one
// after the wrap), other members read through, and each publish noted on its actor's cycle.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { testRecorder } from "../helpers/flightRecorder.js";
import { readRecording } from "../../src/recorder/reader.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import type { PhaseSteps } from "../../src/phases/steps.js";
import type { Store } from "../../src/store/types.js";
import type { CycleRecord } from "../../src/recorder/format.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-rec-store-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("the wrapped store forwards to the store's current methods and members, and notes each publish", async () => {
  const nowMs = Date.UTC(2026, 11, 1, 12, 0, 0);
  const recorder = testRecorder(dir, () => nowMs);
  const inner = new MemoryStore({ now: () => nowMs });
  // A variadic method: called through the wrap with exactly the arguments given, no more.
  (inner as unknown as { count: (...a: unknown[]) => number }).count = (...a) => a.length;
  const wrapped = recorder.wrapStore(inner);
  const { count } = wrapped as unknown as { count: (...a: unknown[]) => number };
  expect([count(), count(1), count(1, undefined, 3)]).toEqual([0, 1, 3]);
  expect(wrapped.kind).toBe("memory");

  // Methods run on the store itself (private state, `this`).
  inner.hset("k", { a: "1" });
  expect(await wrapped.hget("k", "a")).toBe("1");
  expect(await wrapped.hgetall("k")).toEqual({ a: "1" });

  // A method swapped on the store after the wrap: the wrapped store calls the new one.
  const calls: string[] = [];
  const original = inner.hget.bind(inner);
  (inner as unknown as { hget: Store["hget"] }).hget = (key, field) => {
    calls.push(`${key}.${field}`);
    return original(key, field);
  };
  expect(await wrapped.hget("k", "a")).toBe("1");
  expect(calls).toEqual(["k.a"]);

  // A publish through the wrapped store lands in the store and in the cycle's line.
  const steps: PhaseSteps<null, { x: number }, number> = {
    seed: () => Promise.resolve(null),
    read: () => Promise.resolve({ nowMs, read: { ok: true, value: { x: 1 } } }),
    compute: () => ({ ok: true, value: 1 }),
    decide: () => ({ publish: true, why: "test" }),
    publish: async () => {
      const fields: Record<string, string> = { sigma: "0.1" };
      await wrapped.publish({
        hashes: [{ key: "quantum:marketstate:BTCUSDT", fields }],
        streams: [],
      });
      // The steps' batch reused and changed after the publish: the line holds what was sent.
      fields.sigma = "changed";
      fields.extra = "1";
      return { memory: null, summary: "", figures: {} };
    },
    heartbeat: () => Promise.resolve(),
  };
  const steps2 = recorder.wrapSteps("marketstate", steps);
  const { read } = await steps2.read("BTCUSDT");
  if (!read.ok) throw new Error("read failed");
  const result = steps2.compute("BTCUSDT", read.value);
  if (!result.ok) throw new Error("compute failed");
  steps2.decide(null, read.value, result.value, nowMs);
  await steps2.publish("BTCUSDT", read.value, result.value, nowMs);
  await recorder.close();

  expect(await inner.hgetall("quantum:marketstate:BTCUSDT")).toEqual({ sigma: "0.1" });
  const lines: CycleRecord[] = [];
  for await (const { record } of readRecording(dir)) if (record.k === "c") lines.push(record);
  expect(lines).toHaveLength(1);
  expect(lines[0].w?.h).toEqual([["quantum:marketstate:BTCUSDT", { sigma: "0.1" }, null]]);
  expect(lines[0].d).toEqual([true, "test"]);
  expect(recorder.stats().faults).toBe(0);
});

it("a batch is noted on the actor whose hash it writes first, not on the cycle whose step published it", async () => {
  // The recorder takes the publishing step's cycle for the batch's without a lookup only when
  // the batch's first hash is that actor's own (src/recorder/recorder.ts notePublish).
  const nowMs = Date.UTC(2026, 11, 1, 12, 0, 0);
  const recorder = testRecorder(dir, () => nowMs);
  const wrapped = recorder.wrapStore(new MemoryStore({ now: () => nowMs }));
  const stepsWriting = (key: string): PhaseSteps<null, { x: number }, number> => ({
    seed: () => Promise.resolve(null),
    read: () => Promise.resolve({ nowMs, read: { ok: true, value: { x: 1 } } }),
    compute: () => ({ ok: true, value: 1 }),
    decide: () => ({ publish: true, why: "test" }),
    publish: async () => {
      await wrapped.publish({ hashes: [{ key, fields: { a: "1" } }], streams: [] });
      return { memory: null, summary: "", figures: {} };
    },
    heartbeat: () => Promise.resolve(),
  });
  // ETHUSDT's publish writes a key of no actor (its bookkeeping); BTCUSDT's writes ETHUSDT's own hash.
  const eth = recorder.wrapSteps("marketstate", stepsWriting("quantum:calc:ETHUSDT"));
  const btc = recorder.wrapSteps("marketstate", stepsWriting("quantum:marketstate:ETHUSDT"));
  const a = await eth.read("ETHUSDT");
  const b = await btc.read("BTCUSDT");
  if (!a.read.ok || !b.read.ok) throw new Error("read failed");
  eth.compute("ETHUSDT", a.read.value);
  eth.decide(null, a.read.value, 1, nowMs);
  await eth.publish("ETHUSDT", a.read.value, 1, nowMs);
  btc.compute("BTCUSDT", b.read.value);
  btc.decide(null, b.read.value, 1, nowMs);
  await btc.publish("BTCUSDT", b.read.value, 1, nowMs);
  await recorder.close();
  const lines: CycleRecord[] = [];
  for await (const { record } of readRecording(dir)) if (record.k === "c") lines.push(record);
  expect(lines.map((l) => [l.s, l.w?.h[0]?.[0]])).toEqual([
    ["ETHUSDT", undefined],
    ["BTCUSDT", undefined],
  ]);
  expect(recorder.stats().faults).toBe(0);
});
