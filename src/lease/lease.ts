// The single-writer lease (issue 10, part 2): at most one instance of the service writes, and
// another takes over within a bounded time when it stops — built on Redis's own primitives, no
// home-made consensus.
//
//   acquire  SET <key> <token> NX PX <ttl>            (+ GET, same round trip: who holds it)
//   renew    WATCH <key>; GET — ours? — MULTI; PEXPIRE <key> <ttl>; EXEC     every ttl/3
//   release  WATCH <key>; GET — ours? — MULTI; DEL <key>; EXEC                never another's
//
// The token is random (crypto.randomUUID) with the host and pid in front for humans: the value of
// the key reads `host:pid:uuid`, shown as `host:pid:uuid8` (the holder in status and logs).
//
// Our own view of the lease is bounded by our monotonic clock: a lease acquired or renewed by a
// command sent at time t is ours until t + ttl at the latest (Redis starts the TTL when it runs
// the command, which is after we sent it). When no renewal has succeeded by then — the renewals
// failed for I/O, or the process was paused — the lease is lost at once, before Redis says so.
// That stops a writer that notices; a writer that does not (a frozen VM whose clock stood still)
// is stopped by the fence in fencedStore.ts, which Redis enforces.
//
// A standby polls SET NX every min(ttl/3, 500 ms): takeover within ~0.5 s after a release, within
// ttl + poll after the holder died without releasing.
//
// Every command runs in an exclusive session of the writer connection (writerConnection.ts):
// WATCH state is per connection, so the lease's sequences and the fenced publishes must never
// interleave on it.
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import { assertDeletable, calcKey } from "../store/keyGuard.js";
import { SetRefusedError, type WriterConnection } from "./writerConnection.js";

export const LEASE_DEFAULTS = {
  leaseKey: calcKey("leader"),
  leaseTtlMs: 5000,
  /** A standby polls at most this far apart. */
  maxPollMs: 500,
} as const;

export type LeaseRole = "leader" | "standby";

/** What the lease manager needs of a connection: exclusive sessions (writerConnection.ts). */
export type LeaseClient = Pick<WriterConnection, "exclusive">;

export interface LeaseOptions {
  /** Default 'quantum:calc:leader'. */
  leaseKey?: string;
  /** Default 5000. */
  leaseTtlMs?: number;
  /** Renewal interval. Default ttl/3. */
  renewEveryMs?: number;
  /** A standby's acquire poll. Default min(ttl/3, 500). */
  pollEveryMs?: number;
  /** The lease value. Default makeLeaseToken(): host:pid:uuid. */
  token?: string;
  /** Monotonic milliseconds. Default performance.now. */
  now?: () => number;
}

export interface LeaseState {
  role: LeaseRole;
  /** Who holds the lease, as shown to humans (host:pid:uuid8); null when nobody (as last seen). */
  holder: string | null;
  /** The raw value of the lease key as last seen; null when absent. */
  holderToken: string | null;
  /** This instance, as shown to humans. */
  self: string;
  leaseKey: string;
  ttlMs: number;
  /** While leader: how long the lease stays ours by our clock without a renewal. 0 otherwise. */
  validForMs: number;
  /** Renewals/polls failed for I/O in a row, and the last such error. */
  ioFailures: number;
  lastError: string | null;
  /** Why the lease was last lost, if ever. */
  lastLost: string | null;
  /**
   * Standing by (service mode) with the lease free as last seen — nobody holds it — for this
   * long without taking it; 0 otherwise. A healthy standby sees another holder; a free lease that
   * stays untaken means this instance cannot write it (/healthz, serviceLease.ts).
   */
  freeForMs: number;
}

export interface LeaseEvents {
  /** The role changed (also on start). */
  role: [state: LeaseState];
  /** The holder we see changed (a standby sees another instance take over, …). */
  holder: [holder: string | null, state: LeaseState];
  /** We were leader and are not any more (not by our own release): stop writing. */
  lost: [reason: string, holder: string | null];
  /** An acquire, renew or release failed for I/O (the lease logic carries on). */
  ioError: [error: Error];
}

