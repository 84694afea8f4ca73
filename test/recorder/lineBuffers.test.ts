// A cycle's line is spelled in a buffer taken when its read is noted and given back when the line
// is written (src/recorder/recorder.ts takeLine): the actors' lines share a few buffers, not one
// each, lines under way at once are each in their own, and the spares kept after a crowd of them
// are bounded. A buffer grown to hold a line with its inputs in full (a segment's first for the
// actor: a window of closes is several KB) is let go once that line is written: kept by 1,200
// actors for a line every 6 h such buffers were ~6 MB of live memory between their cycles
// (docs/performance.md). The lines after it are unchanged.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { testRecorder } from "../helpers/flightRecorder.js";
import { readRecording } from "../../src/recorder/reader.js";
import type { CycleRecord } from "../../src/recorder/format.js";
import type { PhaseSteps } from "../../src/phases/steps.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-rec-linebuffers-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Inputs {
  closes: number[];
  last: number;
}

it("a line with the inputs in full does not leave a buffer grown", async () => {
  let nowMs = 1_796_592_825_000.5;
  const recorder = testRecorder(dir, () => nowMs);
  let window = Array.from({ length: 1000 }, (_, i) => 100 + i / 7);
  const steps: PhaseSteps<null, Inputs, number> = {
    seed: () => Promise.resolve(null),
    read: () =>
      Promise.resolve({
        nowMs,
        read: { ok: true, value: { closes: [...window], last: window[999] } },
      }),
    compute: (_symbol, inputs) => ({ ok: true, value: inputs.last }),
    decide: () => ({ publish: false, why: "rate_limited" }),
    publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
    heartbeat: () => Promise.resolve(),
  };
  const wrapped = recorder.wrapSteps("marketstate", steps);
  const cycle = async (): Promise<void> => {
    const { read } = await wrapped.read("BTCUSDT");
    if (!read.ok) throw new Error("read failed");
    wrapped.compute("BTCUSDT", read.value);
    wrapped.decide(null, read.value, read.value.last, nowMs);
    await wrapped.heartbeat("BTCUSDT", nowMs);
  };
  await cycle(); // the first line: the window in full, ~7 KB
  expect(recorder.lineBufferBytes()).toBeLessThanOrEqual(2048);
  for (let k = 1; k <= 3; k++) {
    nowMs += 60_000;
    window = [...window.slice(1), 300 + k / 3];
    await cycle();
    expect(recorder.lineBufferBytes()).toBeLessThanOrEqual(2048);
  }
  await recorder.close();
  const lines: CycleRecord[] = [];
  for await (const { record } of readRecording(dir)) if (record.k === "c") lines.push(record);
  expect(lines).toHaveLength(4);
  expect(lines[0]).toMatchObject({ p: "marketstate", s: "BTCUSDT", hb: 1 });
  expect((lines[0].f as unknown as Inputs).closes).toHaveLength(1000);
  // Each line after it, spelled in the new buffer, is the moved window's delta with the same head.
  for (let k = 1; k <= 3; k++) {
    expect(lines[k]).toMatchObject({
      p: "marketstate",
      s: "BTCUSDT",
      t: 1_796_592_825_000.5 + k * 60_000,
    });
    expect(lines[k].i).toEqual({
      closes: { "~": [1, 999, [300 + k / 3]] },
      last: { "=": 300 + k / 3 },
    });
  }
  expect(recorder.stats().faults).toBe(0);
});

it("many actors' lines share a few buffers; lines under way at once are each in their own", async () => {
  const nowMs = 1_796_592_825_000.5;
  const recorder = testRecorder(dir, () => nowMs);
  const steps: PhaseSteps<null, { n: number; symbol: string }, number> = {
    seed: () => Promise.resolve(null),
    read: (symbol) =>
      Promise.resolve({ nowMs, read: { ok: true, value: { n: symbol.length, symbol } } }),
    compute: (_symbol, inputs) => ({ ok: true, value: inputs.n }),
    decide: (_memory, inputs) => ({ publish: false, why: `held ${inputs.symbol}` }),
    publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
    heartbeat: () => Promise.resolve(),
  };
  const wrapped = recorder.wrapSteps("risk", steps);
  const symbols = Array.from({ length: 40 }, (_, i) => `S${String(i).padStart(4, "0")}USDT`);
  // One after the other: each line written before the next is read.
  for (const symbol of symbols) {
    const { read } = await wrapped.read(symbol);
    if (!read.ok) throw new Error("read failed");
    wrapped.compute(symbol, read.value);
    wrapped.decide(null, read.value, read.value.n, nowMs);
    await wrapped.heartbeat(symbol, nowMs);
  }
  // One buffer served them all (40 actors' buffers would be 40 times that).
  expect(recorder.lineBufferBytes()).toBeGreaterThan(0);
  expect(recorder.lineBufferBytes()).toBeLessThanOrEqual(2048);
  // All at once: every read noted before any decision, then the heartbeats in reverse.
  const reads = await Promise.all(symbols.map((symbol) => wrapped.read(symbol)));
  reads.forEach(({ read }, i) => {
    if (!read.ok) throw new Error("read failed");
    wrapped.compute(symbols[i], read.value);
    wrapped.decide(null, read.value, read.value.n, nowMs);
  });
  await Promise.all([...symbols].reverse().map((symbol) => wrapped.heartbeat(symbol, nowMs)));
  await recorder.close();
  const lines: CycleRecord[] = [];
  for await (const { record } of readRecording(dir)) if (record.k === "c") lines.push(record);
  expect(lines).toHaveLength(80);
  for (const line of lines) expect(line.d).toEqual([false, `held ${line.s}`]);
  expect(lines.slice(40).map((line) => line.s)).toEqual([...symbols].reverse());
  expect(recorder.stats().faults).toBe(0);
});

it("after more lines at once than spares are kept, the spares kept are bounded", async () => {
  const nowMs = 1_796_592_825_000.5;
  const recorder = testRecorder(dir, () => nowMs);
  const steps: PhaseSteps<null, { n: number }, number> = {
    seed: () => Promise.resolve(null),
    read: () => Promise.resolve({ nowMs, read: { ok: true, value: { n: 1 } } }),
    compute: (_symbol, inputs) => ({ ok: true, value: inputs.n }),
    decide: () => ({ publish: false, why: "rate_limited" }),
    publish: () => Promise.resolve({ memory: null, summary: "", figures: {} }),
    heartbeat: () => Promise.resolve(),
  };
  const wrapped = recorder.wrapSteps("harvest", steps);
  const cycles = async (symbols: string[]): Promise<void> => {
    const reads = await Promise.all(symbols.map((symbol) => wrapped.read(symbol)));
    reads.forEach(({ read }, i) => {
      if (!read.ok) throw new Error("read failed");
      wrapped.compute(symbols[i], read.value);
      wrapped.decide(null, read.value, read.value.n, nowMs);
    });
    await Promise.all(symbols.map((symbol) => wrapped.heartbeat(symbol, nowMs)));
  };
  await cycles(["ONEUSDT"]);
  const oneBuffer = recorder.lineBufferBytes();
  // Far more lines under way at once than src/recorder/recorder.ts keeps spare (512).
  await cycles(Array.from({ length: 1500 }, (_, i) => `S${i}USDT`));
  expect(recorder.lineBufferBytes()).toBeGreaterThan(oneBuffer);
  expect(recorder.lineBufferBytes()).toBeLessThanOrEqual(512 * oneBuffer);
  await recorder.close();
  expect(recorder.stats().faults).toBe(0);
});
