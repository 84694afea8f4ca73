// The service shell: builds the store, the position source and the three phases' steps,
// provides them to the supervisor machine, turns what the actors report into logs and counters,
// and owns the teardown (ServiceHandle.close). Everything with I/O is created here; the machines
// and kernels stay pure. The store factory is storeFactory.ts; cycle stats and logs serviceLog.ts.
import { createActor, fromPromise, type InspectionEvent } from "xstate";
import type { CycleDoneEvent, PhaseName } from "../../machines/publisher.js";
import {
  supervisorMachine,
  supervisorOutput,
  type Escalation,
  type RestartNotice,
  type SupervisorActor,
  type SupervisorOutput,
} from "../../machines/supervisor.js";
import type { Config } from "../config/schema.js";
import { createPositionSource, type PositionSource } from "../inputs/positions.js";
import { PositionBook } from "../inputs/positionMemory.js";
import { candleGuardsFromConfig, readCandleExtremes } from "../candles/index.js";
import { LiveCandles } from "../inputs/klines.js";
import {
  klinesBlockMs,
  klinesFollowerFor,
  KLINES_READ_COUNT,
  type KlinesBatchStats,
} from "../phases/klinesFollower.js";
import type { KlinesFollowerEvent } from "../../machines/klinesFollower.js";
import type { Logger } from "../log.js";
import { CycleStats, cycleLogger, isLoudRepeat, logKlinesEvent } from "./serviceLog.js";
import { closeStore, createStoreFromConfig, isRedisStore } from "./storeFactory.js";
import { harvestSteps } from "../phases/harvest.js";
import { marketStateSteps } from "../phases/marketstate.js";
import { riskSteps } from "../phases/risk.js";
import { publisherFor, type PhaseDeps, type PhaseSteps } from "../phases/steps.js";
import type { RedisStore } from "../store/redisStore.js";
import type { Store } from "../store/types.js";
import { ShadowStore } from "../shadow/shadowStore.js";
import { shadowCompareSteps, type ShadowReport } from "../shadow/shadow.js";
import { ExitCode } from "../exitCodes.js";
import { PolicyBook, type PolicyEvent } from "../policy/policyBook.js";
import { policyLimitsFrom } from "../policy/policy.js";
import { configuredHarvestTheta } from "../phases/harvest.js";
import { logPolicyEvent, PolicyWatch } from "../policy/policyWatch.js";
import type { SymbolChange, WakeNotice } from "../../machines/supervisor.js";
import { createSystemdNotifier, type SystemdNotifier } from "../systemd/notify.js";
import { errorMessage } from "../core/errors.js";
import { wallClock } from "../core/clock.js";
import { PHASE_NAMES, PHASE_REGISTRY } from "../core/phases.js";
import {
  createServiceLease,
  LeaseHeldError,
  logLeaseEvents,
  logWriteProblems,
  noLeaseRole,
  whyNoLease,
  type LeaseManager,
  type LeaseState,
  type RoleDescription,
  type ServiceLease,
  type WriterConnection,
} from "../lease/index.js";

export interface ServiceHooks {
  onCycle?(event: CycleDoneEvent, nowMs: number): void;
  /** Every batch the klines follower read (metrics: candles seen and skipped). */
  onKlines?(stats: KlinesBatchStats): void;
  onRestart?(notice: RestartNotice): void;
  onEscalate?(escalation: Escalation): void;
  /** What a policy re-read found (applied, refreshed, refused, unused keys). */
  onPolicy?(event: PolicyEvent): void;
  /** The running symbols changed (symbolsSource: policy). */
  onSymbols?(change: SymbolChange): void;
  /** The role changed under the single-writer lease (leader ⇄ standby). */
  onRole?(role: RoleDescription): void;
}

