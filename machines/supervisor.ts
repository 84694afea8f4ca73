// The supervisor: spawns one publisher per (phase, symbol), chains them, restarts the ones that
// fail, and gives up — with a distinct exit code, so systemd restarts the whole process — when
// restarts run away.
//
// XState v5 has no built-in supervision. A child that throws reaches us as the event
// `xstate.error.actor.<id>`; we answer it one-for-one: stop what is left of that child and spawn
// a fresh one under a new id, unless that actor used up its restart budget
// (`restartBudget` restarts within `restartWindowMs`), in which case we escalate.
//
// Chaining (docs/specification.md §6): marketstate published for S → risk S runs now → harvest S runs now.
// Intervals stay as the fallback. With `once`, every enabled phase runs exactly one cycle per
// symbol, in dependency order, whatever the previous phase's outcome, and the supervisor ends
// with exit code 0 (all published or skipped for a counted reason) or 1 (an error occurred).
//
// Wake on reconnect: the service sends STORE.READY when a store connection is ready again after
// an outage; the supervisor passes it on as WAKE — the main connection's to every publisher, the
// klines connection's to the follower — and each actor waiting in backoff retries within
// WAKE_SPREAD_MS (a random delay per actor) instead of waiting out its backoff.
//
// A changed symbol set (SYMBOLS.SET) is applied in batches of SYMBOL_BATCH symbols — their
// publishers spawned in one assign (one copy of the children map), those of removed symbols sent
// DRAIN — with a pause between batches (the self-sent SYMBOLS.BATCH) that lets the event loop run
// the lease renewal, HTTP and every cycle: a 300-symbol universe swapped at once blocked the loop
// for seconds. A newer set replaces the wanted one; the batches go on towards the newest.
//
// Teardown (SIGTERM): once the drain is over and the lease handed over, the children are
// forgotten TEARDOWN_BUDGET-sized batches at a time, a pause (the self-sent TEARDOWN.BATCH) between
// batches, before the final state. XState copies the whole children map for every child it stops
// (and stops them all in one go on reaching a final state): 6,000 publishers (2,000 symbols) took
// 16 s in one block of the event loop, so the shutdown deadline's timer could not fire.
//
// The single-writer lease (src/lease/lease.ts): an instance that does not hold it stands by —
// no publisher or follower runs, so it neither writes nor loads Redis with reads — and runs them
// all when the lease becomes its own (LEASE.ACQUIRED). A leader that loses the lease stops every
// child at once (LEASE.LOST); the fenced store has already refused their writes by then.
import { assign, enqueueActions, fromPromise, setup, type ActorRefFrom } from "xstate";
import { klinesFollowerMachine, type KlinesFollowerEvent } from "./klinesFollower.js";
import {
  publisherMachine,
  type BackoffSettings,
  type CycleDoneEvent,
  type PhaseName,
  type PublisherInput,
} from "./publisher.js";
import { errorMessage } from "../src/core/errors.js";
import { wallClock as defaultNow } from "../src/core/clock.js";
import {
  CANDLE_PHASE,
  PHASE_NAMES,
  PHASE_REGISTRY,
  publisherActorName,
  publisherActors,
} from "../src/core/phases.js";

/** The phases in dependency order (the registry's order). */
export const PHASE_ORDER: readonly PhaseName[] = PHASE_NAMES;

export const SUPERVISOR_EXIT = { OK: 0, FAILURE: 1, ESCALATED: 3 } as const;

/** The first polls of all publishers are spread over at most this long after start. */
export const FIRST_POLL_WINDOW_MS = 1000;

/** Symbols whose publishers are spawned (or drained) in one batch of a symbol-set change. */
export const SYMBOL_BATCH = 50;

/**
 * Children-map entries XState may copy in one turn of the event loop while tearing down: it copies
 * the map for each child it stops, so a batch stops about this many entries / children left
 * (at least one; all still running at once). About 10–30 ms a turn.
 */
export const TEARDOWN_BUDGET = 30_000;

/** The actor key (and first id) of the klines follower, beside the `phase:symbol` publishers. */
export const KLINES_FOLLOWER_KEY = "follower:klines";

