// Follows the AI policy (docs/specification.md §9) for the running service: re-reads quantum:policy:current when
// the generator announces an update on quantum:stream:policy.update (checked every second) and at
// least every harvest interval, notices the moment a policy expires, and — with
// symbolsSource: policy — works out the running symbols: the policy's universe plus every symbol
// with an open position in quantum:state:positions:* (SCAN), rechecked on every policy change and
// at least every minute. A flapping policy costs at most one re-read a second; I/O failures are
// logged once per outage and retried on the next tick, the last good policy and set staying in
// force meanwhile.
//
// Scale (CONTRACT.md, "Scale"): other services can grow the position keys without bound, so
// they are read in bounded pieces — the SCAN stops once maxSymbols (universe and open positions
// together) could be filled, positions are read POSITION_READ_BATCH at a time, and start-up waits
// for that at most a short bound (it then starts on the universe and adds the open positions when
// the scan ends). A changing running set is handed on at most once per universeApplyInterval,
// the newest set winning: each hand-over spawns and stops publishers, which a policy flapping
// every few milliseconds must not turn into a spawn storm that starves the lease renewal.
import type { Config } from "../config/schema.js";
import { CANONICAL_POSITION_PREFIX, createPositionSource } from "../inputs/positions.js";
import { POLICY_UPDATE_STREAM, UNIVERSE_SYMBOL } from "./policy.js";
import type { PolicyBook, PolicyEvent } from "./policyBook.js";
import type { Logger } from "../log.js";
import type { Store } from "../store/types.js";
import { errorMessage } from "../core/errors.js";

/** How often the update stream and the expiry are checked. */
export const POLICY_TICK_MS = 1000;
/** The running set is rechecked at least this often (open positions come and go). */
export const UNIVERSE_RECHECK_MS = 60_000;
/** Position hashes read at once (bounded concurrency: one batch at a time, the event loop free between). */
export const POSITION_READ_BATCH = 50;
/** Start-up waits at most this long (and 2 x commandTimeoutMs) for the open positions; then they follow. */
export const START_SCAN_WAIT_MS = 2000;

export interface PolicyWatchOptions {
  store: Store;
  book: PolicyBook;
  config: Pick<
    Config,
    | "symbolsSource"
    | "symbols"
    | "harvestInterval"
    | "harvestThetaSource"
    | "commandTimeoutMs"
    | "maxSymbols"
    | "universeApplyInterval"
  >;
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
    case "applied": {
      const p = event.policy;
      const fields = {
        policyVersion: p.version,
        theta: p.theta,
        universe: p.universe.length,
        validUntil: isoOrNumber(p.validUntilMs),
      };
      if (event.thetaApplies === false) {
        logger.info(
          fields,
          `policy ${p.version} read for its ${p.universe.length} universe symbols; its harvest theta is not used (harvestThetaSource config)`,
        );
        return;
      }
      logger.info(
        fields,
        `policy ${p.version} in force: harvest theta ${Object.keys(p.theta).join(", ") || "(none)"}; ${p.universe.length} universe symbols`,
      );
      return;
    }
    case "refreshed":
      logger.debug(
        { policyVersion: event.policy.version, validUntil: isoOrNumber(event.policy.validUntilMs) },
        "policy refreshed (unchanged)",
      );
      return;
    case "refused":
      // No policy at all is a state, not a fault (a stack without the generator): say it once, calmly.
      (event.reason === "missing" && event.detail.endsWith("does not exist")
        ? logger.info
        : logger.warn
      ).call(
        logger,
        { reason: event.reason, detail: event.detail, keptPrevious: event.keptPrevious },
        `policy refused (${event.reason}): ${event.detail}; ${event.keptPrevious ? "the last good policy stays in force until it expires" : "the configured theta is used"}`,
      );
      return;
    case "unused_keys":
      logger.info(
        { policyVersion: event.version, keys: event.keys },
        `policy ${event.version}: not harvest theta keys, ignored: ${event.keys.join(", ")}`,
      );
  }
}

/** What the last look at the position keys left out because of maxSymbols (null: nothing). */
export interface PositionCap {
  maxSymbols: number;
  /** Symbols of the universe (or the configured ones), which always run. */
  universe: number;
  /** Open positions outside the universe that run. */
  running: number;
  /** The SCAN stopped with position keys it did not look at (their count is not known). */
  keysNotRead: boolean;
  /** Position keys found but not read: the running set was full. */
  candidatesNotRead: number;
}

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((s, i) => s === b[i]);

export class PolicyWatch {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The newest id of the update stream at the last look (null: empty or absent); undefined before the first look. */
  private lastUpdateId: string | null | undefined = undefined;
  /** The usable policy's fingerprint the running set was last worked out with (null: none was usable). */
  private universeFingerprint: string | null = null;
  private lastRefreshMs = -Infinity;
  private lastUniverseMs = -Infinity;
  /** When a changed running set was last handed on (damped by universeApplyInterval). */
  private lastHandedMs = -Infinity;
  private usableVersion: string | null = null;
  /** The newest running set worked out. */
  private running: string[];
  /** The set the supervisor runs: returned by start(), then every set handed to the listener; null before start() returned. */
  private handed: string[] | null = null;
  private listener: ((symbols: string[]) => void) | null = null;
  /** The running set being worked out (one at a time); null when none is. */
  private computing: Promise<void> | null = null;
  /** What maxSymbols left out at the last look (logged when it changes from nothing to something and back). */
  private cap: PositionCap | null = null;
  /** What is failing now (the update stream, the policy, the universe): each is logged once per outage. */
  private readonly failing = new Set<string>();
  private readonly hashPositions;

