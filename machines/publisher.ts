// The publisher: one actor per (phase, symbol). It runs one cycle at a time —
//   idle → reading → computing → deciding → publishing | heartbeating → idle
// and on an I/O failure waits in `backoff` (capped exponential delay with jitter, reset after a
// success) before trying again. A counted skip (no position, stale input, …) is not a failure:
// it goes straight back to idle.
//
// WAKE (from the supervisor, when the store is ready again after an outage) cuts a long backoff
// short: the timer is re-armed with a random delay below WAKE_SPREAD_MS, so every publisher
// retries within a quarter second of Redis answering — a thousand of them spread over that
// quarter second, not in one instant — instead of waiting out a backoff of up to backoffCapMs.
// A WAKE that arrives while a cycle is under way is remembered: if that cycle fails (it may have
// failed on the connection that just came back), its retry is the short wake delay too.
//
// The machine knows nothing about Redis or kernels: every step is injected — the I/O steps
// (`seedMemory`, `readInputs`, `publishResult`, `writeHeartbeat`) as the one long-lived step actor
// `steps` (machines/stepActor.ts: the state sends it a request on entry, and leaves on the
// `<step>.done` / `<step>.error` event it sends back), the pure ones as one action
// (`computeAndDecide`) — so the same definition runs against Redis, the embedded store and test
// doubles. src/phases/steps.ts adapts a phase's steps to both.
//
// The step protocol is typed per phase: `createPublisherMachine<Memory, Inputs, Result>()` builds
// the definition whose context and step inputs carry the phase's own types, so the adapter hands
// the phase's values to its steps as they are — no cast at the boundary. `publisherMachine` is
// the same definition over `unknown`: what the supervisor declares and the diagrams draw.
// Imports go one way: src/phases → machines → src/inputs/types.ts (the shared `Read<T>`).
import { assign, enqueueActions, sendParent, sendTo, setup } from "xstate";
import type { Read, SkipReason } from "../src/inputs/types.js";
import { passedOn, type ChainHandoff } from "../src/inputs/handoff.js";
import { errorMessage } from "../src/core/errors.js";

export type { PhaseName } from "../src/core/phases.js";
import type { PhaseName } from "../src/core/phases.js";
import { cappedExponentialMs, equalJitterMs } from "../src/core/backoff.js";
import { timerActor, type TimerCommand as TimerCommandOf } from "./timer.js";
import { fromSteps, type StepReply, type StepRequest } from "./stepActor.js";
export type CycleOutcome = "published" | "heartbeat" | "skipped" | "error";
/**
 * What started a cycle: its polling interval, a RUN (chaining, the klines follower, the first
 * cycle after a re-seed), the end of a backoff (RETRY), or a WAKE that cut the backoff short.
 */
export type CycleTrigger = "interval" | "run" | "retry" | "wake";

/** After a WAKE, each publisher in backoff retries after a random delay in [0, WAKE_SPREAD_MS). */
export const WAKE_SPREAD_MS = 250;

export interface BackoffSettings {
  baseMs: number;
  capMs: number;
}

export interface PublisherInput {
  phase: PhaseName;
  symbol: string;
  /** Polling interval; cycles also start on RUN (chaining). */
  intervalMs: number;
  /**
   * Delay before the first interval cycle (default: intervalMs). The supervisor staggers it
   * across symbols so that thousands of publishers do not all poll in the same instant.
   */
  firstDelayMs?: number;
  backoff: BackoffSettings;
  /** `--once`: no interval, no backoff; each RUN is one cycle whose outcome is reported. */
  once?: boolean;
}

/** Whom a step runs for: the input of the seed and read steps. */
export interface StepTarget {
  phase: PhaseName;
  symbol: string;
}
/** The read step's input: whom for, and what the chain that ran this cycle handed on (src/inputs/handoff.ts). */
export interface ReadInput extends StepTarget {
  handoff: ChainHandoff | null;
}
/** The publish step's input: this cycle's clock reading, inputs and result. */
export interface PublishInput<Inputs, Result> extends StepTarget {
  nowMs: number;
  inputs: Inputs;
  result: Result;
}
/** The heartbeat step's input. */
export interface HeartbeatInput extends StepTarget {
  nowMs: number;
}

/**
 * The publisher's I/O steps, run by its step actor (machines/stepActor.ts). `alive()` tells
 * whether the request is still the one under way (false once the publisher stopped): a step that
 * waits before its I/O (the step gate) asks it.
 */
