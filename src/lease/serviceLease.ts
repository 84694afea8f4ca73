// The single-writer lease in the service (issue 10, part 2), behind one small interface
// (ServiceLease): the writer connection, the lease manager and the fenced store the publishers
// write through, built from the config; the first attempt at start-up; following it (leader ⇄
// standby) for the supervisor; its release and close at shutdown; and what the service tells
// operators about its role. Without a lease (lease off, the memory store, shadow mode) the same
// interface answers "no-lease" and does nothing, so the service never asks which one it has.
//
// Who takes the lease: the long-running service and `run --once` on Redis, unless `lease` is off.
// Never the memory store (one process by construction) and never shadow mode (it writes nothing).
//
// The pieces are in src/lease: lease.ts (SET NX PX, renewals, polls, release), fencedStore.ts
// (every publish WATCHes the lease key, so Redis refuses a write from a writer that lost it) and
// writerConnection.ts (the connection those run on, one session at a time).
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import { createFencedStore } from "./fencedStore.js";
import { LeaseManager, type LeaseState } from "./lease.js";
import type { Store } from "../store/types.js";
import { createWriterConnection, type WriterConnection } from "./writerConnection.js";
import { closeStore, redisConnectionOptions } from "../service/storeFactory.js";
import type { RedisStoreEvent } from "../store/redisConnection.js";
import type { WriteOutcomes } from "./writeHealth.js";

/**
 * leader: this instance holds the lease and writes · standby: another instance (or nobody yet,
 * while Redis cannot be asked) holds it: nothing is written · no-lease: the lease is not used
 * (`lease: false`, the memory store, shadow mode) and this instance writes (or, in shadow mode,
 * compares) without one.
 */
export type ServiceRole = "leader" | "standby" | "no-lease";

export interface RoleDescription {
  role: ServiceRole;
  /** Who holds the lease as last seen (host:pid:uuid8); null when nobody, or without a lease. */
  holder: string | null;
  /** This instance as shown in the lease (host:pid:uuid8); null without a lease. */
  self: string | null;
  leaseKey: string | null;
  ttlMs: number | null;
  /** Why there is no lease (no-lease), or why it was last lost. */
  why: string | null;
  /** The last I/O error of the lease's commands (standby while Redis cannot be asked). */
  lastError: string | null;
  /**
   * Why this instance cannot write although it should (health.ts turns each into a reason and a
   * 503): the lease free but not taken for over FREE_LEASE_UNTAKEN_TTLS × leaseTtlMs, or writes
   * refused (OOM, NOPERM, …) for over writeFailingAfterMs(). Empty (or absent) when fine; a
   * standby while another instance holds the lease has none.
   */
  writeProblems?: WriteProblem[];
}

export interface WriteProblem {
  /** The Redis refusal (OOM, NOPERM, READONLY, …), or LEASE_NOT_TAKEN when none explains it. */
  code: string;
  /** One line for /healthz, `status` and the log, naming the refusal. */
  reason: string;
  /** How long it has lasted. */
  forMs: number;
}

/**
 * A free lease (nobody holds it) this instance has not taken for this many TTLs is a failure: a
 * healthy instance takes a free lease at its next poll (at most ttl/3 later), so two TTLs leave
 * room for a slow Redis and a takeover after a crash (ttl + a poll) without a false alarm.
 */
export const FREE_LEASE_UNTAKEN_TTLS = 2;

/**
 * Writes refused for longer than this are a failure: max(3 s, leaseTtlMs). One refusal can be a
 * blip (a failover's READONLY until the Sentinel reconnect, a moment at maxmemory); a TTL is the
 * time scale on which the lease itself declares a silent writer dead, and 3 s keeps a short test
 * TTL from turning every blip into an alarm.
 */
export function writeFailingAfterMs(leaseTtlMs: number): number {
  return Math.max(3000, leaseTtlMs);
}

