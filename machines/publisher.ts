// The publisher: one actor per (phase, symbol). It runs one cycle at a time —
//   idle → reading → computing → deciding → publishing | heartbeating → idle
// and on an I/O failure waits in `backoff` (capped exponential delay with jitter, reset after a
// success) before trying again. A counted skip (no position, stale input, …) is not a failure:
// it goes straight back to idle.
//
// The machine knows nothing about Redis or kernels: every step is an injected actor
// (`seedMemory`, `readInputs`, `computeResult`, `decidePublish`, `publishResult`,
// `writeHeartbeat`), so the same definition runs against Redis, the embedded store and test
// doubles. src/phases/*.ts provide the real steps for each phase.
import { assign, fromPromise, sendParent, setup } from 'xstate';
import type { SkipReason } from '../src/inputs/types.js';

export type PhaseName = 'marketstate' | 'risk' | 'harvest';
export type CycleOutcome = 'published' | 'heartbeat' | 'skipped' | 'error';

export interface BackoffSettings {
  baseMs: number;
  capMs: number;
}

export interface PublisherInput {
  phase: PhaseName;
  symbol: string;
  /** Polling interval; cycles also start on RUN (chaining). */
  intervalMs: number;
  backoff: BackoffSettings;
  /** `--once`: no interval, no backoff; each RUN is one cycle whose outcome is reported. */
  once?: boolean;
}

/** What a step actor gets to work with. `memory` is the phase's rate-limit memory. */
export interface StepInput {
  phase: PhaseName;
  symbol: string;
  memory: unknown;
  inputs: unknown;
  result: unknown;
  nowMs: number;
}

export type StepOutput<T> = { ok: true; value: T } | { ok: false; reason: SkipReason; detail: string };
export interface ReadOutput {
  /** The cycle's clock reading, taken by the step: decisions compare against it. */
  nowMs: number;
  read: StepOutput<unknown>;
}
export interface Decision {
  publish: boolean;
  /** Why (e.g. `first_publish`, `sl_changed`, `rate_limited`): logged and shown in the visualizer. */
  why: string;
}
export interface PublishOutput {
  memory: unknown;
  /** One human-readable line of the key figures, e.g. `PARTIAL_25 R=2.45 K=0.503 SL=100.2`. */
  summary: string;
  /** The key figures as numbers (metrics gauges, status). */
  figures: Record<string, number>;
}

/** Sent to the parent (supervisor) at the end of every cycle. */
export interface CycleDoneEvent {
  type: 'CYCLE_DONE';
  phase: PhaseName;
  symbol: string;
  outcome: CycleOutcome;
  reason: string | null;
  detail: string | null;
  summary: string | null;
  /** Key figures of a publish (e.g. kill_score, R_net), null otherwise. */
  figures: Record<string, number> | null;
  /** When the chain that triggered this cycle started (marketstate publish), for latency. */
  chainStartedAt: number | null;
  /** The cycle's clock reading from its read step (null when it failed before reading). */
  startedAtMs: number | null;
  consecutiveFailures: number;
}

export interface PublisherContext {
  phase: PhaseName;
  symbol: string;
  intervalMs: number;
  backoff: BackoffSettings;
  once: boolean;
  memory: unknown;
  memorySeeded: boolean;
  inputs: unknown;
  result: unknown;
  decision: Decision | null;
  cycleNowMs: number;
  consecutiveFailures: number;
  lastOutcome: CycleOutcome | null;
  lastError: string | null;
  lastSkipReason: SkipReason | null;
  lastSkipDetail: string | null;
  lastSummary: string | null;
  lastFigures: Record<string, number> | null;
  lastPublishedAt: number | null;
  /** A RUN arrived while a cycle was under way: run again as soon as it ends. */
  pendingRun: boolean;
  pendingChainStartedAt: number | null;
  chainStartedAt: number | null;
  /** DRAIN arrived: finish the cycle under way, then stop. */
  draining: boolean;
  cycles: number;
}

export type PublisherEvent =
  | { type: 'RUN'; chainStartedAt?: number | null }
  | { type: 'DRAIN' };

/**
 * Backoff before retry number `failures` (1-based): min(cap, base·2^(failures−1)), with "equal
 * jitter" — a uniformly random point in its upper half — so that many actors failing together
 * (Redis went away) do not retry in lockstep, yet the delay never collapses to zero.
 */