export type IoSteps<Memory, Inputs, Result> = {
  seedMemory: (input: StepTarget, alive: () => boolean) => PromiseLike<Memory | null>;
  readInputs: (input: ReadInput, alive: () => boolean) => PromiseLike<ReadOutput<Inputs>>;
  publishResult: (
    input: PublishInput<Inputs, Result>,
    alive: () => boolean,
  ) => PromiseLike<PublishOutput<Memory>>;
  writeHeartbeat: (input: HeartbeatInput, alive: () => boolean) => PromiseLike<void>;
};
/** A request to the step actor (the state that needs the step sends it on entry). */
export type IoStepRequest<Memory = unknown, Inputs = unknown, Result = unknown> = StepRequest<
  IoSteps<Memory, Inputs, Result>
>;
/** The step actor's answer: `readInputs.done` (its `output`), `readInputs.error` (its `error`), … */
export type IoStepReply<Memory = unknown, Inputs = unknown, Result = unknown> = StepReply<
  IoSteps<Memory, Inputs, Result>
>;
/** The I/O steps' names (the step actor's requests; `<name>.done` / `.error` its answers). */
export const IO_STEPS = ["seedMemory", "readInputs", "publishResult", "writeHeartbeat"] as const;

/** A synchronous step's outcome: a value, a counted skip, or an unexpected error (a bug). */
export type StepResult<T> =
  | { kind: "ok"; value: T }
  | { kind: "skip"; reason: SkipReason; detail: string }
  | { kind: "error"; message: string };

/** The read step's output. */
export interface ReadOutput<Inputs> {
  /** The cycle's clock reading, taken by the step: decisions compare against it. */
  nowMs: number;
  read: Read<Inputs>;
  /** What this cycle passes on to the next phase of its chain, whatever its outcome. */
  handoff?: ChainHandoff | null;
}
export interface Decision {
  publish: boolean;
  /** Why (e.g. `first_publish`, `sl_changed`, `rate_limited`): logged and shown in the visualizer. */
  why: string;
}
/** The publish step's output. */
export interface PublishOutput<Memory> {
  /** The rate-limit memory after this publish. */
  memory: Memory;
  /** One human-readable line of the key figures, e.g. `PARTIAL_25 R=2.45 K=0.503 SL=100.2`. */
  summary: string;
  /** The key figures as numbers (metrics gauges, status). */
  figures: Record<string, number>;
  /** The key facts that are words (e.g. the harvest action, the policy version), for metrics labels. */
  labels?: Record<string, string>;
  /** What the publish wrote that the next phase of the chain reads (on top of the read's hand-off). */
  handoff?: ChainHandoff | null;
}

/** Sent to the parent (supervisor) at the end of every cycle. */
export interface CycleDoneEvent {
  type: "CYCLE_DONE";
  phase: PhaseName;
  symbol: string;
  outcome: CycleOutcome;
  reason: string | null;
  detail: string | null;
  summary: string | null;
  /** Key figures of a publish (e.g. kill_score, R_net), null otherwise. */
  figures: Record<string, number> | null;
  /** Key words of a publish (e.g. harvest_action), null otherwise. */
  labels: Record<string, string> | null;
  /** When the chain that triggered this cycle started (marketstate publish), for latency. */
  chainStartedAt: number | null;
  /** The cycle's clock reading from its read step (null when it failed before reading). */
  startedAtMs: number | null;
  consecutiveFailures: number;
  /**
   * What started the cycle — or the retry whose re-seed failed; null when the first seeding
   * failed. Always set by the publisher; optional so that events made by hand (tests, replays)
   * need not name it.
   */
  trigger?: CycleTrigger | null;
  /**
   * What the next phase of the chain takes instead of reading it back (src/inputs/handoff.ts);
   * optional like `trigger`.
   */
  handoff?: ChainHandoff | null;
}

/** What the publisher was started with; never changes. */
export interface PublisherSettings {
  intervalMs: number;
  firstDelayMs: number;
  backoff: BackoffSettings;
  once: boolean;
}

/** The phase's rate-limit memory: what was last published. */
export interface RateLimitState<Memory> {
  /** Loaded from the output hash (seeding); false again after a publish whose outcome is unknown. */
  seeded: boolean;
  /** null: nothing published yet. */
  memory: Memory | null;
}