/** `run --once` found the lease held by another instance: nothing was run or written. */
export class LeaseHeldError extends Error {
  readonly holder: string | null;
  readonly leaseKey: string;
  constructor(leaseKey: string, holder: string | null) {
    super(
      `another instance is writing: the single-writer lease ${leaseKey} is held by ${holder ?? "another instance"}; nothing was run. ` +
        "Stop that instance first, or run --once --shadow to compare without writing",
    );
    this.name = "LeaseHeldError";
    this.holder = holder;
    this.leaseKey = leaseKey;
  }
}

/** Why the lease is not used, or null when it is. */
export function whyNoLease(
  config: Config,
  storeKind: Store["kind"],
  shadow: boolean,
): string | null {
  if (shadow) return "shadow mode writes nothing";
  if (storeKind !== "redis") return "the memory store has one writer by construction";
  if (!config.lease) return "lease is off (--no-lease)";
  return null;
}

export function noLeaseRole(why: string): RoleDescription {
  return {
    role: "no-lease",
    holder: null,
    self: null,
    leaseKey: null,
    ttlMs: null,
    why,
    lastError: null,
    writeProblems: [],
  };
}

const seconds = (ms: number): string => String(Math.round(ms / 1000));

/**
 * What keeps this instance from writing (see RoleDescription.writeProblems): the lease free but
 * not taken — the refusal of its SET named when Redis gave one — and, while leader, writes
 * refused for too long. A standby's refused SET while another instance holds the lease is not a
 * problem of this instance's role (it stands by either way); nor are a standby's old publish
 * refusals.
 */
export function writeProblems(
  state: LeaseState,
  writes: WriteOutcomes | undefined,
): WriteProblem[] {
  const problems: WriteProblem[] = [];
  const after = writeFailingAfterMs(state.ttlMs);
  const leaseRefused = writes?.failing().find((f) => f.kind === "lease") ?? null;
  // Free and untaken for 2 TTLs — or at once when Redis has refused the lease's writes for as long
  // as any write may be refused (a leader whose renewals were refused lost the lease that way).
  if (
    state.freeForMs > FREE_LEASE_UNTAKEN_TTLS * state.ttlMs ||
    (state.freeForMs > 0 && leaseRefused !== null && leaseRefused.forMs > after)
  ) {
    const refusal = writes?.refusal("lease") ?? null;
    problems.push(
      refusal !== null
        ? {
            code: refusal.code,
            reason: `lease key not writable: ${refusal.message} (the single-writer lease ${state.leaseKey} has been free for ${seconds(state.freeForMs)} s and nobody writes)`,
            forMs: state.freeForMs,
          }
        : {
            code: "LEASE_NOT_TAKEN",
            reason: `the single-writer lease ${state.leaseKey} has been free for ${seconds(state.freeForMs)} s and this instance could not take it${state.lastError === null ? "" : `: ${state.lastError}`}; nobody writes`,
            forMs: state.freeForMs,
          },
    );
  }
  if (state.role === "leader") {
    for (const failing of writes?.failing() ?? []) {
      if (failing.forMs <= after) continue;
      problems.push({
        code: failing.code,
        reason: `${failing.kind === "lease" ? "lease renewals" : "writes"} failing for ${seconds(failing.forMs)} s: ${failing.message}`,
        forMs: failing.forMs,
      });
    }
  }
  return problems;
}

export function roleFromLease(state: LeaseState, writes?: WriteOutcomes): RoleDescription {
  return {
    role: state.role,
    holder: state.holder,
    self: state.self,
    leaseKey: state.leaseKey,
    ttlMs: state.ttlMs,
    why: state.lastLost,
    lastError: state.lastError,
    writeProblems: writeProblems(state, writes),
  };
}

/** What the lease drives in the service: the supervisor's standby and running states. */
export interface LeaseFollower {
  /** The lease became ours while the supervisor stands by: start publishing. */
  acquired(): void;
  /** The lease was lost: stop every publisher now (the fence already refuses their writes). */
  lost(reason: string, holder: string | null): void;
  /** The supervisor is standing by (machines/supervisor.ts `standby`). */
  standingBy(): boolean;
  /** The supervisor still runs (events may be sent to it). */
  active(): boolean;
  /** The role or the holder changed (systemd's status line, the onRole hook). */
  changed(): void;
}