/** A publish refused because the lease is not ours (any more). Nothing of it was written. */
export class LeaseLostError extends Error {
  /** Who holds the lease now (host:pid:uuid8), null when nobody does. */
  readonly holder: string | null;
  readonly leaseKey: string;
  constructor(leaseKey: string, holder: string | null, why: string) {
    super(
      `not the writer: ${why}; lease ${leaseKey} ${holder === null ? "is free" : `is held by ${holder}`}`,
    );
    this.name = "LeaseLostError";
    this.leaseKey = leaseKey;
    this.holder = holder;
  }
}

/** host:pid:uuid — unique (the uuid), readable (the host and pid). */
export function makeLeaseToken(): string {
  const host = hostname().replace(/[\s\x00-\x1f\x7f:]+/g, "_") || "host";
  return `${host}:${process.pid}:${randomUUID()}`;
}

/** The holder as shown to humans: host:pid:uuid8 for our tokens, other values as they are (cut at 80). */
export function formatHolder(value: string | null): string | null {
  if (value === null) return null;
  // The same token (ours, while leader: holder and self alike) is shown on every cycle's role
  // check (the flight recorder asks at each read): the last one's text is kept, not matched again.
  if (value === lastHolderValue) return lastHolderShown;
  lastHolderShown = shownHolder(value);
  lastHolderValue = value;
  return lastHolderShown;
}

let lastHolderValue: string | null = null;
let lastHolderShown: string | null = null;