  constructor(private readonly options: PolicyWatchOptions) {
    this.running = [...options.config.symbols];
    // Open means "not no_position": a stale or broken snapshot is still a position to manage.
    this.hashPositions = createPositionSource("redis_hash", options.store, {
      maxPositionAgeSec: null,
    });
  }

  private get followsPolicy(): boolean {
    return (
      this.options.config.harvestThetaSource === "policy" ||
      this.options.config.symbolsSource === "policy"
    );
  }

  /**
   * The first read, before the publishers start: the first cycles already use the policy. It is
   * bounded: a store that does not answer delays the start by at most a few command timeouts,
   * then the service starts on the configured theta and symbols and the ticks keep trying. The
   * open positions get at most START_SCAN_WAIT_MS (and 2 x commandTimeoutMs) more: when their
   * scan takes longer the service starts on the universe and the scan's result follows (follow()).
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
      "policy",
    );
    this.usableVersion = this.options.book.usable(this.options.now())?.version ?? null;
    if (this.options.config.symbolsSource === "policy" && !this.stopped) {
      this.running = this.universeNow(this.options.now()).universe;
      const scan = this.recompute();
      const waitMs = Math.min(bound, START_SCAN_WAIT_MS);
      const finished = await Promise.race([scan.then(() => true), delay(waitMs).then(() => false)]);
      if (!finished && !this.stopped) {
        this.options.logger.info(
          { waitedMs: waitMs, universe: this.running.length },
          `the open positions (${CANONICAL_POSITION_PREFIX}*) are still being read after ${waitMs} ms: starting on the ${this.running.length} universe symbol(s); the symbols with an open position are added when the scan ends`,
        );
      }
    }
    this.handed = [...this.running];
    return this.handed;
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

  /** What maxSymbols left out at the last look at the position keys (null: nothing). */
  positionCap(): PositionCap | null {
    return this.cap;
  }