export interface ServiceOptions {
  config: Config;
  logger: Logger;
  /** Use this store instead of building one from the config (demo, tests). */
  store?: Store;
  positions?: PositionSource;
  once?: boolean;
  hooks?: ServiceHooks;
  /** XState inspection (the live visualizer). */
  inspect?: (event: InspectionEvent) => void;
  now?: () => number;
  /**
   * Aborting it during start-up rejects with StartAbortedError at once, whatever start-up waits
   * for (Redis, the lease's first attempt, the first policy read, the follower's connection):
   * what was opened is closed, a lease already taken released.
   */
  signal?: AbortSignal;
  /** Start-up progress: what it waits for now (the HTTP server's 503 `starting` names it). */
  onStartup?: (waitingFor: string) => void;
  /**
   * sd_notify (src/systemd/notify.ts): READY=1 after the first successful store connection,
   * WATCHDOG=1 pings. Default: from the environment (nothing without NOTIFY_SOCKET); null: none.
   * Never with `once`.
   */
  systemd?: SystemdNotifier | null;
  /**
   * Wraps a phase's provided publisher machine before the supervisor spawns it — e.g.
   * `m.provide({ actions: … })` to inject a fault in a test, or extra logging when debugging.
   */
  wrapPublisher?: (phase: PhaseName, machine: PublisherLogic) => PublisherLogic;
  /**
   * Bounds of close()'s steps (ms). Defaults: drain drainTimeoutMs + CLOSE_STEP_TIMEOUT_MS (the
   * supervisor bounds the drain itself by drainTimeoutMs), every other step CLOSE_STEP_TIMEOUT_MS.
   */
  closeTimeoutsMs?: Partial<Record<CloseStep, number>>;
  /**
   * Shadow mode (`run --shadow`): the store is wrapped in a ShadowStore (src/shadow/shadowStore.ts)
   * that sends no write to Redis and hands every proposal to this report to compare with the hash
   * there now (src/shadow/shadow.ts). Nothing is written, so no lease is needed or taken.
   */
  shadow?: ShadowReport;
  /**
   * The lease's writer connection when `store` is given (tests): with it the service takes the
   * single-writer lease (config lease, leaseKey, leaseTtlMs) as it does on a store it builds
   * itself; without it a given store runs without a lease.
   */
  writer?: WriterConnection;
}

/** The publisher machine as provided with a phase's steps. */
export type PublisherLogic = ReturnType<typeof publisherFor>;

/** startService was asked to stop before the supervisor started. */
export class StartAbortedError extends Error {
  constructor() {
    super("stopped before the service started");
    this.name = "StartAbortedError";
  }
}

/** Never resolves; rejects with StartAbortedError when `signal` aborts. */
function aborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (!signal) return;
    if (signal.aborted) reject(new StartAbortedError());
    else signal.addEventListener("abort", () => reject(new StartAbortedError()), { once: true });
  });
}

// Moved to files of their own (issue 13); re-exported for the importers of this module.
export { CycleStats } from "./serviceLog.js";
export { closeStore, createStoreFromConfig } from "./storeFactory.js";

/** The steps of ServiceHandle.close(), in the order it takes them. */
export const CLOSE_STEPS = [
  "drain",
  "lease",
  "http",
  "watchdog",
  "store",
  "writer",
  "klines store",
] as const;
export type CloseStep = (typeof CLOSE_STEPS)[number];

/** Default bound of each close() step but the drain (whose default is drainTimeoutMs + this). */
export const CLOSE_STEP_TIMEOUT_MS = 2000;

export interface CloseStepReport {
  step: CloseStep;
  /**
   * done · skipped: nothing to tear down (no HTTP server adopted, no follower connection) ·
   * failed: it threw or rejected (`error`), and was logged · timed out: still running after its
   * bound, logged and left behind. Neither of the last two stops the later steps.
   */
  outcome: "done" | "skipped" | "failed" | "timed out";
  error?: string;
}

export interface CloseReport {
  /** How the supervisor ended; null when the drain failed or timed out. */
  output: SupervisorOutput | null;
  /** One report per step, in CLOSE_STEPS order. */
  steps: CloseStepReport[];
}

/**
 * What the caller starts next to the service (after startService, since they need the handle)
 * and hands to it, so close() tears it down in its place in the order.
 */
export interface AdoptedResources {
  http?: { close(): Promise<void> } | null;
  watchdog?: { stop(): Promise<void> } | null;
}

