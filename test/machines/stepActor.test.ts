// fromStep is fromPromise without the AbortController, written on XState's public ActorLogic
// interface: the same done/error events to the parent, a promise that settles after its actor
// stopped is ignored (nothing is sent to the stopped actor), and a step that asks `alive()` after
// its actor stopped is told so. These fail loudly if an XState upgrade stops passing `xstate.stop`
// through an actor's logic, or changes what a parent sees of its promise actors.
import { describe, expect, it, vi } from "vitest";
import { createActor, fromPromise, setup, type AnyActorLogic } from "xstate";
import { fromStep } from "../../machines/stepActor.js";
import { deferred, flush } from "./helpers.js";

function parentOf(step: AnyActorLogic) {
  return setup({ actors: { step } }).createMachine({
    initial: "running",
    context: { out: null, err: null },
    states: {
      running: {
        invoke: {
          src: "step",
          input: 21,
          onDone: {
            target: "done",
            actions: ({ context, event }) => void (context.out = event.output),
          },
          onError: {
            target: "failed",
            actions: ({ context, event }) => void (context.err = event.error),
          },
        },
        on: { LEAVE: "left" },
      },
      done: {},
      failed: {},
      left: {},
    },
  });
}

async function outcome(step: AnyActorLogic, leave = false) {
  const events: string[] = [];
  const actor = createActor(parentOf(step), {
    inspect: (e) => {
      if (e.type === "@xstate.event") events.push(e.event.type);
    },
  }).start();
  if (leave) actor.send({ type: "LEAVE" });
  await flush();
  return { value: actor.getSnapshot().value, context: actor.getSnapshot().context, events };
}

describe("fromStep", () => {
  it("delivers the output and the error as fromPromise does", async () => {
    const double = async (n: number) => n * 2;
    const fail = async () => {
      throw new Error("boom");
    };
    const ours = await outcome(fromStep(double));
    const theirs = await outcome(fromPromise(({ input }: { input: number }) => double(input)));
    expect(ours.value).toBe("done");
    expect(ours.context.out).toBe(42);
    expect(ours.events).toEqual(theirs.events);
    const ourFail = await outcome(fromStep(fail));
    const theirFail = await outcome(fromPromise(fail));
    expect(ourFail.value).toBe("failed");
    expect(String(ourFail.context.err)).toBe("Error: boom");
    expect(ourFail.events).toEqual(theirFail.events);
  });

  it("ignores a promise that settles after the actor stopped", async () => {
    const warn = vi.spyOn(console, "warn");
    try {
      const late = deferred<number>();
      const result = await outcome(
        fromStep(() => late.promise),
        true,
      );
      late.resolve(1);
      await flush();
      expect(result.value).toBe("left");
      expect(result.context.out).toBeNull();
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it("alive() is true while the step runs and false once its actor stopped", async () => {
    const gate = deferred<void>();
    const seen: boolean[] = [];
    const step = fromStep(async (_input: number, alive) => {
      seen.push(alive());
      await gate.promise;
      seen.push(alive());
      return 0;
    });
    const result = await outcome(step, true);
    gate.resolve();
    await flush();
    expect(result.value).toBe("left");
    expect(seen).toEqual([true, false]);
  });
});
