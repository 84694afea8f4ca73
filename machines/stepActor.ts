// The publisher's I/O step as an actor: XState's own fromPromise, with the promise creator's
// abort signal handed to the step as `alive()` — a step that waits (the step gate) asks it before
// its I/O, so a step whose publisher stopped meanwhile never runs. A stopped step's Redis command
// that already started runs to its end; fromPromise ignores its outcome.
import { fromPromise, type PromiseActorLogic } from "xstate";

/**
 * A promise actor over `run(input, alive)`; `alive()` tells whether the actor is still running
 * (fromPromise aborts the signal when the actor stops).
 */
export function fromStep<Output, Input>(
  run: (input: Input, alive: () => boolean) => PromiseLike<Output>,
): PromiseActorLogic<Output, Input> {
  return fromPromise<Output, Input>(({ input, signal }) =>
    Promise.resolve(run(input, () => !signal.aborted)),
  );
}
