// What a phase must provide to the publisher machine, and the adapter that turns those plain
// async functions into the machine's injected step actors.
import { assign, fromPromise } from 'xstate';
import { publisherMachine } from '../../machines/publisher.js';
import type { Decision, PublishOutput, ReadOutput, StepInput, StepOutput, StepResult } from '../../machines/publisher.js';
import type { Config } from '../config/schema.js';
import type { PositionSource } from '../inputs/positions.js';
import type { PositionBook } from '../inputs/positionMemory.js';
import type { LiveCandles } from '../inputs/klines.js';
import type { Store } from '../store/types.js';
import { WrongTypeError } from '../store/types.js';
import { KernelInputError } from '../kernels/types.js';
import { maxInputAgeSec } from '../config/schema.js';

export interface PhaseDeps {
  store: Store;
  positions: PositionSource;
  /** Peak, trough and first-seen of open positions (SPEC §4.2), shared by risk and harvest. */
  book: PositionBook;
  /** Closed candles from the klines stream not yet in the sorted set (empty without following). */
  live: LiveCandles;
  config: Config;
  /** Wall clock, ms since epoch. */
  now: () => number;
}

export interface PhaseSteps<TMemory, TInputs, TResult> {
  /** Rate-limit memory from the output hash (null: nothing published yet). */
  seed(symbol: string): Promise<TMemory | null>;
  read(symbol: string): Promise<{ nowMs: number; read: StepOutput<TInputs> }>;
  compute(symbol: string, inputs: TInputs): StepOutput<TResult>;
  decide(memory: TMemory | null, inputs: TInputs, result: TResult, nowMs: number): Decision;
  publish(symbol: string, inputs: TInputs, result: TResult, nowMs: number): Promise<{ memory: TMemory; summary: string; figures: Record<string, number> }>;
  heartbeat(symbol: string, nowMs: number): Promise<void>;
}

/**
 * Wrong-typed keys and bad values are data problems, not outages: they become a counted
 * `bad_input` skip. Anything else thrown by a read is I/O and sends the actor to backoff.
 */
export async function readGuarded<T>(read: () => Promise<StepOutput<T>>): Promise<StepOutput<T>> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof WrongTypeError || err instanceof KernelInputError) {
      return { ok: false, reason: 'bad_input', detail: err.message };
    }
    throw err;
  }
}

/**
 * All fields of one of our own hashes, read to seed the rate-limit memory; `{}` (no memory) when
 * the key holds another type. Seeding must not fail on a data problem: a failed seed is retried
 * with backoff for ever (and is an error in --once), so the symbol never reaches the read step
 * that reports it as the counted `bad_input` skip it is (test/badinput/service.test.ts).
 */
export async function readOwnHash(store: Store, key: string): Promise<Record<string, string>> {
  try {
    return await store.hgetall(key);
  } catch (err) {
    if (err instanceof WrongTypeError) return {};
    throw err;
  }
}

/** A kernel's input error is a counted `bad_input` skip; any other throw is a compute error. */
export function computeGuarded<T>(compute: () => StepOutput<T>): StepOutput<T> {
  try {
    return compute();
  } catch (err) {
    if (err instanceof KernelInputError) return { ok: false, reason: 'bad_input', detail: err.message };
    throw err;
  }
}

/** Runs a pure step; an unexpected throw becomes an `error` result instead of crashing the actor. */
export function runPureStep<T>(step: () => StepOutput<T>): StepResult<T> {
  try {
    const out = step();
    return out.ok ? { kind: 'ok', value: out.value } : { kind: 'skip', reason: out.reason, detail: out.detail };
  } catch (err) {
    return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The publisher machine provided with a phase's steps: the I/O steps become promise actors, the
 * pure ones (compute, decide) assign actions.
 */
export function publisherFor<M, I, R>(steps: PhaseSteps<M, I, R>) {
  return publisherMachine.provide({
    actors: {
      seedMemory: fromPromise<unknown, StepInput>(({ input }) => steps.seed(input.symbol)),
      readInputs: fromPromise<ReadOutput, StepInput>(({ input }) => steps.read(input.symbol)),
      publishResult: fromPromise<PublishOutput, StepInput>(({ input }) =>
        steps.publish(input.symbol, input.inputs as I, input.result as R, input.nowMs),
      ),
      writeHeartbeat: fromPromise<void, StepInput>(({ input }) => steps.heartbeat(input.symbol, input.nowMs)),
    },
    actions: {
      computeResult: assign(({ context }) => {
        const computed = runPureStep(() => steps.compute(context.symbol, context.inputs as I));
        return { computed, result: computed.kind === 'ok' ? computed.value : null };
      }),
      decidePublish: assign(({ context }) => {
        try {
          return { decision: steps.decide(context.memory as M | null, context.inputs as I, context.result as R, context.cycleNowMs) };
        } catch {
          return { decision: null };
        }
      }),
    },
  });
}

export function rateLimitSettings(config: Config) {
  return { maxPublishAgeMs: config.maxPublishAge * 1000, changeEpsPct: config.changeEpsPct };
}

export { maxInputAgeSec };

/** Short number for one-line summaries: 5 significant digits. */
export function short(x: number): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(5))) : String(x);
}