export interface ServiceHandle {
  actor: SupervisorActor;
  /** The store the publishers use: fenced by the single-writer lease when there is one. */
  store: Store;
  /** The store inputs are read from (with a lease, the Redis store behind the fence). */
  readStore: Store;
  stats: CycleStats;
  /** The AI policy in force (status, /metrics, /viz). */
  policy: PolicyBook;
  /** The single-writer lease, null when none is used (lease off, memory store, shadow mode). */
  lease: LeaseManager | null;
  /** leader / standby / no-lease, and who holds the lease (/healthz, /metrics, /viz, logs). */
  role(): RoleDescription;
  /**
   * Resolves when the supervisor ends (once complete, shut down, or escalated), or as soon as it
   * tears down (every publisher stopped, the lease handed over): the stopped children are then
   * forgotten in batches a few turns of the event loop later (`actor` reaches status done then).
   */
  done: Promise<SupervisorOutput>;
  /**
   * SIGHUP (src/commands/sighup.ts): re-reads the AI policy now instead of at the next tick (the running
   * symbols follow within a policy tick). Resolves with what is in force, for the log line;
   * rejects when Redis could not be asked (the policy in force stays).
   */
  reloadPolicy(): Promise<string>;
  /** Stop scheduling, let in-flight publishes finish (bounded), then end. Closes nothing else. */
  shutdown(): void;
  /**
   * Hands the HTTP server and/or the watchdog to the service: close() tears them down. One
   * adopted after close() has passed its step is torn down at once (guarded and bounded too).
   */
  adopt(resources: AdoptedResources): void;
  /**
   * Tears the whole service down, in order: drain (SHUTDOWN, then the supervisor's end) → the
   * lease released (so a standby takes over at once) → HTTP server → watchdog → store → the
   * lease's writer connection → the klines follower's own connection. Each step is guarded (a
   * failure is logged and recorded, and the next step runs) and bounded (ServiceOptions
   * closeTimeoutsMs). Idempotent and memoized: every call returns the same promise, which never
   * rejects. The store is closed even when it was passed in as `options.store`.
   */
  close(): Promise<CloseReport>;
}

export { wallClock } from "../core/clock.js";

/**
 * --once must fail in bounded time, with a message naming the server, when Redis is away. The
 * long-running service gives the connection a chance before the first cycles, so a normal start
 * does not begin with one failed cycle per actor; if Redis is away the actors back off and retry.
 * Either wait ends early when the caller aborts (SIGTERM at start).
 */
async function waitForRedis(
  store: RedisStore,
  config: Config,
  once: boolean,
  logger: Logger,
  signal?: AbortSignal,
): Promise<void> {
  const ready = once
    ? store.waitReady(config.connectTimeoutMs)
    : store.waitReady(config.connectTimeoutMs).catch((err: Error) => {
        logger.warn(
          { err: err.message },
          "redis not reachable yet; starting anyway, publishers retry with backoff",
        );
      });
  try {
    await Promise.race([ready, aborted(signal)]);
  } catch (err) {
    if (signal?.aborted) await closeStore(store);
    throw err;
  }
}

