// The service: what it is made of, started in order and closed in reverse (resources.ts). Each
// part is a resource in a file of its own — the connections (connections.ts), the single-writer
// lease (src/lease/serviceLease.ts), the policy book and its watch, the inputs, the klines
// follower's connection, the supervisor and its publishers (supervisorResource.ts), readiness and
// systemd (readiness.ts), the observers (observers.ts) — and each registers how it is closed as
// it starts. ServiceHandle.close() tears them down once, step by step (CLOSE_STEPS), each step
// guarded and bounded. Everything with I/O is created here; the machines and kernels stay pure.
import type { InspectionEvent } from "xstate";
import type { PhaseName } from "../../machines/publisher.js";
import type { SupervisorActor, SupervisorOutput } from "../../machines/supervisor.js";
import type { Config } from "../config/schema.js";
import type { PositionSource } from "../inputs/positions.js";
import type { Logger } from "../log.js";
import { CycleStats } from "./serviceLog.js";
import type { Store } from "../store/types.js";
import type { ShadowReport } from "../shadow/shadow.js";
import type { PolicyBook } from "../policy/policyBook.js";
import type { SystemdNotifier } from "../systemd/notify.js";
import { wallClock } from "../core/clock.js";
import type { LeaseManager, RoleDescription, WriterConnection } from "../lease/index.js";
import { openKlinesConnection, openStore } from "./connections.js";
import { createInputs } from "./inputs.js";
import { startLease } from "./lease.js";
import { createPolicy, policyStep, reloadPolicy, type PolicyResource } from "./policy.js";
import { shadowWall } from "./shadowWall.js";
import { Observers, type ServiceHooks } from "./observers.js";
import { startReadiness } from "./readiness.js";
import {
  closeTimeouts,
  ServiceResources,
  type CloseStep,
  type CloseStepReport,
} from "./resources.js";
import type { FlightRecorder } from "../recorder/recorder.js";
import {
  createServiceRecorder,
  recordingSteps,
  withRecorderHooks,
} from "../recorder/serviceRecorder.js";
import { withoutHandoff } from "../phases/steps.js";
import { logStartLine } from "./startLine.js";
import { Startup } from "./startup.js";
import { closeStore } from "./storeFactory.js";
import {
  startSupervisor,
  type PublisherLogic,
  type SupervisorResource,
} from "./supervisorResource.js";

// Declared in files of their own; re-exported for the importers of this module.
export type { ServiceHooks } from "./observers.js";
export type { PublisherLogic } from "./supervisorResource.js";
export { StartAbortedError } from "./startup.js";
export {
  CLOSE_STEPS,
  CLOSE_STEP_TIMEOUT_MS,
  type CloseStep,
  type CloseStepReport,
} from "./resources.js";
export { CycleStats } from "./serviceLog.js";
export { closeStore, createStoreFromConfig } from "./storeFactory.js";
export { wallClock } from "../core/clock.js";

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
  /**
   * false: a chain's later phases read back what its earlier ones just published, as before the
   * in-chain hand-off (src/inputs/handoff.ts) — for tests and benchmarks that compare the two.
   * Default true.
   */
  chainHandoff?: boolean;
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
  /** The flight recorder (recordDir), null when off: its counters for /metrics (registerRecorderMetrics). */
  recorder: FlightRecorder | null;
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
   * lease released (so a standby takes over at once) → the flight recorder closed (its last
   * lines on disk) → HTTP server → watchdog → store → the
   * lease's writer connection → the klines follower's own connection. Each step is guarded (a
   * failure is logged and recorded, and the next step runs) and bounded (ServiceOptions
   * closeTimeoutsMs). Idempotent and memoized: every call returns the same promise, which never
   * rejects. The store is closed even when it was passed in as `options.store`.
   */
  close(): Promise<CloseReport>;
}

