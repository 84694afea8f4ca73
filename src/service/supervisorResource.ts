// The supervisor as a resource of the service: the machine (machines/supervisor.ts) provided with
// the three phases' publishers, the klines follower and the service's hooks — what the actors
// report becomes log lines, counters and observer calls — then started. Its close() step is the
// drain: SHUTDOWN, then the supervisor's end (bounded by drainTimeoutMs; past its bound the
// actors are stopped, so no cycle runs on a store about to close).
import { createActor, fromPromise, type InspectionEvent } from "xstate";
import type { CycleDoneEvent, PhaseName } from "../../machines/publisher.js";
import {
  supervisorMachine,
  supervisorOutput,
  type Escalation,
  type RestartNotice,
  type SupervisorActor,
  type SupervisorOutput,
  type SymbolChange,
  type WakeNotice,
} from "../../machines/supervisor.js";
import type { KlinesFollowerEvent } from "../../machines/klinesFollower.js";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { LiveCandles } from "../inputs/klines.js";
import { klinesBlockMs, klinesFollowerFor, KLINES_READ_COUNT } from "../phases/klinesFollower.js";
import { PHASES } from "../phases/registry.js";
import { publisherFor, type PhaseDeps, type PhaseSteps } from "../phases/steps.js";
import { PHASE_NAMES, PHASE_REGISTRY, publisherActors } from "../core/phases.js";
import type { Store } from "../store/types.js";
import { ExitCode } from "../exitCodes.js";
import { cycleLogger, logKlinesEvent, type CycleStats } from "./serviceLog.js";
import type { Observers } from "./observers.js";
import type { ServiceResources } from "./resources.js";

/** The publisher machine as provided with a phase's steps. */
export type PublisherLogic = ReturnType<typeof publisherFor>;

export interface SupervisorParts {
  config: Config;
  logger: Logger;
  once: boolean;
  now: () => number;
  /** What the publishers read and write through. */
  deps: PhaseDeps;
  /** Wraps a phase's steps (shadow mode compares instead of writing); identity otherwise. */
  phaseSteps: <M, I, R>(phase: PhaseName, steps: PhaseSteps<M, I, R>) => PhaseSteps<M, I, R>;
  /** ServiceOptions.wrapPublisher. */
  wrapPublisher?: (phase: PhaseName, machine: PublisherLogic) => PublisherLogic;
  /** The klines follower's store (behind the shadow wall in shadow mode); null: no follower. */
  klinesStore: Store | null;
  live: LiveCandles;
  /** The follower runs a symbol's marketstate only while the symbol runs. */
  isRunning: (symbol: string) => boolean;
  /** Hands the lease over once every publisher has stopped (ServiceLease.release). */
  handOver: () => Promise<void>;
  stats: CycleStats;
  observers: Observers;
  inspect?: (event: InspectionEvent) => void;
  symbols: readonly string[];
  /** Start standing by: the single-writer lease is not ours (yet). */
  standby: boolean;
}

export interface SupervisorResource {
  actor: SupervisorActor;
  /**
   * Resolves when the supervisor ends, or as soon as it tears down (every publisher stopped, the
   * lease handed over): forgetting thousands of stopped children takes a few turns of the event
   * loop more, which neither close() nor the exit waits for.
   */
  supervised: Promise<SupervisorOutput>;
  /** How the supervisor ended, once the drain step has seen it; null before (or when it failed). */
  output(): SupervisorOutput | null;
  /** SHUTDOWN, if it still runs. */
  shutdown(): void;
}

