// `quantum-calc status`: what is published in Redis right now, one row per symbol. It reads the
// output hashes only — no process state, no HTTP — so it works the same against this service and
// against the old Python services it replaces, and during a migration between them. Each hash is
// found and read back by its phase's output declaration (PHASE_REGISTRY, src/contracts/).
import type { Command } from "commander";
import { dominantRegimeName, MARKETSTATE_OUTPUT } from "../contracts/marketstateOutput.js";
import { RISK_PROPOSAL_OUTPUT } from "../contracts/riskProposalOutput.js";
import { HARVEST_PROPOSAL_OUTPUT } from "../contracts/harvestProposalOutput.js";
import { outputKey, parseField, problemText, type OutputDeclaration } from "../contracts/output.js";
import { byPhase, PHASE_NAMES, PHASE_REGISTRY, type PhaseName } from "../core/phases.js";
import { loadConfig, maskUrl } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { configOption } from "./runOptions.js";
import { CliError, ExitCode } from "../exitCodes.js";
import { renderTable, type Column } from "../replay/table.js";
import { createRedisStore, type RedisStore } from "../store/redisStore.js";
import type { Store } from "../store/types.js";
import { candleGuardsFromConfig, readCandles } from "../candles/index.js";
import { createPositionSource, type PositionSource } from "../inputs/positions.js";
import { memoryFromFields, positionMemoryKey } from "../inputs/positionMemory.js";
import { parsePolicy, POLICY_KEY, policyLimitsFrom } from "../policy/policy.js";
import { configuredHarvestTheta } from "../phases/harvest.js";
import { errorMessage } from "../core/errors.js";
import { formatHolder } from "../lease/index.js";
import { redisConnectionOptions } from "../service/storeFactory.js";
import { createLogger } from "../log.js";
import { get as httpGet } from "node:http";

const silentLogger = createLogger({ level: "silent" });

/** An output is stale when older than this many of its publisher's intervals. */
export const STALE_INTERVALS = 3;

/** Per phase: its output is stale past this many seconds. */
export type StaleAfterSec = Record<PhaseName, number>;

export function staleAfterSec(config: Pick<Config, `${PhaseName}Interval`>): StaleAfterSec {
  return byPhase((phase) => STALE_INTERVALS * config[PHASE_REGISTRY[phase].intervalKey]);
}

interface Freshness {
  /** Seconds since the output's timestamp; null when the timestamp is missing or unreadable. */
  age_sec: number | null;
  /** Older than STALE_INTERVALS intervals — or of unknown age, which cannot be called fresh. */
  stale: boolean;
  /** Fields that were missing or not numbers (their values are null above). */
  problems: string[];
}

export interface MarketStateStatus extends Freshness {
  regime: "trend" | "mr" | "chop" | null;
  p_trend: number | null;
  p_mr: number | null;
  p_chop: number | null;
  sigma: number | null;
}

export interface RiskStatus extends Freshness {
  proposed_sl: number | null;
  proposed_tp: number | null;
}

export interface HarvestStatus extends Freshness {
  harvest_action: string | null;
  R_net: number | null;
  kill_score: number | null;
  /** null when no new stop is proposed ("" here; "None" from the old Python service). */
  new_sl_proposed: number | null;
}

/** The inputs as the service would read them now (the live layouts, docs/specification.md §4.1, §5). */
export interface InputsStatus {
  candles: {
    /** The key read (the first existing of the patterns); null when none exists. */
    key: string | null;
    count: number;
    /** Seconds since the newest candle opened; null when unknown. */
    newest_open_age_sec: number | null;
    /** Older than maxCandleAge: the marketstate publisher skips it (stale_candles). */
    stale: boolean;
    /** Minutes missing between the window's candles; null when unknown (no open times, or no key). */
    gap_minutes: number | null;
    /** More missing minutes than maxCandleGap (when set): the marketstate publisher skips it (gapped_candles). */
    gapped: boolean;
    /** Members skipped as malformed (unparsable or implausible prices) and as dated in the future. */
    malformed: number;
    future: number;
    /** Why it cannot be used (insufficient_data, bad_input, …), else null. */
    problem: string | null;
  };
  position: {
    /** open, or the skip reason the risk/harvest publishers would count (no_position, stale_position, bad_position). */
    state: string;
    side: string | null;
    quantity: number | null;
    entry_price: number | null;
    current_price: number | null;
    /** Seconds since the brain's ts_epoch; null without one. */
    snapshot_age_sec: number | null;
    detail: string | null;
  };
  /** This service's position memory (peak, trough, first seen); null when there is none. */
  memory: { peak_price: number; trough_price: number; first_seen_epoch: number } | null;
}

