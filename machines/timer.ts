// The one long-lived timer actor of a machine: `ARM` (re)starts it to send `event` after `ms`,
// `DISARM` clears it. Why not XState's `after`: delayed transitions live in one table shared by
// the whole actor system, and every actor that stops (each invoked step, every cycle) scans that
// table — with 3,000 publishers each holding an interval timer, that is O(actors) work per step,
// quadratic overall, and it dominated the CPU profile. Why one long-lived actor rather than one
// per wait: spawning and stopping an actor per cycle was the next largest cost. It runs on the
// system clock, so XState's SimulatedClock still drives the tests. A non-finite `ms` (Infinity:
// `--once` never polls) arms nothing.
import { fromCallback } from "xstate";

export type TimerCommand<E extends string> =
  { type: "ARM"; ms: number; event: E } | { type: "DISARM" };

export function timerActor<E extends string>() {
  return fromCallback<TimerCommand<E>>(({ sendBack, receive, system }) => {
    const clock = system._clock;
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