/** The single-writer lease as the service uses it, or its absence: one interface for both. */
export interface ServiceLease {
  /** The store the publishers write through: fenced by the lease, or the inner store without one. */
  readonly store: Store;
  /** The lease manager; null without a lease. */
  readonly lease: LeaseManager | null;
  /** The writer connection; null without a lease. */
  readonly writer: WriterConnection | null;
  /** leader / standby / no-lease, who holds it, and what keeps this instance from writing. */
  describe(): RoleDescription;
  /**
   * The first attempt, before anything runs. `run --once`: one attempt — held by another
   * instance is LeaseHeldError (exit 5, naming the holder), Redis unreachable an I/O error
   * (exit 1). The service: the first attempt, then renewals or polls; it starts as leader or
   * standby. The writer connection gets the same start-up wait as the store. `wait` races each
   * wait against the start-up abort. On failure the lease is stopped — released when aborted
   * (the attempt in flight may have taken it; release() hands back only a lease that is ours, so
   * a standby does not wait out the TTL) — and the writer connection closed.
   */
  take(wait: <T>(work: Promise<T>) => Promise<T>, aborted: () => boolean): Promise<void>;
  /** After take(): true when the service starts standing by (another holds it, or nobody yet). */
  startsStandingBy(): boolean;
  /** Connects the lease to the supervisor; returns the unsubscription. */
  follow(follower: LeaseFollower): () => void;
  /** Logs the write problems as they come and go (the long-running service); returns the stop. */
  logWriteProblems(): () => void;
  /**
   * Releases the lease once (memoized: the supervisor's hand-over, close() and --once's end share
   * it) and says so in one line: a standby takes over now.
   */
  release(): Promise<void>;
  /** Closes the writer connection once (memoized), after the release and the store. */
  close(): Promise<void>;
  /** Stops the lease's log lines. */
  stopLog(): void;
  /** The role, in the start line. */
  startText(): string;
  /** The role, in systemd's STATUS= line; `publishing` when this instance may write. */
  statusText(publishing: string): string;
}

/**
 * The lease the service uses: none when `noLease` says why not; otherwise the writer connection
 * (`quantum-calc-writer` in CLIENT LIST) to the same server as the store — `writer` may be given
 * (tests) —, the lease on it, and the store fenced by it. When the writer connection is ready
 * again after an outage, the lease is tried at once rather than at the next poll.
 */