/** What each phase's output hash shows. */
export interface OutputStatus {
  marketstate: MarketStateStatus;
  risk: RiskStatus;
  harvest: HarvestStatus;
}

export type SymbolStatus = {
  symbol: string;
  inputs: InputsStatus;
} & {
  /** null: the hash does not exist. */
  [P in PhaseName]: OutputStatus[P] | null;
} & {
  /** A hash that could not be read (e.g. the key holds another type). */
  errors: string[];
};

export interface StatusReport {
  checked_at: string;
  /** The Redis URL with any password masked. */
  redis: string;
  stale_after_sec: StaleAfterSec;
  /** The harvest theta the service would use now (docs/specification.md §9), read from quantum:policy:current. */
  theta: ThetaStatus;
  /** The single-writer lease: which instance writes now. */
  lease: LeaseStatus;
  /** This host's service's own /healthz (httpHost:httpPort); null when no httpPort is configured. */
  health?: ServiceHealthStatus | null;
  symbols: SymbolStatus[];
}

export interface LeaseStatus {
  key: string;
  /** Who holds it (host:pid:uuid8), null when free: no instance (with the lease on) is writing. */
  holder: string | null;
  /** Remaining TTL (ms) as Redis reports it; null when free. */
  ttl_ms: number | null;
}

export function leaseLine(lease: LeaseStatus): string {
  return lease.holder === null
    ? `Writer: the single-writer lease ${lease.key} is free: no instance holds it (none running, or all with the lease off)`
    : `Writer: ${lease.holder} holds the single-writer lease ${lease.key} (expires in ${lease.ttl_ms === null ? "?" : (lease.ttl_ms / 1000).toFixed(1)} s unless renewed); any other instance stands by`;
}

/** What the service on this host says of itself (its /healthz): the why behind a free lease. */
export interface ServiceHealthStatus {
  url: string;
  /** The HTTP status; null when nothing answered. */
  http_status: number | null;
  /** ok · failing · starting (the body's status); null when nothing (readable) answered. */
  status: string | null;
  role: string | null;
  /** The body's reasons: e.g. "lease key not writable: NOPERM …", "writes failing for 12 s: OOM …". */
  reasons: string[];
  /** Why nothing answered (connection refused, timeout). */
  error: string | null;
}

