// The publisher's one long-lived step actor (machines/stepActor.ts), on XState's public
// fromCallback: a request is answered with `<step>.done` / `<step>.error` tagged with the cycle
// that asked; only the request under way can answer, and its `alive()` turns false once a newer
// request superseded it, the actor stopped, or the actor it answers is no longer running — so a
// late result is never delivered and a step waiting in the step gate never starts its I/O.
import { describe, expect, it, vi } from "vitest";
import { createActor, sendTo, setup, type AnyEventObject } from "xstate";
import { fromSteps, type StepTable } from "../../machines/stepActor.js";
import { deferred, flush } from "./helpers.js";

/** A parent that forwards ASK's request to its step actor; LEAVE stops it; CRASH throws. */
function parentOf(steps: StepTable) {
  return setup({
    types: {
      // ASK { request }, LEAVE, CRASH, and the step actor's answers.
      events: {} as AnyEventObject,
    },
    actors: { steps: fromSteps(steps) },
    actions: {
      crash: () => {
        throw new Error("injected crash");
      },
    },
  }).createMachine({
    initial: "running",
    states: {
      running: {
        invoke: { id: "steps", src: "steps", input: ({ self }) => ({ publisher: self }) },
        on: {
          ASK: { actions: sendTo("steps", ({ event }) => event.request as AnyEventObject) },
          LEAVE: "left",
          CRASH: { actions: "crash" },
        },
      },
      left: {},
    },
  });
}

/** The parent, started, with every step answer it was sent (as the inspection stream saw it). */
function start(steps: StepTable) {
  const replies: AnyEventObject[] = [];
  const actor = createActor(parentOf(steps), {
    inspect: (e) => {
      if (
        e.type === "@xstate.event" &&
        e.actorRef === actor &&
        /\.(done|error)$/.test(e.event.type)
      )
        replies.push(e.event);
    },
  });
  actor.subscribe({ error: () => undefined });
  actor.start();
  const ask = (type: string, cycle: number, input: unknown = null) =>
    actor.send({ type: "ASK", request: { type, cycle, input } });
  return { actor, replies, ask };
}

describe("the step actor (fromSteps)", () => {
  it("answers a request with <step>.done (its output) or <step>.error (its error), tagged with the cycle", async () => {
    const { replies, ask } = start({
      double: async (n: number) => n * 2,
      fail: async () => {
        throw new Error("boom");
      },
      throwsAtOnce: () => {
        throw new Error("sync");
      },
    });
    ask("double", 7, 21);
    await flush();
    ask("fail", 8);
    await flush();
    ask("throwsAtOnce", 9);
    await flush();
    expect(replies.map((r) => [r.type, r.cycle])).toEqual([
      ["double.done", 7],
      ["fail.error", 8],
      ["throwsAtOnce.error", 9],
    ]);
    expect(replies[0].output).toBe(42);
    expect(String(replies[1].error)).toBe("Error: boom");
    expect(String(replies[2].error)).toBe("Error: sync");
  });

  it("ignores a result that settles after the actor stopped, and tells the step it is not alive", async () => {
    const warn = vi.spyOn(console, "warn");
    try {
      const { gate, seen, slow } = gatedStep();
      const { actor, replies, ask } = start({ slow });
      ask("slow", 1);
      await flush();
      actor.send({ type: "LEAVE" });
      gate.resolve();
      await flush();
      expect(actor.getSnapshot().value).toBe("left");
      expect(seen).toEqual([true, false]);
      expect(replies).toEqual([]);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it("only the request under way answers: a superseded one's late result is dropped", async () => {
    const first = deferred<string>();
    const second = deferred<string>();
    const alive: Array<() => boolean> = [];
    const results = [first, second];
    const { replies, ask } = start({
      step: (_input: unknown, isAlive: () => boolean) => {
        alive.push(isAlive);
        return results[alive.length - 1].promise;
      },
    });
    ask("step", 1);
    ask("step", 2);
    await flush();
    expect(alive.map((a) => a())).toEqual([false, true]);
    first.resolve("old");
    second.resolve("new");
    await flush();
    expect(replies.map((r) => [r.type, r.cycle, r.output])).toEqual([["step.done", 2, "new"]]);
  });

  it("a step of a publisher that crashed is not alive (XState leaves a crashed actor's children running)", async () => {
    const { gate, seen, slow } = gatedStep();
    const { actor, replies, ask } = start({ slow });
    ask("slow", 1);
    await flush();
    actor.send({ type: "CRASH" });
    expect(actor.getSnapshot().status).toBe("error");
    gate.resolve();
    await flush();
    expect(seen).toEqual([true, false]);
    expect(replies).toEqual([]);
  });
});

/** A step that notes whether it is alive when it starts and again when `gate` opens; answers 1. */
function gatedStep() {
  const gate = deferred<void>();
  const seen: boolean[] = [];
  const slow = async (_input: unknown, alive: () => boolean): Promise<number> => {
    seen.push(alive());
    await gate.promise;
    seen.push(alive());
    return 1;
  };
  return { gate, seen, slow };
}