export function createServiceLease(options: {
  config: Config;
  logger: Logger;
  inner: Store;
  /** Why no lease is used, or null to take one. */
  noLease: string | null;
  writer?: WriterConnection;
  /** `run --once`: one attempt, no reconnection. */
  once: boolean;
}): ServiceLease {
  if (options.noLease !== null) return withoutLease(options.inner, options.noLease);
  const { config, logger, inner, once } = options;
  // The writer's events are wired before the lease on it exists; they arrive only once it does.
  let lease: LeaseManager | null = null;
  const onEvent = (event: RedisStoreEvent): void => {
    if (event.type === "ready") lease?.pollNow();
    // The publishers' connection already reports every outage: the writer's goes to debug.
    logger.debug(
      {
        connection: "writer",
        redis: event.type,
        ...(event.message !== undefined ? { err: event.message } : {}),
      },
      `writer connection: ${event.type}`,
    );
  };
  const writer =
    options.writer ??
    createWriterConnection({
      ...redisConnectionOptions(config, logger, !once, "quantum-calc-writer"),
      onEvent,
    });
  const manager = new LeaseManager(writer, {
    leaseKey: config.leaseKey,
    leaseTtlMs: config.leaseTtlMs,
  });
  lease = manager;
  const store = createFencedStore(inner, writer, manager);
  const stopLog = logLeaseEvents(manager, logger);
  const describe = (): RoleDescription => roleFromLease(manager.state(), writer.writes);
  let releasing: Promise<void> | null = null;
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => (closing ??= writer.close());

  return {
    store,
    lease: manager,
    writer,
    describe,
    async take(wait, aborted) {
      try {
        await wait(
          writer
            .waitReady(once ? config.connectTimeoutMs : Math.min(config.connectTimeoutMs, 2000))
            .catch(() => undefined),
        );
        // The first attempt is bounded by the command timeout; a SIGTERM does not wait for it.
        if (!once) {
          await wait(manager.start());
          return;
        }
        const taken = await wait(manager.acquireOnce());
        if (taken.acquired) return;
        if (taken.error !== null)
          throw new Error(
            `cannot take the single-writer lease ${manager.leaseKey} on ${writer.target}: ${taken.error}`,
          );
        throw new LeaseHeldError(manager.leaseKey, taken.holder);
      } catch (err) {
        if (aborted()) await manager.release().catch(() => false);
        else await manager.stop();
        stopLog();
        await closeStore({ close });
        throw err;
      }
    },
    startsStandingBy: () => manager.state().role !== "leader",
    follow: (follower) => followLease(manager, follower),
    logWriteProblems: () => logWriteProblems(describe, logger),
    release: () =>
      (releasing ??= (async () => {
        // The release is told in one line of its own, not as "the lease is free" news.
        stopLog();
        await releaseLease(manager, logger);
      })()),
    close,
    stopLog,
    startText: () => roleText(describe(), manager.pollEveryMs),
    statusText: (publishing) => statusText(describe(), publishing),
  };
}

/** The interface without a lease: no-lease, nothing to take, follow, release or close. */
function withoutLease(inner: Store, why: string): ServiceLease {
  const role = noLeaseRole(why);
  return {
    store: inner,
    lease: null,
    writer: null,
    describe: () => role,
    take: () => Promise.resolve(),
    startsStandingBy: () => false,
    follow: () => () => undefined,
    logWriteProblems: () => () => undefined,
    release: () => Promise.resolve(),
    close: () => Promise.resolve(),
    stopLog: () => undefined,
    startText: () => roleText(role, 0),
    statusText: (publishing) => publishing,
  };
}

/** The lease drives the supervisor: taken → acquired (from standby), lost → lost. */
function followLease(lease: LeaseManager, follower: LeaseFollower): () => void {
  const onRole = (state: LeaseState): void => {
    follower.changed();
    if (state.role !== "leader" || !follower.active() || !follower.standingBy()) return;
    follower.acquired();
  };
  const onLost = (reason: string, holder: string | null): void => {
    if (follower.active()) follower.lost(reason, holder);
  };
  lease.on("role", onRole);
  lease.on("lost", onLost);
  // The lease may have changed between its first attempt and this subscription.
  const now = lease.state();
  if (now.role === "leader") onRole(now);
  else if (!follower.standingBy()) onLost(now.lastLost ?? "the lease is not ours", now.holder);
  return () => {
    lease.off("role", onRole);
    lease.off("lost", onLost);
  };
}

/** Releases the lease on shutdown (after the drain) and says so. */
async function releaseLease(lease: LeaseManager, logger: Logger): Promise<void> {
  const wasLeader = lease.state().role === "leader";
  const released = await lease.release();
  if (released)
    logger.info(
      { lease: lease.leaseKey },
      `single-writer lease ${lease.leaseKey} released: a standby takes over now`,
    );
  else if (wasLeader)
    logger.warn(
      { lease: lease.leaseKey, err: lease.state().lastError },
      `single-writer lease ${lease.leaseKey} could not be released; it expires within ${lease.ttlMs} ms`,
    );
}

/**
 * The role in the start line. Standing by with nobody holding the lease is said as what it is:
 * Redis could not be asked (its error), or the lease is free and taken at the next attempt — never
 * "held by nobody".
 */