function shownHolder(value: string): string {
  const match = /^(.*):(\d+):([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.exec(
    value,
  );
  if (match) return `${match[1]}:${match[2]}:${match[3]}`;
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}

export class LeaseManager extends EventEmitter<LeaseEvents> {
  readonly leaseKey: string;
  readonly ttlMs: number;
  readonly renewEveryMs: number;
  readonly pollEveryMs: number;
  /** The value we write into the lease key. */
  readonly token: string;

  private readonly client: LeaseClient;
  private readonly now: () => number;
  private role: LeaseRole = "standby";
  /** While leader: ours until then, by `now`. */
  private validUntil = 0;
  private holderToken: string | null = null;
  private ioFailures = 0;
  private lastError: string | null = null;
  private lastLost: string | null = null;
  /** 'service': a standby polls to take over; 'once': one acquire, renewals, no polling. */
  private mode: "service" | "once" | "stopped" = "stopped";
  private timer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** The attempt (acquire/renew) in progress, so stop/release can wait for it. */
  private inFlight: Promise<void> | undefined;
  /** Bumped on every role change: an attempt that started in another epoch does not act on its result. */
  private epoch = 0;
  /** Since when (by `now`) this standby has seen the lease free without taking it; null otherwise. */
  private freeSince: number | null = null;

  constructor(client: LeaseClient, options: LeaseOptions = {}) {
    super();
    this.client = client;
    this.leaseKey = options.leaseKey ?? LEASE_DEFAULTS.leaseKey;
    // release() deletes it: it must be one of our own bookkeeping keys (quantum:calc:<name>),
    // which the least-privilege ACL user may also write.
    assertDeletable(this.leaseKey);
    this.ttlMs = options.leaseTtlMs ?? LEASE_DEFAULTS.leaseTtlMs;
    if (!(Number.isSafeInteger(this.ttlMs) && this.ttlMs >= 30))
      throw new Error(`lease: leaseTtlMs must be an integer >= 30 (got ${String(this.ttlMs)})`);
    this.renewEveryMs = options.renewEveryMs ?? Math.floor(this.ttlMs / 3);
    this.pollEveryMs =
      options.pollEveryMs ?? Math.min(Math.floor(this.ttlMs / 3), LEASE_DEFAULTS.maxPollMs);
    for (const [name, value] of Object.entries({
      renewEveryMs: this.renewEveryMs,
      pollEveryMs: this.pollEveryMs,
    })) {
      if (!(Number.isFinite(value) && value > 0 && value < this.ttlMs))
        throw new Error(
          `lease: ${name} must be positive and below leaseTtlMs (got ${String(value)})`,
        );
    }
    this.token = options.token ?? makeLeaseToken();
    this.now = options.now ?? (() => performance.now());
  }

  /** This instance, as shown to humans. */
  get self(): string {
    return formatHolder(this.token) ?? this.token;
  }

  state(): LeaseState {
    // No transition here (isLeader() makes one): state() is called from inside transitions.
    const leader = this.role === "leader" && this.now() < this.validUntil;
    return {
      // A TTL run out by our clock reads as standby even before the transition (isLeader()) ran.
      role: leader ? "leader" : "standby",
      holder: formatHolder(this.holderToken),
      holderToken: this.holderToken,
      self: this.self,
      leaseKey: this.leaseKey,
      ttlMs: this.ttlMs,
      validForMs: leader ? Math.max(0, Math.round(this.validUntil - this.now())) : 0,
      ioFailures: this.ioFailures,
      lastError: this.lastError,
      lastLost: this.lastLost,
      freeForMs: this.freeSince === null ? 0 : Math.max(0, Math.round(this.now() - this.freeSince)),
    };
  }

  /** Leader by our clock: the lease was ours when last checked and its TTL has not run out since. */
  isLeader(): boolean {
    if (this.role !== "leader") return false;
    if (this.now() < this.validUntil) return true;
    this.loseLocally();
    return false;
  }

  /** Our token while we are leader (see isLeader), else null: what a fenced publish checks against. */
  currentToken(): string | null {
    return this.isLeader() ? this.token : null;
  }

  /** The holder as shown to humans (ourselves while leader), null when nobody holds it. */
  holder(): string | null {
    return formatHolder(this.holderToken);
  }

  /**
   * The service mode: acquire now, renew while leader, poll while standby, take over when free.
   * Resolves after the first attempt with the state it left (leader or standby).
   */
  async start(): Promise<LeaseState> {
    if (this.mode !== "stopped") throw new Error("lease: already started");
    this.mode = "service";
    this.trackFree();
    this.emit("role", this.state());
    await this.attempt();
    this.schedule();
    return this.state();
  }

  /**
   * One acquire attempt, for `run --once`: true when the lease is ours (then it is renewed until
   * release(); a lost lease is not polled for again), false when another instance holds it —
   * state().holder names it — or Redis could not be asked (state().lastError).
   */
  async acquireOnce(): Promise<{ acquired: boolean; holder: string | null; error: string | null }> {
    if (this.mode !== "stopped") throw new Error("lease: already started");
    this.mode = "once";
    const before = this.ioFailures;
    await this.attempt();
    const acquired = this.role === "leader";
    if (acquired) this.schedule();
    else this.mode = "stopped";
    return {
      acquired,
      holder: this.holder(),
      error: this.ioFailures > before ? this.lastError : null,
    };
  }

  /**
   * The fenced store (or anyone) saw in Redis that the lease is not ours: `value` is what the key
   * holds now. Stop writing at once; a standby in service mode polls on.
   */
  reportLost(value: string | null, reason = "Redis refused a fenced write"): void {
    if (value === this.token) return;
    this.setHolder(value);
    if (this.role === "leader")
      this.becomeStandby(
        `${reason}: ${value === null ? "the lease expired" : `taken over by ${formatHolder(value)}`}`,
      );
  }

  /**
   * Stops renewing/polling and, if the lease (still) holds our token, deletes it — never
   * another's. For SIGTERM after the drain, and at the end of `run --once`. Resolves true when
   * our lease was deleted, false when it was not ours (or Redis could not be reached: then it
   * expires within the TTL).
   */
  async release(): Promise<boolean> {
    this.halt();
    await this.inFlight;
    const wasLeader = this.role === "leader";
    this.epoch++;
    this.role = "standby";
    this.validUntil = 0;
    let released = false;
    try {
      released = await this.client.exclusive(async (s) => {
        const { value } = await s.watch(this.leaseKey);
        if (value !== this.token) {
          await s.unwatch();
          this.setHolder(value);
          return false;
        }
        // A null EXEC: the key changed since the WATCH — it is not ours to delete any more.
        const replies = await s.exec([["del", this.leaseKey]]);
        if (replies === null) return false;
        this.setHolder(null);
        return replies[0]?.[0] === null && replies[0]?.[1] === 1;
      }, "lease");
    } catch (error) {
      this.noteIoError(error);
    }
    if (wasLeader) this.emit("role", this.state());
    return released;
  }

  /**
   * Tries now instead of at the next poll or renewal (service mode): the writer connection is
   * ready again after an outage, so a free lease is taken — or ours renewed — without waiting out
   * the poll interval. Nothing happens while an attempt is in flight or when stopped.
   */
  pollNow(): void {
    if (this.mode !== "service" || this.inFlight) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.attempt().then(() => this.schedule());
  }

  /** Stops renewing/polling without releasing (the lease then expires after its TTL). */
  async stop(): Promise<void> {
    this.halt();
    await this.inFlight;
  }

  // ---- internals ------------------------------------------------------------------------------

  private halt(): void {
    this.mode = "stopped";
    this.freeSince = null;
    clearTimeout(this.timer);
    clearTimeout(this.expiryTimer);
    this.timer = undefined;
    this.expiryTimer = undefined;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.mode === "stopped") return;
    if (this.mode === "once" && this.role !== "leader") return;
    let delayMs: number;
    if (this.role === "leader") {
      // After a failed renewal, retry sooner: every failure brings the expiry closer.
      delayMs =
        this.ioFailures > 0 ? Math.min(this.renewEveryMs, this.pollEveryMs) : this.renewEveryMs;
    } else {
      delayMs = this.pollEveryMs;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.attempt().then(() => this.schedule());
    }, delayMs);
    this.timer.unref();
  }

  /** One acquire (standby) or renew (leader); never rejects. */
  private attempt(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const run = (this.isLeader() ? this.renew() : this.acquire()).catch((error: unknown) =>
      this.noteIoError(error),
    );
    this.inFlight = run.finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async acquire(): Promise<void> {
    const epoch = this.epoch;
    await this.client.exclusive(async (s) => {
      const sentAt = this.now();
      let answer: { set: boolean; value: string | null };
      try {
        answer = await s.setNxPxGet(this.leaseKey, this.token, this.ttlMs);
      } catch (error) {
        // Refused (OOM, NOPERM, …) but the GET answered: who holds the lease is still known.
        if (error instanceof SetRefusedError && epoch === this.epoch && this.mode !== "stopped")
          this.setHolder(error.current);
        throw error;
      }
      const { set, value } = answer;
      if (epoch !== this.epoch || this.mode === "stopped") {
        // Stopped (release/stop) meanwhile: a lease we just took is handed back by release().
        if (set) this.holderToken = value;
        return;
      }
      this.ioSucceeded();
      if (set) {
        this.becomeLeader(sentAt);
        return;
      }
      if (value === this.token) {
        // Still ours in Redis, though we had given it up by our clock (renewals that failed for
        // I/O, a pause): nobody else can have written meanwhile — the key never became free.
        // Take it back with a fenced renewal, which restarts its TTL from now.
        const { value: watched } = await s.watch(this.leaseKey);
        if (watched !== this.token) {
          await s.unwatch();
          this.setHolder(watched);
          return;
        }
        const renewSentAt = this.now();
        const replies = await s.exec([["pexpire", this.leaseKey, this.ttlMs]]);
        if (
          replies !== null &&
          replies[0]?.[0] === null &&
          replies[0]?.[1] === 1 &&
          epoch === this.epoch
        ) {
          this.becomeLeader(renewSentAt);
        }
        return;
      }
      this.setHolder(value);
    }, "lease");
  }

  private async renew(): Promise<void> {
    const epoch = this.epoch;
    await this.client.exclusive(async (s) => {
      const { value } = await s.watch(this.leaseKey);
      if (epoch !== this.epoch) {
        await s.unwatch();
        return;
      }
      if (value !== this.token) {
        await s.unwatch();
        this.ioSucceeded();
        this.setHolder(value);
        this.becomeStandby(
          value === null
            ? "the lease expired in Redis before it was renewed"
            : `the lease was taken over by ${formatHolder(value)}`,
        );
        return;
      }
      const sentAt = this.now();
      const replies = await s.exec([["pexpire", this.leaseKey, this.ttlMs]]);
      if (epoch !== this.epoch) return;
      if (replies === null || replies[0]?.[0] !== null || replies[0]?.[1] !== 1) {
        // The key changed between WATCH and EXEC (or vanished): who has it now?
        const now = await s.get(this.leaseKey);
        this.ioSucceeded();
        if (epoch !== this.epoch) return;
        if (now === this.token) {
          // Touched but still ours (by someone who wrote our own token back): nobody else has
          // written. Not renewed: count it as a failed attempt and retry soon.
          this.ioFailures++;
          this.lastError = "renewal aborted: the lease key was modified concurrently (still ours)";
          return;
        }
        this.setHolder(now);
        this.becomeStandby(
          now === null
            ? "the lease expired in Redis while it was being renewed"
            : `the lease was taken over by ${formatHolder(now)} while it was being renewed`,
        );
        return;
      }
      this.ioSucceeded();
      this.extend(sentAt);
    }, "lease");
  }

  private becomeLeader(sentAt: number): void {
    this.epoch++;
    const was = this.role;
    this.role = "leader";
    this.extend(sentAt);
    this.setHolder(this.token);
    this.trackFree();
    if (was !== "leader") this.emit("role", this.state());
  }

  /**
   * The lease was (re)set by a command sent at `sentAt`: ours until sentAt + ttl by our clock,
   * less a drift allowance (1 % + 2 ms, as Redlock allows) for the server's clock running faster
   * than ours.
   */
  private extend(sentAt: number): void {
    this.validUntil = sentAt + this.ttlMs - (Math.ceil(this.ttlMs * 0.01) + 2);
    this.armExpiry();
  }

  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const ms = Math.max(0, Math.ceil(this.validUntil - this.now()));
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      if (this.role !== "leader") return;
      // An injected clock may run behind the timers: check against it, re-arm when early.
      if (this.now() < this.validUntil) this.armExpiry();
      else this.loseLocally();
    }, ms);
    this.expiryTimer.unref();
  }

  private loseLocally(): void {
    if (this.role !== "leader") return;
    this.becomeStandby(
      `no renewal succeeded within the lease TTL (${this.ttlMs} ms)${this.lastError ? `; last error: ${this.lastError}` : ""}`,
    );
  }

  private becomeStandby(reason: string): void {
    if (this.role !== "leader") return;
    this.epoch++;
    this.role = "standby";
    this.validUntil = 0;
    this.lastLost = reason;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    // Not ours any more as far as we know; the next poll tells who holds it.
    if (this.holderToken === this.token) this.holderToken = null;
    this.trackFree();
    this.emit("lost", reason, this.holder());
    this.emit("role", this.state());
    // In service mode, poll (on the poll interval) from now on; in once mode, stop.
    if (this.mode === "once") this.halt();
    else if (this.mode === "service" && !this.inFlight) this.schedule();
  }

  /** Starts or ends the "free but not taken" span (freeForMs) after a change of role or holder. */
  private trackFree(): void {
    const free = this.mode === "service" && this.role !== "leader" && this.holderToken === null;
    if (!free) this.freeSince = null;
    else this.freeSince ??= this.now();
  }

  private setHolder(value: string | null): void {
    if (value === this.holderToken) return;
    this.holderToken = value;
    this.trackFree();
    this.emit("holder", formatHolder(value), this.state());
  }

  private ioSucceeded(): void {
    this.ioFailures = 0;
    this.lastError = null;
  }

  private noteIoError(error: unknown): void {
    const err = error instanceof Error ? error : new Error(String(error));
    this.ioFailures++;
    this.lastError = err.message;
    this.emit("ioError", err);
  }
}
