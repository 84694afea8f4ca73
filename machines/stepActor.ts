// The publisher's I/O step as an actor: fromPromise's behaviour, written against XState's public
// actor-logic interface (`ActorLogic`: transition / start / getInitialSnapshot), without the
// AbortController fromPromise makes per actor (and keeps in a WeakMap until the promise settles).
// Measured on this machine (2 cores shared with other jobs, Node 20, 2026-12-06), in one process
// with the rounds alternating (`node --expose-gc dist/bench/cycle.js --against <other build's
// dist>`, 1,000 publishers, 40–60 rounds each): fromPromise cost a median 11 % more CPU per cycle
// than this (five runs: −4 % to +15 %; two steps a cycle, and Node 20's AbortController and
// AbortSignal are heavy objects) — past the 10 % the structure issue allows for a public version.
//
// Everything observable is fromPromise's: the same snapshots (active → done with the output, or
// error, or stopped), the same done/error events to the parent (`xstate.done.actor.<id>`, sent by
// XState from the snapshot's status), the promise's outcome ignored once the actor has stopped.
// It knows one thing of XState's protocol: an actor that stops passes `xstate.stop` through its
// logic's transition — as every built-in actor logic relies on. test/machines/stepActor.test.ts
// fails loudly if an upgrade changes that (alive() would stay true, a late result would be sent
// to a stopped actor) or the events the parent sees.
import type { ActorLogic, ActorSystem, EventObject, PromiseSnapshot } from "xstate";

const RESOLVE = "xstate.promise.resolve";
const REJECT = "xstate.promise.reject";
/** What XState passes through an actor's logic when the actor stops. */
const STOP = "xstate.stop";

type StepEvent<Output> =
  { type: typeof RESOLVE; data: Output } | { type: typeof REJECT; data: unknown } | EventObject;

/** A step actor's logic: fromPromise's snapshot, input and events. */
export type StepLogic<Output, Input> = ActorLogic<
  PromiseSnapshot<Output, Input>,
  StepEvent<Output>,
  Input,
  ActorSystem<any> // eslint-disable-line @typescript-eslint/no-explicit-any -- XState's AnyActorSystem, not exported
>;

/**
 * A promise actor over `run(input, alive)`; `alive()` tells whether the actor is still running
 * (a step that waits before its I/O — the step gate — asks it).
 */
export function fromStep<Output, Input>(
  run: (input: Input, alive: () => boolean) => PromiseLike<Output>,
): StepLogic<Output, Input> {
  return {
    config: run,
    transition: (state, event) => {
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
    start: (state, { self }) => {
      if (state.status !== "active") return;
      const alive = (): boolean => self.getSnapshot().status === "active";
      const settle = (event: StepEvent<Output>): void => {
        if (alive()) self.send(event);
      };
      Promise.resolve(run(state.input as Input, alive)).then(
        (data) => settle({ type: RESOLVE, data }),
        (data: unknown) => settle({ type: REJECT, data }),
      );
    },
    getInitialSnapshot: (_scope, input) => ({
      status: "active",
      output: undefined,
      error: undefined,
      input,
    }),
    getPersistedSnapshot: (snapshot) => snapshot,
    restoreSnapshot: (snapshot) => snapshot as PromiseSnapshot<Output, Input>,
  };
}
