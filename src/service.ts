// The service shell: builds the store, the position source and the three phases' steps,
// provides them to the supervisor machine, and turns what the actors report into logs and
// counters. Everything with I/O is created here; the machines and kernels stay pure.
import { createActor, type InspectionEvent } from 'xstate';
import type { CycleDoneEvent, PhaseName } from '../machines/publisher.js';
import {
  supervisorMachine,
  type Escalation,
  type RestartNotice,
  type SupervisorActor,
  type SupervisorOutput,
} from '../machines/supervisor.js';
import type { Config } from './config/schema.js';
import { createPositionSource, type PositionSource } from './inputs/positions.js';
import { PositionBook } from './inputs/positionMemory.js';
import { readCandleExtremes } from './inputs/candles.js';
import { LiveCandles } from './inputs/klines.js';
import { klinesBlockMs, klinesFollowerFor, KLINES_READ_COUNT, type KlinesBatchStats } from './phases/klinesFollower.js';
import type { KlinesFollowerEvent } from '../machines/klinesFollower.js';
import type { Logger } from './log.js';
import { harvestSteps } from './phases/harvest.js';
import { marketStateSteps } from './phases/marketstate.js';
import { riskSteps } from './phases/risk.js';
import { publisherFor, type PhaseDeps } from './phases/steps.js';
import { MemoryStore } from './store/memoryStore.js';
import { createRedisStore, REDIS_STORE_DEFAULTS, type RedisStore } from './store/redisStore.js';
import type { Store } from './store/types.js';
import { ExitCode } from './exitCodes.js';

export interface ServiceHooks {
  onCycle?(event: CycleDoneEvent, nowMs: number): void;
  /** Every batch the klines follower read (metrics: candles seen and skipped). */
  onKlines?(stats: KlinesBatchStats): void;
  onRestart?(notice: RestartNotice): void;
  onEscalate?(escalation: Escalation): void;
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
  /** Aborting it during start-up (the wait for Redis) rejects with StartAbortedError. */
  signal?: AbortSignal;
  /**
   * Wraps a phase's provided publisher machine before the supervisor spawns it — e.g.
   * `m.provide({ actions: … })` to inject a fault in a test, or extra logging when debugging.
   */
  wrapPublisher?: (phase: PhaseName, machine: PublisherLogic) => PublisherLogic;
}

/** The publisher machine as provided with a phase's steps. */
export type PublisherLogic = ReturnType<typeof publisherFor>;

/** startService was asked to stop before the supervisor started. */
export class StartAbortedError extends Error {
  constructor() {
    super('stopped before the service started');
    this.name = 'StartAbortedError';
  }
}

/** Never resolves; rejects with StartAbortedError when `signal` aborts. */
function aborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (!signal) return;
    if (signal.aborted) reject(new StartAbortedError());
    else signal.addEventListener('abort', () => reject(new StartAbortedError()), { once: true });
  });
}

/** Per-run counters: what `--once` prints at the end and what /metrics is built from. */
export class CycleStats {
  readonly outcomes = new Map<string, number>();
  readonly skips = new Map<string, number>();
  restarts = 0;

  record(e: CycleDoneEvent): void {
    const k = `${e.phase}:${e.outcome}`;
    this.outcomes.set(k, (this.outcomes.get(k) ?? 0) + 1);
    if (e.outcome === 'skipped' && e.reason) {
      const s = `${e.phase}:${e.reason}`;
      this.skips.set(s, (this.skips.get(s) ?? 0) + 1);
    }
  }

  summary(): Record<string, number> {
    return Object.fromEntries([...this.outcomes, ...[...this.skips].map(([k, v]) => [`skip:${k}`, v] as const)]);
  }
}

export interface ServiceHandle {
  actor: SupervisorActor;
  store: Store;
  stats: CycleStats;
  /** Resolves when the supervisor ends (once complete, shut down, or escalated). */
  done: Promise<SupervisorOutput>;
  /** Stop scheduling, let in-flight publishes finish (bounded), then end. */
  shutdown(): void;
}

