// The recorder's drops are a metric: a failing disk shows in quantum_calc_recorder_dropped_total,
// and the cycle's own step went on (its value passed through, nothing thrown).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterEach, beforeEach, expect, it } from "vitest";
import { FlightRecorder } from "../../src/recorder/recorder.js";
import { registerRecorderMetrics } from "../../src/recorder/serviceRecorder.js";
import type { PhaseSteps } from "../../src/phases/steps.js";
import { listSegments, readSegmentLines } from "../../src/recorder/reader.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-met-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("a full disk: the steps' results pass through, the drops are counted on /metrics", async () => {
  const recorder = new FlightRecorder({
    dir,
    retentionMs: 60_000,
    maxBytes: 1e8,
    config: { redisUrl: "redis://user:secret@host:6379", symbols: ["X"] },
    io: {
      write: () =>
        Promise.reject(
          Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" }),
        ),
    },
  });
  const steps: PhaseSteps<null, { v: number }, number> = {
    seed: () => Promise.resolve(null),
    read: () => Promise.resolve({ nowMs: 1000, read: { ok: true, value: { v: 1 } } }),
    compute: (_s, inputs) => ({ ok: true, value: inputs.v * 2 }),
    decide: () => ({ publish: true, why: "first_publish" }),
    publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
    heartbeat: () => Promise.resolve(),
  };
  const wrapped = recorder.wrapSteps("risk", steps);
  for (let i = 0; i < 5; i++) {
    const read = await wrapped.read("X");
    expect(read.read.ok).toBe(true);
    if (!read.read.ok) return;
    const result = wrapped.compute("X", read.read.value);
    expect(result).toEqual({ ok: true, value: 2 });
    if (!result.ok) return;
    expect(wrapped.decide(null, read.read.value, result.value, 1000).publish).toBe(true);
    await wrapped.publish("X", read.read.value, result.value, 1000);
  }
  await recorder.flushed();
  const registry = new Registry();
  registerRecorderMetrics(registry, () => recorder.stats());
  const text = await registry.metrics();
  const dropped = Number(/quantum_calc_recorder_dropped_total (\d+)/.exec(text)?.[1]);
  expect(dropped).toBeGreaterThanOrEqual(5);
  expect(recorder.stats().faults).toBe(0);
  await recorder.close();
});

it("never a secret: the header's configuration leaves out the URL, passwords and Sentinel settings", async () => {
  const recorder = new FlightRecorder({
    dir,
    retentionMs: 60_000,
    maxBytes: 1e8,
    config: {
      redisUrl: "redis://user:s3cret-url@host:6379",
      redisPassword: "s3cret-password",
      redisPasswordFile: "/etc/quantum/redis-password",
      sentinels: ["10.0.0.1:26379"],
      sentinelPassword: "s3cret-sentinel",
      symbols: ["X"],
    },
  });
  await recorder
    .wrapSteps("risk", {
      seed: () => Promise.resolve(null),
      read: () =>
        Promise.resolve({ nowMs: 1, read: { ok: false, reason: "no_position", detail: "-" } }),
      compute: () => ({ ok: false, reason: "bad_input", detail: "-" }),
      decide: () => ({ publish: false, why: "-" }),
      publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
      heartbeat: () => Promise.resolve(),
    })
    .read("X");
  await recorder.close();
  const lines: string[] = [];
  for (const seg of await listSegments(dir))
    lines.push(...(await readSegmentLines(seg.path)).lines);
  const text = lines.join("\n");
  expect(text).toContain('"symbols":["X"]');
  expect(text).not.toMatch(/s3cret|redis-password|26379|redisUrl/);
});

it("a cycle whose publisher was stopped mid-way is marked z, not left looking like an error", async () => {
  const recorder = new FlightRecorder({ dir, retentionMs: 60_000, maxBytes: 1e8, config: {} });
  const steps: PhaseSteps<null, { v: number }, number> = {
    seed: () => Promise.resolve(null),
    read: () => Promise.resolve({ nowMs: 5, read: { ok: true, value: { v: 1 } } }),
    compute: () => ({ ok: true, value: 1 }),
    decide: () => ({ publish: true, why: "first_publish" }),
    publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
    heartbeat: () => Promise.resolve(),
  };
  const wrapped = recorder.wrapSteps("harvest", steps);
  await wrapped.read("X"); // the machine stops here (lease lost)
  const next = await wrapped.read("X"); // the new leader's machine
  if (next.read.ok) wrapped.compute("X", next.read.value);
  await recorder.close();
  const lines: { k: string; z?: number }[] = [];
  for (const seg of await listSegments(dir))
    for (const l of (await readSegmentLines(seg.path)).lines)
      lines.push(JSON.parse(l) as { k: string; z?: number });
  const cyclesSeen = lines.filter((l) => l.k === "c");
  expect(cyclesSeen.map((c) => c.z ?? 0)).toEqual([1, 1]);
});
