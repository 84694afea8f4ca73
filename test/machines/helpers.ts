// Test doubles for publisher steps: each step is a controllable fake, so machine tests decide
// exactly when an I/O step resolves or fails, and the clock is XState's SimulatedClock.
import { fromPromise } from 'xstate';
import type { Decision, PublishOutput, ReadOutput, StepInput, StepOutput } from '../../machines/publisher.js';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

/** Lets queued promise callbacks (and the XState events they send) run. */
export async function flush(times = 10): Promise<void> {
  for (let i = 0; i < times; i++) await new Promise<void>((r) => setImmediate(r));
}

export interface ScriptedSteps {
  calls: Record<string, number>;
  /** Override per step: return a value, or throw to fail the step. */
  read: (input: StepInput) => Promise<ReadOutput>;
  compute: (input: StepInput) => Promise<StepOutput<unknown>>;
  decide: (input: StepInput) => Promise<Decision>;
  publish: (input: StepInput) => Promise<PublishOutput>;
  heartbeat: (input: StepInput) => Promise<void>;
  seed: (input: StepInput) => Promise<unknown>;
}

export function scriptedSteps(overrides: Partial<ScriptedSteps> = {}): ScriptedSteps {
  const calls: Record<string, number> = { seed: 0, read: 0, compute: 0, decide: 0, publish: 0, heartbeat: 0 };
  return {
    calls,
    seed: async () => null,
    read: async () => ({ nowMs: 0, read: { ok: true, value: { x: 1 } } }),
    compute: async () => ({ ok: true, value: { y: 2 } }),
    decide: async () => ({ publish: true, why: 'first_publish' }),
    publish: async () => ({ memory: { published: true }, summary: 'ok', figures: {} }),
    heartbeat: async () => undefined,
    ...overrides,
  };
}

export function stepActors(steps: ScriptedSteps) {
  const counted = <I, O>(name: string, fn: (input: I) => Promise<O>) =>
    fromPromise<O, I>(({ input }) => {
      steps.calls[name] = (steps.calls[name] ?? 0) + 1;
      return fn(input);
    });
  return {
    seedMemory: counted('seed', (i: StepInput) => steps.seed(i)),
    readInputs: counted('read', (i: StepInput) => steps.read(i)),
    computeResult: counted('compute', (i: StepInput) => steps.compute(i)),
    decidePublish: counted('decide', (i: StepInput) => steps.decide(i)),
    publishResult: counted('publish', (i: StepInput) => steps.publish(i)),
    writeHeartbeat: counted('heartbeat', (i: StepInput) => steps.heartbeat(i)),
  };
}