/** The cycle under way (or the last one): made anew when a cycle starts. */
export interface CycleState<Inputs, Result> {
  /** What started it; for a re-seed, the retry that did. null before the first cycle. */
  trigger: CycleTrigger | null;
  /** When the chain that triggered it started (marketstate publish), for latency. */
  chainStartedAt: number | null;
  /** What the RUN that started it handed on (null: an interval or retry cycle reads everything). */
  handoff: ChainHandoff | null;
  /** What it passes on to the next phase of its chain (its read's, then its publish's). */
  passOn: ChainHandoff | null;
  /** The read step's clock reading (0 before it). */
  nowMs: number;
  /** Its inputs, once read (null before: a phase's inputs are never null). */
  inputs: Inputs | null;
  /** What computeResult made of the inputs; its value is the cycle's result when ok. */
  computed: StepResult<Result> | null;
  decision: Decision | null;
  /** The publish's key figures and words (null unless this cycle published). */
  figures: Record<string, number> | null;
  labels: Record<string, string> | null;
}

/** What arrived while the publisher was busy, to act on when it can. */
export interface PendingRequests {
  /** A RUN: run again as soon as the cycle under way ends. */
  run: boolean;
  /** The chain start that RUN carried. */
  chainStartedAt: number | null;
  /** The hand-off the latest RUN carried (a later RUN replaces it: it is the newer publish). */
  handoff: ChainHandoff | null;
  /** What the cycle run right after a re-seed is asked by. */
  trigger: CycleTrigger | null;
  /** A WAKE during the cycle under way: if it fails, retry after the wake delay. */
  wake: boolean;
  /** A DRAIN: finish the cycle under way, then stop. */
  drain: boolean;
}

/**
 * `Memory`, `Inputs` and `Result` are the phase's types (unknown where the phase does not matter).
 *
 * Grouped, and kept to a few top-level fields (CONTEXT_FIELD_BUDGET), because XState's assign
 * copies the context with `Object.assign({}, context, update)`: past 19 properties V8 turns that
 * copy into a dictionary (hash table) — every later copy costs several µs, every read is a hash
 * lookup, and each copy leaves ~1 KB of garbage; a cycle assigns three times (its start, its
 * read + compute + decide, its end). The groups change together (the cycle's fields at its start,
 * the pending requests when they arrive); the health endpoint, the visualizer and the tests read
 * the last outcome at the top level.
 */
export interface PublisherContext<Memory = unknown, Inputs = unknown, Result = unknown> {
  phase: PhaseName;
  symbol: string;
  settings: PublisherSettings;
  rateLimit: RateLimitState<Memory>;
  cycle: CycleState<Inputs, Result>;
  pending: PendingRequests;
  /** Cycles started. */
  cycles: number;
  consecutiveFailures: number;
  /** The delay the backoff timer was armed with (ms); null outside backoff. */
  retryDelayMs: number | null;
  /** The backoff under way is the short wake delay: its retry is a 'wake' cycle. */
  woken: boolean;
  lastOutcome: CycleOutcome | null;
  lastError: string | null;
  lastSkipReason: SkipReason | null;
  lastSkipDetail: string | null;
  lastSummary: string | null;
  lastPublishedAt: number | null;
}

/**
 * The most top-level context fields the publisher may have: V8 keeps a copy made by
 * `Object.assign({}, …)` a fast object up to 19 (Node 20); the margin is for whoever adds one.
 * test/machines/publisher.test.ts holds the context to it.
 */
export const CONTEXT_FIELD_BUDGET = 16;

export type PublisherEvent =
  | { type: "RUN"; chainStartedAt?: number | null; handoff?: ChainHandoff | null }
  | { type: "DRAIN" }
  /** From the timer actor: the polling interval elapsed. */
  | { type: "INTERVAL" }
  /** From the timer actor: the backoff delay elapsed. */
  | { type: "RETRY" }
  /** From the supervisor: the store is ready again after an outage; retry soon. */
  | { type: "WAKE" };

export type TimerCommand = TimerCommandOf<"INTERVAL" | "RETRY">;

/** The publisher's one timer (machines/timer.ts): the interval and the backoff. */
const timer = timerActor<"INTERVAL" | "RETRY">();

/**
 * Backoff before retry number `failures` (1-based): min(cap, base·2^(failures−1)), with "equal
 * jitter" — a uniformly random point in its upper half — so that many actors failing together
 * (Redis went away) do not retry in lockstep, yet the delay never collapses to zero.
 */
