// The klines follower: one long-lived actor under the supervisor that follows the market
// publisher's stream of closed candles (docs/specification.md §5) and tells the supervisor which symbols have a
// new candle, so their marketstate cycles — and through the chain risk and harvest — run at once
// instead of at the next interval.
//
//   locating → following ⟲ (one blocking read per turn) ; any I/O failure → failed → backoff → locating
//
// It reads with plain XREAD from the stream's end, never with a consumer group: other services
// consume this stream, and nothing is acknowledged or deleted. `locating` takes the id of the
// newest entry (the `$` of the moment) and every read continues after the last id seen, so no
// entry that arrives between two blocking reads is missed. After an outage the follower starts
// again from the end and asks the supervisor to RESYNC: every marketstate publisher re-reads its
// sorted set, where the data sink has put the candles this follower did not see.
//
// WAKE (from the supervisor, when the follower's connection is ready again after an outage) cuts
// a long backoff short, as in the publisher: the retry timer is re-armed with a random delay
// below WAKE_SPREAD_MS. A WAKE during a locate or a read is remembered in case that step fails.
//
// Like the publisher, it knows no Redis: `locateEnd` and `readBatch` are injected promise actors
// (src/phases/klinesFollower.ts adapts them to a store), so the same definition runs against Redis,
// the embedded store and test doubles.
import { assign, enqueueActions, fromPromise, sendParent, sendTo, setup } from "xstate";
import { backoffDelayMs, wakeDelayMs, WAKE_SPREAD_MS, type BackoffSettings } from "./publisher.js";
import { errorMessage } from "../src/core/errors.js";
import { timerActor, type TimerCommand as TimerCommandOf } from "./timer.js";

export interface KlinesFollowerInput {
  backoff: BackoffSettings;
}

/** What one blocking read delivered. */
export interface KlinesBatch {
  /** The id to continue after (the last entry read, or the one given when nothing arrived). */
  lastId: string;
  /** Running symbols with a new closed candle in this batch, each once, in stream order. */
  symbols: string[];
}

export interface KlinesFollowerContext {
  backoff: BackoffSettings;
  /** Continue after this id; null until located. */
  lastId: string | null;
  consecutiveFailures: number;
  lastError: string | null;
  /** Set after a failure: the next successful locate asks the supervisor to resync. */
  resumed: boolean;
  batches: number;
  /** The delay the retry timer was armed with (ms); null outside backoff. */
  retryDelayMs: number | null;
  /** The backoff under way is the short wake delay. */
  woken: boolean;
  /** A WAKE arrived during the step under way: if it fails, retry after the wake delay. */
  wakePending: boolean;
  /** What ended the last backoff: its own delay (retry) or a WAKE; null before any. */
  lastRetry: "retry" | "wake" | null;
}

/** To the supervisor. */
export type KlinesFollowerEvent =
  | { type: "KLINES.CANDLES"; symbols: string[] }
  | { type: "KLINES.RESYNC" }
  | { type: "KLINES.FAILED"; error: string; consecutiveFailures: number };

type TimerCommand = TimerCommandOf<"RETRY">;

/** The one backoff timer (machines/timer.ts). */
const retryTimer = timerActor<"RETRY">();

function notProvided<T, I>(step: string) {
  return fromPromise<T, I>(async () => {
    throw new Error(`klines follower step '${step}' was not provided`);
  });
}