export function roleText(role: RoleDescription, pollEveryMs: number): string {
  const key = role.leaseKey ?? "";
  if (role.role === "leader")
    return `writing as the holder of the single-writer lease ${key} (${role.self ?? ""})`;
  if (role.role === "standby") {
    if (role.holder !== null)
      return `STANDING BY: the single-writer lease ${key} is held by ${role.holder}; nothing is written until it is free`;
    if (role.lastError !== null)
      return `WAITING FOR REDIS: the single-writer lease ${key} could not be asked (${role.lastError}); nothing is written until this instance takes it (retried every ${pollEveryMs} ms)`;
    return `WAITING to take the single-writer lease ${key}, which nobody holds (next attempt within ${pollEveryMs} ms); nothing is written until then`;
  }
  return `no single-writer lease (${role.why ?? ""})`;
}

/** The role in systemd's STATUS= line (`systemctl status`). */
function statusText(role: RoleDescription, publishing: string): string {
  if (role.role !== "standby") return publishing;
  const key = role.leaseKey ?? "";
  if (role.holder !== null)
    return `standing by: the single-writer lease ${key} is held by ${role.holder}`;
  return role.lastError !== null
    ? `waiting for Redis: the single-writer lease ${key} could not be asked`
    : `waiting to take the single-writer lease ${key}, which nobody holds`;
}

/** Logs what the lease does: one line per change of role or holder; I/O errors once per kind. */
export function logLeaseEvents(lease: LeaseManager, logger: Logger): () => void {
  let lastError = "";
  const onRole = (state: LeaseState): void => {
    if (state.role === "leader") {
      logger.info(
        { lease: state.leaseKey, role: state.role, self: state.self, ttlMs: state.ttlMs },
        `single-writer lease ${state.leaseKey} acquired: this instance (${state.self}) writes`,
      );
    }
  };
  const onHolder = (holder: string | null, state: LeaseState): void => {
    if (state.role === "leader" || holder === state.self) return;
    logger.info(
      { lease: state.leaseKey, role: state.role, holder },
      holder === null
        ? `single-writer lease ${state.leaseKey} is free: taking it over`
        : `standing by: the single-writer lease ${state.leaseKey} is held by ${holder}; taking over when it is free (polled every ${lease.pollEveryMs} ms)`,
    );
  };
  const onLost = (reason: string, holder: string | null): void => {
    logger.error(
      { lease: lease.leaseKey, role: "standby", holder, reason },
      `single-writer lease lost (${reason}): stopped publishing; standing by`,
    );
  };
  const onIoError = (error: Error): void => {
    (error.message === lastError ? logger.debug : logger.warn).call(
      logger,
      { lease: lease.leaseKey, err: error.message },
      "single-writer lease: Redis could not be asked; retrying",
    );
    lastError = error.message;
  };
  lease.on("role", onRole);
  lease.on("holder", onHolder);
  lease.on("lost", onLost);
  lease.on("ioError", onIoError);
  return () => {
    lease.off("role", onRole);
    lease.off("holder", onHolder);
    lease.off("lost", onLost);
    lease.off("ioError", onIoError);
  };
}

/**
 * Logs the write problems of `describe()` as they come and go (checked every `everyMs`): one
 * error line when one appears (its reason), one info line when they are over. Returns the stop.
 */
export function logWriteProblems(
  describe: () => RoleDescription,
  logger: Logger,
  everyMs = 1000,
): () => void {
  let shown = "";
  const check = (): void => {
    const problems = describe().writeProblems ?? [];
    const codes = problems.map((p) => p.code).join(",");
    if (codes === shown) return;
    if (problems.length > 0)
      logger.error(
        { writeProblems: problems.map((p) => p.code), reasons: problems.map((p) => p.reason) },
        `cannot write: ${problems.map((p) => p.reason).join("; ")} (/healthz 503)`,
      );
    else
      logger.info({ was: shown.split(",") }, "writes accepted again: the write problems are over");
    shown = codes;
  };
  const timer = setInterval(check, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