export function backoffDelayMs(
  failures: number,
  settings: BackoffSettings,
  random: () => number = Math.random,
): number {
  return equalJitterMs(
    cappedExponentialMs(Math.max(failures, 1), settings.baseMs, settings.capMs),
    random,
  );
}

/** The retry delay after a WAKE: uniform in [0, spreadMs), so woken actors do not stampede. */
export function wakeDelayMs(
  spreadMs: number = WAKE_SPREAD_MS,
  random: () => number = Math.random,
): number {
  return Math.min(Math.max(Math.floor(random() * spreadMs), 0), Math.max(spreadMs - 1, 0));
}

/** Placeholder step: the machine is always run with its steps provided (publisherFor). */
function notProvided(step: string) {
  return (): Promise<never> =>
    Promise.reject(new Error(`publisher step '${step}' was not provided`));
}

/** This cycle's inputs and result, once compute succeeded (deciding and publishing); else null. */
export function computedCycle<Inputs, Result>(
  cycle: Pick<CycleState<Inputs, Result>, "inputs" | "computed">,
): { inputs: Inputs; result: Result } | null {
  const { inputs, computed } = cycle;
  return inputs !== null && computed?.kind === "ok" ? { inputs, result: computed.value } : null;
}

const NOTHING_PENDING: PendingRequests = {
  run: false,
  chainStartedAt: null,
  handoff: null,
  trigger: null,
  wake: false,
  drain: false,
};
const ONLY_DRAIN_PENDING: PendingRequests = { ...NOTHING_PENDING, drain: true };

/** The pending requests without a WAKE (the same object when there is none). */
const withoutWake = (pending: PendingRequests): PendingRequests =>
  pending.wake ? { ...pending, wake: false } : pending;

/**
 * Every transition into idle carries this: the cycle (or the seeding) ended without a failure, so
 * a WAKE during it is moot. (It was an assign of its own on idle's entry: one more copy of the
 * context per cycle.)
 */
const endedWithoutFailure = (context: { pending: PendingRequests }) => ({
  pending: withoutWake(context.pending),
});

/** A counted skip: the cycle ends without an error and without backoff. */
const skipped = (context: { pending: PendingRequests }, reason: SkipReason, detail: string) =>
  ({
    lastOutcome: "skipped",
    lastSkipReason: reason,
    lastSkipDetail: detail,
    consecutiveFailures: 0,
    ...endedWithoutFailure(context),
  }) as const;

/**
 * The publisher definition over a phase's types: the rate-limit memory, the inputs its read
 * step delivers and the result its compute step makes of them. The steps are placeholders until
 * `.provide()` (src/phases/steps.ts `publisherFor`); every guard is named, so the diagrams show
 * why a branch is taken in words.
 */
