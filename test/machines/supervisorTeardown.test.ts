// The teardown after SIGTERM: XState copies the supervisor's whole children map for every child
// it stops, so the stopped publishers are forgotten in batches — about TEARDOWN_BUDGET map entries
// copied per batch, the event loop turning between batches — and the ones still running all go in
// the first batch. Structural counts only (map entries per batch, loop turns), no timings.
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { TEARDOWN_BUDGET, supervisorMachine } from "../../machines/supervisor.js";
import { deferred, flush, scriptedPublisher, scriptedSteps } from "./helpers.js";

const names = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => `S${String(i).padStart(4, "0")}`);

function build(
  symbols: string[],
  options: { stuckRead?: Promise<never>; drainTimeoutMs?: number } = {},
) {
  const stuck = options.stuckRead;
  const machine = supervisorMachine.provide({
    actors: {
      marketstatePublisher: scriptedPublisher(scriptedSteps(stuck ? { read: () => stuck } : {})),
      riskPublisher: scriptedPublisher(scriptedSteps()),
      harvestPublisher: scriptedPublisher(scriptedSteps()),
    },
  });
  // The real clock: the pause between batches is a timer, as in the service.
  const actor = createActor(machine, {
    input: {
      symbols,
      phases: ["marketstate", "risk", "harvest"],
      intervalsMs: { marketstate: 60_000, risk: 60_000, harvest: 60_000 },
      backoff: { baseMs: 1000, capMs: 8000 },
      restartBudget: 5,
      restartWindowMs: 60_000,
      drainTimeoutMs: options.drainTimeoutMs ?? 5000,
    },
  });
  return actor;
}

interface Step {
  value: unknown;
  children: number;
  /** setImmediate turns of the event loop seen before this snapshot. */
  turns: number;
  running: number;
}

/** Every snapshot from SHUTDOWN to the end: children left, loop turns so far, children still running. */
async function shutDownRecording(actor: ReturnType<typeof build>): Promise<Step[]> {
  let turns = 0;
  let counting = true;
  const tick = (): void => {
    turns++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  const steps: Step[] = [];
  const ended = new Promise<void>((resolve) => {
    actor.subscribe({
      next: (snapshot) => {
        const children = Object.values(snapshot.children);
        steps.push({
          value: snapshot.value,
          children: children.length,
          turns,
          running: children.filter((c) => c?.getSnapshot().status === "active").length,
        });
      },
      complete: resolve,
    });
  });
  actor.send({ type: "SHUTDOWN" });
  await ended;
  counting = false;
  return steps;
}

describe("the teardown after the drain", () => {
  it("forgets 1,800 stopped children in batches of about TEARDOWN_BUDGET map entries, the event loop turning between batches", async () => {
    const actor = build(names(600));
    actor.start();
    await flush();
    expect(Object.keys(actor.getSnapshot().children)).toHaveLength(1800);
    const steps = await shutDownRecording(actor);

    const teardown = steps.filter((s) => s.value === "tearingDown" || s.value === "stopped");
    expect(teardown.at(-1)).toMatchObject({ value: "stopped", children: 0 });
    expect(actor.getSnapshot().output).toEqual({
      exitCode: 0,
      reason: "shut down",
      escalation: null,
    });
    // Many batches, not one: at 1,800 children a batch stops about 30,000 / 1,800 of them.
    expect(teardown.length).toBeGreaterThan(1800 / Math.ceil(TEARDOWN_BUDGET / 1800) / 2);
    let before = steps.find((s) => s.value === "draining" || s.value === "handingOver")!.children;
    // The first batch runs as the handover's promise settles; each later one after a timer.
    let previousTurns = teardown[0].turns - 1;
    for (const [i, step] of teardown.entries()) {
      // XState copies the map once per child stopped: the entries copied in this batch.
      let copied = 0;
      for (let size = before; size > step.children; size--) copied += size;
      expect(copied).toBeLessThanOrEqual(TEARDOWN_BUDGET + before);
      // The loop ran (I/O, timers: the close's other steps, the deadline) between two batches.
      if (i >= 2) expect(step.turns).toBeGreaterThan(previousTurns);
      previousTurns = step.turns;
      before = step.children;
    }
  }, 60_000);

  it("a drain past its deadline: every publisher still busy is stopped in the first batch", async () => {
    const never = deferred<never>();
    const actor = build(names(300), { stuckRead: never.promise, drainTimeoutMs: 50 });
    actor.start();
    await flush();
    // Every marketstate publisher starts a cycle whose read never ends.
    for (const symbol of names(300))
      actor.getSnapshot().children[`marketstate:${symbol}`]!.send({ type: "RUN" });
    await flush();
    const steps = await shutDownRecording(actor);
    const draining = steps.find((s) => s.value === "draining")!;
    expect(draining.running).toBeGreaterThanOrEqual(300);
    const firstBatch = steps.find((s) => s.value === "tearingDown" || s.value === "stopped")!;
    expect(firstBatch.running).toBe(0);
    expect(steps.at(-1)).toMatchObject({ value: "stopped", children: 0 });
  }, 60_000);

  it("a few symbols: torn down within the macrostep that ends the drain (no intermediate snapshot)", async () => {
    const actor = build(names(3));
    actor.start();
    await flush();
    const steps = await shutDownRecording(actor);
    expect(steps.map((s) => s.value)).not.toContain("tearingDown");
    expect(steps.at(-1)).toMatchObject({ value: "stopped", children: 0 });
  });
});
