// Follows the AI policy (SPEC §9) for the running service: re-reads quantum:policy:current when
// the generator announces an update on quantum:stream:policy.update (checked every second) and at
// least every harvest interval, notices the moment a policy expires, and — with
// symbolsSource: policy — works out the running symbols: the policy's universe plus every symbol
// with an open position in quantum:state:positions:* (SCAN), rechecked on every policy change and
// at least every minute. A flapping policy costs at most one re-read a second; I/O failures are
// logged once per outage and retried on the next tick, the last good policy and set staying in
// force meanwhile.
import type { Config } from './config/schema.js';
import { CANONICAL_POSITION_PREFIX, createPositionSource } from './inputs/positions.js';
import { POLICY_UPDATE_STREAM, UNIVERSE_SYMBOL } from './inputs/policy.js';
import type { PolicyBook, PolicyEvent } from './inputs/policyBook.js';
import type { Logger } from './log.js';
import type { Store } from './store/types.js';

/** How often the update stream and the expiry are checked. */
export const POLICY_TICK_MS = 1000;
/** The running set is rechecked at least this often (open positions come and go). */
export const UNIVERSE_RECHECK_MS = 60_000;
/** At most this many position keys are looked at (SCAN stops there). */
export const MAX_POSITION_KEYS = 10_000;

export interface PolicyWatchOptions {
  store: Store;
  book: PolicyBook;
  config: Pick<Config, 'symbolsSource' | 'symbols' | 'harvestInterval' | 'harvestThetaSource' | 'commandTimeoutMs'>;
  logger: Logger;
  now: () => number;
}

/** Logs what the policy book reports, at a level an operator can live with. */
export function logPolicyEvent(logger: Logger, event: PolicyEvent): void {
  switch (event.type) {
    case 'applied': {
      const p = event.policy;
      logger.info(
        { policyVersion: p.version, theta: p.theta, universe: p.universe.length, validUntil: new Date(p.validUntilMs).toISOString() },
        `policy ${p.version} in force: harvest theta ${Object.keys(p.theta).join(', ') || '(none)'}; ${p.universe.length} universe symbols`,
      );
      return;
    }
    case 'refreshed':
      logger.debug({ policyVersion: event.policy.version, validUntil: new Date(event.policy.validUntilMs).toISOString() }, 'policy refreshed (unchanged)');
      return;
    case 'refused':
      logger.warn(
        { reason: event.reason, detail: event.detail, keptPrevious: event.keptPrevious },
        `policy refused (${event.reason}): ${event.detail}; ${event.keptPrevious ? 'the last good policy stays in force until it expires' : 'the configured theta is used'}`,
      );
      return;
    case 'unused_keys':
      logger.info({ policyVersion: event.version, keys: event.keys }, `policy ${event.version}: not harvest theta keys, ignored: ${event.keys.join(', ')}`);
  }
}

export class PolicyWatch {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private lastUpdateId: string | null = null;
  private lastRefreshMs = -Infinity;
  private lastUniverseMs = -Infinity;
  private usableVersion: string | null = null;
  private running: string[];
  private failing = false;
  private readonly hashPositions;

  constructor(private readonly options: PolicyWatchOptions) {
    this.running = [...options.config.symbols];
    // Open means "not no_position": a stale or broken snapshot is still a position to manage.
    this.hashPositions = createPositionSource('redis_hash', options.store, { maxPositionAgeSec: null });
  }

  private get followsPolicy(): boolean {
    return this.options.config.harvestThetaSource === 'policy' || this.options.config.symbolsSource === 'policy';
  }

  /**
   * The first read, before the publishers start: the first cycles already use the policy. It is
   * bounded: a store that does not answer delays the start by at most a few command timeouts,
   * then the service starts on the configured theta and symbols and the ticks keep trying.
   */
  async start(): Promise<string[]> {
    if (!this.followsPolicy) return this.running;
    const bound = 2 * this.options.config.commandTimeoutMs;
    await this.bounded(this.refresh(), bound, 'policy');
    if (this.options.config.symbolsSource === 'policy') {
      const symbols = await this.bounded(this.computeSymbols(), 2 * bound, 'universe').catch((error) => this.ioFailed('universe', error, null));
      if (symbols) this.running = symbols;
    }
    return this.running;
  }