export interface SupervisorInput {
  symbols: string[];
  /** Enabled phases (`--only`); any order, run in PHASE_ORDER. */
  phases: PhaseName[];
  intervalsMs: Record<PhaseName, number>;
  backoff: BackoffSettings;
  once?: boolean;
  restartBudget: number;
  restartWindowMs: number;
  drainTimeoutMs: number;
  /**
   * Spawn the klines follower (docs/specification.md §5): a closed candle runs its symbol's marketstate at once.
   * Never with `once`.
   */
  followKlines?: boolean;
  /** Clock for restart windows and chain timestamps (ms since epoch). */
  now?: () => number;
  /** Start as a standby: another instance holds the single-writer lease. Never with `once`. */
  standby?: boolean;
}

export interface Escalation {
  actorId: string;
  restarts: number;
  windowMs: number;
  error: string;
}

export interface SupervisorContext {
  symbols: string[];
  phases: PhaseName[];
  intervalsMs: Record<PhaseName, number>;
  backoff: BackoffSettings;
  once: boolean;
  restartBudget: number;
  restartWindowMs: number;
  drainTimeoutMs: number;
  followKlines: boolean;
  now: () => number;
  /** `phase:symbol` → id of the live child (ids gain `#n` after the n-th restart). */
  actorIds: Record<string, string>;
  /** The reverse: live child id → `phase:symbol` (O(1) lookups with thousands of children). */
  keysById: Record<string, string>;
  /** `phase:symbol` → timestamps of its restarts inside the window. */
  restarts: Record<string, number[]>;
  restartTotal: number;
  /** `--once`: cycles still to come, and whether any ended in an error. */
  onceRemaining: number;
  onceFailed: boolean;
  /** While draining: children that have not stopped yet. */
  drainRemaining: number;
  escalation: Escalation | null;
  /** Ids of publishers of removed symbols, finishing their cycle before they stop. */
  retiring: Record<string, true>;
  /** Publishers spawned after the start (a new symbol): keeps their ids unique. */
  spawnSeq: number;
  /** The newest SYMBOLS.SET while its batches are being applied; null once `symbols` equals it. */
  wantedSymbols: string[] | null;
  /** A SYMBOLS.BATCH is on its way (at most one is). */
  symbolBatchScheduled: boolean;
  /** Standing by (another instance holds the lease): nothing is spawned until LEASE.ACQUIRED. */
  standby: boolean;
  /** Tearing down: the children to stop, in order (the running first), how many were running, how many are stopped. */
  teardownIds: string[];
  teardownRunning: number;
  teardownDone: number;
}

/** The running symbols changed (SYMBOLS.SET): who came, who goes. */
export interface SymbolChange {
  running: string[];
  added: string[];
  removed: string[];
  /** The set the service started with, told to observers built for the configured symbols: not a change. */
  initial?: boolean;
  /** Symbols still to add or remove in later batches (0 or absent: the set asked for runs). */
  pending?: number;
}

export type SupervisorEvent =
  | CycleDoneEvent
  | KlinesFollowerEvent
  | { type: "SHUTDOWN" }
  /** The symbols to run from now on (the policy universe plus open positions, docs/specification.md §9). */
  | { type: "SYMBOLS.SET"; symbols: string[] }
  /** Sent to itself between the batches of a symbol-set change (after a pause for the event loop). */
  | { type: "SYMBOLS.BATCH" }
  /** Sent to itself between the batches of the teardown (after a pause for the event loop). */
  | { type: "TEARDOWN.BATCH" }
  /**
   * A store connection is ready again after an outage: 'main' (the publishers' store) wakes every
   * publisher, 'klines' (the follower's own connection) the klines follower.
   */
  | StoreReadyEvent
  /** The single-writer lease is ours now: run every publisher. */
  | { type: "LEASE.ACQUIRED" }
  /** The lease is not ours any more (or never was): stop every child at once and stand by. */
  | { type: "LEASE.LOST"; reason: string; holder: string | null }
  | { type: "xstate.error.actor.*"; error: unknown; actorId: string }
  | { type: `xstate.error.actor.${string}`; error: unknown; actorId: string }
  | { type: `xstate.done.actor.${string}`; actorId: string };

export interface StoreReadyEvent {
  type: "STORE.READY";
  connection: "main" | "klines";
}

/** Whom a STORE.READY woke (for the onWake hook). */
export interface WakeNotice {
  connection: StoreReadyEvent["connection"];
  actors: number;
}

export interface SupervisorOutput {
  exitCode: number;
  reason: string;
  escalation: Escalation | null;
}

