// The timer actor sets its timeouts on the clock given to createActor (Actor.clock, inherited by
// children): XState's SimulatedClock drives it, and ARM/DISARM re-arm and clear it.
import { describe, expect, it } from "vitest";
import { assign, createActor, sendTo, setup, SimulatedClock } from "xstate";
import { timerActor, type TimerCommand } from "../../machines/timer.js";

function machine() {
  return setup({
    types: { context: {} as { fired: number }, events: {} as { type: "TICK" | "ARM" | "DISARM" } },
    actors: { timer: timerActor<"TICK">() },
    actions: {
      arm: sendTo("timer", { type: "ARM", ms: 1000, event: "TICK" } satisfies TimerCommand<"TICK">),
      disarm: sendTo("timer", { type: "DISARM" } satisfies TimerCommand<"TICK">),
    },
  }).createMachine({
    context: { fired: 0 },
    invoke: { id: "timer", src: "timer" },
    on: {
      ARM: { actions: "arm" },
      DISARM: { actions: "disarm" },
      TICK: { actions: assign(({ context }) => ({ fired: context.fired + 1 })) },
    },
  });
}

describe("timerActor", () => {
  it("fires on the root's SimulatedClock, once per ARM; DISARM and re-ARM clear the last one", () => {
    const clock = new SimulatedClock();
    const actor = createActor(machine(), { clock }).start();
    actor.send({ type: "ARM" });
    clock.increment(999);
    expect(actor.getSnapshot().context.fired).toBe(0);
    clock.increment(1);
    expect(actor.getSnapshot().context.fired).toBe(1);
    clock.increment(5000);
    expect(actor.getSnapshot().context.fired).toBe(1);
    actor.send({ type: "ARM" });
    clock.increment(500);
    actor.send({ type: "ARM" });
    clock.increment(500);
    expect(actor.getSnapshot().context.fired).toBe(1);
    clock.increment(500);
    expect(actor.getSnapshot().context.fired).toBe(2);
    actor.send({ type: "ARM" });
    actor.send({ type: "DISARM" });
    clock.increment(5000);
    expect(actor.getSnapshot().context.fired).toBe(2);
    actor.stop();
  });
});
