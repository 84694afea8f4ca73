// /healthz: is the store reachable, and is every publisher actor working?
//
// Healthy (200) = the store answers a PING within STORE_PING_TIMEOUT_MS, the supervisor is
// running, and no actor is failing. An actor is *failing* when its most recent cycle did not
// succeed: it is in the `failed` or `backoff` state, or it has ≥ 1 consecutive I/O failure, or
// its last outcome was an error (this also catches a kernel that throws on every cycle, which
// does not back off). It stops failing at its next successful cycle (published, heartbeat or a
// counted skip), so after a Redis outage /healthz returns to 200 once the PING answers and each
// actor's next retry has succeeded — at most one backoff delay (backoffCapMs) later.
//
// A standby (another instance holds the single-writer lease) runs no actor: it is healthy when
// the store answers and its supervisor is standing by; the body names its role and the holder.
// A standby is ready to take over, which is what a health check of the second host asks.
//
// Truthful about writing (issue 21): the PING answering and no actor failing is not enough. Not
// healthy either when this instance has seen the single-writer lease free (nobody holds it) for
// over 2 × leaseTtlMs without taking it — e.g. an ACL user that may not write the lease key
// (NOPERM), Redis at maxmemory with noeviction (OOM) — or, as the leader, when Redis has refused
// its writes for over max(3 s, leaseTtlMs). The reason names the refusal (serviceLease.ts
// writeProblems); `quantum_calc_write_failing` says the same to Prometheus.
//
// Before the service has started (waiting for Redis, the lease's first attempt, the first policy
// read) the HTTP server already answers: 503 `starting`, naming what it waits for.
import type { PublisherContext } from "../../machines/publisher.js";
import type { SupervisorActor } from "../../machines/supervisor.js";
import type { Store } from "../store/types.js";
import { errorMessage } from "../core/errors.js";
import { RedisAuthError } from "../store/redisConnection.js";
import { Gauge, type Registry } from "prom-client";
import type { RoleDescription, ServiceRole, WriteProblem } from "../lease/index.js";

export const STORE_PING_TIMEOUT_MS = 1000;
export const STORE_PING_CACHE_MS = 1000;
/** A health body lists at most this many reasons (a Redis outage fails every actor at once). */
export const MAX_REASONS = 20;

export interface StoreProbeResult {
  up: boolean;
  /** Why not, when down. */
  error: string | null;
  /**
   * Down because the server refused this connection's credentials (NOAUTH, WRONGPASS, NOPERM on
   * the handshake): reachable, but nothing will work until the password or the ACL is fixed.
   */
  authFailed?: boolean;
}

export interface StoreProbe {
  /** PING result, cached for at most `cacheMs`; concurrent callers share one PING. */
  check(): Promise<StoreProbeResult>;
}