export function backoffDelayMs(failures: number, settings: BackoffSettings, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(failures, 1) - 1, 30);
  const ceiling = Math.min(settings.capMs, settings.baseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Placeholder step: the machine is always run with `.provide({ actors })`. */
function notProvided<T>(step: string) {
  return fromPromise<T, StepInput>(async () => {
    throw new Error(`publisher step '${step}' was not provided`);
  });
}

const stepInput = ({ context }: { context: PublisherContext }): StepInput => ({
  phase: context.phase,
  symbol: context.symbol,
  memory: context.memory,
  inputs: context.inputs,
  result: context.result,
  nowMs: context.cycleNowMs,
});

export const publisherMachine = setup({
  types: {
    context: {} as PublisherContext,
    events: {} as PublisherEvent,
    input: {} as PublisherInput,
  },
  actors: {
    seedMemory: notProvided<unknown>('seedMemory'),
    readInputs: notProvided<ReadOutput>('readInputs'),
    computeResult: notProvided<StepOutput<unknown>>('computeResult'),
    decidePublish: notProvided<Decision>('decidePublish'),
    publishResult: notProvided<PublishOutput>('publishResult'),
    writeHeartbeat: notProvided<void>('writeHeartbeat'),
  },
  delays: {
    interval: ({ context }) => context.intervalMs,
    backoffDelay: ({ context }) => backoffDelayMs(context.consecutiveFailures, context.backoff),
  },
  guards: {
    isOnce: ({ context }) => context.once,
    isDraining: ({ context }) => context.draining,
    hasPendingRun: ({ context }) => context.pendingRun,
    memorySeeded: ({ context }) => context.memorySeeded,
  },
  actions: {
    /** Overridden in tests that run a publisher without a parent. */
    reportCycle: sendParent(
      ({ context }): CycleDoneEvent => ({
        type: 'CYCLE_DONE',
        phase: context.phase,
        symbol: context.symbol,
        outcome: context.lastOutcome ?? 'error',
        reason: context.lastOutcome === 'skipped' ? context.lastSkipReason : context.lastOutcome === 'error' ? 'error' : (context.decision?.why ?? null),
        detail: context.lastOutcome === 'skipped' ? context.lastSkipDetail : context.lastOutcome === 'error' ? context.lastError : null,
        summary: context.lastOutcome === 'published' ? context.lastSummary : null,
        figures: context.lastOutcome === 'published' ? context.lastFigures : null,
        chainStartedAt: context.chainStartedAt,
        startedAtMs: context.cycleNowMs > 0 ? context.cycleNowMs : null,
        consecutiveFailures: context.consecutiveFailures,
      }),
    ),
    markPendingRun: assign(({ context, event }) => ({
      pendingRun: true,
      pendingChainStartedAt:
        event.type === 'RUN' && event.chainStartedAt != null ? event.chainStartedAt : context.pendingChainStartedAt,
    })),
    markDraining: assign({ draining: true }),
    startCycle: assign(({ context, event }) => ({
      chainStartedAt:
        event.type === 'RUN' && event.chainStartedAt != null ? event.chainStartedAt : context.pendingChainStartedAt,
      pendingRun: false,
      pendingChainStartedAt: null,
      inputs: null,
      result: null,
      decision: null,
      cycleNowMs: 0,
      cycles: context.cycles + 1,
    })),
    clearCycle: assign({ inputs: null, result: null }),
  },
}).createMachine({
  id: 'publisher',
  context: ({ input }) => ({
    phase: input.phase,
    symbol: input.symbol,
    intervalMs: input.intervalMs,
    backoff: input.backoff,
    once: input.once ?? false,
    memory: null,
    memorySeeded: false,
    inputs: null,
    result: null,
    decision: null,
    cycleNowMs: 0,
    consecutiveFailures: 0,
    lastOutcome: null,
    lastError: null,
    lastSkipReason: null,
    lastSkipDetail: null,
    lastSummary: null,
    lastFigures: null,
    lastPublishedAt: null,
    pendingRun: false,
    pendingChainStartedAt: null,
    chainStartedAt: null,
    draining: false,
    cycles: 0,
  }),
  initial: 'seeding',
  // Outside idle a RUN never starts a second cycle: it is remembered and run right after.
  on: {
    RUN: { actions: 'markPendingRun' },
    DRAIN: { actions: 'markDraining' },
  },
  states: {
    seeding: {
      description: 'Load the rate-limit memory from the output hash, so a restart does not cause a publish storm.',
      invoke: {
        src: 'seedMemory',
        input: stepInput,
        onDone: {
          target: 'idle',
          actions: assign(({ event }) => ({ memory: event.output, memorySeeded: true, consecutiveFailures: 0 })),
        },
        onError: [
          {
            guard: 'isOnce',
            target: 'idle',
            actions: [
              assign(({ context, event }) => ({
                lastOutcome: 'error' as const,
                lastError: `seeding: ${errorMessage(event.error)}`,
                consecutiveFailures: context.consecutiveFailures + 1,
              })),
              'reportCycle',
            ],
          },
          {
            target: 'backoff',
            actions: [
              assign(({ context, event }) => ({
                lastOutcome: 'error' as const,
                lastError: `seeding: ${errorMessage(event.error)}`,
                consecutiveFailures: context.consecutiveFailures + 1,
              })),
              'reportCycle',
            ],
          },
        ],
      },
    },
    idle: {
      entry: 'clearCycle',
      always: [
        { guard: 'isDraining', target: 'stopped' },
        { guard: 'hasPendingRun', target: 'reading', actions: 'startCycle' },
      ],
      after: {
        interval: { guard: ({ context }) => !context.once, target: 'reading', actions: 'startCycle' },
      },
      on: {
        RUN: { target: 'reading', actions: 'startCycle' },
        DRAIN: { target: 'stopped', actions: 'markDraining' },
      },
    },
    reading: {
      description: 'Read this phase\'s inputs (candles; marketstate, position, risk proposal).',
      invoke: {
        src: 'readInputs',
        input: stepInput,
        onDone: [
          {
            guard: ({ event }) => !event.output.read.ok,
            target: 'idle',
            actions: [
              assign(({ event }) => {
                const read = event.output.read as Extract<StepOutput<unknown>, { ok: false }>;
                return {
                  cycleNowMs: event.output.nowMs,
                  lastOutcome: 'skipped' as const,
                  lastSkipReason: read.reason,
                  lastSkipDetail: read.detail,
                  consecutiveFailures: 0,
                };
              }),
              'reportCycle',
            ],
          },
          {
            target: 'computing',
            actions: assign(({ event }) => ({
              cycleNowMs: event.output.nowMs,
              inputs: (event.output.read as Extract<StepOutput<unknown>, { ok: true }>).value,
            })),
          },
        ],
        onError: '#publisher.failed',
      },
    },
    computing: {
      description: 'Run the pure kernel on the inputs.',
      invoke: {
        src: 'computeResult',
        input: stepInput,
        onDone: [
          {
            guard: ({ event }) => !event.output.ok,
            target: 'idle',
            actions: [
              assign(({ event }) => {
                const out = event.output as Extract<StepOutput<unknown>, { ok: false }>;
                return { lastOutcome: 'skipped' as const, lastSkipReason: out.reason, lastSkipDetail: out.detail, consecutiveFailures: 0 };
              }),
              'reportCycle',
            ],
          },
          {
            target: 'deciding',
            actions: assign(({ event }) => ({ result: (event.output as Extract<StepOutput<unknown>, { ok: true }>).value })),
          },
        ],
        // A kernel that throws something other than an input error is a bug, not an outage:
        // report it (it counts as an error) but do not hammer with backoff retries.
        onError: {
          target: 'idle',
          actions: [
            assign(({ event }) => ({ lastOutcome: 'error' as const, lastError: `compute: ${errorMessage(event.error)}` })),
            'reportCycle',
          ],
        },
      },
    },
    deciding: {
      description: 'Rate limit: publish when something changed enough or the last publish is old; else heartbeat.',
      invoke: {
        src: 'decidePublish',
        input: stepInput,
        onDone: [
          { guard: ({ event }) => event.output.publish, target: 'publishing', actions: assign(({ event }) => ({ decision: event.output })) },
          { target: 'heartbeating', actions: assign(({ event }) => ({ decision: event.output })) },
        ],
        onError: {
          target: 'idle',
          actions: [
            assign(({ event }) => ({ lastOutcome: 'error' as const, lastError: `decide: ${errorMessage(event.error)}` })),
            'reportCycle',
          ],
        },
      },
    },
    publishing: {
      description: 'Write the output atomically (MULTI/EXEC).',
      invoke: {
        src: 'publishResult',
        input: stepInput,
        onDone: {
          target: 'idle',
          actions: [
            assign(({ context, event }) => ({
              memory: event.output.memory,
              lastSummary: event.output.summary,
              lastFigures: event.output.figures,
              lastOutcome: 'published' as const,
              lastPublishedAt: context.cycleNowMs,
              lastSkipReason: null,
              lastSkipDetail: null,
              consecutiveFailures: 0,
            })),
            'reportCycle',
          ],
        },
        onError: '#publisher.failed',
      },
    },
    heartbeating: {
      description: 'Rate-limited: only refresh last_update_epoch so readers can tell quiet from dead.',
      invoke: {
        src: 'writeHeartbeat',
        input: stepInput,
        onDone: {
          target: 'idle',
          actions: [
            assign({ lastOutcome: 'heartbeat' as const, lastSkipReason: null, lastSkipDetail: null, consecutiveFailures: 0 }),
            'reportCycle',
          ],
        },
        onError: '#publisher.failed',
      },
    },
    failed: {
      id: 'failed',
      description: 'An I/O step failed: count it, report it, then back off (or, with --once, give up).',
      entry: [
        assign(({ context, event }) => ({
          lastOutcome: 'error' as const,
          lastError: errorMessage((event as unknown as { error: unknown }).error),
          consecutiveFailures: context.consecutiveFailures + 1,
        })),
        'reportCycle',
      ],
      always: [{ guard: 'isOnce', target: 'idle' }, { target: 'backoff' }],
    },
    backoff: {
      description: 'Wait min(cap, base·2^(failures−1)) with jitter, then retry.',
      after: {
        backoffDelay: [
          { guard: 'isDraining', target: 'stopped' },
          { guard: 'memorySeeded', target: 'reading', actions: 'startCycle' },
          { target: 'seeding' },
        ],
      },
      on: {
        DRAIN: { target: 'stopped', actions: 'markDraining' },
      },
    },
    stopped: {
      type: 'final',
    },
  },
});

export type PublisherMachine = typeof publisherMachine;
