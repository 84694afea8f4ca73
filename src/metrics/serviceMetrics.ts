// Prometheus metrics for the service, on a private prom-client Registry (never the global one,
// so two services in one process — tests, the demo — never share or collide on counters).
//
// Everything is fed from the ServiceHooks (one call per finished cycle / restart); the only
// values computed at scrape time are the staleness gauges (they grow while nothing happens, so
// they cannot be event-driven) and Redis reachability (a cached PING).
//
// Naming: `quantum_calc_*` for the service itself; the harvest domain gauges keep the names of
// the old Python harvest exporter (`quantum_harvest_*`) so existing dashboards and alerts keep
// working after the switch.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { CycleDoneEvent, CycleOutcome, PhaseName } from "../../machines/publisher.js";
import type { Escalation, RestartNotice } from "../../machines/supervisor.js";
import { SKIP_REASONS } from "../inputs/types.js";
import { KLINE_SKIP_REASONS } from "../inputs/klines.js";
import type { KlinesBatchStats } from "../phases/klinesFollower.js";
import { POLICY_REFUSAL_REASONS } from "../policy/policy.js";
import type { PolicyDescription, PolicyEvent } from "../policy/policyBook.js";
import type { ShadowComparison } from "../shadow/shadow.js";
import type { RoleDescription } from "../lease/index.js";
import type { PublishedHarvest } from "./publishedHarvest.js";

/** The old exporter's one-hot actions (quantum_harvest_action{symbol,action}). */
export const HARVEST_ACTIONS = [
  "NONE",
  "PARTIAL_25",
  "PARTIAL_50",
  "PARTIAL_75",
  "FULL_CLOSE_PROPOSED",
] as const;

const OUTCOMES: readonly CycleOutcome[] = ["published", "heartbeat", "skipped", "error"];

/** Seconds. A cycle is one read + kernel + (maybe) one MULTI/EXEC: sub-ms to a command timeout. */
export const CYCLE_DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Seconds from a marketstate publish to the harvest cycle it chained into. The point of chaining
 * is that this is milliseconds (docs/specification.md §6), so the buckets are fine-grained from 1 to 100 ms, with
 * a coarse tail to show when it is not.
 */
export const CHAIN_LATENCY_BUCKETS = [
  0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05,
  0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Seconds from a candle's close_time to the marketstate publish that included it: the feed's
 * latency through the klines stream (milliseconds), or through the sorted set and the interval
 * when not following (up to the marketstate interval).
 */
export const CANDLE_LAG_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];

/** figures key (CycleDoneEvent.figures on a harvest publish) → the old exporter's gauge name. */
const HARVEST_GAUGES = [
  [
    "kill_score",
    "quantum_harvest_kill_score",
    "Kill score K of the latest harvest proposal (0..1).",
  ],
  [
    "k_regime_flip",
    "quantum_harvest_k_regime_flip",
    "Regime-flip component of K in the latest harvest proposal.",
  ],
  [
    "k_sigma_spike",
    "quantum_harvest_k_sigma_spike",
    "Sigma-spike component of K in the latest harvest proposal.",
  ],
  [
    "k_ts_drop",
    "quantum_harvest_k_ts_drop",
    "Trend-strength-drop component of K in the latest harvest proposal.",
  ],
  [
    "k_age_penalty",
    "quantum_harvest_k_age_penalty",
    "Age-penalty component of K in the latest harvest proposal.",
  ],
  [
    "R_net",
    "quantum_harvest_r_net",
    "Net R multiple (after costs) of the latest harvest proposal.",
  ],
  [
    "new_sl",
    "quantum_harvest_new_sl",
    "Proposed new stop loss of the latest harvest proposal (0 when none is proposed, as the exporter).",
  ],
] as const;

export interface ServiceMetricsOptions {
  phases: readonly PhaseName[];
  symbols: readonly string[];
  /** Wall clock (ms since epoch), the same clock the service passes to its hooks. */
  now: () => number;
  /** Process metrics (CPU, memory, event-loop lag, GC, handles). Default true. */
  defaultMetrics?: boolean;
  /** Shadow mode (`run --shadow`): add the quantum_calc_shadow_* metrics, fed by `onShadow`. Default false. */
  shadow?: boolean;
}