export const klinesFollowerMachine = setup({
  types: {
    context: {} as KlinesFollowerContext,
    input: {} as KlinesFollowerInput,
    events: {} as { type: "DRAIN" } | { type: "RETRY" } | { type: "WAKE" },
  },
  actors: {
    locateEnd: notProvided<string, void>("locateEnd"),
    readBatch: notProvided<KlinesBatch, { afterId: string }>("readBatch"),
    retryTimer,
  },
  guards: {
    /** The locate follows a failure: the supervisor is to resync. */
    isResume: ({ context }) => context.resumed,
    /** The batch just read (readBatch's output) has closed candles of running symbols. */
    hasNewCandles: (_args, batch: KlinesBatch) => batch.symbols.length > 0,
    /** The connection came back while the failed step ran: the failure may be the old connection's. */
    wokenDuringStep: ({ context }) => context.wakePending,
    /** Not woken yet, and the backoff is longer than the wake delay could be. */
    wakeShortensBackoff: ({ context }) =>
      !context.woken && (context.retryDelayMs ?? 0) > WAKE_SPREAD_MS,
  },
  actions: {
    reportCandles: sendParent(
      (_args, batch: KlinesBatch) =>
        ({
          type: "KLINES.CANDLES",
          symbols: batch.symbols,
        }) satisfies KlinesFollowerEvent,
    ),
    reportResync: sendParent({ type: "KLINES.RESYNC" } satisfies KlinesFollowerEvent),
    /** A step failed (its error event's `error`): count it; `failed` reports it. */
    recordFailure: assign(({ context }, params: { error: unknown }) => ({
      consecutiveFailures: context.consecutiveFailures + 1,
      lastError: errorMessage(params.error),
      resumed: true,
    })),
    markWakePending: assign({ wakePending: true }),
    markWoken: assign({ woken: true, wakePending: false }),
    /** Arm the retry timer: the wake delay when woken, else the capped exponential backoff. */
    armRetry: enqueueActions(({ context, enqueue }) => {
      const ms = context.woken
        ? wakeDelayMs()
        : backoffDelayMs(context.consecutiveFailures, context.backoff);
      enqueue.assign({ retryDelayMs: ms });
      enqueue.sendTo("retryTimer", { type: "ARM", ms, event: "RETRY" } satisfies TimerCommand);
    }),
    reportFailure: sendParent(
      ({ context }) =>
        ({
          type: "KLINES.FAILED",
          error: context.lastError ?? "unknown error",
          consecutiveFailures: context.consecutiveFailures,
        }) satisfies KlinesFollowerEvent,
    ),
  },
}).createMachine({
  id: "klinesFollower",
  context: ({ input }) => ({
    backoff: input.backoff,
    lastId: null,
    consecutiveFailures: 0,
    lastError: null,
    resumed: false,
    batches: 0,
    retryDelayMs: null,
    woken: false,
    wakePending: false,
    lastRetry: null,
  }),
  initial: "locating",
  invoke: { id: "retryTimer", src: "retryTimer" },
  // A WAKE outside backoff is remembered for the step under way (backoff handles its own).
  on: { DRAIN: ".stopped", WAKE: { actions: "markWakePending" } },
  states: {
    locating: {
      // A new attempt: a WAKE from before it is moot.
      entry: assign({ wakePending: false }),
      description:
        "Take the id of the stream's newest entry: following starts after it (XREAD from $).",
      invoke: {
        src: "locateEnd",
        onDone: [
          {
            guard: "isResume",
            target: "following",
            actions: [
              assign(({ event }) => ({
                lastId: event.output,
                resumed: false,
                consecutiveFailures: 0,
              })),
              "reportResync",
            ],
          },
          {
            target: "following",
            actions: assign(({ event }) => ({ lastId: event.output, consecutiveFailures: 0 })),
          },
        ],
        onError: {
          target: "failed",
          actions: { type: "recordFailure", params: ({ event }) => ({ error: event.error }) },
        },
      },
    },
    following: {
      description:
        "One blocking XREAD after the last id; closed candles of running symbols go to the supervisor.",
      // Re-entered per read: a WAKE during the read before is moot once it succeeded.
      entry: assign({ wakePending: false }),
      invoke: {
        src: "readBatch",
        input: ({ context }) => ({ afterId: context.lastId ?? "$" }),
        onDone: [
          {
            guard: { type: "hasNewCandles", params: ({ event }) => event.output },
            target: "following",
            reenter: true,
            actions: [
              assign(({ context, event }) => ({
                lastId: event.output.lastId,
                batches: context.batches + 1,
              })),
              { type: "reportCandles", params: ({ event }) => event.output },
            ],
          },
          {
            target: "following",
            reenter: true,
            actions: assign(({ context, event }) => ({
              lastId: event.output.lastId,
              batches: context.batches + 1,
            })),
          },
        ],
        onError: {
          target: "failed",
          actions: { type: "recordFailure", params: ({ event }) => ({ error: event.error }) },
        },
      },
    },
    failed: {
      description: "A read failed (Redis away): report it, then back off and resume from the end.",
      // The failing step's transition recorded the error (recordFailure); entry reports it.
      entry: "reportFailure",
      always: [
        { guard: "wokenDuringStep", target: "backoff", actions: "markWoken" },
        { target: "backoff" },
      ],
    },
    backoff: {
      description:
        "Wait min(cap, base·2^(failures−1)) with jitter, then locate the end again; WAKE (the connection is back) cuts it to < 250 ms.",
      entry: "armRetry",
      exit: [
        sendTo("retryTimer", { type: "DISARM" } satisfies TimerCommand),
        assign({ retryDelayMs: null }),
      ],
      on: {
        RETRY: {
          target: "locating",
          actions: assign(({ context }) => ({
            lastRetry: context.woken ? ("wake" as const) : ("retry" as const),
            woken: false,
          })),
        },
        // Re-entered: the exit disarms the backoff timer, the entry arms the wake delay.
        WAKE: {
          guard: "wakeShortensBackoff",
          target: "backoff",
          reenter: true,
          actions: "markWoken",
        },
      },
    },
    stopped: { type: "final" },
  },
});

export type KlinesFollowerMachine = typeof klinesFollowerMachine;
