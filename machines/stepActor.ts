// The publisher's I/O step as an actor: XState's fromPromise without the AbortController.
// fromPromise makes an AbortController per actor (and keeps it in a WeakMap until the promise
// settles) so that the promise creator can see the actor stop; no publisher step uses the signal
// — a stopped step's Redis command runs to its end either way, and its result is ignored, as
// here. With two steps per cycle that was ~3 % of a cycle's CPU and one of its larger
// allocations (bench/cycle.ts).
//
// Everything else is fromPromise's: the same snapshots (active → done with the output, or error),
// the same internal events, relayed the same way (so inspection sees the same event stream),
// the same done/error events to the parent (`xstate.done.actor.<id>`), the promise's outcome
// ignored once the actor has stopped.
import type { AnyActorRef, PromiseActorLogic, PromiseSnapshot } from "xstate";

const RESOLVE = "xstate.promise.resolve";
const REJECT = "xstate.promise.reject";
const STOP = "xstate.stop";

type StepEvent<Output> =
  | { type: typeof RESOLVE; data: Output }
  | { type: typeof REJECT; data: unknown }
  | { type: string };

interface Relay {
  _relay?: (source: AnyActorRef, target: AnyActorRef, event: unknown) => void;
}

/**
 * A promise actor over `run(input, alive)`, as fromPromise builds it, minus the abort signal;
 * `alive()` tells whether the actor is still running (a step that waits before its I/O asks it).
 */
export function fromStep<Output, Input>(
  run: (input: Input, alive: () => boolean) => PromiseLike<Output>,
): PromiseActorLogic<Output, Input> {
  const logic = {
    config: run,
    transition: (
      state: PromiseSnapshot<Output, Input>,
      event: StepEvent<Output>,
    ): PromiseSnapshot<Output, Input> => {
      if (state.status !== "active") return state;
      switch (event.type) {
        case RESOLVE:
          return {
            ...state,
            status: "done",
            output: (event as { data: Output }).data,
            input: undefined,
          };
        case REJECT:
          return {
            ...state,
            status: "error",
            error: (event as { data: unknown }).data,
            input: undefined,
          };
        case STOP:
          return { ...state, status: "stopped", input: undefined };
        default:
          return state;
      }
    },
    start: (
      state: PromiseSnapshot<Output, Input>,
      { self, system }: { self: AnyActorRef; system: Relay },
    ) => {
      if (state.status !== "active") return;
      const relay = (event: StepEvent<Output>): void => {
        if ((self.getSnapshot() as { status: string }).status !== "active") return;
        if (typeof system._relay === "function") system._relay(self, self, event);
        else self.send(event);
      };
      const alive = (): boolean => (self.getSnapshot() as { status: string }).status === "active";
      Promise.resolve(run(state.input as Input, alive)).then(
        (data) => relay({ type: RESOLVE, data }),
        (data: unknown) => relay({ type: REJECT, data }),
      );
    },
    getInitialSnapshot: (_scope: unknown, input: Input): PromiseSnapshot<Output, Input> => ({
      status: "active",
      output: undefined,
      error: undefined,
      input,
    }),
    getPersistedSnapshot: (snapshot: PromiseSnapshot<Output, Input>) => snapshot,
    restoreSnapshot: (snapshot: PromiseSnapshot<Output, Input>) => snapshot,
  };
  return logic as unknown as PromiseActorLogic<Output, Input>;
}