/** GET http://host:port/healthz, bounded by timeoutMs; never rejects. */
export function readServiceHealth(
  host: string,
  port: number,
  timeoutMs = 1500,
): Promise<ServiceHealthStatus> {
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/healthz`;
  const none = (error: string): ServiceHealthStatus => ({
    url,
    http_status: null,
    status: null,
    role: null,
    reasons: [],
    error,
  });
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (body.length < 65_536) body += chunk;
      });
      res.on("end", () => {
        try {
          const parsed = JSON.parse(body) as {
            status?: unknown;
            role?: unknown;
            reasons?: unknown;
          };
          const reasons = Array.isArray(parsed.reasons) ? parsed.reasons.map(String) : [];
          resolve({
            url,
            http_status: res.statusCode ?? null,
            status: typeof parsed.status === "string" ? parsed.status : null,
            role: typeof parsed.role === "string" ? parsed.role : null,
            reasons,
            error: null,
          });
        } catch {
          resolve({
            url,
            http_status: res.statusCode ?? null,
            status: null,
            role: null,
            reasons: [],
            error: "the answer is not a /healthz report",
          });
        }
      });
      res.on("error", (err) => resolve(none(err.message)));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => resolve(none(errorMessage(err))));
  });
}

export function healthLine(health: ServiceHealthStatus): string {
  if (health.http_status === null)
    return `Health: the service at ${health.url} does not answer (${health.error ?? "no answer"}): not running on this host, or on another port`;
  const what = `${health.http_status} ${health.status ?? "?"}${health.role === null ? "" : ` (${health.role})`}`;
  return `Health: the service at ${health.url} says ${what}${health.reasons.length === 0 ? "" : `: ${health.reasons.join("; ")}`}`;
}

export interface ThetaStatus {
  source: "policy" | "config";
  /** policy_version in force; '' for the configured theta. */
  version: string;
  /** Seconds until the policy in force expires; null under the configured theta. */
  valid_for_sec: number | null;
  /** Why the configured theta is used (the refusal, expiry, or harvestThetaSource config). */
  why: string | null;
  universe_symbols: number | null;
}

/** The theta in force as the service's PolicyBook would decide it now, from the hash alone. */
export async function readThetaStatus(
  store: Store,
  config: Config,
  nowMs: number,
): Promise<ThetaStatus> {
  if (config.harvestThetaSource === "config")
    return {
      source: "config",
      version: "",
      valid_for_sec: null,
      why: "harvestThetaSource is config",
      universe_symbols: null,
    };
  let fields: Record<string, string>;
  try {
    fields = await store.hgetall(POLICY_KEY);
  } catch (err) {
    return {
      source: "config",
      version: "",
      valid_for_sec: null,
      why: `policy unreadable: ${errorMessage(err)}`,
      universe_symbols: null,
    };
  }
  const read = parsePolicy(fields, nowMs, configuredHarvestTheta(config), policyLimitsFrom(config));
  if (!read.ok)
    return {
      source: "config",
      version: "",
      valid_for_sec: null,
      why: `policy refused (${read.reason}): ${read.detail}`,
      universe_symbols: null,
    };
  return {
    source: "policy",
    version: read.policy.version,
    valid_for_sec: ageSince(read.policy.validUntilMs, nowMs),
    why: null,
    universe_symbols: read.policy.universe.length,
  };
}

function thetaLine(t: ThetaStatus): string {
  return t.source === "policy"
    ? `Harvest theta: policy ${t.version} (valid ${formatAge(t.valid_for_sec ?? 0)} more; ${t.universe_symbols ?? 0} universe symbols)`
    : `Harvest theta: configured — ${t.why ?? ""}`;
}

/**
 * Seconds from `thenMs` to `nowMs`, to the millisecond: the clock has no more resolution, and a
 * float difference in seconds prints noise (`10.34500002861023`) in `--json`.
 */
export function ageSince(nowMs: number, thenMs: number): number {
  return Math.round(nowMs - thenMs) / 1000;
}

/**
 * Reads fields by the output declaration's codecs (as strictly as the service reads them back);
 * anything missing or malformed becomes null plus a problem naming the key and field.
 */
function fieldReader<H extends object>(
  output: OutputDeclaration<H>,
  key: string,
  hash: Record<string, string>,
  problems: string[],
) {
  return <K extends keyof H & string>(field: K): H[K] | null => {
    const read = parseField(output, hash, field);
    if (read.ok) return read.value;
    problems.push(problemText(read.problem, `${key}.`));
    return null;
  };
}

/** How old the hash is, by the stamp every write of it refreshes (the declaration's updatedStamp). */
function freshness<H extends object>(
  output: OutputDeclaration<H>,
  key: string,
  hash: Record<string, string>,
  nowMs: number,
  staleSec: number,
  problems: string[],
): Freshness {
  const stamp = fieldReader(output, key, hash, problems)(output.updatedStamp) as number | null;
  const age = stamp === null ? null : ageSince(nowMs, stamp * 1000);
  return { age_sec: age, stale: age === null || age > staleSec, problems };
}

export function marketStateStatus(
  key: string,
  hash: Record<string, string>,
  nowMs: number,
  staleSec: number,
): MarketStateStatus {
  const problems: string[] = [];
  const num = fieldReader(MARKETSTATE_OUTPUT, key, hash, problems);
  const p_trend = num("p_trend");
  const p_mr = num("p_mr");
  const p_chop = num("p_chop");
  const sigma = num("sigma");
  const regime =
    p_trend !== null && p_mr !== null && p_chop !== null
      ? dominantRegimeName({ trend: p_trend, mr: p_mr, chop: p_chop })
      : null;
  return {
    regime,
    p_trend,
    p_mr,
    p_chop,
    sigma,
    ...freshness(MARKETSTATE_OUTPUT, key, hash, nowMs, staleSec, problems),
  };
}

export function riskStatus(
  key: string,
  hash: Record<string, string>,
  nowMs: number,
  staleSec: number,
): RiskStatus {
  const problems: string[] = [];
  const num = fieldReader(RISK_PROPOSAL_OUTPUT, key, hash, problems);
  const proposed_sl = num("proposed_sl");
  const proposed_tp = num("proposed_tp");
  return {
    proposed_sl,
    proposed_tp,
    ...freshness(RISK_PROPOSAL_OUTPUT, key, hash, nowMs, staleSec, problems),
  };
}

export function harvestStatus(
  key: string,
  hash: Record<string, string>,
  nowMs: number,
  staleSec: number,
): HarvestStatus {
  const problems: string[] = [];
  const read = fieldReader(HARVEST_PROPOSAL_OUTPUT, key, hash, problems);
  const harvest_action = read("harvest_action");
  const R_net = read("R_net");
  const kill_score = read("kill_score");
  // "" and Python's "None" are no new stop, not a problem.
  const new_sl_proposed = read("new_sl_proposed");
  return {
    harvest_action,
    R_net,
    kill_score,
    new_sl_proposed,
    ...freshness(HARVEST_PROPOSAL_OUTPUT, key, hash, nowMs, staleSec, problems),
  };
}

async function readHash(
  store: Pick<Store, "hgetall">,
  key: string,
  errors: string[],
): Promise<Record<string, string> | null> {
  try {
    const hash = await store.hgetall(key);
    return Object.keys(hash).length === 0 ? null : hash;
  } catch (err) {
    errors.push(errorMessage(err));
    return null;
  }
}

export interface InputSettings {
  positions: PositionSource;
  candlePatterns: readonly string[];
  windowSize: number;
  maxCandleAge: number;
  /** null: off (a gap is only reported). */
  maxCandleGap: number | null;
  /** The candle plausibility limits (candleGuardsFromConfig). */
  candleLimits: Pick<
    Config,
    "maxClockSkew" | "minCandlePrice" | "maxCandlePrice" | "maxCandleKeyBytes"
  >;
}

export async function readInputsStatus(
  store: Store,
  symbol: string,
  nowMs: number,
  settings: InputSettings,
  errors: string[],
): Promise<InputsStatus> {
  const inputs: InputsStatus = {
    candles: {
      key: null,
      count: 0,
      newest_open_age_sec: null,
      stale: false,
      gap_minutes: null,
      gapped: false,
      malformed: 0,
      future: 0,
      problem: null,
    },
    position: {
      state: "unknown",
      side: null,
      quantity: null,
      entry_price: null,
      current_price: null,
      snapshot_age_sec: null,
      detail: null,
    },
    memory: null,
  };
  try {
    // The rules the marketstate publisher reads by: the same window, plausibility and clock.
    const candles = await readCandles(store, symbol, {
      patterns: settings.candlePatterns,
      windowSize: settings.windowSize,
      ...candleGuardsFromConfig(settings.candleLimits, nowMs),
    });
    if (candles.ok) {
      const c = candles.value;
      const opened = c.lastOpenTimeMs;
      const ageSec = opened === null ? null : ageSince(nowMs, opened);
      inputs.candles = {
        key: c.key,
        count: c.closes.length,
        newest_open_age_sec: ageSec,
        stale: ageSec !== null && ageSec > settings.maxCandleAge,
        gap_minutes: c.gapMinutes,
        gapped:
          settings.maxCandleGap !== null &&
          c.gapMinutes !== null &&
          c.gapMinutes > settings.maxCandleGap,
        malformed: c.malformed,
        future: c.future,
        problem: null,
      };
    } else inputs.candles.problem = `${candles.reason}: ${candles.detail}`;
  } catch (err) {
    errors.push(`candles: ${errorMessage(err)}`);
  }
  try {
    const read = await settings.positions.read(symbol, nowMs);
    if (read.ok) {
      const p = read.value;
      inputs.position = {
        state: "open",
        side: p.side,
        quantity: p.quantity,
        entry_price: p.entry_price,
        current_price: p.current_price,
        snapshot_age_sec: p.ts_epoch === null ? null : ageSince(nowMs, p.ts_epoch * 1000),
        detail: p.origin,
      };
    } else inputs.position = { ...inputs.position, state: read.reason, detail: read.detail };
  } catch (err) {
    errors.push(`position: ${errorMessage(err)}`);
  }
  const memory = await readHash(store, positionMemoryKey(symbol), errors);
  const parsed = memory === null ? null : memoryFromFields(memory);
  if (parsed)
    inputs.memory = {
      peak_price: parsed.peak_price,
      trough_price: parsed.trough_price,
      first_seen_epoch: parsed.first_seen_epoch,
    };
  return inputs;
}

/** Each phase's output hash read as `status` shows it. */
const OUTPUT_STATUS: {
  [P in PhaseName]: (
    key: string,
    hash: Record<string, string>,
    nowMs: number,
    staleSec: number,
  ) => OutputStatus[P];
} = { marketstate: marketStateStatus, risk: riskStatus, harvest: harvestStatus };

export async function readSymbolStatus(
  store: Store,
  symbol: string,
  nowMs: number,
  stale: StaleAfterSec,
  settings: InputSettings,
): Promise<SymbolStatus> {
  const errors: string[] = [];
  const keys = byPhase((phase) => outputKey(PHASE_REGISTRY[phase].output, symbol));
  const [hashes, inputs] = await Promise.all([
    Promise.all(PHASE_NAMES.map((phase) => readHash(store, keys[phase], errors))),
    readInputsStatus(store, symbol, nowMs, settings, errors),
  ]);
  const outputs = byPhase((phase) => {
    const hash = hashes[PHASE_NAMES.indexOf(phase)];
    return hash && OUTPUT_STATUS[phase](keys[phase], hash, nowMs, stale[phase]);
  }) as { [P in PhaseName]: OutputStatus[P] | null };
  return { symbol, inputs, ...outputs, errors };
}

/** 45s, 12m05s, 5h02m, 3d04h (seconds up to 2 minutes, days from 48 hours) — negative (a timestamp in the future: clock skew) keeps its sign. */
export function formatAge(sec: number): string {
  const sign = sec < 0 ? "-" : "";
  const s = Math.floor(Math.abs(sec));
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 120) return `${sign}${s}s`;
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 172_800) return `${sign}${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${sign}${Math.floor(s / 86_400)}d${pad(Math.floor((s % 86_400) / 3600))}h`;
}

const DASH = "-";
const show = (x: number | null, digits?: number): string =>
  x === null ? "?" : digits === undefined ? String(x) : x.toFixed(digits);
const age = (f: Freshness | null): string =>
  f === null
    ? DASH
    : `${f.age_sec === null ? "?" : formatAge(f.age_sec)}${f.stale ? " STALE" : ""}`;

const COLUMNS: Column[] = [
  { header: "SYMBOL" },
  { header: "REGIME" },
  { header: "SIGMA", align: "right" },
  { header: "MS AGE", align: "right" },
  { header: "SL", align: "right" },
  { header: "TP", align: "right" },
  { header: "RISK AGE", align: "right" },
  { header: "ACTION" },
  { header: "R_NET", align: "right" },
  { header: "K", align: "right" },
  { header: "NEW SL", align: "right" },
  { header: "HARVEST AGE", align: "right" },
  { header: "CANDLES", align: "right" },
  { header: "POSITION" },
];

/**
 * `300 @12s`, `300 @10m05s STALE`, `300 @12s gap 7m` (minutes missing in the window; GAPPED past
 * maxCandleGap), with `1 future` when members dated in the future were skipped; or the reason the
 * candles cannot be used.
 */
function candlesCell(c: InputsStatus["candles"]): string {
  if (c.key === null) return c.problem === null ? DASH : c.problem.slice(0, c.problem.indexOf(":"));
  const gap =
    c.gap_minutes !== null && c.gap_minutes > 0
      ? ` gap ${c.gap_minutes}m${c.gapped ? " GAPPED" : ""}`
      : "";
  const future = c.future > 0 ? ` ${c.future} future` : "";
  return `${c.count} @${c.newest_open_age_sec === null ? "?" : formatAge(c.newest_open_age_sec)}${c.stale ? " STALE" : ""}${gap}${future}`;
}

/** `LONG 0.5 @67000 peak 67250` or the skip reason (no_position, stale_position, bad_position). */
function positionCell(i: InputsStatus): string {
  const p = i.position;
  if (p.state !== "open") return p.state;
  const peak =
    i.memory === null ? "" : ` peak ${String(Number(i.memory.peak_price.toPrecision(6)))}`;
  return `${p.side} ${p.quantity === null ? "?" : String(p.quantity)} @${show(p.entry_price)}${peak}`;
}

/** The human table: '-' = no such hash (or no new stop), '?' = a field missing or unreadable. */
export function renderStatus(report: StatusReport): string {
  const rows = report.symbols.map((s) => {
    const m = s.marketstate;
    const r = s.risk;
    const h = s.harvest;
    return [
      s.symbol,
      m ? (m.regime ?? "?") : DASH,
      m ? (m.sigma === null ? "?" : String(Number(m.sigma.toPrecision(4)))) : DASH,
      age(m),
      r ? show(r.proposed_sl) : DASH,
      r ? show(r.proposed_tp) : DASH,
      age(r),
      h ? (h.harvest_action ?? "?") : DASH,
      h ? show(h.R_net, 2) : DASH,
      h ? show(h.kill_score, 3) : DASH,
      h ? (h.new_sl_proposed === null ? DASH : String(h.new_sl_proposed)) : DASH,
      age(h),
      candlesCell(s.inputs.candles),
      positionCell(s.inputs),
    ];
  });
  const s = report.stale_after_sec;
  const notes = report.symbols.flatMap((sym) => [
    ...sym.errors.map((e) => `${sym.symbol}: ${e}`),
    ...PHASE_NAMES.flatMap((phase) => sym[phase]?.problems ?? []),
  ]);
  return [
    `Redis ${report.redis} at ${report.checked_at}; STALE = older than ${STALE_INTERVALS} intervals (${PHASE_NAMES.map((phase) => `${phase} ${s[phase]} s`).join(", ")})`,
    thetaLine(report.theta),
    leaseLine(report.lease),
    ...(report.health ? [healthLine(report.health)] : []),
    "",
    renderTable(COLUMNS, rows),
    ...(notes.length > 0 ? ["", "Problems:", ...notes.map((n) => `  ${n}`)] : []),
    "",
  ].join("\n");
}

/** The lease key's holder and TTL; a key of another type is shown as such, not as free. */
export async function readLeaseStatus(
  store: Pick<RedisStore, "readLease">,
  key: string,
): Promise<LeaseStatus> {
  const { value, ttlMs } = await store.readLease(key);
  return { key, holder: formatHolder(value), ttl_ms: ttlMs };
}

export function registerStatus(program: Command): void {
  const command = program
    .command("status")
    .description(
      "Show what is published in Redis per symbol (regime, sigma, SL/TP, harvest action, R_net, K) and how old it is. Reads Redis only, so it also works against the old Python services.",
    )
    .option(
      "--config <file>",
      'JSON config file (for redisUrl, symbols and the intervals that define "stale")',
    )
    .addOption(configOption("redisUrl"))
    .addOption(configOption("sentinels"))
    .addOption(configOption("sentinelName"))
    .addOption(configOption("leaseKey"))
    .addOption(
      configOption(
        "httpHost",
        "this host's service's HTTP address: its /healthz is shown (why it writes or not)",
      ),
    )
    .addOption(
      configOption(
        "httpPort",
        "this host's service's HTTP port: its /healthz is shown (why it writes or not)",
      ),
    )
    .addOption(configOption("symbols", "comma-separated symbols to show"));
  for (const phase of PHASE_NAMES)
    command.addOption(
      configOption(
        PHASE_REGISTRY[phase].intervalKey,
        `${phase} interval in seconds; stale past ${STALE_INTERVALS} intervals`,
      ),
    );
  command
    .option("--json", "print the report as JSON")
    .addHelpText(
      "after",
      `
In the table, '-' means the hash does not exist (or no new stop is proposed), '?' a field that is missing or not a number.
CANDLES: closes in the window, the age of the newest candle (STALE past maxCandleAge), the minutes missing in the window (gap; GAPPED past maxCandleGap) and members dated in the future (skipped); POSITION: side, quantity, entry and the tracked peak, or why risk/harvest skip it.
Exit codes: 0 report printed (stale rows included) · 1 Redis unreachable · 2 bad usage/config`,
    )
    .action(async (opts: Record<string, unknown>) => {
      const { config: configFile, json, ...flags } = opts;
      const { config } = loadConfig({ flags, configFile: configFile as string | undefined });
      const shownUrl = maskUrl(config.redisUrl);
      let store: RedisStore;
      try {
        // The service's own connection options (Sentinel included), without its event log lines.
        store = createRedisStore({
          ...redisConnectionOptions(config, silentLogger, false, "quantum-calc-status"),
          onEvent: undefined,
        });
      } catch (err) {
        throw new CliError(`redisUrl ${shownUrl}: ${(err as Error).message}`, ExitCode.USAGE);
      }
      try {
        try {
          await store.waitReady(config.connectTimeoutMs);
        } catch (err) {
          throw new CliError(
            `cannot reach Redis at ${shownUrl}: ${(err as Error).message}`,
            ExitCode.FAILURE,
          );
        }
        const nowMs = Date.now();
        const stale = staleAfterSec(config);
        const settings: InputSettings = {
          // The source the service runs with, so the column shows what its publishers see; synthetic
          // positions exist only inside a demo, never in Redis.
          positions: createPositionSource(
            config.positionSource === "synthetic" ? "auto" : config.positionSource,
            store,
            { maxPositionAgeSec: config.maxPositionAge, maxClockSkewSec: config.maxClockSkew },
          ),
          candlePatterns: config.candlePatterns,
          windowSize: config.windowSize,
          maxCandleAge: config.maxCandleAge,
          maxCandleGap: config.maxCandleGap,
          candleLimits: config,
        };
        const report: StatusReport = {
          checked_at: new Date(nowMs).toISOString(),
          redis: shownUrl,
          stale_after_sec: stale,
          theta: await readThetaStatus(store, config, nowMs),
          lease: await readLeaseStatus(store, config.leaseKey),
          health:
            config.httpPort === null
              ? null
              : await readServiceHealth(config.httpHost, config.httpPort),
          symbols: await Promise.all(
            config.symbols.map((symbol) => readSymbolStatus(store, symbol, nowMs, stale, settings)),
          ),
        };
        process.stdout.write(
          json === true ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report),
        );
      } finally {
        await store.close().catch(() => undefined);
      }
    });
}