export const wallClock = (): number => performance.timeOrigin + performance.now();

export function createStoreFromConfig(config: Config, logger: Logger, reconnect = true, connectionName?: string): Store {
  if (config.store === 'memory') return new MemoryStore();
  let outage = false;
  let lastError = '';
  return createRedisStore({
    url: config.redisUrl,
    password: config.redisPassword,
    commandTimeoutMs: config.commandTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    // The reconnect backoff never outgrows the publishers' own: with the store's fixed 5 s cap,
    // a service configured to retry every 300 ms still waited up to 5 s for the socket after
    // Redis came back (test/faults/outage.test.ts). Defaults are unchanged (100 ms … 5 s).
    reconnectBaseMs: Math.min(REDIS_STORE_DEFAULTS.reconnectBaseMs, config.backoffBaseMs),
    reconnectCapMs: Math.min(REDIS_STORE_DEFAULTS.reconnectCapMs, config.backoffCapMs),
    reconnect,
    ...(connectionName !== undefined ? { connectionName } : {}),
    onEvent: (e) => {
      // One line per change of state, not per retry: an outage is announced once (and each new
      // kind of error once), every attempt goes to debug, and 'ready' ends the outage.
      if (e.type === 'ready') {
        logger.info({ redis: e.type }, 'redis ready');
        outage = false;
        lastError = '';
      } else if (e.type === 'reconnecting') {
        (outage ? logger.debug : logger.warn).call(logger, { redis: e.type, delayMs: e.delayMs }, 'redis unreachable; reconnecting with backoff');
        outage = true;
      } else if (e.type === 'error') {
        (e.message === lastError ? logger.debug : logger.warn).call(logger, { redis: e.type, err: e.message }, 'redis connection error');
        lastError = e.message ?? '';
      } else logger.debug({ redis: e.type }, `redis ${e.type}`);
    },
  });
}

function isRedisStore(store: Store): store is RedisStore {
  return store.kind === 'redis' && typeof (store as RedisStore).waitReady === 'function';
}

/** Logs a cycle outcome at a level an operator can live with at 1,000 symbols. */
function logCycle(logger: Logger, e: CycleDoneEvent, previousReason: string | undefined): void {
  const base = { phase: e.phase, symbol: e.symbol };
  switch (e.outcome) {
    case 'published':
      logger.info({ ...base, why: e.reason }, `${e.phase} ${e.symbol} published: ${e.summary ?? ''}`);
      return;
    case 'heartbeat':
      logger.debug(base, `${e.phase} ${e.symbol} unchanged (heartbeat)`);
      return;
    case 'skipped':
      // A skip that repeats every cycle is news only the first time.
      (previousReason === e.reason ? logger.debug : logger.info).call(
        logger,
        { ...base, reason: e.reason, detail: e.detail },
        `${e.phase} ${e.symbol} skipped: ${e.reason}`,
      );
      return;
    case 'error': {
      const n = e.consecutiveFailures;
      (n <= 1 || isLoudRepeat(n) ? logger.warn : logger.debug).call(
        logger,
        { ...base, err: e.detail, consecutiveFailures: n },
        `${e.phase} ${e.symbol} failed; backing off`,
      );
    }
  }
}

/**
 * --once must fail in bounded time, with a message naming the server, when Redis is away. The
 * long-running service gives the connection a chance before the first cycles, so a normal start
 * does not begin with one failed cycle per actor; if Redis is away the actors back off and retry.
 * Either wait ends early when the caller aborts (SIGTERM at start).
 */