export async function startService(options: ServiceOptions): Promise<ServiceHandle> {
  const { config, logger } = options;
  const once = options.once ?? false;
  const now = options.now ?? wallClock;
  const startup = new Startup(options.signal, options.onStartup);
  // The flight recorder (docs/recording.md; recordDir, never --once): it wraps the phase steps
  // and the store they publish through (below), takes each cycle's trigger from the cycle hook,
  // and is closed in close()'s "recorder" step, awaited after the drain: the last cycles are kept.
  let roleNow: () => { role: string; holder: string | null } | undefined = () => undefined;
  const recorder = createServiceRecorder({ config, logger, once, now, role: () => roleNow() });
  const observers = new Observers(logger, withRecorderHooks(recorder, options.hooks));
  // What the service is made of registers its teardown here as it starts: a part with a close()
  // step of its own with resources.add(step, …), any other (a subscription) with
  // resources.addCleanup(…). close() takes the steps in order, then the cleanups in reverse.
  const resources = new ServiceResources(
    logger,
    closeTimeouts(config.drainTimeoutMs, options.closeTimeoutsMs),
  );
  if (recorder !== null) resources.add("recorder", { close: () => recorder.close() });

  // ---- start-up, in order: a failure, or SIGTERM (options.signal), closes what was opened ----
  // The policy watch ticks on its own: on a failed start it stops before the store closes.
  const opened: { policy: PolicyResource | null } = { policy: null };
  const startParts = async () => {
    const realStore = await openStore(config, logger, options.store, once, startup, resources);
    const lease = await startLease(
      {
        config,
        logger,
        once,
        inner: realStore,
        storeGiven: options.store !== undefined,
        writer: options.writer,
        shadow: options.shadow !== undefined,
      },
      startup,
      resources,
    );
    const shadow = shadowWall(options.shadow, realStore);
    const store: Store = shadow.store ?? lease.store;
    resources.add("store", { close: () => store.close() });
    const inputs = createInputs(config, logger, store, options.positions, now);
    const policy = createPolicy({ config, logger, store, now, observers }, resources);
    opened.policy = policy;
    startup.step(policyStep(config));
    const symbols = await startup.wait(policy.watch.start());
    const klines = await openKlinesConnection(config, logger, store, once, startup, resources);
    // A signal between the steps (or during a step that does not wait) still ends start-up here.
    startup.check();
    return { realStore, lease, shadow, store, inputs, policy, symbols, klines };
  };
  let parts: Awaited<ReturnType<typeof startParts>>;
  try {
    parts = await startParts();
  } catch (err) {
    opened.policy?.watch.stop();
    await resources.close();
    throw err;
  }
  const { realStore, lease, shadow, store, inputs, klines } = parts;
  // The recorder asks at every read: the lease's own state (role and holder), not the whole
  // description with its write problems, which is built for the status line and /healthz.
  const manager = lease.lease;
  roleNow = manager === null ? () => lease.describe() : () => manager.state();
  recorder?.noteRole(); // the role the service starts in (a standby reads nothing to note it by)
  const book = parts.policy.book;
  const watch = parts.policy.watch;
  const initialSymbols = parts.symbols;

  // ---- the supervisor and its publishers ----
  let runningSymbols = new Set(initialSymbols);
  const stats = new CycleStats();
  const supervisor: SupervisorResource = startSupervisor(
    {
      config,
      logger,
      once,
      now,
      deps: {
        store: recorder?.wrapStore(store) ?? store,
        positions: inputs.positions,
        book: inputs.book,
        live: inputs.live,
        policy: book,
        config,
        now,
      },
      phaseSteps:
        options.chainHandoff === false
          ? (phase, steps) =>
              withoutHandoff(recordingSteps(recorder, shadow.phaseSteps)(phase, steps))
          : recordingSteps(recorder, shadow.phaseSteps),
      ...(options.wrapPublisher !== undefined ? { wrapPublisher: options.wrapPublisher } : {}),
      klinesStore: shadow.klinesStore(klines),
      live: inputs.live,
      isRunning: (symbol) => runningSymbols.has(symbol),
      handOver: () => lease.release(),
      stats,
      observers,
      ...(options.inspect !== undefined ? { inspect: options.inspect } : {}),
      symbols: initialSymbols,
      standby: lease.startsStandingBy(),
    },
    resources,
    () => watch.stop(),
  );
  const { actor, supervised } = supervisor;
  // --once hands the lease back as soon as its pass is over, so the next pass (or the unit) can
  // take it even when the caller only closes the store; the follower's own connection is closed
  // once the supervisor has ended (close() awaits the same promises in its steps).
  const done =
    (once && lease.lease !== null) || klines?.own === true
      ? supervised.finally(async () => {
          if (once && lease.lease !== null) {
            await lease.release();
            await closeStore({ close: () => lease.close() });
          }
          if (klines?.own === true) await closeStore({ close: () => klines.close() });
        })
      : supervised;

  // ---- readiness, systemd, the lease followed, the start line ----
  const phases = config.phases;
  const publishing = `publishing ${phases.join(", ")} for ${initialSymbols.length} symbol(s) to the ${realStore.kind} store`;
  const readiness = startReadiness(
    {
      logger,
      once,
      systemd: options.systemd,
      store: realStore,
      klines,
      actor,
      status: () => lease.statusText(publishing),
    },
    resources,
  );
  // Writes refused (OOM, NOPERM, …) or a free lease not taken: logged as they come and go.
  if (!once) resources.addCleanup(lease.logWriteProblems());
  // The lease decides whether the supervisor runs its publishers: taken → LEASE.ACQUIRED (from
  // standby), lost → LEASE.LOST (stop every child now; the fence already refuses their writes).
  resources.addCleanup(
    lease.follow({
      acquired: () => {
        // Another instance may have written the position memories meanwhile: read them again.
        inputs.book.forgetAll();
        actor.send({ type: "LEASE.ACQUIRED" });
      },
      lost: (reason, holder) => actor.send({ type: "LEASE.LOST", reason, holder }),
      standingBy: () => actor.getSnapshot().matches("standby"),
      active: () => actor.getSnapshot().status === "active",
      changed: () => {
        readiness.statusChanged();
        observers.notify("onRole", lease.describe());
      },
    }),
  );
  logStartLine(logger, {
    config,
    symbols: initialSymbols,
    store,
    once,
    shadow: shadow.store !== null,
    klines: klines !== null,
    policy: book,
    lease,
    nowMs: now(),
  });
  // The observers (metrics) were built for the configured symbols: tell them the set that runs.
  const configured = new Set(config.symbols);
  const startedWith = new Set(initialSymbols);
  if (
    initialSymbols.some((s) => !configured.has(s)) ||
    config.symbols.some((s) => !startedWith.has(s))
  ) {
    observers.notify("onSymbols", {
      running: [...initialSymbols],
      added: initialSymbols.filter((s) => !configured.has(s)),
      removed: config.symbols.filter((s) => !startedWith.has(s)),
      initial: true,
    });
  }
  // Followed until the drain begins: a new universe spawns and stops publishers live.
  watch.follow((symbols) => {
    runningSymbols = new Set(symbols);
    actor.send({ type: "SYMBOLS.SET", symbols });
  });
  void supervised.finally(() => watch.stop()).catch(() => undefined);

  let closing: Promise<CloseReport> | null = null;
  return {
    actor,
    store,
    readStore: realStore,
    stats,
    policy: book,
    lease: lease.lease,
    role: () => lease.describe(),
    recorder,
    done,
    reloadPolicy: () => reloadPolicy(config, book, now),
    shutdown: () => {
      watch.stop();
      actor.send({ type: "SHUTDOWN" });
    },
    adopt: ({ http, watchdog }) => {
      if (http) resources.add("http", { close: () => http.close() });
      if (watchdog) resources.add("watchdog", { close: () => watchdog.stop() });
    },
    close: () =>
      (closing ??= resources.close().then((steps) => ({ output: supervisor.output(), steps }))),
  };
}