/** Hooks the service provides as actions (logging, metrics, the demo's lines). */
export interface RestartNotice {
  key: string;
  oldId: string;
  newId: string;
  error: string;
  restartsInWindow: number;
}

/** The supervisor's result, from its context: its final output, and what the service reports once it tears down. */
export function supervisorOutput(context: SupervisorContext): SupervisorOutput {
  if (context.escalation !== null) {
    return {
      exitCode: SUPERVISOR_EXIT.ESCALATED,
      reason: `restart budget exhausted: ${context.escalation.actorId} failed ${context.escalation.restarts + 1} times within ${context.escalation.windowMs} ms (${context.escalation.error})`,
      escalation: context.escalation,
    };
  }
  if (context.once) {
    return context.onceFailed
      ? {
          exitCode: SUPERVISOR_EXIT.FAILURE,
          reason: "an I/O or compute error occurred",
          escalation: null,
        }
      : {
          exitCode: SUPERVISOR_EXIT.OK,
          reason: "every symbol published or was skipped for a counted reason",
          escalation: null,
        };
  }
  return { exitCode: SUPERVISOR_EXIT.OK, reason: "shut down", escalation: null };
}

export const actorKey = (phase: PhaseName, symbol: string): string => `${phase}:${symbol}`;
const phaseOfKey = (key: string): PhaseName => key.slice(0, key.indexOf(":")) as PhaseName;
const symbolOfKey = (key: string): string => key.slice(key.indexOf(":") + 1);
const followsKlines = (context: SupervisorContext): boolean =>
  context.followKlines && !context.once;

function enabledInOrder(phases: PhaseName[]): PhaseName[] {
  return PHASE_ORDER.filter((p) => phases.includes(p));
}

/** The enabled phase that runs after `phase` in a chain, if any. */
export function nextPhase(phases: PhaseName[], phase: PhaseName): PhaseName | null {
  const order = enabledInOrder(phases);
  const i = order.indexOf(phase);
  return i >= 0 && i + 1 < order.length ? order[i + 1] : null;
}

/** What the batch after `context` changes: up to SYMBOL_BATCH symbols removed and added on the way to `wanted`. */
function nextSymbolBatch(
  context: SupervisorContext,
  wanted: readonly string[],
): { running: string[]; added: string[]; removed: string[]; pending: number } {
  const current = new Set(context.symbols);
  const next = new Set(wanted);
  const allRemoved = context.symbols.filter((symbol) => !next.has(symbol));
  const allAdded = wanted.filter((symbol) => !current.has(symbol));
  const removed = allRemoved.slice(0, SYMBOL_BATCH);
  const added = allAdded.slice(0, SYMBOL_BATCH);
  const gone = new Set(removed);
  const pending = allRemoved.length - removed.length + allAdded.length - added.length;
  return {
    running: context.symbols.filter((symbol) => !gone.has(symbol)).concat(added),
    added,
    removed,
    pending,
  };
}

function publisherInput(
  context: SupervisorContext,
  phase: PhaseName,
  symbol: string,
  index = 0,
): PublisherInput {
  const intervalMs = context.intervalsMs[phase];
  // Symbol i of n polls first at (i+1)/n of the stagger window — the interval, but at most
  // FIRST_POLL_WINDOW_MS: the load is spread instead of every publisher reading in the same
  // instant, and the service still shows its first results within a second of starting (spread
  // over the whole 60 s interval, the first marketstate of three symbols came after 20/40/60 s).
  const window = Math.min(intervalMs, FIRST_POLL_WINDOW_MS);
  const firstDelayMs = Math.round((window * (index + 1)) / Math.max(1, context.symbols.length));
  return { phase, symbol, intervalMs, firstDelayMs, backoff: context.backoff, once: context.once };
}