async function waitForRedis(store: RedisStore, config: Config, once: boolean, logger: Logger, signal?: AbortSignal): Promise<void> {
  const ready = once
    ? store.waitReady(config.connectTimeoutMs)
    : store.waitReady(config.connectTimeoutMs).catch((err: Error) => {
        logger.warn({ err: err.message }, 'redis not reachable yet; starting anyway, publishers retry with backoff');
      });
  try {
    await Promise.race([ready, aborted(signal)]);
  } catch (err) {
    if (signal?.aborted) await closeStore(store);
    throw err;
  }
}

/** True for the 1st, 2nd, 4th, 8th … occurrence: repeated trouble stays visible without a line per event. */
const isLoudRepeat = (n: number): boolean => n >= 1 && (n & (n - 1)) === 0;

export async function startService(options: ServiceOptions): Promise<ServiceHandle> {
  const { config, logger } = options;
  const once = options.once ?? false;
  const now = options.now ?? wallClock;
  const store = options.store ?? createStoreFromConfig(config, logger, !once);
  if (isRedisStore(store)) await waitForRedis(store, config, once, logger, options.signal);
  if (config.maxInputAge !== null && config.maxInputAge < config.maxPublishAge) {
    logger.warn(
      { maxInputAge: config.maxInputAge, maxPublishAge: config.maxPublishAge },
      'maxInputAge is shorter than maxPublishAge: an unchanged market state will be refused as stale between its publishes',
    );
  }
  const positions = options.positions ?? createPositionSource(config.positionSource, store, { maxPositionAgeSec: config.maxPositionAge });
  const book = new PositionBook(store, (symbol, fromMs) => readCandleExtremes(store, symbol, config.candlePatterns, fromMs));
  const live = new LiveCandles();
  const deps: PhaseDeps = { store, positions, book, live, config, now };
  // The follower's blocking reads hold their connection: on Redis it gets one of its own (its
  // connection events go to debug: the main connection already reports every outage).
  const followKlines = config.followKlines && !once;
  const followerStore = !followKlines ? null : store.kind === 'memory' ? store : createStoreFromConfig(config, logger.child({ connection: 'klines' }), true, 'quantum-calc-klines');
  // The main connection is up; give the follower's a moment too, so a normal start does not open
  // with a failed read. If it is slow the follower simply backs off and retries.
  if (followerStore !== null && followerStore !== store && isRedisStore(followerStore)) {
    await Promise.race([followerStore.waitReady(Math.min(config.connectTimeoutMs, 2000)).catch(() => undefined), aborted(options.signal)]).catch(async (err) => {
      await closeStore(followerStore);
      throw err;
    });
  }
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
      if (isLoudRepeat(n)) logger.error({ hook: what, err: (err as Error).message, failures: n }, `observer ${what} threw; ignored`);
    }
  };
  const inspect = options.inspect;
  const wrap = (phase: PhaseName, machine: PublisherLogic): PublisherLogic => options.wrapPublisher?.(phase, machine) ?? machine;
  const lastReason = new Map<string, string | undefined>();
  const runningSymbols = new Set(config.symbols);

  const provided = supervisorMachine.provide({
    actors: {
      marketstatePublisher: wrap('marketstate', publisherFor(marketStateSteps(deps))),
      riskPublisher: wrap('risk', publisherFor(riskSteps(deps))),
      harvestPublisher: wrap('harvest', publisherFor(harvestSteps(deps))),
      ...(followerStore === null
        ? {}
        : {
            klinesFollower: klinesFollowerFor({
              store: followerStore,
              stream: config.klinesStream,
              live,
              isRunning: (symbol) => runningSymbols.has(symbol),
              blockMs: klinesBlockMs(config.commandTimeoutMs),
              count: KLINES_READ_COUNT,
              onBatch: (stats) => {
                for (const [reason, skipped] of Object.entries(stats.skipped)) {
                  if (reason === 'unknown_symbol') continue; // the stream carries every symbol of the stack
                  logger.debug({ reason, count: skipped.count, detail: skipped.detail }, `klines entries skipped: ${reason}`);
                }
                guarded('onKlines', () => options.hooks?.onKlines?.(stats));
              },
            }),
          }),
    },
    actions: {
      onCycleDone: (_args, e: CycleDoneEvent) => {
        stats.record(e);
        const key = `${e.phase}:${e.symbol}`;
        logCycle(logger, e, lastReason.get(key));
        lastReason.set(key, e.outcome === 'skipped' ? (e.reason ?? undefined) : undefined);
        guarded('onCycle', () => options.hooks?.onCycle?.(e, now()));
      },
      onRestart: (_args, notice: RestartNotice | null) => {
        if (notice === null) return;
        stats.restarts++;
        logger.error({ actor: notice.oldId, newActor: notice.newId, err: notice.error, restartsInWindow: notice.restartsInWindow }, `actor ${notice.oldId} crashed; restarted as ${notice.newId}`);
        guarded('onRestart', () => options.hooks?.onRestart?.(notice));
      },
      onKlines: (_args, event: KlinesFollowerEvent) => {
        if (event.type === 'KLINES.FAILED') {
          const n = event.consecutiveFailures;
          (n <= 1 || isLoudRepeat(n) ? logger.warn : logger.debug).call(
            logger,
            { err: event.error, consecutiveFailures: n, stream: config.klinesStream },
            'klines follower: read failed; backing off (intervals keep running)',
          );
        } else if (event.type === 'KLINES.RESYNC') {
          logger.info({ stream: config.klinesStream }, 'klines follower resumed from the stream end; every marketstate re-reads its candles');
        }
      },
      onEscalate: (_args, escalation: Escalation) => {
        logger.fatal(
          { actor: escalation.actorId, restarts: escalation.restarts, windowMs: escalation.windowMs, err: escalation.error, exitCode: ExitCode.ESCALATED },
          `restart budget exhausted for ${escalation.actorId}; exiting with code ${ExitCode.ESCALATED} so systemd restarts the process`,
        );
        guarded('onEscalate', () => options.hooks?.onEscalate?.(escalation));
      },
    },
  });

  const phases = config.phases as PhaseName[];
  const actor = createActor(provided, {
    input: {
      symbols: config.symbols,
      phases,
      intervalsMs: {
        marketstate: config.marketstateInterval * 1000,
        risk: config.riskInterval * 1000,
        harvest: config.harvestInterval * 1000,
      },
      backoff: { baseMs: config.backoffBaseMs, capMs: config.backoffCapMs },
      once,
      restartBudget: config.restartBudget,
      restartWindowMs: config.restartWindowSec * 1000,
      drainTimeoutMs: config.drainTimeoutMs,
      followKlines: followerStore !== null,
      now,
    },
    inspect: inspect === undefined ? undefined : (event: InspectionEvent) => guarded('inspect', () => inspect(event)),
  });

  const supervised = new Promise<SupervisorOutput>((resolve, reject) => {
    actor.subscribe({
      next: (snapshot) => {
        if (snapshot.status === 'done' && snapshot.output) resolve(snapshot.output);
      },
      error: reject,
    });
  });
  // The follower's own connection is the service's to close, once the supervisor has ended.
  const done = followerStore === null || followerStore === store ? supervised : supervised.finally(() => closeStore(followerStore));
  actor.start();
  logger.info(
    { symbols: config.symbols.length, phases, store: store.kind, once, positionSource: config.positionSource },
    `quantum-calc started: ${phases.join(', ')} for ${config.symbols.length} symbol(s) on the ${store.kind} store${once ? ' (--once)' : ''}`,
  );
  return { actor, store, stats, done, shutdown: () => actor.send({ type: 'SHUTDOWN' }) };
}

/** Closes the store, but never waits longer than `timeoutMs` for it. */
export async function closeStore(store: Store, timeoutMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    store.close().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    }),
  ]);
  if (timer) clearTimeout(timer);
}