export interface ServiceMetrics {
  readonly registry: Registry;
  /** Pass as (or merge into) `startService({ hooks })`. */
  readonly hooks: {
    onCycle(event: CycleDoneEvent, nowMs: number): void;
    onRestart(notice: RestartNotice): void;
    onEscalate(escalation: Escalation): void;
    onKlines(stats: KlinesBatchStats): void;
    onPolicy(event: PolicyEvent): void;
    onSymbols(change: {
      running: readonly string[];
      added: readonly string[];
      removed: readonly string[];
      initial?: boolean;
    }): void;
    /** Shadow mode: one comparison of a proposal with the hash in Redis (ShadowReport.onComparison). */
    onShadow(comparison: ShadowComparison): void;
    /** The role changed (leader ⇄ standby): counted in quantum_calc_lease_changes_total. */
    onRole(role: RoleDescription): void;
  };
  /** Adds the quantum_calc_policy_* gauges read at scrape time from `probe`. Call at most once. */
  setPolicyProbe(probe: () => PolicyDescription): void;
  /**
   * Adds `quantum_calc_role` (1 for {role, holder, self}) and `quantum_calc_lease_leader` (1 while
   * this instance holds the single-writer lease, 0 standing by; absent without a lease), read at
   * scrape time from `probe` (ServiceHandle.role). Call at most once.
   */
  setRoleProbe(probe: () => RoleDescription): void;
  /**
   * Adds the `quantum_calc_redis_up` gauge, asking `probe` at scrape time (the health probe
   * caches its PING). Until then the gauge is absent rather than guessed. Call at most once.
   */
  setRedisProbe(probe: () => Promise<boolean>): void;
  /** The running symbols (the configured ones until onSymbols says otherwise). */
  symbols(): readonly string[];
  /**
   * The harvest gauges of `symbol` from its hash already in Redis (publishedHarvest.ts), at
   * start: each gauge a harvest cycle of this instance has not set yet — a publish or heartbeat
   * seen since start is newer than any hash read.
   */
  seedHarvest(symbol: string, published: PublishedHarvest): void;
  /** The exposition text and its Content-Type. */
  render(): Promise<{ contentType: string; body: string }>;
}