  private async bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        this.ioFailed(what, new Error(`no answer within ${ms} ms`), null);
        resolve(null);
      }, ms);
      timer.unref();
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The symbols to run now. */
  symbols(): string[] {
    return this.running;
  }

  /** Starts following: `onSymbols` gets every new running set (symbolsSource: policy). */
  follow(onSymbols: (symbols: string[]) => void): void {
    if (!this.followsPolicy || this.stopped) return;
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      try {
        await this.tick(onSymbols);
      } finally {
        if (!this.stopped) {
          this.timer = setTimeout(() => void tick(), POLICY_TICK_MS);
          this.timer.unref();
        }
      }
    };
    this.timer = setTimeout(() => void tick(), POLICY_TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async tick(onSymbols: (symbols: string[]) => void): Promise<void> {
    const nowMs = this.options.now();
    const { book } = this.options;
    let announced = false;
    try {
      const [newest] = await this.options.store.xrevrange(POLICY_UPDATE_STREAM, 1);
      const id = newest?.id ?? null;
      announced = id !== this.lastUpdateId && this.lastUpdateId !== null;
      this.lastUpdateId = id;
    } catch (error) {
      // Not a stream (or I/O): the interval re-read still applies.
      this.ioFailed('policy update stream', error, undefined);
    }
    const before = book.usable(nowMs)?.fingerprint ?? null;
    if (announced || nowMs - this.lastRefreshMs >= this.options.config.harvestInterval * 1000) await this.refresh();
    const usable = book.usable(this.options.now());
    if (this.usableVersion !== null && usable === null) {
      this.options.logger.warn({ policyVersion: this.usableVersion }, `policy ${this.usableVersion} expired; the configured theta is used until a valid policy is written`);
    }
    this.usableVersion = usable?.version ?? null;
    if (this.options.config.symbolsSource !== 'policy') return;
    const changed = (usable?.fingerprint ?? null) !== before;
    if (!changed && nowMs - this.lastUniverseMs < UNIVERSE_RECHECK_MS) return;
    const next = await this.computeSymbols().catch((error) => this.ioFailed('universe', error, null));
    if (next === null) return;
    const same = next.length === this.running.length && next.every((s, i) => s === this.running[i]);
    this.running = next;
    if (!same && !this.stopped) onSymbols(next);
  }

  private async refresh(): Promise<void> {
    try {
      await this.options.book.refresh(this.options.now());
      this.lastRefreshMs = this.options.now();
      this.usableVersion = this.options.book.usable(this.options.now())?.version ?? null;
      this.recovered();
    } catch (error) {
      this.ioFailed('policy', error, undefined);
    }
  }

  /** The policy's universe (else the configured symbols) plus every symbol with an open position. */
  private async computeSymbols(): Promise<string[]> {
    const nowMs = this.options.now();
    const universe = this.options.book.universe(nowMs) ?? this.options.config.symbols;
    const keys = await this.options.store.scanKeys(`${CANONICAL_POSITION_PREFIX}*`, MAX_POSITION_KEYS);
    const candidates = keys.map((key) => key.slice(CANONICAL_POSITION_PREFIX.length)).filter((s) => UNIVERSE_SYMBOL.test(s) && !universe.includes(s));
    const open: string[] = [];
    for (const symbol of candidates.sort()) {
      const read = await this.hashPositions.read(symbol, nowMs);
      if (read.ok || read.reason !== 'no_position') open.push(symbol);
    }
    this.lastUniverseMs = nowMs;
    this.recovered();
    return [...universe, ...open];
  }

  private ioFailed<T>(what: string, error: unknown, fallback: T): T {
    if (!this.failing) {
      this.options.logger.warn({ err: error instanceof Error ? error.message : String(error) }, `policy watch: reading the ${what} failed; retrying every second, the last good policy and symbols stay`);
    }
    this.failing = true;
    return fallback;
  }

  private recovered(): void {
    this.failing = false;
  }
}
