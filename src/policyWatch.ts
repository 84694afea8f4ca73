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
import { errorMessage } from './core/errors.js';

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

/** An epoch-ms instant for a log line; never throws (a Date out of range has no ISO form). */
function isoOrNumber(ms: number): string | number {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? ms : date.toISOString();
}

/** Logs what the policy book reports, at a level an operator can live with. */
export function logPolicyEvent(logger: Logger, event: PolicyEvent): void {
  switch (event.type) {
    case 'applied': {
      const p = event.policy;
      const fields = { policyVersion: p.version, theta: p.theta, universe: p.universe.length, validUntil: isoOrNumber(p.validUntilMs) };
      if (event.thetaApplies === false) {
        logger.info(fields, `policy ${p.version} read for its ${p.universe.length} universe symbols; its harvest theta is not used (harvestThetaSource config)`);
        return;
      }
      logger.info(fields, `policy ${p.version} in force: harvest theta ${Object.keys(p.theta).join(', ') || '(none)'}; ${p.universe.length} universe symbols`);
      return;
    }
    case 'refreshed':
      logger.debug({ policyVersion: event.policy.version, validUntil: isoOrNumber(event.policy.validUntilMs) }, 'policy refreshed (unchanged)');
      return;
    case 'refused':
      // No policy at all is a state, not a fault (a stack without the generator): say it once, calmly.
      (event.reason === 'missing' && event.detail.endsWith('does not exist') ? logger.info : logger.warn).call(
        logger,
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
  /** The newest id of the update stream at the last look (null: empty or absent); undefined before the first look. */
  private lastUpdateId: string | null | undefined = undefined;
  /** The usable policy's fingerprint the running set was last worked out with (null: none was usable). */
  private universeFingerprint: string | null = null;
  private lastRefreshMs = -Infinity;
  private lastUniverseMs = -Infinity;
  private usableVersion: string | null = null;
  private running: string[];
  /** What is failing now (the update stream, the policy, the universe): each is logged once per outage. */
  private readonly failing = new Set<string>();
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
    // The update stream's newest id first: an update announced from now on is seen by the first tick.
    await this.bounded(
      (async () => {
        await this.readUpdateId();
        await this.refresh();
      })(),
      bound,
      'policy',
    );
    this.usableVersion = this.options.book.usable(this.options.now())?.version ?? null;
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
      } catch (error) {
        // Never an unhandled rejection (that would end the process): log it, tick again.
        this.ioFailed('policy tick', error, undefined);
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
    // A new newest entry (the first one of a stream that was empty or absent included) is an
    // announcement; so is any entry when the stream could not be looked at before (one re-read).
    const announced = await this.readUpdateId();
    if (announced || nowMs - this.lastRefreshMs >= this.options.config.harvestInterval * 1000) await this.refresh();
    const usable = book.usable(this.options.now());
    if (this.usableVersion !== null && usable === null) {
      const fallback = this.options.config.symbolsSource === 'policy' ? 'the configured theta and symbols are used' : 'the configured theta is used';
      this.options.logger.warn({ policyVersion: this.usableVersion }, `policy ${this.usableVersion} expired; ${fallback} until a valid policy is written`);
    }
    this.usableVersion = usable?.version ?? null;
    if (this.options.config.symbolsSource !== 'policy') return;
    // Compared with the policy the running set was worked out with, so an expiry (which no re-read
    // reports) changes the set at once too.
    const changed = (usable?.fingerprint ?? null) !== this.universeFingerprint;
    if (!changed && nowMs - this.lastUniverseMs < UNIVERSE_RECHECK_MS) return;
    const next = await this.computeSymbols().catch((error) => this.ioFailed('universe', error, null));
    if (next === null) return;
    const same = next.length === this.running.length && next.every((s, i) => s === this.running[i]);
    this.running = next;
    if (!same && !this.stopped) onSymbols(next);
  }

  /** Looks at the update stream's newest id; true when it differs from the last look. */
  private async readUpdateId(): Promise<boolean> {
    try {
      const [newest] = await this.options.store.xrevrange(POLICY_UPDATE_STREAM, 1);
      const id = newest?.id ?? null;
      const announced = this.lastUpdateId !== id;
      this.lastUpdateId = id;
      this.recovered('policy update stream');
      return announced;
    } catch (error) {
      // Not a stream (or I/O): the interval re-read still applies.
      this.ioFailed('policy update stream', error, undefined);
      return false;
    }
  }

  private async refresh(): Promise<void> {
    try {
      // With harvestThetaSource config the book reads the policy only for its universe.
      await this.options.book.refresh(this.options.now(), { universe: this.options.config.symbolsSource === 'policy' });
      this.lastRefreshMs = this.options.now();
      this.recovered('policy');
    } catch (error) {
      this.ioFailed('policy', error, undefined);
    }
  }

  /** The policy's universe (else the configured symbols) plus every symbol with an open position. */
  private async computeSymbols(): Promise<string[]> {
    const nowMs = this.options.now();
    const policy = this.options.book.usable(nowMs);
    const universe = policy?.universe ?? this.options.config.symbols;
    const inUniverse = new Set(universe);
    const keys = await this.options.store.scanKeys(`${CANONICAL_POSITION_PREFIX}*`, MAX_POSITION_KEYS);
    const candidates = keys.map((key) => key.slice(CANONICAL_POSITION_PREFIX.length)).filter((s) => UNIVERSE_SYMBOL.test(s) && !inUniverse.has(s));
    const open: string[] = [];
    for (const symbol of candidates.sort()) {
      const read = await this.hashPositions.read(symbol, nowMs);
      if (read.ok || read.reason !== 'no_position') open.push(symbol);
    }
    this.lastUniverseMs = nowMs;
    this.universeFingerprint = policy?.fingerprint ?? null;
    this.recovered('universe');
    return [...universe, ...open];
  }

  private ioFailed<T>(what: string, error: unknown, fallback: T): T {
    if (!this.failing.has(what)) {
      this.options.logger.warn({ err: errorMessage(error) }, `policy watch: reading the ${what} failed; retrying every second, the last good policy and symbols stay`);
    }
    this.failing.add(what);
    return fallback;
  }

  /** `what` answered again: its next failure is a new outage (logged again). */
  private recovered(what: string): void {
    this.failing.delete(what);
  }
}