/** Builds and starts the supervisor; close()'s "drain" step ends it. */
export function startSupervisor(
  parts: SupervisorParts,
  resources: ServiceResources,
  beforeDrain: () => void,
): SupervisorResource {
  const { config, logger, now, observers, stats } = parts;
  const wrap = (phase: PhaseName, machine: PublisherLogic): PublisherLogic =>
    parts.wrapPublisher?.(phase, machine) ?? machine;
  const logCycle = cycleLogger(logger);
  const klinesStore = parts.klinesStore;
  const provided = supervisorMachine.provide({
    actors: {
      // Once every publisher has stopped, before their teardown: a standby takes over at once.
      handOver: fromPromise<void>(() => parts.handOver()),
      // One publisher per phase of the registry, provided with its module's steps.
      ...publisherActors((phase) =>
        wrap(phase, PHASES[phase].publisher(parts.deps, parts.phaseSteps)),
      ),
      ...(klinesStore === null
        ? {}
        : {
            klinesFollower: klinesFollowerFor({
              store: klinesStore,
              stream: config.klinesStream,
              live: parts.live,
              isRunning: parts.isRunning,
              blockMs: klinesBlockMs(config.commandTimeoutMs),
              count: KLINES_READ_COUNT,
              // A live candle obeys the window's rules: dated in the future or implausible, it runs no cycle.
              now,
              guards: {
                maxClockSkewMs: config.maxClockSkew * 1000,
                minPrice: config.minCandlePrice,
                maxPrice: config.maxCandlePrice,
              },
              onBatch: (batch) => {
                for (const [reason, skipped] of Object.entries(batch.skipped)) {
                  if (reason === "unknown_symbol") continue; // the stream carries every symbol of the stack
                  logger.debug(
                    { reason, count: skipped.count, detail: skipped.detail },
                    `klines entries skipped: ${reason}`,
                  );
                }
                observers.notify("onKlines", batch);
              },
            }),
          }),
    },
    actions: {
      onCycleDone: (_args, e: CycleDoneEvent) => {
        stats.record(e);
        logCycle(e);
        observers.notify("onCycle", e, now());
      },
      onRestart: (_args, notice: RestartNotice) => {
        stats.restarts++;
        logger.error(
          {
            actor: notice.oldId,
            newActor: notice.newId,
            err: notice.error,
            restartsInWindow: notice.restartsInWindow,
          },
          `actor ${notice.oldId} crashed; restarted as ${notice.newId}`,
        );
        observers.notify("onRestart", notice);
      },
      onKlines: (_args, event: KlinesFollowerEvent) =>
        logKlinesEvent(logger, event, config.klinesStream),
      onSymbols: (_args, change: SymbolChange) => {
        logger.info(
          {
            added: change.added,
            removed: change.removed,
            running: change.running.length,
            pending: change.pending ?? 0,
          },
          `symbols changed: ${change.running.length} running${change.added.length > 0 ? `; added ${change.added.join(", ")}` : ""}${change.removed.length > 0 ? `; removed ${change.removed.join(", ")} (their publishers finish the cycle under way)` : ""}` +
            // A large change is applied in batches (machines/supervisor.ts SYMBOL_BATCH).
            (change.pending
              ? `; ${change.pending} more symbol change(s) follow in the next batches`
              : ""),
        );
        observers.notify("onSymbols", change);
      },
      onEscalate: (_args, escalation: Escalation) => {
        logger.fatal(
          {
            actor: escalation.actorId,
            restarts: escalation.restarts,
            windowMs: escalation.windowMs,
            err: escalation.error,
            exitCode: ExitCode.ESCALATED,
          },
          `restart budget exhausted for ${escalation.actorId}; exiting with code ${ExitCode.ESCALATED} so systemd restarts the process`,
        );
        observers.notify("onEscalate", escalation);
      },
      onWake: (_args, notice: WakeNotice) => {
        if (notice.actors === 0) return;
        logger.info(
          { connection: notice.connection, actors: notice.actors },
          `redis ready again: woke ${notice.actors} ${notice.connection === "klines" ? "klines follower" : "publisher(s)"} (each retries within 250 ms)`,
        );
      },
    },
  });

  const actor = createActor(provided, {
    input: {
      symbols: [...parts.symbols],
      phases: config.phases,
      intervalsMs: Object.fromEntries(
        PHASE_NAMES.map((p) => [p, config[PHASE_REGISTRY[p].intervalKey] * 1000]),
      ) as Record<PhaseName, number>,
      backoff: { baseMs: config.backoffBaseMs, capMs: config.backoffCapMs },
      once: parts.once,
      restartBudget: config.restartBudget,
      restartWindowMs: config.restartWindowSec * 1000,
      drainTimeoutMs: config.drainTimeoutMs,
      followKlines: klinesStore !== null,
      now,
      standby: parts.standby,
    },
    inspect: observers.inspector(parts.inspect),
  });

  const supervised = new Promise<SupervisorOutput>((resolve, reject) => {
    actor.subscribe({
      next: (snapshot) => {
        if (snapshot.status === "done" && snapshot.output) resolve(snapshot.output);
        // Tearing down (machines/supervisor.ts): every publisher has stopped and the lease is
        // handed over, so the outcome is known; forgetting thousands of stopped children takes a
        // few turns of the event loop more, which neither close() nor the exit waits for.
        else if (snapshot.value === "tearingDown") resolve(supervisorOutput(snapshot.context));
      },
      error: reject,
    });
  });

  let output: SupervisorOutput | null = null;
  const shutdown = (): void => {
    if (actor.getSnapshot().status === "active") actor.send({ type: "SHUTDOWN" });
  };
  resources.add("drain", {
    close: async () => {
      beforeDrain();
      shutdown();
      output = await supervised;
    },
    // A drain past its bound: stop the actors, so no cycle runs on the store about to close.
    onTimeout: () => {
      try {
        actor.stop();
      } catch {
        // Already stopped.
      }
    },
  });
  actor.start();
  return { actor, supervised, output: () => output, shutdown };
}
