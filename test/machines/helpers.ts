// Scripted phase steps for the machine tests: each step is a controllable fake (return a value,
// throw, or wait on a deferred), counted per call, and run through the real adapter —
// `publisherFor` from src/phases/steps.ts, as the service runs every phase — so the tests cover
// the machine and the adapter together. The clock is XState's SimulatedClock.
import type { AnyPublisherMachine } from "../../machines/publisher.js";
import { publisherFor, type PhaseSteps } from "../../src/phases/steps.js";

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets queued promise callbacks (and the XState events they send) run. */
export async function flush(times = 10): Promise<void> {
  for (let i = 0; i < times; i++) await new Promise<void>((r) => setImmediate(r));
}

/** The test phase's steps: any memory, inputs and result. */
export type TestSteps = PhaseSteps<unknown, unknown, unknown>;
export type StepName = keyof TestSteps;

/** Per step: what it does instead of the default (return a value, or throw to fail the step). */
export type StepScript = Partial<TestSteps>;

export interface ScriptedSteps extends TestSteps {
  /** How often each step ran. */
  calls: Record<StepName, number>;
}

/** A phase whose every step succeeds (and publishes) unless `script` says otherwise. */
export function scriptedSteps(script: StepScript = {}): ScriptedSteps {
  const calls: Record<StepName, number> = {
    seed: 0,
    read: 0,
    compute: 0,
    decide: 0,
    publish: 0,
    heartbeat: 0,
  };
  const steps: TestSteps = {
    seed: async () => null,
    read: async () => ({ nowMs: 0, read: { ok: true, value: { x: 1 } } }),
    compute: () => ({ ok: true, value: { y: 2 } }),
    decide: () => ({ publish: true, why: "first_publish" }),
    publish: async () => ({ memory: { published: true }, summary: "ok", figures: {} }),
    heartbeat: async () => undefined,
    ...script,
  };
  return {
    calls,
    seed: (...args) => {
      calls.seed++;
      return steps.seed(...args);
    },
    read: (...args) => {
      calls.read++;
      return steps.read(...args);
    },
    compute: (...args) => {
      calls.compute++;
      return steps.compute(...args);
    },
    decide: (...args) => {
      calls.decide++;
      return steps.decide(...args);
    },
    publish: (...args) => {
      calls.publish++;
      return steps.publish(...args);
    },
    heartbeat: (...args) => {
      calls.heartbeat++;
      return steps.heartbeat(...args);
    },
  };
}

export type PublisherActions = NonNullable<
  Parameters<AnyPublisherMachine["provide"]>[0]["actions"]
>;

/** The real adapter over scripted steps (and optional action overrides, e.g. reportCycle). */
export function scriptedPublisher(
  steps: ScriptedSteps,
  actions: PublisherActions = {},
): AnyPublisherMachine {
  return publisherFor(steps).provide({ actions });
}