/** The params of the actions that enqueue a hook call (the `.extend` below). */
type HookCallingActions = {
  wakeActors: { connection: StoreReadyEvent["connection"] };
  planSymbolBatch: undefined;
  restartOrEscalate: { actorId: string; error: unknown };
  rememberSymbols: { symbols: string[] };
};

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
    output: {} as SupervisorOutput,
  },
  actors: {
    // One publisher definition per phase of the registry; the service provides each with its
    // phase's steps.
    ...publisherActors(() => publisherMachine),
    // Provided by the service with its store reads (src/phases/klinesFollower.ts).
    klinesFollower: klinesFollowerMachine,
    // After the drain, before the children are torn down: the service releases the single-writer
    // lease here (nothing of ours writes any more), so a standby takes over at once. Tearing 3,000
    // children down is quadratic in XState (each stop copies the children map: ~3 s at 1,000
    // symbols) and must not delay the handover. Default: nothing to hand over.
    handOver: fromPromise<void>(async () => undefined),
  },
  delays: {
    drainTimeout: ({ context }) => context.drainTimeoutMs,
    // A timer, not a microtask: the I/O of the lease renewal, HTTP and the cycles runs in between.
    symbolBatchPause: 0,
    // The same between teardown batches: the close's other steps, HTTP and the deadline timer run.
    teardownPause: 0,
  },
  guards: {
    /** A child exhausted its restart budget (restartOrEscalate recorded it). */
    escalated: ({ context }) => context.escalation !== null,
    onceComplete: ({ context }) => context.once && context.onceRemaining <= 0,
    allDrained: ({ context }) => context.drainRemaining <= 0,
    tornDown: ({ context }) => context.teardownDone >= context.teardownIds.length,
    /** Started without the lease (another instance writes). */
    startsAsStandby: ({ context }) => context.standby && !context.once,
    /**
     * The long-running service stands by when it loses the lease. --once does not: its remaining
     * publishes are refused by the fence, and the pass ends with exit 1.
     */
    standsByOnLoss: ({ context }) => !context.once,
  },
  actions: {
    // Observation hooks; the service overrides them (logs, metrics, demo output). Each gets what
    // happened as its params — from the event, or enqueued by the action that made it happen
    // (a restart, a symbol batch, a wake) — and is called only when something did happen.
    onCycleDone: (_args, _params: CycleDoneEvent) => {},
    onRestart: (_args, _params: RestartNotice) => {},
    onEscalate: (_args, _params: Escalation) => {},
    onKlines: (_args, _params: KlinesFollowerEvent) => {},
    onSymbols: (_args, _params: SymbolChange) => {},
    onWake: (_args, _params: WakeNotice) => {},
    // The running set changes live, one batch at a time (SYMBOL_BATCH): publishers for a new
    // symbol are spawned (their first polls spread over the first second), those of a removed one
    // get DRAIN — they finish the cycle under way and stop. Nothing is restarted; the other
    // symbols are not touched. The newest SYMBOLS.SET wins: it replaces the set being worked towards.
    wantSymbols: assign(({ context }, { symbols }: { symbols: string[] }) =>
      context.once ? {} : { wantedSymbols: [...new Set(symbols)] },
    ),
    // The batch's new publishers, spawned in one assign: one copy of the children map per batch
    // (XState copies it once per spawn action).
    spawnAddedBatch: assign(({ context, spawn }, { added }: { added: string[] }) => {
      if (added.length === 0) return {};
      const actorIds = { ...context.actorIds };
      const keysById = { ...context.keysById };
      let spawnSeq = context.spawnSeq;
      const staggerContext = { ...context, symbols: added };
      added.forEach((symbol, index) => {
        for (const phase of enabledInOrder(context.phases)) {
          const key = actorKey(phase, symbol);
          // A symbol back before its old publisher finished draining gets a fresh id.
          const id = key in keysById ? `${key}~${++spawnSeq}` : key;
          actorIds[key] = id;
          keysById[id] = key;
          spawn(publisherActorName(phase), {
            id,
            input: publisherInput(staggerContext, phase, symbol, index),
          });
        }
      });
      return { actorIds, keysById, spawnSeq };
    }),
    /** More batches to go: the next one after a pause (at most one on its way). */
    scheduleSymbolBatch: enqueueActions(({ context, enqueue }) => {
      if (context.wantedSymbols === null || context.symbolBatchScheduled) return;
      enqueue.assign({ symbolBatchScheduled: true });
      enqueue.raise({ type: "SYMBOLS.BATCH" }, { delay: "symbolBatchPause" });
    }),
    symbolBatchArrived: assign({ symbolBatchScheduled: false }),
    /** A retired publisher stopped: forget it. */
    forgetRetired: enqueueActions(({ context, enqueue }, { actorId }: { actorId: string }) => {
      if (!(actorId in context.retiring)) return;
      const { [actorId]: _gone, ...retiring } = context.retiring;
      const { [actorId]: _key, ...keysById } = context.keysById;
      // A final child stays in the children map until its parent stops it.
      enqueue.stopChild(actorId);
      enqueue.assign({ retiring, keysById });
    }),
    // All children are spawned in one assign: XState copies the children map once per spawn
    // action, so spawning 3,000 publishers one action at a time was quadratic (12 s at start).
    spawnAll: assign(({ context, spawn }) => {
      const actorIds: Record<string, string> = {};
      context.symbols.forEach((symbol, index) => {
        for (const phase of enabledInOrder(context.phases)) {
          const id = actorKey(phase, symbol);
          actorIds[id] = id;
          spawn(publisherActorName(phase), {
            id,
            input: publisherInput(context, phase, symbol, index),
          });
        }
      });
      if (followsKlines(context)) {
        actorIds[KLINES_FOLLOWER_KEY] = KLINES_FOLLOWER_KEY;
        spawn("klinesFollower", { id: KLINES_FOLLOWER_KEY, input: { backoff: context.backoff } });
      }
      return { actorIds, keysById: { ...actorIds } };
    }),
    // A new closed candle: its symbol's marketstate runs now (and so the chain). The chain clock
    // starts here, so the chain latency covers candle → marketstate → risk → harvest.
    runMarketStateFor: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "KLINES.CANDLES") return;
      const chainStartedAt = context.now();
      for (const symbol of event.symbols) {
        const target = context.actorIds[actorKey(CANDLE_PHASE, symbol)];
        if (target !== undefined) enqueue.sendTo(target, { type: "RUN", chainStartedAt });
      }
    }),
    // The follower resumed after an outage: every marketstate re-reads its sorted set, which
    // holds the candles the follower did not see.
    runEveryMarketState: enqueueActions(({ context, enqueue }) => {
      const chainStartedAt = context.now();
      for (const symbol of context.symbols) {
        const target = context.actorIds[actorKey(CANDLE_PHASE, symbol)];
        if (target !== undefined) enqueue.sendTo(target, { type: "RUN", chainStartedAt });
      }
    }),
    startOncePass: enqueueActions(({ context, enqueue }) => {
      if (!context.once) return;
      const first = enabledInOrder(context.phases)[0];
      for (const symbol of context.symbols)
        enqueue.sendTo(actorKey(first, symbol), { type: "RUN" });
    }),
    chain: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== "CYCLE_DONE") return;
      const next = nextPhase(context.phases, event.phase);
      if (next === null) return;
      // Run mode: a marketstate cycle chains only when it published (new market state);
      // risk chains to harvest whatever its outcome (the registry's chainsOnlyWhenPublished).
      // Once mode: every cycle chains.
      if (
        !context.once &&
        PHASE_REGISTRY[event.phase].chainsOnlyWhenPublished &&
        event.outcome !== "published"
      )
        return;
      const target = context.actorIds[actorKey(next, event.symbol)];
      if (target === undefined) return;
      // The chain's clock starts at its head (the phase a candle runs).
      const chainStartedAt = event.phase === CANDLE_PHASE ? context.now() : event.chainStartedAt;
      // What the cycle published or fetched, taken by the next phase instead of reading it back
      // (src/inputs/handoff.ts).
      enqueue.sendTo(target, { type: "RUN", chainStartedAt, handoff: event.handoff ?? null });
    }),
    // Assigns only in --once: an assign returning {} still copies the whole context (a slow
    // dictionary-mode object at 24 fields) on every cycle of the long-running service — 9–14 %
    // of a chain's CPU in bench/cycle.ts --supervised.
    countOnce: enqueueActions(({ context, event, enqueue }) => {
      if (!context.once || event.type !== "CYCLE_DONE") return;
      enqueue.assign({
        onceRemaining: context.onceRemaining - 1,
        onceFailed: context.onceFailed || event.outcome === "error",
      });
    }),
    // Standing by: every child stops now — publishers mid-cycle included (the fenced store refuses
    // their writes already), the retiring and the follower — and is forgotten; the symbols stay
    // (a set still being applied in batches is simply the set now: nothing runs to spawn).
    stopAll: enqueueActions(({ context, enqueue }) => {
      const ids = new Set([...Object.values(context.actorIds), ...Object.keys(context.retiring)]);
      for (const id of ids) enqueue.stopChild(id);
      enqueue.assign({
        actorIds: {},
        keysById: {},
        retiring: {},
        drainRemaining: 0,
        standby: true,
        symbols: context.wantedSymbols ?? context.symbols,
        wantedSymbols: null,
        symbolBatchScheduled: false,
      });
    }),
    markLeader: assign({ standby: false }),
    drainAll: enqueueActions(({ context, enqueue }) => {
      const ids = Object.values(context.actorIds);
      enqueue.assign({ drainRemaining: ids.length });
      for (const id of ids) enqueue.sendTo(id, { type: "DRAIN" });
    }),
    /**
     * The children to tear down: those still running first (a retiring publisher mid-cycle, on a
     * drain past its deadline every busy one), so that the first batch stops them all — nothing
     * of ours runs on after the handover — then the stopped ones, which only need forgetting.
     */
    planTeardown: assign(({ self }) => {
      const running: string[] = [];
      const ended: string[] = [];
      for (const [id, child] of Object.entries(self.getSnapshot().children)) {
        ((child?.getSnapshot() as { status: string } | undefined)?.status === "active"
          ? running
          : ended
        ).push(id);
      }
      return {
        teardownIds: running.concat(ended),
        teardownDone: 0,
        teardownRunning: running.length,
      };
    }),
    /** The next batch: at least every child still running, else about TEARDOWN_BUDGET map entries copied. */
    stopChildBatch: enqueueActions(({ context, enqueue }) => {
      const left = context.teardownIds.length - context.teardownDone;
      if (left <= 0) return;
      const size = Math.max(
        context.teardownDone === 0 ? context.teardownRunning : 1,
        Math.floor(TEARDOWN_BUDGET / left),
        1,
      );
      const end = Math.min(context.teardownIds.length, context.teardownDone + size);
      for (let i = context.teardownDone; i < end; i++) enqueue.stopChild(context.teardownIds[i]);
      enqueue.assign({ teardownDone: end });
    }),
    /** More children to go: the next batch after a pause (one raise per batch). */
    scheduleTeardownBatch: enqueueActions(({ context, enqueue }) => {
      if (context.teardownDone < context.teardownIds.length)
        enqueue.raise({ type: "TEARDOWN.BATCH" }, { delay: "teardownPause" });
    }),
    // A live child stopped (drained, or crashed while draining): one fewer to wait for.
    markDrained: assign(({ context }, { actorId }: { actorId: string }) =>
      actorId in context.keysById && !(actorId in context.retiring)
        ? { drainRemaining: context.drainRemaining - 1 }
        : {},
    ),
  },
})
  .extend<HookCallingActions>({
    // The actions that call a hook (or spawnAddedBatch) with what they did as its params: declared
    // in an extension, their params spelled out, so that enqueue() knows the actions above.
    actions: {
      // A store connection is back: WAKE the actors that use it. Those in backoff retry within
      // WAKE_SPREAD_MS, each after its own random delay; the others remember it for the cycle under
      // way (it may fail on the old connection). The retiring are draining: nothing to wake.
      wakeActors: enqueueActions(
        ({ context, enqueue }, { connection }: { connection: StoreReadyEvent["connection"] }) => {
          let actors = 0;
          for (const [key, id] of Object.entries(context.actorIds)) {
            if ((key === KLINES_FOLLOWER_KEY) !== (connection === "klines")) continue;
            enqueue.sendTo(id, { type: "WAKE" });
            actors++;
          }
          const notice: WakeNotice = { connection, actors };
          enqueue({ type: "onWake", params: notice });
        },
      ),
      /**
       * The next batch towards wantedSymbols: who comes and goes; the publishers of the symbols that
       * go get DRAIN (they finish the cycle under way and stop), those of the symbols that come are
       * spawned (spawnAddedBatch), then the onSymbols hook is told the change.
       */
      planSymbolBatch: enqueueActions(({ context, enqueue }) => {
        if (context.wantedSymbols === null) return;
        const batch = nextSymbolBatch(context, context.wantedSymbols);
        if (batch.added.length === 0 && batch.removed.length === 0) {
          enqueue.assign({ wantedSymbols: null });
          return;
        }
        const actorIds = { ...context.actorIds };
        const retiring = { ...context.retiring };
        for (const symbol of batch.removed) {
          for (const phase of enabledInOrder(context.phases)) {
            const key = actorKey(phase, symbol);
            const id = actorIds[key];
            if (id === undefined) continue;
            delete actorIds[key];
            retiring[id] = true;
            enqueue.sendTo(id, { type: "DRAIN" });
          }
        }
        enqueue.assign({
          symbols: batch.running,
          actorIds,
          retiring,
          wantedSymbols: batch.pending > 0 ? context.wantedSymbols : null,
        });
        if (batch.added.length > 0)
          enqueue({ type: "spawnAddedBatch", params: { added: batch.added } });
        const change: SymbolChange = {
          running: batch.running,
          added: batch.added,
          removed: batch.removed,
          ...(batch.pending > 0 ? { pending: batch.pending } : {}),
        };
        enqueue({ type: "onSymbols", params: change });
      }),
      /** A child crashed (its `xstate.error.actor` event's actorId and error). */
      restartOrEscalate: enqueueActions(
        ({ context, enqueue }, { actorId, error }: { actorId: string; error: unknown }) => {
          const key = context.keysById[actorId];
          if (key === undefined) return; // not one of ours (already replaced)
          if (actorId in context.retiring) {
            // Its symbol was removed: a crash on the way out is simply the end of it.
            const { [actorId]: _gone, ...retiring } = context.retiring;
            const { [actorId]: _key, ...keysById } = context.keysById;
            enqueue.assign({ retiring, keysById });
            return;
          }
          if (context.once) {
            // --once has nothing to restart for: the crash is this symbol's error outcome.
            enqueue.assign({ onceRemaining: context.onceRemaining - 1, onceFailed: true });
            return;
          }
          const now = context.now();
          const recent = (context.restarts[key] ?? []).filter(
            (t) => now - t < context.restartWindowMs,
          );
          if (recent.length >= context.restartBudget) {
            enqueue.assign({
              escalation: {
                actorId,
                restarts: recent.length,
                windowMs: context.restartWindowMs,
                error: errorMessage(error),
              },
            });
            return;
          }
          const newId = `${key}#${context.restartTotal + 1}`;
          enqueue.stopChild(actorId);
          if (key === KLINES_FOLLOWER_KEY) {
            enqueue.spawnChild("klinesFollower", {
              id: newId,
              input: { backoff: context.backoff },
            });
          } else {
            const phase = phaseOfKey(key);
            enqueue.spawnChild(publisherActorName(phase), {
              id: newId,
              input: publisherInput(context, phase, symbolOfKey(key)),
            });
          }
          const { [actorId]: _replaced, ...keysById } = context.keysById;
          enqueue.assign({
            actorIds: { ...context.actorIds, [key]: newId },
            keysById: { ...keysById, [newId]: key },
            restarts: { ...context.restarts, [key]: [...recent, now] },
            restartTotal: context.restartTotal + 1,
          });
          const notice: RestartNotice = {
            key,
            oldId: actorId,
            newId,
            error: errorMessage(error),
            restartsInWindow: recent.length + 1,
          };
          enqueue({ type: "onRestart", params: notice });
        },
      ),
      // A standby follows the universe too, so it starts the right publishers when it takes over.
      rememberSymbols: enqueueActions(
        ({ context, enqueue }, { symbols }: { symbols: string[] }) => {
          const wanted = [...new Set(symbols)];
          const current = new Set(context.symbols);
          const next = new Set(wanted);
          const added = wanted.filter((symbol) => !current.has(symbol));
          const removed = context.symbols.filter((symbol) => !next.has(symbol));
          if (added.length === 0 && removed.length === 0) return;
          const running = context.symbols.filter((symbol) => next.has(symbol)).concat(added);
          enqueue.assign({ symbols: running });
          const change: SymbolChange = { running, added, removed };
          enqueue({ type: "onSymbols", params: change });
        },
      ),
    },
  })
  .createMachine({
    id: "supervisor",
    context: ({ input }) => ({
      symbols: input.symbols,
      phases: input.phases,
      intervalsMs: input.intervalsMs,
      backoff: input.backoff,
      once: input.once ?? false,
      restartBudget: input.restartBudget,
      restartWindowMs: input.restartWindowMs,
      drainTimeoutMs: input.drainTimeoutMs,
      followKlines: input.followKlines ?? false,
      now: input.now ?? defaultNow,
      actorIds: {},
      keysById: {},
      restarts: {},
      restartTotal: 0,
      onceRemaining: input.symbols.length * enabledInOrder(input.phases).length,
      onceFailed: false,
      drainRemaining: 0,
      escalation: null,
      retiring: {},
      spawnSeq: 0,
      wantedSymbols: null,
      symbolBatchScheduled: false,
      standby: input.standby ?? false,
      teardownIds: [],
      teardownRunning: 0,
      teardownDone: 0,
    }),
    initial: "starting",
    states: {
      starting: {
        description:
          "Holding the single-writer lease (or running without one): run. Another instance holds it: stand by.",
        always: [{ guard: "startsAsStandby", target: "standby" }, { target: "running" }],
      },
      standby: {
        description:
          "Another instance holds the single-writer lease: no publisher runs; the lease is polled for.",
        entry: "stopAll",
        on: {
          "LEASE.ACQUIRED": { target: "running", actions: "markLeader" },
          "SYMBOLS.SET": {
            actions: {
              type: "rememberSymbols",
              params: ({ event }) => ({ symbols: event.symbols }),
            },
          },
          SHUTDOWN: { target: "stopped" },
        },
      },
      running: {
        entry: ["spawnAll", "startOncePass"],
        always: [
          { guard: "escalated", target: "escalated" },
          { guard: "onceComplete", target: "done" },
        ],
        on: {
          CYCLE_DONE: {
            actions: [{ type: "onCycleDone", params: ({ event }) => event }, "countOnce", "chain"],
          },
          "xstate.error.actor.*": {
            actions: {
              type: "restartOrEscalate",
              params: ({ event }) => ({ actorId: event.actorId, error: event.error }),
            },
          },
          "KLINES.CANDLES": {
            actions: [{ type: "onKlines", params: ({ event }) => event }, "runMarketStateFor"],
          },
          "KLINES.RESYNC": {
            actions: [{ type: "onKlines", params: ({ event }) => event }, "runEveryMarketState"],
          },
          "KLINES.FAILED": { actions: [{ type: "onKlines", params: ({ event }) => event }] },
          "SYMBOLS.SET": {
            actions: [
              { type: "wantSymbols", params: ({ event }) => ({ symbols: event.symbols }) },
              "planSymbolBatch",
              "scheduleSymbolBatch",
            ],
          },
          "SYMBOLS.BATCH": {
            actions: ["symbolBatchArrived", "planSymbolBatch", "scheduleSymbolBatch"],
          },
          "STORE.READY": {
            actions: {
              type: "wakeActors",
              params: ({ event }) => ({ connection: event.connection }),
            },
          },
          "xstate.done.actor.*": {
            actions: { type: "forgetRetired", params: ({ event }) => ({ actorId: event.actorId }) },
          },
          "LEASE.LOST": { guard: "standsByOnLoss", target: "standby" },
          SHUTDOWN: { target: "draining" },
        },
      },
      draining: {
        description:
          "SIGTERM: no new cycles; let the ones under way finish, bounded by drainTimeoutMs.",
        entry: "drainAll",
        always: { guard: "allDrained", target: "handingOver" },
        on: {
          "xstate.done.actor.*": {
            actions: { type: "markDrained", params: ({ event }) => ({ actorId: event.actorId }) },
          },
          CYCLE_DONE: { actions: [{ type: "onCycleDone", params: ({ event }) => event }] },
          // A child that crashes while draining is simply gone.
          "xstate.error.actor.*": {
            actions: { type: "markDrained", params: ({ event }) => ({ actorId: event.actorId }) },
          },
        },
        // Past the deadline: the busy publishers are stopped at once (the first teardown batch).
        after: { drainTimeout: "tearingDown" },
      },
      handingOver: {
        description:
          "Every publisher has stopped: the single-writer lease is released before the children are torn down, so a standby takes over at once.",
        invoke: { src: "handOver", onDone: "tearingDown", onError: "tearingDown" },
      },
      tearingDown: {
        description:
          "The children are stopped a batch per turn of the event loop (the running ones in the first), then the supervisor ends.",
        entry: ["planTeardown", "stopChildBatch", "scheduleTeardownBatch"],
        always: { guard: "tornDown", target: "stopped" },
        on: { "TEARDOWN.BATCH": { actions: ["stopChildBatch", "scheduleTeardownBatch"] } },
      },
      escalated: {
        type: "final",
        entry: { type: "onEscalate", params: ({ context }) => context.escalation as Escalation },
      },
      done: { type: "final" },
      stopped: { type: "final" },
    },
    output: ({ context }): SupervisorOutput => supervisorOutput(context),
  });

export type SupervisorMachine = typeof supervisorMachine;
export type SupervisorActor = ActorRefFrom<SupervisorMachine>;