export function createServiceMetrics(options: ServiceMetricsOptions): ServiceMetrics {
  const { now } = options;
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const startedAtMs = now();

  const cycles = new Counter({
    name: "quantum_calc_cycles_total",
    help: "Publisher cycles finished, by phase and outcome (published, heartbeat, skipped, error).",
    labelNames: ["phase", "outcome"] as const,
    registers: [registry],
  });
  const publishes = new Counter({
    name: "quantum_calc_publishes_total",
    help: "Outputs written (full publishes, not heartbeats), by phase.",
    labelNames: ["phase"] as const,
    registers: [registry],
  });
  const skips = new Counter({
    name: "quantum_calc_skips_total",
    help: "Cycles skipped for a counted reason (no_position, insufficient_data, stale_marketstate, bad_position, bad_input).",
    labelNames: ["phase", "reason"] as const,
    registers: [registry],
  });
  const errors = new Counter({
    name: "quantum_calc_errors_total",
    help: "Cycles that ended in an error (I/O failure or a kernel bug), by phase.",
    labelNames: ["phase"] as const,
    registers: [registry],
  });
  const restarts = new Counter({
    name: "quantum_calc_actor_restarts_total",
    help: "Publisher actors that crashed and were restarted by the supervisor, by phase.",
    labelNames: ["phase"] as const,
    registers: [registry],
  });
  const cycleDuration = new Histogram({
    name: "quantum_calc_cycle_duration_seconds",
    help: "Duration of a publisher cycle, from reading its inputs to reporting its outcome.",
    labelNames: ["phase"] as const,
    buckets: CYCLE_DURATION_BUCKETS,
    registers: [registry],
  });
  const chainLatency = new Histogram({
    name: "quantum_calc_chain_latency_seconds",
    help: "From a marketstate publish to the end of the harvest cycle it chained into (new candle -> harvest hash).",
    buckets: CHAIN_LATENCY_BUCKETS,
    registers: [registry],
  });
  const klinesEntries = new Counter({
    name: "quantum_calc_klines_entries_total",
    help: "Entries read from the klines stream (every symbol of the stack).",
    registers: [registry],
  });
  const klinesCandles = new Counter({
    name: "quantum_calc_klines_candles_total",
    help: "Closed 1m candles of running symbols taken from the klines stream (each runs its marketstate at once).",
    registers: [registry],
  });
  const klinesSkipped = new Counter({
    name: "quantum_calc_klines_skipped_total",
    help: "Klines stream entries skipped, by reason (no_payload, bad_json, bad_candle, not_closed, not_1m, unknown_symbol, future_candle).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  for (const reason of KLINE_SKIP_REASONS) klinesSkipped.inc({ reason }, 0);
  const candleLag = new Histogram({
    name: "quantum_calc_candle_lag_seconds",
    help: "From a candle's close_time to the marketstate publish that first included it.",
    buckets: CANDLE_LAG_BUCKETS,
    registers: [registry],
  });
  const candleGap = new Gauge({
    name: "quantum_calc_candle_gap_minutes",
    help: "Minutes missing between the candles of the window of the latest marketstate publish, per symbol (computed on; above maxCandleGap, when set, the cycle skips as gapped_candles).",
    labelNames: ["symbol"] as const,
    registers: [registry],
  });
  const harvestAction = new Gauge({
    name: "quantum_harvest_action",
    help: "Harvest action of the latest harvest proposal, one-hot over NONE, PARTIAL_25, PARTIAL_50, PARTIAL_75, FULL_CLOSE_PROPOSED.",
    labelNames: ["symbol", "action"] as const,
    registers: [registry],
  });
  const harvestLastUpdate = new Gauge({
    name: "quantum_harvest_last_update_epoch",
    help: "last_update_epoch of the harvest hash (epoch s): refreshed by every publish and every heartbeat.",
    labelNames: ["symbol"] as const,
    registers: [registry],
  });
  const policyRefusals = new Counter({
    name: "quantum_calc_policy_refusals_total",
    help: "Reads of quantum:policy:current that were refused, by reason (the configured theta, or the last good policy, stays in force).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  for (const reason of [...POLICY_REFUSAL_REASONS, "wrong_type"]) policyRefusals.inc({ reason }, 0);
  const policyChanges = new Counter({
    name: "quantum_calc_policy_applied_total",
    help: "Policies applied (a new version or new content of quantum:policy:current).",
    registers: [registry],
  });
  const leaseChanges = new Counter({
    name: "quantum_calc_lease_changes_total",
    help: 'Changes of role under the single-writer lease: to="leader" (acquired, took over), to="standby" (lost, or released at shutdown).',
    labelNames: ["to"] as const,
    registers: [registry],
  });
  for (const to of ["leader", "standby"]) leaseChanges.inc({ to }, 0);
  const symbolsRunning = new Gauge({
    name: "quantum_calc_symbols_running",
    help: "Symbols with publishers running (the configured symbols, or the policy universe plus open positions).",
    registers: [registry],
  });
  symbolsRunning.set(options.symbols.length);
  const symbolChanges = new Counter({
    name: "quantum_calc_symbol_changes_total",
    help: "Symbols added to or removed from the running set, by change.",
    labelNames: ["change"] as const,
    registers: [registry],
  });
  symbolChanges.inc({ change: "added" }, 0);
  symbolChanges.inc({ change: "removed" }, 0);
  const inputAge = new Gauge({
    name: "quantum_calc_input_age_seconds",
    help: "Age of the marketstate input (now - its ts_timestamp) used by the latest risk/harvest publish.",
    labelNames: ["phase", "symbol"] as const,
    registers: [registry],
  });
  const harvestGauges = HARVEST_GAUGES.map(
    ([field, name, help]) =>
      [
        field,
        new Gauge({ name, help, labelNames: ["symbol"] as const, registers: [registry] }),
      ] as const,
  );

  // Last publish-or-heartbeat per `phase\0symbol`. A pair that has not had one yet counts from
  // service start, so "never published" shows up as growing staleness instead of a missing series.
  // Only the running symbols' pairs are kept: a removed symbol is forgotten (onSymbols), and the
  // last cycle of its draining publisher does not bring it back.
  const lastAlive = new Map<string, number>();
  const aliveSymbols = new Set(options.symbols);
  const markAlive = (phase: PhaseName, symbol: string, atMs: number): void => {
    if (aliveSymbols.has(symbol)) lastAlive.set(`${phase}\0${symbol}`, atMs);
  };
  const pairs: Array<{ phase: PhaseName; symbol: string }> = [];
  for (const phase of options.phases)
    for (const symbol of options.symbols) pairs.push({ phase, symbol });
  new Gauge({
    name: "quantum_calc_staleness_seconds",
    help: "Seconds since the last publish or heartbeat, per phase and symbol (counted from service start until the first).",
    labelNames: ["phase", "symbol"] as const,
    registers: [registry],
    collect() {
      const t = now();
      // The series of a removed symbol leaves with it.
      this.reset();
      for (const { phase, symbol } of pairs) {
        const since = lastAlive.get(`${phase}\0${symbol}`) ?? startedAtMs;
        this.set({ phase, symbol }, Math.max(0, (t - since) / 1000));
      }
    },
  });

  // Zero every series a rate() or an alert will look for, so it exists before its first event.
  for (const phase of options.phases) {
    for (const outcome of OUTCOMES) cycles.inc({ phase, outcome }, 0);
    for (const reason of SKIP_REASONS) skips.inc({ phase, reason }, 0);
    publishes.inc({ phase }, 0);
    errors.inc({ phase }, 0);
    restarts.inc({ phase }, 0);
  }

  // Shadow mode (`run --shadow`, src/shadow/shadow.ts): registered only then, so a normal run's /metrics
  // does not carry series that can never move.
  const shadow = options.shadow
    ? {
        compared: new Counter({
          name: "quantum_calc_shadow_compared_total",
          help: "Shadow mode: proposals compared with the hash in Redis now (nothing is written), by phase.",
          labelNames: ["phase"] as const,
          registers: [registry],
        }),
        differences: new Counter({
          name: "quantum_calc_shadow_differences_total",
          help: "Shadow mode: fields of a proposal that differ from the hash in Redis, by phase and field (one per field per comparison).",
          labelNames: ["phase", "field"] as const,
          registers: [registry],
        }),
        missing: new Counter({
          name: "quantum_calc_shadow_missing_total",
          help: "Shadow mode: proposals for a key Redis does not hold at all (a real run would create it), by phase.",
          labelNames: ["phase"] as const,
          registers: [registry],
        }),
        differing: new Gauge({
          name: "quantum_calc_shadow_differing_fields",
          help: "Shadow mode: fields that differed in the latest comparison of each phase's key of a symbol (0: it agrees).",
          labelNames: ["phase", "symbol"] as const,
          registers: [registry],
        }),
      }
    : null;
  if (shadow) {
    for (const phase of options.phases) {
      shadow.compared.inc({ phase }, 0);
      shadow.missing.inc({ phase }, 0);
    }
  }

  const finite = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
  // Harvest gauges a cycle of this instance has set: a seed from the hashes never overwrites them.
  const harvestPublished = new Set<string>();
  const harvestUpdated = new Set<string>();
  const setHarvestAction = (symbol: string, action: string): void => {
    for (const a of HARVEST_ACTIONS) harvestAction.set({ symbol, action: a }, a === action ? 1 : 0);
  };

  const hooks: ServiceMetrics["hooks"] = {
    onCycle(e, nowMs) {
      const { phase, symbol } = e;
      cycles.inc({ phase, outcome: e.outcome });
      switch (e.outcome) {
        case "published":
          publishes.inc({ phase });
          markAlive(phase, symbol, nowMs);
          break;
        case "heartbeat":
          markAlive(phase, symbol, nowMs);
          if (phase === "harvest") {
            harvestUpdated.add(symbol);
            harvestLastUpdate.set({ symbol }, Math.floor(nowMs / 1000));
          }
          break;
        case "skipped":
          // The machine always sets a reason on a skip; 'unknown' would point at a machine bug.
          skips.inc({ phase, reason: e.reason ?? "unknown" });
          break;
        case "error":
          errors.inc({ phase });
          break;
      }
      // A clock step backwards would give a negative duration: leave such a cycle out rather
      // than record a number that did not happen.
      if (e.startedAtMs !== null && nowMs >= e.startedAtMs)
        cycleDuration.observe({ phase }, (nowMs - e.startedAtMs) / 1000);
      if (phase === "harvest" && e.chainStartedAt !== null && nowMs >= e.chainStartedAt) {
        chainLatency.observe((nowMs - e.chainStartedAt) / 1000);
      }
      const figures = e.outcome === "published" ? e.figures : null;
      // A marketstate publish for a new candle: how long after its close it got here.
      if (
        figures &&
        phase === "marketstate" &&
        e.reason !== "max_age" &&
        finite(figures.candle_lag_sec)
      )
        candleLag.observe(figures.candle_lag_sec);
      if (figures && phase === "marketstate" && finite(figures.candle_gap_minutes))
        candleGap.set({ symbol }, figures.candle_gap_minutes);
      if (figures) {
        if (finite(figures.marketstate_age_sec))
          inputAge.set({ phase, symbol }, figures.marketstate_age_sec);
        if (phase === "harvest") {
          for (const [field, gauge] of harvestGauges) {
            const value = figures[field];
            if (finite(value)) gauge.set({ symbol }, value);
          }
          harvestPublished.add(symbol);
          harvestUpdated.add(symbol);
          harvestLastUpdate.set({ symbol }, Math.floor(nowMs / 1000));
          const action = e.labels?.harvest_action;
          if (action !== undefined) setHarvestAction(symbol, action);
        }
      }
    },
    onRestart(notice) {
      restarts.inc({ phase: notice.key.slice(0, notice.key.indexOf(":")) });
    },
    onEscalate() {
      // The process exits right after an escalation; nothing would be scraped.
    },
    onPolicy(event) {
      if (event.type === "refused") policyRefusals.inc({ reason: event.reason });
      else if (event.type === "applied") policyChanges.inc();
    },
    onSymbols(change) {
      symbolsRunning.set(change.running.length);
      // The set the service started with is not a change of it.
      if (!change.initial && change.added.length > 0)
        symbolChanges.inc({ change: "added" }, change.added.length);
      if (!change.initial && change.removed.length > 0)
        symbolChanges.inc({ change: "removed" }, change.removed.length);
      // Staleness is reported for the running symbols: a new one counts from now, a removed one
      // leaves (its last harvest gauges stay, as the exporter's did for a symbol it stopped reading).
      const removed = new Set(change.removed);
      for (let i = pairs.length - 1; i >= 0; i--)
        if (removed.has(pairs[i].symbol)) pairs.splice(i, 1);
      // …and is forgotten: a churning universe must not grow lastAlive without bound.
      for (const symbol of change.removed) {
        aliveSymbols.delete(symbol);
        for (const phase of options.phases) lastAlive.delete(`${phase}\0${symbol}`);
      }
      const at = now();
      for (const symbol of change.added) {
        aliveSymbols.add(symbol);
        for (const phase of options.phases) {
          pairs.push({ phase, symbol });
          lastAlive.set(`${phase}\0${symbol}`, at);
        }
      }
    },
    onRole(role) {
      if (role.role !== "no-lease") leaseChanges.inc({ to: role.role });
    },
    onShadow(comparison) {
      if (shadow === null) return;
      const { phase, symbol } = comparison;
      shadow.compared.inc({ phase });
      if (comparison.absent) {
        shadow.missing.inc({ phase });
        return;
      }
      for (const d of comparison.differences) shadow.differences.inc({ phase, field: d.field });
      shadow.differing.set({ phase, symbol }, comparison.differences.length);
    },
    onKlines(stats) {
      klinesEntries.inc(stats.seen);
      if (stats.candles.length > 0) klinesCandles.inc(stats.candles.length);
      for (const [reason, skipped] of Object.entries(stats.skipped))
        klinesSkipped.inc({ reason }, skipped.count);
    },
  };

  return {
    registry,
    hooks,
    setRedisProbe(probe) {
      // Registered only now: an unlabelled prom-client gauge would otherwise read 0 ("down")
      // before anyone has asked the store.
      if (registry.getSingleMetric("quantum_calc_redis_up"))
        throw new Error("metrics: the Redis probe is already set");
      new Gauge({
        name: "quantum_calc_redis_up",
        help: "1 when the store answered a PING (cached for at most 1 s), else 0.",
        registers: [registry],
        async collect() {
          this.set((await probe()) ? 1 : 0);
        },
      });
    },
    setRoleProbe(probe) {
      if (registry.getSingleMetric("quantum_calc_role"))
        throw new Error("metrics: the role probe is already set");
      new Gauge({
        name: "quantum_calc_role",
        help: 'The role of this instance: 1 for {role="leader|standby|no-lease", holder=<who holds the single-writer lease>, self=<this instance>}.',
        labelNames: ["role", "holder", "self"] as const,
        registers: [registry],
        collect() {
          const r = probe();
          this.reset();
          this.set({ role: r.role, holder: r.holder ?? "", self: r.self ?? "" }, 1);
        },
      });
      new Gauge({
        name: "quantum_calc_lease_leader",
        help: "1 while this instance holds the single-writer lease and writes, 0 while it stands by (absent without a lease). Across instances the sum should be 1.",
        registers: [registry],
        collect() {
          const r = probe();
          this.reset();
          if (r.role !== "no-lease") this.set(r.role === "leader" ? 1 : 0);
        },
      });
    },
    setPolicyProbe(probe) {
      if (registry.getSingleMetric("quantum_calc_policy_in_force"))
        throw new Error("metrics: the policy probe is already set");
      new Gauge({
        name: "quantum_calc_policy_in_force",
        help: 'The harvest theta in force: 1 for {source="policy",version=…} or {source="config",version=""}.',
        labelNames: ["source", "version"] as const,
        registers: [registry],
        collect() {
          const d = probe();
          this.reset();
          this.set({ source: d.source, version: d.version }, 1);
        },
      });
      new Gauge({
        name: "quantum_calc_policy_age_seconds",
        help: "Seconds since the policy in force was applied (absent while the configured theta is in force).",
        registers: [registry],
        collect() {
          const d = probe();
          this.reset();
          if (d.appliedAtMs !== null) this.set(Math.max(0, (now() - d.appliedAtMs) / 1000));
        },
      });
      new Gauge({
        name: "quantum_calc_policy_valid_for_seconds",
        help: "Seconds until the policy in force expires (absent while the configured theta is in force).",
        registers: [registry],
        collect() {
          const d = probe();
          this.reset();
          if (d.validUntilMs !== null) this.set((d.validUntilMs - now()) / 1000);
        },
      });
    },
    symbols: () => [...aliveSymbols],
    seedHarvest(symbol, published) {
      if (!harvestPublished.has(symbol)) {
        for (const [field, gauge] of harvestGauges) {
          const value = published.figures[field];
          if (value !== undefined) gauge.set({ symbol }, value);
        }
        if (published.action !== null) setHarvestAction(symbol, published.action);
      }
      if (!harvestUpdated.has(symbol) && published.lastUpdateEpoch !== null)
        harvestLastUpdate.set({ symbol }, published.lastUpdateEpoch);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
