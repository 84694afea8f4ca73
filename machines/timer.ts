// The one long-lived timer actor of a machine: `ARM` (re)starts it to send `event` after `ms`,
// `DISARM` clears it. Why not XState's `after`: delayed transitions live in one table shared by
// the whole actor system, and every actor that stops scans that table (its scheduler's
// cancelAll) — with 3,000 publishers each holding an interval timer, stopping them (a symbol
// change, the teardown) is O(actors) work per stop, quadratic overall. Why one long-lived actor
// rather than one per wait: spawning and stopping an actor per cycle was the next largest cost.
//
// It sets its timeouts on the actor's own clock — `Actor.clock`, public: the `clock` option given
// to createActor for the root, inherited by every child — so XState's SimulatedClock drives the
// tests exactly as it drives delayed transitions. A non-finite `ms` (Infinity: `--once` never
// polls) arms nothing.
import { Actor, fromCallback, type AnyActorLogic, type AnyActorRef } from "xstate";

/** XState's clock interface (setTimeout/clearTimeout), as the Actor class declares it. */
export type Clock = Actor<AnyActorLogic>["clock"];

export type TimerCommand<E extends string> =
  { type: "ARM"; ms: number; event: E } | { type: "DISARM" };

/** The clock an actor runs on (createActor's `clock` option, inherited from the root). */
export function clockOf(self: AnyActorRef): Clock {
  // `self` is typed as an ActorRef; what XState hands a callback actor is its Actor, which owns
  // the clock. If a later XState hands something else, say so rather than fall back to timers
  // a SimulatedClock would not see.
  if (!(self instanceof Actor))
    throw new Error(
      "timer: the callback actor's self is not an xstate Actor; cannot find its clock",
    );
  return self.clock;
}

export function timerActor<E extends string>() {
  return fromCallback<TimerCommand<E>>(({ sendBack, receive, self }) => {
    const clock = clockOf(self);
    let handle: unknown = null;
    const clear = (): void => {
      if (handle !== null) clock.clearTimeout(handle);
      handle = null;
    };
    receive((command) => {
      clear();
      if (command.type === "ARM" && Number.isFinite(command.ms)) {
        const { event } = command;
        handle = clock.setTimeout(() => {
          handle = null;
          sendBack({ type: event });
        }, command.ms);
      }
    });
    return clear;
  });
}