export async function startService(options: ServiceOptions): Promise<ServiceHandle> {
  const { config, logger } = options;
  const once = options.once ?? false;
  const now = options.now ?? wallClock;
  const realStore = options.store ?? createStoreFromConfig(config, logger, !once);
  const startupStep = (what: string): void => options.onStartup?.(what);
  if (isRedisStore(realStore)) {
    startupStep(`connecting to Redis at ${realStore.target}`);
    await waitForRedis(realStore, config, once, logger, options.signal);
  }
  // The single-writer lease (src/lease/serviceLease.ts): --once takes it for its pass or ends here
  // naming the holder; the service starts as leader or standby and follows the lease.
  const noLease =
    whyNoLease(config, realStore.kind, options.shadow !== undefined) ??
    (options.store !== undefined && options.writer === undefined
      ? "the store was given without a writer connection"
      : null);
  const leased =
    noLease === null
      ? createServiceLease({
          config,
          logger,
          inner: realStore,
          writer: options.writer,
          reconnect: !once,
        })
      : null;
  const stopLeaseLog = leased === null ? () => undefined : logLeaseEvents(leased.lease, logger);
  if (leased !== null)
    startupStep(`taking the single-writer lease ${config.leaseKey} (first attempt)`);
  const leaseState =
    leased === null
      ? null
      : await takeLease(leased, realStore, config, once, options.signal).catch((err: unknown) => {
          stopLeaseLog();
          throw err;
        });
  // Shadow mode: everything below reads and "writes" through the write wall (and its overlay).
  const shadowStore = options.shadow ? new ShadowStore(realStore, options.shadow) : null;
  const store: Store = shadowStore ?? leased?.store ?? realStore;
  const phaseSteps = <M, I, R>(
    phase: PhaseName,
    steps: PhaseSteps<M, I, R>,
  ): PhaseSteps<M, I, R> =>
    shadowStore === null ? steps : shadowCompareSteps(phase, steps, shadowStore, options.shadow);
  if (config.maxInputAge !== null && config.maxInputAge < config.maxPublishAge) {
    logger.warn(
      { maxInputAge: config.maxInputAge, maxPublishAge: config.maxPublishAge },
      "maxInputAge is shorter than maxPublishAge: an unchanged market state will be refused as stale between its publishes",
    );
  }
  const positions =
    options.positions ??
    createPositionSource(config.positionSource, store, {
      maxPositionAgeSec: config.maxPositionAge,
      maxClockSkewSec: config.maxClockSkew,
    });
  // The peak/trough candles obey the same plausibility rules as the window (CONTRACT.md, Candles).
  const book = new PositionBook(
    store,
    (symbol, fromMs) =>
      readCandleExtremes(
        store,
        symbol,
        config.candlePatterns,
        fromMs,
        candleGuardsFromConfig(config, now()),
      ),
    { maxPriceRatio: config.maxPriceRatio },
  );
  const live = new LiveCandles();
  const stats = new CycleStats();
  // Observers (metrics, the visualizer, the demo's lines) must never take the supervisor down:
  // an exception thrown in an XState action or inspector would crash the actor that ran it.
  const observerFailures = new Map<string, number>();
  const guarded = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      const n = (observerFailures.get(what) ?? 0) + 1;
      observerFailures.set(what, n);
      if (isLoudRepeat(n))
        logger.error(
          { hook: what, err: (err as Error).message, failures: n },
          `observer ${what} threw; ignored`,
        );
    }
  };
  // The AI policy (SPEC §9): read before the first cycles, so they already compute with it.
  const policy = new PolicyBook({
    store,
    source: config.harvestThetaSource,
    configured: configuredHarvestTheta(config),
    limits: policyLimitsFrom(config),
    onEvent: (event) => {
      logPolicyEvent(logger, event);
      guarded("onPolicy", () => options.hooks?.onPolicy?.(event));
    },
  });
  const policyWatch = new PolicyWatch({ store, book: policy, config, logger, now });
  // ---- start-up abort (H4): from here on a SIGTERM during start-up closes what is open ----
  /** Start-up was aborted after the lease: release it (a standby takes over now), close the connections. */
  const abandonStart = async (): Promise<void> => {
    policyWatch.stop();
    if (leased !== null) {
      await leased.lease.release().catch(() => false);
      stopLeaseLog();
      await closeStore(leased);
    }
    await closeStore(realStore);
  };
  /** `work` raced against the abort: on abort, everything opened is closed and StartAbortedError thrown. */
  const orAbort = async <T>(work: Promise<T>): Promise<T> => {
    try {
      const result = await Promise.race([work, aborted(options.signal)]);
      if (options.signal?.aborted) throw new StartAbortedError();
      return result;
    } catch (err) {
      if (options.signal?.aborted) await abandonStart();
      throw err;
    }
  };
  startupStep(
    config.symbolsSource === "policy"
      ? "reading the policy and the running symbols"
      : "reading the policy",
  );
  const initialSymbols = await orAbort(policyWatch.start());
  // ---- end start-up abort ----
  const deps: PhaseDeps = { store, positions, book, live, policy, config, now };
  // The follower's blocking reads hold their connection: on Redis it gets one of its own (its
  // connection events go to debug: the main connection already reports every outage).
  const followKlines = config.followKlines && !once;
  const followerStore = !followKlines
    ? null
    : store.kind === "memory"
      ? store
      : createStoreFromConfig(
          config,
          logger.child({ connection: "klines" }),
          true,
          "quantum-calc-klines",
        );
  // The main connection is up; give the follower's a moment too, so a normal start does not open
  // with a failed read. If it is slow the follower simply backs off and retries.
  if (followerStore !== null && followerStore !== store && isRedisStore(followerStore)) {
    startupStep("connecting the klines follower");
    await orAbort(
      followerStore.waitReady(Math.min(config.connectTimeoutMs, 2000)).catch(() => undefined),
    ).catch(async (err) => {
      await closeStore(followerStore);
      throw err;
    });
  }
  // A signal between the steps (or during a step that does not wait) still ends start-up here.
  if (options.signal?.aborted) {
    if (followerStore !== null && followerStore !== store) await closeStore(followerStore);
    await abandonStart();
    throw new StartAbortedError();
  }
  const inspect = options.inspect;
  const wrap = (phase: PhaseName, machine: PublisherLogic): PublisherLogic =>
    options.wrapPublisher?.(phase, machine) ?? machine;
  const logCycle = cycleLogger(logger);
  let runningSymbols = new Set(initialSymbols);

  // The lease is released once, then its connection closed once (memoized: the supervisor's
  // handingOver state, close() and --once's end share them). --once releases it as soon as its pass is over, so the next pass (or the
  // unit) can take it even when the caller only closes the store.
  let leaseReleasing: Promise<void> | null = null;
  const finishLease =
    leased === null
      ? null
      : (): Promise<void> =>
          (leaseReleasing ??= (async () => {
            // The release is told in one line of its own, not as "the lease is free" news.
            stopLeaseLog();
            await releaseLease(leased, logger);
          })());
  let writerClosing: Promise<void> | null = null;
  const closeWriter =
    leased === null ? null : (): Promise<void> => (writerClosing ??= leased.close());
  const provided = supervisorMachine.provide({
    actors: {
      // Once every publisher has stopped, before their teardown: a standby takes over at once.
      handOver: fromPromise<void>(() => finishLease?.() ?? Promise.resolve()),
      marketstatePublisher: wrap(
        "marketstate",
        publisherFor(phaseSteps("marketstate", marketStateSteps(deps))),
      ),
      riskPublisher: wrap("risk", publisherFor(phaseSteps("risk", riskSteps(deps)))),
      harvestPublisher: wrap("harvest", publisherFor(phaseSteps("harvest", harvestSteps(deps)))),
      ...(followerStore === null
        ? {}
        : {
            klinesFollower: klinesFollowerFor({
              // Its own connection only reads (XREAD); in shadow mode it is behind a wall too.
              store:
                shadowStore === null || followerStore === store
                  ? followerStore
                  : new ShadowStore(followerStore),
              stream: config.klinesStream,
              live,
              isRunning: (symbol) => runningSymbols.has(symbol),
              blockMs: klinesBlockMs(config.commandTimeoutMs),
              count: KLINES_READ_COUNT,
              // A live candle obeys the window's rules: dated in the future or implausible, it runs no cycle.
              now,
              guards: {
                maxClockSkewMs: config.maxClockSkew * 1000,
                minPrice: config.minCandlePrice,
                maxPrice: config.maxCandlePrice,
              },
              onBatch: (stats) => {
                for (const [reason, skipped] of Object.entries(stats.skipped)) {
                  if (reason === "unknown_symbol") continue; // the stream carries every symbol of the stack
                  logger.debug(
                    { reason, count: skipped.count, detail: skipped.detail },
                    `klines entries skipped: ${reason}`,
                  );
                }
                guarded("onKlines", () => options.hooks?.onKlines?.(stats));
              },
            }),
          }),
    },
    actions: {
      onCycleDone: (_args, e: CycleDoneEvent) => {
        stats.record(e);
        logCycle(e);
        guarded("onCycle", () => options.hooks?.onCycle?.(e, now()));
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
        guarded("onRestart", () => options.hooks?.onRestart?.(notice));
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
        guarded("onSymbols", () => options.hooks?.onSymbols?.(change));
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
        guarded("onEscalate", () => options.hooks?.onEscalate?.(escalation));
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

  const phases = config.phases;
  const actor = createActor(provided, {
    input: {
      symbols: initialSymbols,
      phases,
      intervalsMs: Object.fromEntries(
        PHASE_NAMES.map((p) => [p, config[PHASE_REGISTRY[p].intervalKey] * 1000]),
      ) as Record<PhaseName, number>,
      backoff: { baseMs: config.backoffBaseMs, capMs: config.backoffCapMs },
      once,
      restartBudget: config.restartBudget,
      restartWindowMs: config.restartWindowSec * 1000,
      drainTimeoutMs: config.drainTimeoutMs,
      followKlines: followerStore !== null,
      now,
      standby: leaseState !== null && leaseState.role !== "leader",
    },
    inspect:
      inspect === undefined
        ? undefined
        : (event: InspectionEvent) => guarded("inspect", () => inspect(event)),
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
  // The follower's own connection is the service's to close, once the supervisor has ended
  // (close() awaits the same promise as its last step).
  let followerClosing: Promise<void> | null = null;
  const closeFollower =
    followerStore === null || followerStore === store
      ? null
      : (): Promise<void> => (followerClosing ??= followerStore.close());
  const onceLeaseEnd =
    once && finishLease !== null && closeWriter !== null
      ? () => finishLease().then(() => closeStore({ close: closeWriter }))
      : null;
  const followerEnd = closeFollower === null ? null : () => closeStore({ close: closeFollower });
  const done =
    onceLeaseEnd === null && followerEnd === null
      ? supervised
      : supervised.finally(async () => {
          await onceLeaseEnd?.();
          await followerEnd?.();
        });
  actor.start();
  // Wake on reconnect (issue 10): a connection ready again after an outage wakes the actors that
  // use it. sd_notify: READY=1 once the publishers' store is first ready; WATCHDOG=1 pings.
  const notifier = once
    ? null
    : options.systemd === undefined
      ? createSystemdNotifier({ logger })
      : options.systemd;
  const role = (): RoleDescription => leased?.describe() ?? noLeaseRole(noLease ?? "");
  const publishingStatus = `publishing ${phases.join(", ")} for ${initialSymbols.length} symbol(s) to the ${realStore.kind} store`;
  const readyStatus = (): string => {
    const now = role();
    return now.role === "standby"
      ? `standing by: the single-writer lease ${now.leaseKey ?? ""} is held by ${now.holder ?? "nobody yet"}`
      : publishingStatus;
  };
  const wakeOnReady = (connection: "main" | "klines") => (): void => {
    if (actor.getSnapshot().status === "active") actor.send({ type: "STORE.READY", connection });
  };
  const readiness = [
    followReadiness(realStore, wakeOnReady("main"), () => notifier?.ready(readyStatus())),
    ...(followerStore !== null && followerStore !== store
      ? [followReadiness(followerStore, wakeOnReady("klines"))]
      : []),
  ];
  notifier?.startWatchdog();
  // Writes refused (OOM, NOPERM, …) or a free lease not taken: logged as they come and go.
  const stopWriteProblemLog =
    once || leased === null ? () => undefined : logWriteProblems(role, logger);
  // The lease decides whether the supervisor runs its publishers: taken → LEASE.ACQUIRED (from
  // standby), lost → LEASE.LOST (stop every child now; the fence already refuses their writes).
  const stopLeaseFollow =
    leased === null
      ? () => undefined
      : followLease(leased, actor, book, () => {
          notifier?.status(readyStatus());
          guarded("onRole", () => options.hooks?.onRole?.(role()));
        });
  // One line with everything an operator needs to know about what runs.
  const intervals = phases.map((p) => `${p} ${config[`${p}Interval` as const]} s`).join(", ");
  const theta = policy.describe(now());
  logger.info(
    {
      symbols: initialSymbols,
      phases,
      intervalsSec: Object.fromEntries(phases.map((p) => [p, config[`${p}Interval` as const]])),
      store: store.kind,
      once,
      shadow: shadowStore !== null,
      role: role().role,
      ...(leased === null ? {} : { lease: config.leaseKey, holder: role().holder }),
      positionSource: config.positionSource,
      candles: config.candlePatterns[0],
      klines: followerStore === null ? null : config.klinesStream,
      symbolsSource: config.symbolsSource,
      theta: theta.source === "policy" ? `policy ${theta.version}` : "config",
    },
    `quantum-calc started: ${phases.join(", ")} for ${initialSymbols.length} symbol(s) (${initialSymbols.slice(0, 10).join(", ")}${initialSymbols.length > 10 ? ", …" : ""}) on the ${store.kind} store${once ? " (--once)" : ""}${shadowStore === null ? "" : " in SHADOW mode: nothing is written to Redis"}; ` +
      `every ${intervals}${followerStore === null ? "" : `, and on every closed candle of ${config.klinesStream}`}; positions ${config.positionSource}; ` +
      `symbols from ${config.symbolsSource}; harvest theta ${theta.source === "policy" ? `from policy ${theta.version}` : `configured (${theta.why ?? ""})`}; ` +
      roleText(role()),
  );
  // The observers (metrics) were built for the configured symbols: tell them the set that runs.
  const configured = new Set(config.symbols);
  const startedWith = new Set(initialSymbols);
  if (
    initialSymbols.some((s) => !configured.has(s)) ||
    config.symbols.some((s) => !startedWith.has(s))
  ) {
    guarded("onSymbols", () =>
      options.hooks?.onSymbols?.({
        running: [...initialSymbols],
        added: initialSymbols.filter((s) => !configured.has(s)),
        removed: config.symbols.filter((s) => !startedWith.has(s)),
        initial: true,
      }),
    );
  }
  // Followed until the drain begins: a new universe spawns and stops publishers live.
  policyWatch.follow((symbols) => {
    runningSymbols = new Set(symbols);
    actor.send({ type: "SYMBOLS.SET", symbols });
  });
  void supervised.finally(() => policyWatch.stop()).catch(() => undefined);

  const timeouts: Record<CloseStep, number> = {
    drain: config.drainTimeoutMs + CLOSE_STEP_TIMEOUT_MS,
    lease: CLOSE_STEP_TIMEOUT_MS,
    writer: CLOSE_STEP_TIMEOUT_MS,
    http: CLOSE_STEP_TIMEOUT_MS,
    watchdog: CLOSE_STEP_TIMEOUT_MS,
    store: CLOSE_STEP_TIMEOUT_MS,
    "klines store": CLOSE_STEP_TIMEOUT_MS,
    ...options.closeTimeoutsMs,
  };
  const closeStep = (
    step: CloseStep,
    teardown: (() => Promise<unknown>) | null,
    onTimeout?: () => void,
  ): Promise<CloseStepReport> => boundedStep(step, timeouts[step], logger, teardown, onTimeout);
  const adopted: { http?: () => Promise<unknown>; watchdog?: () => Promise<unknown> } = {};
  /** The steps close() has begun: a resource adopted after its step is torn down at once. */
  const begun = new Set<CloseStep>();
  const begin = (step: CloseStep): CloseStep => {
    begun.add(step);
    return step;
  };
  const adopt = (resources: AdoptedResources): void => {
    const { http, watchdog } = resources;
    const given: Array<["http" | "watchdog", () => Promise<unknown>]> = [];
    if (http) given.push(["http", () => http.close()]);
    if (watchdog) given.push(["watchdog", () => watchdog.stop()]);
    for (const [step, teardown] of given) {
      if (begun.has(step)) void closeStep(step, teardown);
      else adopted[step] = teardown;
    }
  };

  let output: SupervisorOutput | null = null;
  const drain = async (): Promise<void> => {
    policyWatch.stop();
    if (actor.getSnapshot().status === "active") actor.send({ type: "SHUTDOWN" });
    output = await supervised;
  };
  // A drain past its bound: stop the actors, so no cycle runs on the store about to close.
  const stopActors = (): void => {
    try {
      actor.stop();
    } catch {
      // Already stopped.
    }
  };
  const closeAll = async (): Promise<CloseReport> => {
    const steps: CloseStepReport[] = [];
    steps.push(await closeStep(begin("drain"), drain, stopActors));
    // After the drain (the last publishes needed the lease), before anything slower: a standby
    // polling every 500 ms takes over as soon as the key is gone.
    steps.push(await closeStep(begin("lease"), finishLease));
    steps.push(await closeStep(begin("http"), adopted.http ?? null));
    steps.push(await closeStep(begin("watchdog"), adopted.watchdog ?? null));
    steps.push(await closeStep(begin("store"), () => store.close()));
    steps.push(await closeStep(begin("writer"), closeWriter));
    steps.push(await closeStep(begin("klines store"), closeFollower));
    stopLeaseFollow();
    stopLeaseLog();
    stopWriteProblemLog();
    for (const stop of readiness) stop();
    notifier?.close();
    return { output, steps };
  };
  let closing: Promise<CloseReport> | null = null;

  return {
    actor,
    store,
    readStore: realStore,
    stats,
    policy,
    lease: leased?.lease ?? null,
    role,
    done,
    reloadPolicy: async () => {
      if (config.harvestThetaSource !== "policy" && config.symbolsSource !== "policy")
        return "the policy is not followed (harvestThetaSource and symbolsSource are config)";
      await policy.refresh(now(), { universe: config.symbolsSource === "policy" });
      const inForce = policy.describe(now());
      return inForce.source === "policy"
        ? `policy ${inForce.version} in force`
        : `the configured theta is in force (${inForce.why ?? "no usable policy"})`;
    },
    shutdown: () => {
      policyWatch.stop();
      actor.send({ type: "SHUTDOWN" });
    },
    adopt,
    close: () => (closing ??= closeAll()),
  };
}

/**
 * Takes the lease before anything runs. --once: one attempt — held by another instance is
 * LeaseHeldError (exit 5, naming the holder), Redis unreachable an I/O error (exit 1). The
 * service: the first attempt, then renewals or polls; it starts as leader or standby. The writer
 * connection gets the same start-up wait as the store. On failure everything opened is closed.
 */
async function takeLease(
  leased: ServiceLease,
  realStore: Store,
  config: Config,
  once: boolean,
  signal?: AbortSignal,
): Promise<LeaseState> {
  try {
    await Promise.race([
      leased.writer
        .waitReady(once ? config.connectTimeoutMs : Math.min(config.connectTimeoutMs, 2000))
        .catch(() => undefined),
      aborted(signal),
    ]);
    // The first attempt is bounded by the command timeout; a SIGTERM does not wait for it.
    if (!once) return await Promise.race([leased.lease.start(), aborted(signal)]);
    const taken = await Promise.race([leased.lease.acquireOnce(), aborted(signal)]);
    if (taken.acquired) return leased.lease.state();
    if (taken.error !== null)
      throw new Error(
        `cannot take the single-writer lease ${leased.lease.leaseKey} on ${leased.writer.target}: ${taken.error}`,
      );
    throw new LeaseHeldError(leased.lease.leaseKey, taken.holder);
  } catch (err) {
    // Aborted: the attempt in flight may still take the lease; release() waits for it and hands
    // back a lease that is ours (never another's), so a standby does not wait out the TTL.
    if (signal?.aborted) await leased.lease.release().catch(() => false);
    else await leased.lease.stop();
    await closeStore(leased);
    await closeStore(realStore);
    throw err;
  }
}

/** Connects the lease to the supervisor; returns the unsubscription. */
function followLease(
  leased: ServiceLease,
  actor: SupervisorActor,
  book: PositionBook,
  onChange: () => void,
): () => void {
  const active = (): boolean => actor.getSnapshot().status === "active";
  const onRole = (state: LeaseState): void => {
    onChange();
    if (state.role !== "leader" || !active() || !actor.getSnapshot().matches("standby")) return;
    // Another instance may have written the position memories meanwhile: read them again.
    book.forgetAll();
    actor.send({ type: "LEASE.ACQUIRED" });
  };
  const onLost = (reason: string, holder: string | null): void => {
    if (active()) actor.send({ type: "LEASE.LOST", reason, holder });
  };
  leased.lease.on("role", onRole);
  leased.lease.on("lost", onLost);
  // The lease may have changed between its first attempt and this subscription.
  const now = leased.lease.state();
  if (now.role === "leader") onRole(now);
  else if (!actor.getSnapshot().matches("standby"))
    onLost(now.lastLost ?? "the lease is not ours", now.holder);
  return () => {
    leased.lease.off("role", onRole);
    leased.lease.off("lost", onLost);
  };
}

/** Releases the lease on shutdown (after the drain) and says so. */
async function releaseLease(leased: ServiceLease, logger: Logger): Promise<void> {
  const wasLeader = leased.lease.state().role === "leader";
  const released = await leased.lease.release();
  if (released)
    logger.info(
      { lease: leased.lease.leaseKey },
      `single-writer lease ${leased.lease.leaseKey} released: a standby takes over now`,
    );
  else if (wasLeader)
    logger.warn(
      { lease: leased.lease.leaseKey, err: leased.lease.state().lastError },
      `single-writer lease ${leased.lease.leaseKey} could not be released; it expires within ${leased.lease.ttlMs} ms`,
    );
}

/** The role in the start line. */
function roleText(role: RoleDescription): string {
  if (role.role === "leader")
    return `writing as the holder of the single-writer lease ${role.leaseKey ?? ""} (${role.self ?? ""})`;
  if (role.role === "standby")
    return `STANDING BY: the single-writer lease ${role.leaseKey ?? ""} is held by ${role.holder ?? "nobody yet"}; nothing is written until it is free`;
  return `no single-writer lease (${role.why ?? ""})`;
}

/**
 * Follows a store connection's readiness: `onReady` on every 'ready', `onReadyAgain` on a 'ready'
 * that ends an outage (the connection was closed, or not up when this began). Stores without
 * connection events (the memory store) are ready at once. Returns the unsubscription.
 */
function followReadiness(store: Store, onReadyAgain: () => void, onReady?: () => void): () => void {
  const redis = store as Partial<RedisStore>;
  if (!isRedisStore(store) || typeof redis.onConnectionEvent !== "function") {
    onReady?.();
    return () => undefined;
  }
  let down = store.status() !== "ready";
  if (!down) onReady?.();
  return redis.onConnectionEvent((event) => {
    if (event.type === "close" || event.type === "reconnecting" || event.type === "end")
      down = true;
    else if (event.type === "ready") {
      onReady?.();
      if (down) {
        down = false;
        onReadyAgain();
      }
    }
  });
}

/**
 * One step of close(): `teardown` raced against `timeoutMs`. Never rejects: a failure or a
 * timeout is logged (warn) and reported, and the caller goes on with the next step.
 */
async function boundedStep(
  step: CloseStep,
  timeoutMs: number,
  logger: Logger,
  teardown: (() => Promise<unknown>) | null,
  onTimeout?: () => void,
): Promise<CloseStepReport> {
  if (teardown === null) return { step, outcome: "skipped" };
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<"timed out">((resolve) => {
    timer = setTimeout(() => resolve("timed out"), timeoutMs);
  });
  try {
    // Promise.resolve().then: a teardown that throws synchronously is a failed step too.
    const outcome = await Promise.race([
      Promise.resolve()
        .then(teardown)
        .then(() => "done" as const),
      expired,
    ]);
    if (outcome === "timed out") {
      logger.warn(
        { step, timeoutMs },
        `shutdown: ${step} did not finish within ${timeoutMs} ms; going on`,
      );
      onTimeout?.();
    }
    return { step, outcome };
  } catch (err) {
    const error = errorMessage(err);
    logger.warn({ step, err: error }, `shutdown: ${step} failed; going on`);
    return { step, outcome: "failed", error };
  } finally {
    clearTimeout(timer);
  }
}