  /** Starts following: `onSymbols` gets every new running set (symbolsSource: policy). */
  follow(onSymbols: (symbols: string[]) => void): void {
    if (!this.followsPolicy || this.stopped) return;
    this.listener = onSymbols;
    // The start-up scan may have ended (or be still under way): its result is handed on now or when it ends.
    this.handOn();
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      try {
        await this.tick();
      } catch (error) {
        // Never an unhandled rejection (that would end the process): log it, tick again.
        this.ioFailed("policy tick", error, undefined);
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

  /** Stops the ticks; a scan under way ends at its next piece and hands nothing on. */
  stop(): void {
    this.stopped = true;
    this.listener = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    const nowMs = this.options.now();
    const { book } = this.options;
    // A new newest entry (the first one of a stream that was empty or absent included) is an
    // announcement; so is any entry when the stream could not be looked at before (one re-read).
    const announced = await this.readUpdateId();
    if (announced || nowMs - this.lastRefreshMs >= this.options.config.harvestInterval * 1000)
      await this.refresh();
    const usable = book.usable(this.options.now());
    if (this.usableVersion !== null && usable === null) {
      const fallback =
        this.options.config.symbolsSource === "policy"
          ? "the configured theta and symbols are used"
          : "the configured theta is used";
      this.options.logger.warn(
        { policyVersion: this.usableVersion },
        `policy ${this.usableVersion} expired; ${fallback} until a valid policy is written`,
      );
    }
    this.usableVersion = usable?.version ?? null;
    if (this.options.config.symbolsSource !== "policy") return;
    // Compared with the policy the running set was worked out with, so an expiry (which no re-read
    // reports) changes the set at once too.
    const changed = (usable?.fingerprint ?? null) !== this.universeFingerprint;
    if (!changed && nowMs - this.lastUniverseMs < UNIVERSE_RECHECK_MS) return;
    // Damped: a set was handed on less than universeApplyInterval ago. The next tick looks again,
    // with the newest policy then (the sets in between are never applied).
    if (nowMs - this.lastHandedMs < this.options.config.universeApplyInterval * 1000) return;
    // The start-up scan still under way: it hands its set on itself.
    if (this.computing !== null) return;
    await this.recompute();
  }

  /** Works the running set out (one computation at a time) and hands it on when it changed. */
  private recompute(): Promise<void> {
    this.computing ??= (async () => {
      try {
        const next = await this.computeSymbols().catch((error) =>
          this.ioFailed("universe", error, null),
        );
        if (next === null || this.stopped) return;
        this.running = next;
        this.handOn();
      } finally {
        this.computing = null;
      }
    })();
    return this.computing;
  }

  /** Hands the newest running set to the listener when it differs from the one the supervisor runs. */
  private handOn(): void {
    if (
      this.listener === null ||
      this.stopped ||
      this.handed === null ||
      sameList(this.running, this.handed)
    )
      return;
    this.handed = this.running;
    this.lastHandedMs = this.options.now();
    this.listener(this.running);
  }

  /** Looks at the update stream's newest id; true when it differs from the last look. */
  private async readUpdateId(): Promise<boolean> {
    try {
      const [newest] = await this.options.store.xrevrange(POLICY_UPDATE_STREAM, 1);
      const id = newest?.id ?? null;
      const announced = this.lastUpdateId !== id;
      this.lastUpdateId = id;
      this.recovered("policy update stream");
      return announced;
    } catch (error) {
      // Not a stream (or I/O): the interval re-read still applies.
      this.ioFailed("policy update stream", error, undefined);
      return false;
    }
  }

  private async refresh(): Promise<void> {
    try {
      // With harvestThetaSource config the book reads the policy only for its universe.
      await this.options.book.refresh(this.options.now(), {
        universe: this.options.config.symbolsSource === "policy",
      });
      this.lastRefreshMs = this.options.now();
      this.recovered("policy");
    } catch (error) {
      this.ioFailed("policy", error, undefined);
    }
  }

  /** The policy's universe, else the configured symbols (they always run), and the policy it came from. */
  private universeNow(nowMs: number): { universe: string[]; fingerprint: string | null } {
    const policy = this.options.book.usable(nowMs);
    return {
      universe: [...(policy?.universe ?? this.options.config.symbols)],
      fingerprint: policy?.fingerprint ?? null,
    };
  }

  /**
   * The universe plus every symbol with an open position, at most maxSymbols together. The SCAN
   * stops once it has found as many position keys as could still run (beside the universe's own
   * keys), plus one to know whether there are more; those it never returns are not read.
   */
  private async computeSymbols(): Promise<string[] | null> {
    const nowMs = this.options.now();
    const { universe, fingerprint } = this.universeNow(nowMs);
    const inUniverse = new Set(universe);
    const capacity = Math.max(0, this.options.config.maxSymbols - universe.length);
    const limit = universe.length + capacity + 1;
    const keys = await this.options.store.scanKeys(`${CANONICAL_POSITION_PREFIX}*`, limit);
    if (this.stopped) return null;
    const keysNotRead = keys.length >= limit;
    const candidates = keys
      .slice(0, limit - 1)
      .map((key) => key.slice(CANONICAL_POSITION_PREFIX.length))
      .filter((s) => UNIVERSE_SYMBOL.test(s) && !inUniverse.has(s))
      .sort();
    const open: string[] = [];
    let read = 0;
    while (read < candidates.length && open.length < capacity) {
      const batch = candidates.slice(
        read,
        read + Math.min(POSITION_READ_BATCH, capacity - open.length),
      );
      read += batch.length;
      const reads = await Promise.all(
        batch.map((symbol) => this.hashPositions.read(symbol, nowMs)),
      );
      if (this.stopped) return null;
      reads.forEach((r, i) => {
        if (r.ok || r.reason !== "no_position") open.push(batch[i]);
      });
    }
    this.lastUniverseMs = nowMs;
    this.universeFingerprint = fingerprint;
    this.recovered("universe");
    this.reportCap(
      keysNotRead || read < candidates.length
        ? {
            maxSymbols: this.options.config.maxSymbols,
            universe: universe.length,
            running: open.length,
            keysNotRead,
            candidatesNotRead: candidates.length - read,
          }
        : null,
    );
    return [...universe, ...open];
  }

  /** One warning when maxSymbols starts leaving position keys out, one line when it stops. */
  private reportCap(cap: PositionCap | null): void {
    const was = this.cap;
    this.cap = cap;
    if (cap !== null && was === null) {
      const unread = cap.keysNotRead
        ? `more position keys than that (the SCAN stopped there; the rest were neither read nor counted)`
        : `${cap.candidatesNotRead} more position key(s) not read`;
      this.options.logger.warn(
        { ...cap },
        `maxSymbols ${cap.maxSymbols} reached: ${cap.universe} universe symbol(s) and ${cap.running} open position(s) run; ${unread}. ` +
          `Symbols with an open position beyond maxSymbols get no proposals: raise maxSymbols or find out why ${CANONICAL_POSITION_PREFIX}* holds so many keys. Said once until it changes`,
      );
    } else if (cap === null && was !== null) {
      this.options.logger.info(
        { maxSymbols: was.maxSymbols },
        `every open position fits within maxSymbols ${was.maxSymbols} again`,
      );
    }
  }

  private ioFailed<T>(what: string, error: unknown, fallback: T): T {
    if (!this.failing.has(what)) {
      this.options.logger.warn(
        { err: errorMessage(error) },
        `policy watch: reading the ${what} failed; retrying every second, the last good policy and symbols stay`,
      );
    }
    this.failing.add(what);
    return fallback;
  }

  /** `what` answered again: its next failure is a new outage (logged again). */
  private recovered(what: string): void {
    this.failing.delete(what);
  }
}

/** Resolves after `ms` without holding the process open. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
