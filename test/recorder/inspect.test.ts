// replayRecording's `inspect` option (XState's inspection API, createActor's `inspect`): every
// publisher the replay starts reports its transitions to the observer — what `viz --recording`
// builds its step list from — on its simulated clock, and the replay is unchanged by it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { InspectionEvent } from "xstate";
import { afterAll, beforeAll, expect, it } from "vitest";
import { divergence, replayRecording } from "../../src/recorder/replay.js";
import { recordRun } from "./liveRun.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-rec-insp-"));
  await recordRun(dir, 4);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("inspect: every replayed publisher's transitions reach the observer", async () => {
  const events: InspectionEvent[] = [];
  const result = await replayRecording({ dir, inspect: (ev) => void events.push(ev) });
  expect(result.cycles.map(divergence).filter((d) => d !== null)).toEqual([]);

  // The publishers (phase and symbol in their input), each seen in at least one transition.
  const actors = new Set<string>();
  for (const ev of events) {
    if (ev.type !== "@xstate.snapshot") continue;
    const ctx = (ev.snapshot as { context?: { phase?: string; symbol?: string } }).context;
    if (ctx?.phase !== undefined && ctx.symbol !== undefined)
      actors.add(`${ctx.phase} ${ctx.symbol}`);
  }
  const replayed = new Set(result.cycles.map((c) => `${c.phase} ${c.symbol}`));
  expect(replayed.size).toBe(6);
  expect([...actors].sort()).toEqual([...replayed].sort());
  // RUN is the event the replay starts each cycle with.
  expect(events.some((ev) => ev.type === "@xstate.event" && ev.event.type === "RUN")).toBe(true);
});