export function createPublisherMachine<Memory = unknown, Inputs = unknown, Result = unknown>() {
  type Context = PublisherContext<Memory, Inputs, Result>;

  type Request = IoStepRequest<Memory, Inputs, Result>;
  // The step actor's requests, each tagged with the cycle that asks (a re-seed: the cycle whose
  // retry re-seeds).
  const seedRequest = ({ context }: { context: Context }): Request => ({
    type: "seedMemory",
    cycle: context.cycles,
    input: { phase: context.phase, symbol: context.symbol },
  });
  const readRequest = ({ context }: { context: Context }): Request => ({
    type: "readInputs",
    cycle: context.cycles,
    input: { phase: context.phase, symbol: context.symbol, handoff: context.cycle.handoff },
  });
  const heartbeatRequest = ({ context }: { context: Context }): Request => ({
    type: "writeHeartbeat",
    cycle: context.cycles,
    input: { phase: context.phase, symbol: context.symbol, nowMs: context.cycle.nowMs },
  });
  /**
   * The publish step's request. Publishing is entered only from deciding, which is entered only
   * after compute succeeded; XState does not narrow context by state, so this checks it.
   */
  const publishRequest = ({ context }: { context: Context }): Request => {
    const cycle = computedCycle(context.cycle);
    if (cycle === null) throw new Error("publisher: publishing without a computed result");
    return {
      type: "publishResult",
      cycle: context.cycles,
      input: {
        phase: context.phase,
        symbol: context.symbol,
        nowMs: context.cycle.nowMs,
        inputs: cycle.inputs,
        result: cycle.result,
      },
    };
  };

  return setup({
    types: {
      context: {} as Context,
      events: {} as PublisherEvent | IoStepReply<Memory, Inputs, Result>,
      input: {} as PublisherInput,
    },
    actors: {
      steps: fromSteps<IoSteps<Memory, Inputs, Result>>({
        seedMemory: notProvided("seedMemory"),
        readInputs: notProvided("readInputs"),
        publishResult: notProvided("publishResult"),
        writeHeartbeat: notProvided("writeHeartbeat"),
      }),
      timer,
    },
    guards: {
      isOnce: ({ context }) => context.settings.once,
      isDraining: ({ context }) => context.pending.drain,
      hasPendingRun: ({ context }) => context.pending.run,
      memorySeeded: ({ context }) => context.rateLimit.seeded,
      /** The read step found nothing to compute from (no position, stale input, …). */
      readSkipped: (_args, output: ReadOutput<Inputs>) => !output.read.ok,
      /** The kernel threw something other than an input error: a bug. */
      computeFailed: ({ context }) => context.cycle.computed?.kind === "error",
      /** The kernel refused the inputs for a counted reason (insufficient data, bad input). */
      computeSkipped: ({ context }) => context.cycle.computed?.kind === "skip",
      /** The decide step threw (or had no result to decide on). */
      noDecision: ({ context }) => context.cycle.decision === null,
      shouldPublish: ({ context }) => context.cycle.decision?.publish === true,
      /** The store came back while this cycle ran: the failure may be the old connection's. */
      wokenDuringCycle: ({ context }) => context.pending.wake,
      /** Not woken yet, and the backoff is longer than the wake delay could be. */
      wakeShortensBackoff: ({ context }) =>
        !context.woken && (context.retryDelayMs ?? 0) > WAKE_SPREAD_MS,
    },
    actions: {
      /**
       * Provided per phase (src/phases/steps.ts): takes the read's clock reading and inputs from
       * the `readInputs.done` that entered computing, runs compute and — when it succeeded —
       * decide, and assigns all four to `cycle` at once: pure, synchronous, one copy of the
       * context (it was three: the read's, compute's and decide's assigns).
       */
      computeAndDecide: assign(({ context, event }) => ({
        cycle: {
          ...context.cycle,
          nowMs: event.type === "readInputs.done" ? event.output.nowMs : context.cycle.nowMs,
          passOn: event.type === "readInputs.done" ? (event.output.handoff ?? null) : null,
          computed: {
            kind: "error",
            message: "publisher step 'computeAndDecide' was not provided",
          } satisfies StepResult<Result>,
          decision: null,
        },
      })),
      /** Overridden in tests that run a publisher without a parent. */
      reportCycle: sendParent(({ context }): CycleDoneEvent => ({
        type: "CYCLE_DONE",
        phase: context.phase,
        symbol: context.symbol,
        outcome: context.lastOutcome ?? "error",
        reason:
          context.lastOutcome === "skipped"
            ? context.lastSkipReason
            : context.lastOutcome === "error"
              ? "error"
              : (context.cycle.decision?.why ?? null),
        detail:
          context.lastOutcome === "skipped"
            ? context.lastSkipDetail
            : context.lastOutcome === "error"
              ? context.lastError
              : null,
        summary: context.lastOutcome === "published" ? context.lastSummary : null,
        figures: context.lastOutcome === "published" ? context.cycle.figures : null,
        labels: context.lastOutcome === "published" ? context.cycle.labels : null,
        chainStartedAt: context.cycle.chainStartedAt,
        handoff: context.cycle.passOn,
        startedAtMs: context.cycle.nowMs > 0 ? context.cycle.nowMs : null,
        consecutiveFailures: context.consecutiveFailures,
        trigger: context.cycle.trigger,
      })),
      markPendingRun: assign(({ context, event }) => ({
        pending: {
          ...context.pending,
          run: true,
          chainStartedAt:
            event.type === "RUN" && event.chainStartedAt != null
              ? event.chainStartedAt
              : context.pending.chainStartedAt,
          handoff: event.type === "RUN" ? (event.handoff ?? null) : context.pending.handoff,
          trigger: context.pending.trigger ?? "run",
        },
      })),
      markDraining: assign(({ context }) => ({ pending: { ...context.pending, drain: true } })),
      /** A new cycle: its own state, and every pending request but a DRAIN consumed. */
      startCycle: assign(({ context, event }) => ({
        cycle: {
          trigger:
            event.type === "INTERVAL"
              ? "interval"
              : event.type === "RUN"
                ? "run"
                : event.type === "RETRY"
                  ? context.woken
                    ? "wake"
                    : "retry"
                  : (context.pending.trigger ?? "run"),
          chainStartedAt:
            event.type === "RUN" && event.chainStartedAt != null
              ? event.chainStartedAt
              : context.pending.chainStartedAt,
          // A RUN's hand-off (its own, or the pending one's); an interval or a retry after a
          // backoff reads everything.
          handoff:
            event.type === "RUN"
              ? (event.handoff ?? null)
              : event.type === "INTERVAL" || event.type === "RETRY"
                ? null
                : context.pending.handoff,
          passOn: null,
          nowMs: 0,
          inputs: null,
          computed: null,
          decision: null,
          figures: null,
          labels: null,
        } satisfies CycleState<Inputs, Result>,
        pending: context.pending.drain ? ONLY_DRAIN_PENDING : NOTHING_PENDING,
        cycles: context.cycles + 1,
        woken: false,
      })),
      /** A WAKE outside backoff: remembered for the cycle under way (cleared when the next starts). */
      markWakePending: assign(({ context }) => ({ pending: { ...context.pending, wake: true } })),
      /** The backoff's retry becomes the wake delay (backoff is re-entered, re-arming its timer). */
      markWoken: assign(({ context }) => ({ woken: true, pending: withoutWake(context.pending) })),
      /** Arm the backoff timer: the wake delay when woken, else the capped exponential backoff. */
      armRetry: enqueueActions(({ context, enqueue }) => {
        const ms = context.woken
          ? wakeDelayMs()
          : backoffDelayMs(context.consecutiveFailures, context.settings.backoff);
        enqueue.assign({ retryDelayMs: ms });
        enqueue.sendTo("timer", { type: "ARM", ms, event: "RETRY" } satisfies TimerCommand);
      }),
      /** An I/O step failed (its error event's `error`): count it; `failed` reports it. */
      recordFailure: assign(({ context }, params: { error: unknown }) => ({
        lastOutcome: "error" as const,
        lastError: errorMessage(params.error),
        consecutiveFailures: context.consecutiveFailures + 1,
      })),
    },
  }).createMachine({
    id: "publisher",
    context: ({ input }): Context => ({
      phase: input.phase,
      symbol: input.symbol,
      settings: {
        intervalMs: input.intervalMs,
        firstDelayMs: input.firstDelayMs ?? input.intervalMs,
        backoff: input.backoff,
        once: input.once ?? false,
      },
      rateLimit: { seeded: false, memory: null },
      cycle: {
        trigger: null,
        chainStartedAt: null,
        handoff: null,
        passOn: null,
        nowMs: 0,
        inputs: null,
        computed: null,
        decision: null,
        figures: null,
        labels: null,
      },
      pending: NOTHING_PENDING,
      cycles: 0,
      consecutiveFailures: 0,
      retryDelayMs: null,
      woken: false,
      lastOutcome: null,
      lastError: null,
      lastSkipReason: null,
      lastSkipDetail: null,
      lastSummary: null,
      lastPublishedAt: null,
    }),
    initial: "seeding",
    // Two long-lived children: the timer, and the step actor that runs every I/O step (its
    // input: the publisher, so a step queued for a publisher that is no longer running never
    // starts).
    invoke: [
      { id: "timer", src: "timer" },
      { id: "steps", src: "steps", input: ({ self }) => ({ publisher: self }) },
    ],
    // Outside idle a RUN never starts a second cycle: it is remembered and run right after.
    // A WAKE outside backoff is remembered for the cycle under way (backoff handles its own).
    on: {
      RUN: { actions: "markPendingRun" },
      DRAIN: { actions: "markDraining" },
      WAKE: { actions: "markWakePending" },
    },
    states: {
      seeding: {
        description:
          "Load the rate-limit memory from the output hash, so a restart does not cause a publish storm.",
        entry: sendTo("steps", seedRequest),
        on: {
          "seedMemory.done": {
            target: "idle",
            actions: assign(({ context, event }) => ({
              rateLimit: { seeded: true, memory: event.output },
              consecutiveFailures: 0,
              ...endedWithoutFailure(context),
            })),
          },
          "seedMemory.error": {
            target: "#publisher.failed",
            actions: { type: "recordFailure", params: ({ event }) => ({ error: event.error }) },
          },
        },
      },
      idle: {
        always: [
          { guard: "isDraining", target: "stopped" },
          { guard: "hasPendingRun", target: "reading", actions: "startCycle" },
        ],
        entry: [
          sendTo("timer", ({ context }): TimerCommand => ({
            type: "ARM",
            ms: context.settings.once
              ? Number.POSITIVE_INFINITY
              : context.cycles === 0
                ? context.settings.firstDelayMs
                : context.settings.intervalMs,
            event: "INTERVAL",
          })),
        ],
        exit: sendTo("timer", { type: "DISARM" } satisfies TimerCommand),
        on: {
          INTERVAL: { target: "reading", actions: "startCycle" },
          RUN: { target: "reading", actions: "startCycle" },
          DRAIN: { target: "stopped", actions: "markDraining" },
        },
      },
      reading: {
        description: "Read this phase's inputs (candles; marketstate, position, risk proposal).",
        entry: sendTo("steps", readRequest),
        on: {
          "readInputs.done": [
            {
              guard: { type: "readSkipped", params: ({ event }) => event.output },
              target: "idle",
              actions: [
                assign(({ context, event }) => {
                  const { nowMs, read } = event.output;
                  const cycle = { ...context.cycle, nowMs, passOn: event.output.handoff ?? null };
                  return read.ok
                    ? { cycle, ...endedWithoutFailure(context) }
                    : { cycle, ...skipped(context, read.reason, read.detail) };
                }),
                "reportCycle",
              ],
            },
            // The inputs and the clock reading are assigned by computing's entry, with the result
            // and the decision: one copy of the context instead of three.
            { target: "computing" },
          ],
          "readInputs.error": {
            target: "#publisher.failed",
            actions: { type: "recordFailure", params: ({ event }) => ({ error: event.error }) },
          },
        },
      },
      // computing and deciding are pure and synchronous: one injected action on computing's entry
      // runs compute and then decide (on the inputs of the readInputs.done that entered it), and
      // both states leave by eventless transitions — no actor, timer or promise per cycle. The
      // states stay apart so that the diagram and the guards say which of the two refused.
      computing: {
        description: "Run the pure kernel on the inputs (and, when it succeeded, the rate limit).",
        entry: "computeAndDecide",
        always: [
          {
            // A kernel that throws something other than an input error is a bug, not an outage:
            // report it (it counts as an error) but do not hammer with backoff retries.
            guard: "computeFailed",
            target: "idle",
            actions: [
              assign(({ context }) => {
                const { computed } = context.cycle;
                return {
                  lastOutcome: "error" as const,
                  lastError: `compute: ${computed?.kind === "error" ? computed.message : "failed"}`,
                  ...endedWithoutFailure(context),
                };
              }),
              "reportCycle",
            ],
          },
          {
            guard: "computeSkipped",
            target: "idle",
            actions: [
              assign(({ context }) => {
                const { computed } = context.cycle;
                return computed?.kind === "skip"
                  ? skipped(context, computed.reason, computed.detail)
                  : endedWithoutFailure(context);
              }),
              "reportCycle",
            ],
          },
          { target: "deciding" },
        ],
      },
      deciding: {
        description:
          "Rate limit: publish when something changed enough or the last publish is old; else heartbeat.",
        always: [
          {
            guard: "noDecision",
            target: "idle",
            actions: [
              assign(({ context }) => ({
                lastOutcome: "error" as const,
                lastError: "decide: no decision",
                ...endedWithoutFailure(context),
              })),
              "reportCycle",
            ],
          },
          { guard: "shouldPublish", target: "publishing" },
          { target: "heartbeating" },
        ],
      },
      publishing: {
        description: "Write the output atomically (MULTI/EXEC).",
        entry: sendTo("steps", publishRequest),
        on: {
          "publishResult.done": {
            target: "idle",
            actions: [
              assign(({ context, event }) => ({
                rateLimit: { seeded: context.rateLimit.seeded, memory: event.output.memory },
                cycle: {
                  ...context.cycle,
                  figures: event.output.figures,
                  labels: event.output.labels ?? null,
                  passOn: passedOn(context.cycle.passOn, event.output.handoff),
                },
                lastSummary: event.output.summary,
                lastOutcome: "published" as const,
                lastPublishedAt: context.cycle.nowMs,
                lastSkipReason: null,
                lastSkipDetail: null,
                consecutiveFailures: 0,
                ...endedWithoutFailure(context),
              })),
              "reportCycle",
            ],
          },
          // A failed publish has an unknown outcome: the reply may have been lost after Redis ran
          // it. Forget the rate-limit memory so the retry re-reads the output hash first (seeding,
          // then straight on to a cycle): if the publish did land, the same result is not published
          // — and appended to the stream — a second time (test/faults/lostReply.test.ts).
          "publishResult.error": {
            target: "#publisher.failed",
            actions: [
              assign(({ context }) => ({
                rateLimit: { seeded: false, memory: context.rateLimit.memory },
                pending: { ...context.pending, run: context.pending.run || !context.settings.once },
              })),
              { type: "recordFailure", params: ({ event }) => ({ error: event.error }) },
            ],
          },
        },
      },
      heartbeating: {
        description:
          "Rate-limited: only refresh last_update_epoch so readers can tell quiet from dead.",
        entry: sendTo("steps", heartbeatRequest),
        on: {
          "writeHeartbeat.done": {
            target: "idle",
            actions: [
              assign(({ context }) => ({
                lastOutcome: "heartbeat" as const,
                lastSkipReason: null,
                lastSkipDetail: null,
                consecutiveFailures: 0,
                ...endedWithoutFailure(context),
              })),
              "reportCycle",
            ],
          },
          "writeHeartbeat.error": {
            target: "#publisher.failed",
            actions: { type: "recordFailure", params: ({ event }) => ({ error: event.error }) },
          },
        },
      },
      failed: {
        id: "failed",
        description:
          "An I/O step failed: count it, report it, then back off (or, with --once, give up).",
        // The failing step's transition recorded the error (recordFailure); entry reports it.
        entry: "reportCycle",
        // --once: this failure is the cycle's outcome; a RUN that arrived meanwhile is consumed by it.
        // Draining (SIGTERM): stop here. A retry after the backoff would start a new cycle — and
        // possibly a publish — during shutdown (test/faults/sigterm.test.ts).
        // A WAKE during the failed cycle: the store is back, retry after the short wake delay.
        always: [
          {
            guard: "isOnce",
            target: "idle",
            actions: assign(({ context }) => ({
              pending: { ...context.pending, run: false, wake: false },
            })),
          },
          { guard: "isDraining", target: "stopped" },
          { guard: "wokenDuringCycle", target: "backoff", actions: "markWoken" },
          { target: "backoff" },
        ],
      },
      backoff: {
        description:
          "Wait min(cap, base·2^(failures−1)) with jitter, then retry; WAKE (the store is back) cuts it to < 250 ms.",
        entry: "armRetry",
        exit: [
          sendTo("timer", { type: "DISARM" } satisfies TimerCommand),
          assign({ retryDelayMs: null }),
        ],
        on: {
          RETRY: [
            { guard: "memorySeeded", target: "reading", actions: "startCycle" },
            {
              target: "seeding",
              // The re-seed is part of the retry: a failure in it reports this trigger, and the
              // cycle run right after it (a failed publish left pending.run) carries it too.
              actions: assign(({ context }) => {
                const trigger: CycleTrigger = context.woken ? "wake" : "retry";
                const { pending } = context;
                return {
                  cycle: { ...context.cycle, trigger },
                  pending: {
                    ...pending,
                    trigger: pending.run ? trigger : pending.trigger,
                    wake: false,
                  },
                  woken: false,
                };
              }),
            },
          ],
          // Re-entered: the exit disarms the backoff timer, the entry arms the wake delay.
          WAKE: {
            guard: "wakeShortensBackoff",
            target: "backoff",
            reenter: true,
            actions: "markWoken",
          },
          DRAIN: { target: "stopped", actions: "markDraining" },
        },
      },
      stopped: {
        type: "final",
      },
    },
  });
}

/** The publisher machine over a phase's types, as `createPublisherMachine` builds it. */
export type PublisherMachine<Memory = unknown, Inputs = unknown, Result = unknown> = ReturnType<
  typeof createPublisherMachine<Memory, Inputs, Result>
>;

/**
 * A publisher over some phase's types, as XState's own `AnyStateMachine` is a machine over some
 * context: a machine's type is invariant in its context, so this is the one view under which the
 * three phases' publishers are one kind of child (the supervisor's actors, the service's wrapper).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the one existential view, as above
export type AnyPublisherMachine = PublisherMachine<any, any, any>;

/** The definition over `unknown`: what the supervisor declares, the diagrams draw and the visualizer names events by. */
export const publisherMachine: PublisherMachine = createPublisherMachine();
