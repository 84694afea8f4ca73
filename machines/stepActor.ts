// The publisher's I/O steps as ONE long-lived actor per publisher, spawned with it (a root
// `invoke`, like its timer) and asked for one step at a time: the publisher sends a request
// (`{ type: "readInputs", cycle, input }`) on entering a step's state, and the actor sends the
// outcome back as an event named after the step (`readInputs.done` with its `output`,
// `readInputs.error` with its `error`), tagged with the cycle that asked.
//
// Why not an invoked promise actor per step: every cycle then created and stopped two or more
// Actor objects (constructor, mailbox, system registration, snapshots, the done event) — in a
// CPU profile of bench/cycle.ts the Actor constructor alone was 6.9 % and spawning/stopping the
// two step actors ~7 % (docs/performance.md, "Less machinery per cycle"). A request to a running
// actor is one event.
//
// What the invoked actors guaranteed, this keeps:
// - Only the request under way can answer: a new request (or the actor's stop) supersedes it,
//   and the outcome of a superseded or stopped one is dropped here — never delivered to the
//   publisher, so a late result of an old cycle cannot be taken for the current one's.
// - `alive()` (handed to the step with its input) is false once its request is no longer the one
//   under way: the actor stopped (the publisher stopped: a DRAIN's retirement, a lost lease,
//   teardown) or the publisher itself is no longer running (it crashed: XState leaves a crashed
//   actor's children running). A step waiting in the step gate asks it before it starts its I/O
//   (src/phases/stepGate.ts), so a step queued when its publisher stops never starts.
// Built on XState's public `fromCallback` (its `receive`/`sendBack`, and the cleanup it runs when
// the actor stops); test/machines/stepActor.test.ts holds it to the above.
import {
  fromCallback,
  type ActorRef,
  type AnyEventObject,
  type CallbackActorLogic,
  type Snapshot,
} from "xstate";

/** Step name → the step: its input and whether its request is still the one under way. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each step has its own input and output
export type StepTable = Record<string, (input: any, alive: () => boolean) => PromiseLike<unknown>>;

/** A request to the step actor: run step `type` on `input`, for the publisher's cycle `cycle`. */
export type StepRequest<S extends StepTable> = {
  [K in keyof S & string]: { type: K; cycle: number; input: Parameters<S[K]>[0] };
}[keyof S & string];

/** What the step actor sends back: `<step>.done` with the output or `<step>.error` with the error. */
export type StepReply<S extends StepTable> = {
  [K in keyof S & string]:
    | { type: `${K}.done`; cycle: number; output: Awaited<ReturnType<S[K]>> }
    | { type: `${K}.error`; cycle: number; error: unknown };
}[keyof S & string];

/** The step actor's input: the actor it answers (its parent), to know whether it still runs. */
export interface StepActorInput {
  /** The publisher (its `self`); only whether it still runs is read. */
  publisher: Pick<ActorRef<Snapshot<unknown>, AnyEventObject>, "getSnapshot">;
}

export type StepActorLogic<S extends StepTable> = CallbackActorLogic<
  StepRequest<S>,
  StepActorInput
>;

/** The step actor over `steps`: one request under way at a time, answered as above. */
export function fromSteps<S extends StepTable>(steps: S): StepActorLogic<S> {
  // The answers' event types, made once: a type string made per answer (`${type}.done`) is a new
  // string each time, which XState's transition lookup by event type hashes anew every time.
  const answers = new Map<string, { done: string; error: string }>(
    Object.keys(steps).map((name) => [name, { done: `${name}.done`, error: `${name}.error` }]),
  );
  return fromCallback<StepRequest<S>, StepActorInput>(({ input, receive, sendBack }) => {
    const publisher = input.publisher;
    /** The request under way (0: none yet); each request and the stop move it on. */
    let current = 0;
    receive((request) => {
      const id = ++current;
      const alive = (): boolean => current === id && publisher.getSnapshot().status === "active";
      const { type, cycle } = request;
      const names = answers.get(type);
      const answer = (reply: AnyEventObject): void => {
        if (alive()) sendBack(reply);
      };
      let pending: PromiseLike<unknown>;
      try {
        if (names === undefined) throw new Error(`step actor: no step '${type}'`);
        pending = steps[type](request.input, alive);
      } catch (error) {
        pending = Promise.reject(error);
      }
      Promise.resolve(pending).then(
        (output) => answer({ type: names?.done ?? `${type}.done`, cycle, output }),
        (error: unknown) => answer({ type: names?.error ?? `${type}.error`, cycle, error }),
      );
    });
    // Stopped (with its publisher): no request under way can answer or start its I/O any more.
    return () => {
      current = -1;
    };
  });
}
