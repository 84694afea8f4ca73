// Test doubles for publisher steps: each step is a controllable fake, so machine tests decide
// exactly when an I/O step resolves or fails, and the clock is XState's SimulatedClock.
import { assign, fromPromise } from 'xstate';
import { publisherMachine } from '../../machines/publisher.js';
import type { Decision, PublishOutput, ReadOutput, StepInput, StepOutput } from '../../machines/publisher.js';
import { runPureStep } from '../../src/phases/steps.js';

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
  compute: (input: StepInput) => StepOutput<unknown>;
  decide: (input: StepInput) => Decision;
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
    compute: () => ({ ok: true, value: { y: 2 } }),
    decide: () => ({ publish: true, why: 'first_publish' }),
    publish: async () => ({ memory: { published: true }, summary: 'ok', figures: {} }),
    heartbeat: async () => undefined,
    ...overrides,
  };
}

type PublisherActions = NonNullable<Parameters<typeof publisherMachine.provide>[0]['actions']>;

/** The publisher machine with scripted steps (and optional action overrides). */
export function scriptedPublisher(steps: ScriptedSteps, actions: PublisherActions = {}) {
  const counted = <O>(name: string, fn: (input: StepInput) => Promise<O>) =>
    fromPromise<O, StepInput>(({ input }) => {
      steps.calls[name] = (steps.calls[name] ?? 0) + 1;
      return fn(input);
    });
  const input = (context: { symbol: string; phase: StepInput['phase']; memory: unknown; inputs: unknown; result: unknown; cycleNowMs: number }): StepInput => ({
    phase: context.phase, symbol: context.symbol, memory: context.memory, inputs: context.inputs, result: context.result, nowMs: context.cycleNowMs,
  });
  return publisherMachine.provide({
    actors: {
      seedMemory: counted('seed', (i) => steps.seed(i)),
      readInputs: counted('read', (i) => steps.read(i)),
      publishResult: counted('publish', (i) => steps.publish(i)),
      writeHeartbeat: counted('heartbeat', (i) => steps.heartbeat(i)),
    },
    actions: {
      computeResult: assign(({ context }) => {
        steps.calls.compute = (steps.calls.compute ?? 0) + 1;
        const computed = runPureStep(() => steps.compute(input(context)));
        return { computed, result: computed.kind === 'ok' ? computed.value : null };
      }),
      decidePublish: assign(({ context }) => {
        steps.calls.decide = (steps.calls.decide ?? 0) + 1;
        return { decision: steps.decide(input(context)) };
      }),
      ...actions,
    },
  });
}
