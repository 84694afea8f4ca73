// The publisher's part of the in-chain hand-off (src/inputs/handoff.ts): a RUN's hand-off reaches
// the read step, the cycle's CYCLE_DONE carries what its read passed on with what its publish
// wrote on top, and an interval cycle or a retry after a backoff reads everything (no hand-off).
import { describe, expect, it } from "vitest";
import { createActor, sendTo, setup, SimulatedClock } from "xstate";
import type { CycleDoneEvent, PublisherEvent } from "../../machines/publisher.js";
import type { ChainHandoff } from "../../src/inputs/handoff.js";
import {
  deferred,
  flush,
  scriptedPublisher,
  scriptedSteps,
  type ScriptedSteps,
} from "./helpers.js";

const hash = (name: string, atMs = 0): { fields: Record<string, string>; atMs: number } => ({
  fields: { name },
  atMs,
});

/** The publisher under a parent that forwards its events to it and keeps its CYCLE_DONEs. */
function start(steps: ScriptedSteps, intervalMs = 10_000) {
  const clock = new SimulatedClock();
  const done: CycleDoneEvent[] = [];
  const parent = setup({
    types: { events: {} as PublisherEvent | CycleDoneEvent },
    actors: { publisher: scriptedPublisher(steps) },
  }).createMachine({
    invoke: {
      id: "p",
      src: "publisher",
      input: {
        phase: "risk",
        symbol: "BTCUSDT",
        intervalMs,
        backoff: { baseMs: 1000, capMs: 1000 },
      },
    },
    on: {
      CYCLE_DONE: { actions: ({ event }) => done.push(event) },
      "*": { actions: sendTo("p", ({ event }) => event as PublisherEvent) },
    },
  });
  const actor = createActor(parent, { clock });
  actor.start();
  return { actor, clock, done };
}

describe("publisher: the in-chain hand-off", () => {
  it("a RUN's hand-off reaches the read; CYCLE_DONE passes on the read's with the publish's on top", async () => {
    const received: (ChainHandoff | null | undefined)[] = [];
    const steps = scriptedSteps({
      read: async (_symbol, handoff) => {
        received.push(handoff);
        return { nowMs: 1, read: { ok: true, value: {} }, handoff: { marketstate: hash("m") } };
      },
      publish: async () => ({
        memory: 1,
        summary: "",
        figures: {},
        handoff: { risk: hash("r") },
      }),
    });
    const { actor, done } = start(steps);
    await flush();
    actor.send({ type: "RUN", handoff: { marketstate: hash("m") } });
    await flush();
    expect(received).toEqual([{ marketstate: hash("m") }]);
    expect(done.at(-1)?.handoff).toEqual({ marketstate: hash("m"), risk: hash("r") });
  });

  it("a skipped or rate-limited cycle passes on only what its read did", async () => {
    let skip = true;
    const steps = scriptedSteps({
      read: async () => ({
        nowMs: 1,
        read: skip ? { ok: false, reason: "no_position", detail: "none" } : { ok: true, value: {} },
        handoff: { marketstate: hash("m") },
      }),
      decide: () => ({ publish: false, why: "rate_limited" }),
      publish: async () => ({ memory: 1, summary: "", figures: {}, handoff: { risk: hash("r") } }),
    });
    const { actor, done } = start(steps);
    await flush();
    actor.send({ type: "RUN" });
    await flush();
    expect(done.at(-1)).toMatchObject({ outcome: "skipped", handoff: { marketstate: hash("m") } });
    skip = false;
    actor.send({ type: "RUN" });
    await flush();
    expect(done.at(-1)?.outcome).toBe("heartbeat");
    expect(done.at(-1)?.handoff).toEqual({ marketstate: hash("m") });
  });

  it("interval cycles read everything; a RUN during a cycle hands on the latest RUN's hand-off", async () => {
    const received: (ChainHandoff | null | undefined)[] = [];
    const gate = deferred<void>();
    let reads = 0;
    const steps = scriptedSteps({
      read: async (_symbol, handoff) => {
        received.push(handoff);
        if (++reads === 1) await gate.promise;
        return { nowMs: 1, read: { ok: true, value: {} } };
      },
    });
    const { actor, clock, done } = start(steps, 1000);
    await flush();
    clock.increment(1000);
    await flush();
    // The interval cycle is reading; two chains' RUNs arrive, then one without a hand-off.
    actor.send({ type: "RUN", handoff: { marketstate: hash("old") } });
    actor.send({ type: "RUN", handoff: { marketstate: hash("new") } });
    gate.resolve();
    await flush();
    expect(received).toEqual([null, { marketstate: hash("new") }]);
    expect(done.at(-1)?.handoff).toBeNull();
    actor.send({ type: "RUN", handoff: { marketstate: hash("x") } });
    await flush();
    clock.increment(1000);
    await flush();
    expect(received.slice(2)).toEqual([{ marketstate: hash("x") }, null]);
  });

  it("the retry after a failed read reads everything", async () => {
    const received: (ChainHandoff | null | undefined)[] = [];
    const steps = scriptedSteps({
      read: async (_symbol, handoff) => {
        received.push(handoff);
        if (received.length === 1) throw new Error("connection lost");
        return { nowMs: 1, read: { ok: true, value: {} } };
      },
    });
    const { actor, clock, done } = start(steps);
    await flush();
    actor.send({ type: "RUN", handoff: { marketstate: hash("m") } });
    await flush();
    expect(done.at(-1)).toMatchObject({ outcome: "error", handoff: null });
    clock.increment(1000);
    await flush();
    expect(received).toEqual([{ marketstate: hash("m") }, null]);
  });
});