export function createStoreProbe(
  store: Pick<Store, "ping">,
  options: { timeoutMs?: number; cacheMs?: number; now?: () => number } = {},
): StoreProbe {
  const timeoutMs = options.timeoutMs ?? STORE_PING_TIMEOUT_MS;
  const cacheMs = options.cacheMs ?? STORE_PING_CACHE_MS;
  const now = options.now ?? (() => performance.now());
  let cached: { at: number; result: StoreProbeResult } | null = null;
  let inFlight: Promise<StoreProbeResult> | null = null;

  const ping = async (): Promise<StoreProbeResult> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        store.ping(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no PING reply within ${timeoutMs} ms`)),
            timeoutMs,
          );
          timer.unref();
        }),
      ]);
      return { up: true, error: null };
    } catch (err) {
      return { up: false, error: errorMessage(err), authFailed: err instanceof RedisAuthError };
    } finally {
      if (timer) clearTimeout(timer);
    }
  };

  return {
    check() {
      if (cached && now() - cached.at < cacheMs) return Promise.resolve(cached.result);
      inFlight ??= ping().then((result) => {
        // Cache from when the answer arrived: a slow PING must not be served as fresh for less.
        cached = { at: now(), result };
        inFlight = null;
        return result;
      });
      return inFlight;
    },
  };
}

export interface ActorHealth {
  total: number;
  failing: number;
  /** "risk:BTCUSDT failing: 3 consecutive failures: <last error>", one per failing actor. */
  reasons: string[];
}

interface ChildLike {
  getSnapshot(): {
    value: unknown;
    context: Pick<PublisherContext, "consecutiveFailures" | "lastOutcome" | "lastError">;
  };
}

/** Reads every live publisher's state from the supervisor's snapshot (no events are sent). */
export function actorHealth(supervisor: SupervisorActor): ActorHealth {
  const snapshot = supervisor.getSnapshot();
  const children = snapshot.children as Record<string, ChildLike | undefined>;
  const reasons: string[] = [];
  let total = 0;
  for (const [key, id] of Object.entries(snapshot.context.actorIds)) {
    total++;
    const child = children[id];
    if (!child) {
      reasons.push(`${key} not running`);
      continue;
    }
    const { value, context } = child.getSnapshot();
    const n = context.consecutiveFailures;
    const inFailureState = value === "failed" || value === "backoff";
    if (n >= 1 || inFailureState || context.lastOutcome === "error") {
      const count = n >= 1 ? `${n} consecutive failure${n === 1 ? "" : "s"}` : "last cycle failed";
      reasons.push(`${key} failing: ${count}: ${context.lastError ?? "no error recorded"}`);
    }
  }
  return { total, failing: reasons.length, reasons };
}

export interface HealthReport {
  status: "ok" | "failing";
  store: Store["kind"];
  /** 'up'/'down' for Redis; the embedded memory store is reported as 'not used'. */
  redis: "up" | "down" | "not used";
  supervisor: string;
  actors: { total: number; failing: number };
  /** leader (writes), standby (another instance holds the lease) or no-lease. */
  role: ServiceRole;
  /** Who holds the single-writer lease (host:pid:uuid8), null when nobody or without a lease. */
  holder: string | null;
  uptimeSec: number;
  /** Why this instance cannot write although it should (empty when fine): also in `reasons`. */
  writeProblems: WriteProblem[];
  /** Empty when healthy; capped at MAX_REASONS entries plus one "… and N more". */
  reasons: string[];
}

/** /healthz before the service has started: what it is waiting for. */
export interface StartingReport {
  status: "starting";
  /** e.g. "connecting to Redis at 127.0.0.1:6379/0". */
  waitingFor: string;
  uptimeSec: number;
  reasons: string[];
}

export function startingReport(waitingFor: string, uptimeSec: number): StartingReport {
  return { status: "starting", waitingFor, uptimeSec, reasons: [`starting: ${waitingFor}`] };
}

export interface HealthChecker {
  check(): Promise<HealthReport>;
}

export function createHealthChecker(deps: {
  supervisor: SupervisorActor;
  storeKind: Store["kind"];
  probe: StoreProbe;
  startedAtMs: number;
  now: () => number;
  /** The service's role (ServiceHandle.role); without it, no lease. */
  role?: () => RoleDescription;
}): HealthChecker {
  return {
    async check() {
      const reasons: string[] = [];
      const ping = await deps.probe.check();
      if (!ping.up)
        reasons.push(
          `${deps.storeKind === "redis" ? "redis" : "store"} ${ping.authFailed === true ? "authentication failed" : "unreachable"}: ${ping.error ?? "unknown error"}`,
        );
      const state = String(deps.supervisor.getSnapshot().value);
      const role = deps.role?.() ?? null;
      // Standing by is healthy only while the lease says so: a supervisor left in standby by a
      // leader is not.
      const healthyState = role?.role === "standby" ? "standby" : "running";
      if (state !== healthyState)
        reasons.push(
          `supervisor ${state}${role?.role === "leader" && state === "standby" ? " although this instance holds the lease" : ""}`,
        );
      const writeProblems = role?.writeProblems ?? [];
      // First: one line that says why nothing is written beats twenty failing actors.
      reasons.unshift(...writeProblems.map((p) => p.reason));
      const actors = actorHealth(deps.supervisor);
      reasons.push(...actors.reasons);
      const shown =
        reasons.length > MAX_REASONS
          ? [...reasons.slice(0, MAX_REASONS), `… and ${reasons.length - MAX_REASONS} more`]
          : reasons;
      return {
        status: reasons.length === 0 ? "ok" : "failing",
        store: deps.storeKind,
        redis: deps.storeKind === "redis" ? (ping.up ? "up" : "down") : "not used",
        supervisor: state,
        actors: { total: actors.total, failing: actors.failing },
        role: role?.role ?? "no-lease",
        holder: role?.holder ?? null,
        uptimeSec: Math.round((deps.now() - deps.startedAtMs) / 1000),
        writeProblems,
        reasons: shown,
      };
    },
  };
}

/**
 * `quantum_calc_write_failing{code}`: 1 while a write problem with that code keeps this instance
 * from writing (the /healthz reason), and `quantum_calc_write_failing_seconds`: how long the
 * longest has lasted (0 when none). Read at scrape time from `role` (ServiceHandle.role); before
 * it is set (start-up) nothing is failing to write yet. The codes are the Redis refusals
 * (OOM, NOPERM, READONLY, MISCONF, …) and LEASE_NOT_TAKEN, a short fixed set.
 */
export function registerWriteHealthMetrics(registry: Registry): {
  setRoleProbe(probe: () => RoleDescription): void;
} {
  let probe: (() => RoleDescription) | null = null;
  const seen = new Set<string>();
  new Gauge({
    name: "quantum_calc_write_failing",
    help: "Writes of this instance are failing (1) by reason code: a Redis refusal (OOM, NOPERM, READONLY, …) for over max(3 s, leaseTtlMs), or LEASE_NOT_TAKEN/the refusal when the lease stayed free over 2 x leaseTtlMs. /healthz names the reason.",
    labelNames: ["code"] as const,
    registers: [registry],
    collect() {
      const problems = probe?.().writeProblems ?? [];
      const now = new Set(problems.map((p) => p.code));
      // A code once reported goes back to 0 rather than vanishing, so a recovery is a sample too.
      for (const code of now) seen.add(code);
      for (const code of seen) this.set({ code }, now.has(code) ? 1 : 0);
    },
  });
  new Gauge({
    name: "quantum_calc_write_failing_seconds",
    help: "How long the longest write problem of this instance has lasted (0 when none).",
    registers: [registry],
    collect() {
      const problems = probe?.().writeProblems ?? [];
      this.set(problems.reduce((max, p) => Math.max(max, p.forMs / 1000), 0));
    },
  });
  return {
    setRoleProbe(next) {
      probe = next;
    },
  };
}
