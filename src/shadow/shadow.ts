// Shadow mode's report: how each proposal the shadow run computed differs from the hash in Redis
// now (during a switch-over, written by the old Python services). The write wall and the overlay
// are src/shadow/shadowStore.ts; this file holds the comparison rules (diffProposal), the report
// that logs one line per differing field, counts for /metrics and builds the `--once` summary
// table (ShadowReport), and the step wrapper that also compares the rate-limited cycles.
//
// The comparison rules (diffProposal, sameValue):
//   - Only the fields of our proposal are compared: fields other services add to the same hash
//     (the heat gate's `action`, `calibrated`, …) are theirs, and an HSET leaves them alone.
//   - IGNORED_FIELDS are never compared: they say when a hash was written, not what it says, so
//     two writers never agree on them.
//   - OURS_ONLY_FIELDS are fields the old services never wrote: compared when the hash has them,
//     their absence is no difference (it would be one on every proposal).
//   - Any other field missing from the hash is a difference (`(absent) → value`); a hash that does
//     not exist at all is reported once, as "no hash", not field by field.
//   - Numbers are compared as numbers: the old spellings `2.48386e-05`, `1800.0`, `+1`, `.5` equal
//     `0.0000248386`, `1800`, `1`, `0.5`. Equal within REL_TOLERANCE (relative), within the
//     rounding of the fixed decimals the market state is written with (sigma and mu 8, the
//     others 6 — also where risk and harvest echo them), and for position_age_sec within the
//     time between the two computations (both hashes' computed_at_utc): an age read a few
//     seconds later is not a different age.
//   - "No value" is one value in every spelling: "", "None" (Python's), "null". Case matters
//     otherwise: harvest_action "NONE" is a value.
//   - reason_codes compare as a set of codes, whatever the list spelling ("a,b", "['a', 'b']",
//     '["a","b"]', "a|b") and order.
//   - JSON objects (regime_probs) compare key by key, numbers as numbers.
//   - Everything else compares as text, after trimming surrounding whitespace.
import type { CycleDoneEvent, PhaseName } from "../../machines/publisher.js";
import type { Logger } from "../log.js";
import { parseFiniteNumber } from "../inputs/parse.js";
import type { PhaseSteps } from "../phases/steps.js";
import { byPhase, PHASE_NAMES, PHASE_REGISTRY, phaseOfOutputKey } from "../core/phases.js";
import type { ShadowSink, ShadowStore, StoppedProposal, StoppedWrites } from "./shadowStore.js";
import { errorMessage } from "../core/errors.js";

/** Relative tolerance of a numeric comparison: below one part per million is no difference. */
export const REL_TOLERANCE = 1e-6;
/** Absolute floor of the tolerance, so that 0 and 1e-17 are the same number. */
export const ABS_TOLERANCE = 1e-12;

/**
 * Never compared, and why. They are when a hash was written, or bookkeeping of the writer; a
 * difference in them is always there and says nothing about the proposal.
 */
export const IGNORED_FIELDS: Readonly<Record<string, string>> = {
  ts_timestamp:
    "the epoch second the market state was written: two writers never write in the same second",
  computed_at_utc:
    "when the proposal was computed (and the old services wrote it as naive ISO, we with ms and Z)",
  last_update_epoch: "the heartbeat's stamp, refreshed every cycle",
  buffer_size:
    'how many closes the writer held: the old service counted candles it appended twice (CONTRACT.md, "Deliberate differences"); the effect on the figures shows in sigma and mu',
};

/**
 * Fields the old services never wrote (CONTRACT.md, "Deliberate differences" 9), as each output
 * declaration lists them. Compared only when the hash in Redis has them: a switch-over's old hash
 * has none.
 */
export const OURS_ONLY_FIELDS: Readonly<Record<PhaseName, readonly string[]>> = byPhase(
  (phase) => PHASE_REGISTRY[phase].output.oursOnly,
);

/**
 * The fixed decimals fields are written with (the market state's figures: the output
 * declarations' codecs), by field name — also where risk and harvest echo them.
 */
const ROUNDED_DECIMALS: Readonly<Record<string, number>> = Object.fromEntries(
  PHASE_NAMES.flatMap((phase) =>
    Object.entries(
      PHASE_REGISTRY[phase].output.fields as Record<string, { decimals?: number }>,
    ).flatMap(([field, codec]) => (codec.decimals === undefined ? [] : [[field, codec.decimals]])),
  ),
);

/** Fields that are an age in seconds: they grow between the two computations. */
const AGE_FIELDS: ReadonlySet<string> = new Set(["position_age_sec"]);

const NO_VALUE: ReadonlySet<string> = new Set(["", "None", "null"]);

/** The phase and symbol of an output hash key; null for any other key. */
export const phaseOfKey = phaseOfOutputKey;

/**
 * ISO-8601 as either writer wrote it — ours `2026-01-02T03:04:05.678Z`, Python's naive
 * `datetime.utcnow().isoformat()` `2026-01-02T03:04:05.678901` (UTC without a zone) — or epoch
 * seconds; ms since epoch, or null.
 */
export function parseUtcMs(text: string | null | undefined): number | null {
  if (text === null || text === undefined) return null;
  const trimmed = text.trim();
  const epoch = parseFiniteNumber(trimmed);
  if (epoch !== null) return epoch * 1000;
  const match = /^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(
    trimmed,
  );
  if (!match) return null;
  const [, base, fraction = "", zone] = match;
  const ms = Date.parse(
    `${base.replace(" ", "T")}${fraction ? `.${fraction.slice(0, 3).padEnd(3, "0")}` : ""}${zone ?? "Z"}`,
  );
  return Number.isFinite(ms) ? ms : null;
}

function reasonCodes(text: string): string {
  return [
    ...new Set(
      text
        .replace(/[[\]'"]/g, " ")
        .split(/[\s,;|]+/)
        .filter((code) => code.length > 0),
    ),
  ]
    .sort()
    .join(",");
}

function jsonObject(text: string): Record<string, unknown> | null {
  if (!text.trim().startsWith("{")) return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** Numbers equal within the tolerance (relative, plus `extra` absolute). */
function sameNumber(a: number, b: number, extra = 0): boolean {
  const tolerance = Math.max(
    REL_TOLERANCE * Math.max(Math.abs(a), Math.abs(b)),
    ABS_TOLERANCE,
    extra,
  );
  return Math.abs(a - b) <= tolerance * (1 + 1e-12);
}

export interface SameValueContext {
  /** Seconds between the two computations (for ages); 0 when unknown. */
  ageSlackSec?: number;
}

/** Whether the hash's `old` and our `next` spell the same value of `field` (the rules above). */
export function sameValue(
  field: string,
  old: string,
  next: string,
  context: SameValueContext = {},
): boolean {
  if (old === next) return true;
  const a = old.trim();
  const b = next.trim();
  if (a === b) return true;
  if (NO_VALUE.has(a) || NO_VALUE.has(b)) return NO_VALUE.has(a) && NO_VALUE.has(b);
  const x = parseFiniteNumber(a);
  const y = parseFiniteNumber(b);
  if (x !== null && y !== null) {
    const decimals = ROUNDED_DECIMALS[field];
    let extra = decimals === undefined ? 0 : 0.5 * 10 ** -decimals;
    if (AGE_FIELDS.has(field)) extra = Math.max(extra, (context.ageSlackSec ?? 0) + 1);
    return sameNumber(x, y, extra);
  }
  if (field === "reason_codes") return reasonCodes(a) === reasonCodes(b);
  const oa = jsonObject(a);
  const ob = jsonObject(b);
  if (oa !== null && ob !== null) {
    const keys = new Set([...Object.keys(oa), ...Object.keys(ob)]);
    for (const key of keys) {
      const va = oa[key];
      const vb = ob[key];
      if (va === undefined || vb === undefined) return false;
      const spelled = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));
      if (!sameValue(key, spelled(va), spelled(vb), context)) return false;
    }
    return true;
  }
  return false;
}

export interface FieldDifference {
  field: string;
  /** The hash's value; null when the hash has no such field. */
  old: string | null;
  new: string;
}

export interface ShadowComparison {
  phase: PhaseName;
  symbol: string;
  key: string;
  /** The real service would have written this proposal now (false: a rate-limited cycle's). */
  wouldWrite: boolean;
  /** Redis holds no hash at this key (a real run would create it). */
  absent: boolean;
  /** The fields compared (those of the proposal, less the ignored ones). */
  compared: string[];
  differences: FieldDifference[];
}

/**
 * The fields of `proposed` that differ from the hash `current` (rules above); null when the
 * proposal has nothing to compare (a heartbeat: only last_update_epoch).
 */
export function diffProposal(
  phase: PhaseName,
  proposed: Record<string, string>,
  current: Record<string, string>,
): { absent: boolean; compared: string[]; differences: FieldDifference[] } | null {
  const oursOnly = OURS_ONLY_FIELDS[phase];
  const candidates = Object.keys(proposed).filter((field) => !Object.hasOwn(IGNORED_FIELDS, field));
  if (candidates.length === 0) return null;
  if (Object.keys(current).length === 0) return { absent: true, compared: [], differences: [] };
  const ourAt = parseUtcMs(proposed.computed_at_utc);
  const theirAt = parseUtcMs(current.computed_at_utc);
  const ageSlackSec = ourAt !== null && theirAt !== null ? Math.abs(ourAt - theirAt) / 1000 : 0;
  const compared: string[] = [];
  const differences: FieldDifference[] = [];
  for (const field of candidates) {
    const old = Object.hasOwn(current, field) ? current[field] : undefined;
    if (old === undefined && oursOnly.includes(field)) continue;
    compared.push(field);
    const next = proposed[field];
    if (old === undefined) differences.push({ field, old: null, new: next });
    else if (!sameValue(field, old, next, { ageSlackSec }))
      differences.push({ field, old, new: next });
  }
  return { absent: false, compared, differences };
}

/** One row of the summary: a symbol's key. */
export interface ShadowRow {
  symbol: string;
  phase: PhaseName;
  key: string;
  /** Proposals compared with it. */
  comparisons: number;
  /** The latest comparison; null when none was made. */
  last: ShadowComparison | null;
  /** The latest cycle's outcome (and skip reason): why there may be no comparison. */
  lastCycle: { outcome: string; reason: string | null } | null;
}

export interface ShadowTotals {
  /** Proposals compared. */
  compared: number;
  /** Keys compared at least once with a hash that exists. */
  comparedKeys: number;
  /** Rows whose latest comparison found differences, and the fields in them. */
  differingKeys: number;
  differingFields: number;
  /** Rows whose key Redis does not hold. */
  absentKeys: number;
  stopped: StoppedWrites;
}

const keyOf = (phase: PhaseName, symbol: string): string =>
  PHASE_REGISTRY[phase].output.keyPrefix + symbol;

/** old → new as a log line and the table spell it. */
const shown = (value: string | null): string =>
  value === null ? "(absent)" : value === "" ? '""' : value;

/**
 * The report of a shadow run: a ShadowSink for the ShadowStore, plus the cycles' outcomes. Logs
 * one line per differing field — at info; the same difference repeated by the next comparison
 * of the key at debug, so `run --shadow` shows each difference when it appears or changes, and
 * a line when a field comes to agree — and keeps what the `--once` table and the final line show.
 */
export class ShadowReport implements ShadowSink {
  private readonly logger: Logger;
  private readonly rowsByKey = new Map<string, ShadowRow>();
  /** key → field → the `old\0new` last logged at info (the fields that differ now). */
  private readonly logged = new Map<string, Map<string, string>>();
  private readonly absentLogged = new Set<string>();
  private readonly listeners: Array<(comparison: ShadowComparison) => void> = [];
  private compareFailures = 0;
  readonly stoppedWrites: StoppedWrites = {
    publishes: 0,
    hashWrites: 0,
    streamEntries: 0,
    deletes: 0,
  };

  constructor(options: { logger: Logger }) {
    this.logger = options.logger;
  }

  /** Called with every comparison (metrics). A throw is ignored. */
  onComparison(listener: (comparison: ShadowComparison) => void): void {
    this.listeners.push(listener);
  }

  private row(phase: PhaseName, symbol: string): ShadowRow {
    const key = keyOf(phase, symbol);
    let row = this.rowsByKey.get(key);
    if (row === undefined) {
      row = { symbol, phase, key, comparisons: 0, last: null, lastCycle: null };
      this.rowsByKey.set(key, row);
    }
    return row;
  }

  /** ShadowSink: a stopped (or compare-only) write of an output hash. */
  proposal(p: StoppedProposal): void {
    const target = phaseOfKey(p.key);
    if (target === null) return;
    const diff = diffProposal(target.phase, p.fields, p.current);
    if (diff === null) return;
    const comparison: ShadowComparison = {
      ...target,
      key: p.key,
      wouldWrite: p.wouldWrite,
      ...diff,
    };
    const row = this.row(target.phase, target.symbol);
    row.comparisons += 1;
    row.last = comparison;
    this.log(comparison);
    for (const listener of this.listeners) {
      try {
        listener(comparison);
      } catch {
        // Metrics never fail a cycle.
      }
    }
  }

  /** ShadowSink: what the store stopped. */
  stopped(writes: StoppedWrites): void {
    this.stoppedWrites.publishes += writes.publishes;
    this.stoppedWrites.hashWrites += writes.hashWrites;
    this.stoppedWrites.streamEntries += writes.streamEntries;
    this.stoppedWrites.deletes += writes.deletes;
  }

  /** A finished cycle (ServiceHooks.onCycle): why a key may have no comparison. */
  noteCycle(event: Pick<CycleDoneEvent, "phase" | "symbol" | "outcome" | "reason">): void {
    this.row(event.phase, event.symbol).lastCycle = {
      outcome: event.outcome,
      reason: event.reason,
    };
  }

  /** A rate-limited cycle's comparison failed (its heartbeat went through). */
  compareFailed(phase: PhaseName, symbol: string, error: unknown): void {
    this.compareFailures += 1;
    const n = this.compareFailures;
    if ((n & (n - 1)) === 0)
      this.logger.warn(
        { phase, symbol, err: errorMessage(error), failures: n },
        `shadow ${phase} ${symbol}: comparison failed`,
      );
    else
      this.logger.debug(
        { phase, symbol, err: String(error) },
        `shadow ${phase} ${symbol}: comparison failed`,
      );
  }

  private log(c: ShadowComparison): void {
    const base = {
      shadow: "difference",
      phase: c.phase,
      symbol: c.symbol,
      key: c.key,
      would: c.wouldWrite ? "publish" : "heartbeat",
    };
    if (c.absent) {
      const loud = !this.absentLogged.has(c.key);
      this.absentLogged.add(c.key);
      (loud ? this.logger.info : this.logger.debug).call(
        this.logger,
        { ...base, shadow: "no_hash" },
        `shadow ${c.phase} ${c.symbol}: Redis has no ${c.key}; a real run would create it`,
      );
      return;
    }
    this.absentLogged.delete(c.key);
    let logged = this.logged.get(c.key);
    if (logged === undefined) this.logged.set(c.key, (logged = new Map<string, string>()));
    for (const d of c.differences) {
      const pair = `${d.old ?? "\u0001"}\0${d.new}`;
      const loud = logged.get(d.field) !== pair;
      logged.set(d.field, pair);
      (loud ? this.logger.info : this.logger.debug).call(
        this.logger,
        { ...base, field: d.field, old: d.old, new: d.new },
        `shadow ${c.phase} ${c.symbol}: ${d.field} ${shown(d.old)} → ${shown(d.new)}`,
      );
    }
    const differing = new Set(c.differences.map((d) => d.field));
    for (const field of [...logged.keys()]) {
      if (differing.has(field) || !c.compared.includes(field)) continue;
      logged.delete(field);
      this.logger.info(
        { ...base, shadow: "agrees", field },
        `shadow ${c.phase} ${c.symbol}: ${field} now agrees with ${c.key}`,
      );
    }
    if (c.differences.length === 0)
      this.logger.debug(
        { ...base, shadow: "same", compared: c.compared.length },
        `shadow ${c.phase} ${c.symbol}: no difference in ${c.compared.length} fields`,
      );
  }

  /** Every key seen, by symbol, then marketstate → risk → harvest. */
  rows(): ShadowRow[] {
    return [...this.rowsByKey.values()].sort((a, b) =>
      a.symbol < b.symbol
        ? -1
        : a.symbol > b.symbol
          ? 1
          : PHASE_NAMES.indexOf(a.phase) - PHASE_NAMES.indexOf(b.phase),
    );
  }

  totals(): ShadowTotals {
    const rows = this.rows();
    const differing = rows.filter((r) => r.last !== null && r.last.differences.length > 0);
    return {
      compared: rows.reduce((n, r) => n + r.comparisons, 0),
      comparedKeys: rows.filter((r) => r.last !== null && !r.last.absent).length,
      differingKeys: differing.length,
      differingFields: differing.reduce((n, r) => n + (r.last?.differences.length ?? 0), 0),
      absentKeys: rows.filter((r) => r.last?.absent === true).length,
      stopped: { ...this.stoppedWrites },
    };
  }

  /** The summary as data: one entry per key (the final log line's `shadow` field). */
  summary(): Array<{
    symbol: string;
    key: string;
    differing: number | null;
    fields: string[];
    note?: string;
  }> {
    return this.rows().map((r) => {
      const note = rowNote(r);
      return {
        symbol: r.symbol,
        key: r.key,
        differing: r.last === null || r.last.absent ? null : r.last.differences.length,
        fields: r.last?.differences.map((d) => d.field) ?? [],
        ...(note === null ? {} : { note }),
      };
    });
  }

  /** The `--once` summary table: symbol × key → how many fields differ, and which. */
  table(): string {
    const t = this.totals();
    const s = t.stopped;
    const header = [
      `shadow mode: nothing was written to Redis (stopped: ${plural(s.publishes, "publish or heartbeat", "publishes and heartbeats")} with ${plural(s.hashWrites, "hash write")} and ${plural(s.streamEntries, "stream entry", "stream entries")}; ${plural(s.deletes, "delete")})`,
      `differences from the hashes in Redis now (numbers within ${REL_TOLERANCE} relative; not compared: ${Object.keys(IGNORED_FIELDS).join(", ")}):`,
    ];
    const body = this.rows().map((r) => {
      const note = rowNote(r);
      const differing = r.last === null || r.last.absent ? "-" : String(r.last.differences.length);
      const fields =
        r.last !== null && !r.last.absent && r.last.differences.length > 0
          ? r.last.differences.map((d) => d.field).join(", ")
          : "";
      return [r.symbol, r.key, differing, note ?? fields];
    });
    if (body.length === 0) return `${header.join("\n")}\n(no proposal was computed)\n`;
    const rows = [["symbol", "key", "differing", "fields"], ...body];
    const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i].length)));
    const lines = rows.map((row) =>
      row
        .map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell))
        .join("  ")
        .trimEnd(),
    );
    return `${header.join("\n")}\n${lines.join("\n")}\n${this.headline()}\n`;
  }

  /** One sentence: how many keys differ, how many are missing, and that nothing was written. */
  headline(): string {
    const t = this.totals();
    return (
      `${t.differingKeys} of ${t.comparedKeys} compared keys differ (${t.differingFields} fields)` +
      (t.absentKeys > 0
        ? `; ${t.absentKeys} key${t.absentKeys === 1 ? "" : "s"} not in Redis (a real run would create ${t.absentKeys === 1 ? "it" : "them"})`
        : "") +
      `; nothing was written (${plural(t.stopped.publishes, "publish or heartbeat", "publishes and heartbeats")} stopped)`
    );
  }
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function rowNote(r: ShadowRow): string | null {
  if (r.last?.absent) return "no hash in Redis (a real run would create it)";
  if (r.last !== null) return r.last.differences.length === 0 ? "same" : null;
  const cycle = r.lastCycle;
  if (cycle === null) return "not compared";
  if (cycle.outcome === "skipped") return `not computed: skipped (${cycle.reason ?? "unknown"})`;
  if (cycle.outcome === "error") return "not computed: error (see the log)";
  return "not compared";
}

/**
 * A phase's steps for shadow mode. Publishes go to the ShadowStore as they are (it stops and
 * compares them). A rate-limited cycle's heartbeat goes there too, and then — what only shadow
 * mode does — the proposal that cycle computed is formatted by the phase's own publish step
 * inside `store.compareOnly()`, so it is compared as well but never goes into the overlay or
 * the rate-limit memory: `run --shadow` and `--once --shadow` compare every computed proposal,
 * while deciding, publishing and heartbeating exactly as `run` would.
 */
export function shadowCompareSteps<Memory, Inputs, Result>(
  phase: PhaseName,
  steps: PhaseSteps<Memory, Inputs, Result>,
  store: Pick<ShadowStore, "compareOnly">,
  report?: Pick<ShadowReport, "compareFailed">,
): PhaseSteps<Memory, Inputs, Result> {
  /** The latest cycle's inputs and result, per symbol, until its publish or heartbeat. */
  const computed = new Map<string, { inputs: Inputs; result: Result }>();
  return {
    seed: (symbol) => steps.seed(symbol),
    read: (symbol, handoff) => steps.read(symbol, handoff),
    compute(symbol, inputs) {
      computed.delete(symbol);
      const out = steps.compute(symbol, inputs);
      if (out.ok) computed.set(symbol, { inputs, result: out.value });
      return out;
    },
    decide: (memory, inputs, result, nowMs) => steps.decide(memory, inputs, result, nowMs),
    async publish(symbol, inputs, result, nowMs) {
      computed.delete(symbol);
      return await steps.publish(symbol, inputs, result, nowMs);
    },
    async heartbeat(symbol, nowMs) {
      await steps.heartbeat(symbol, nowMs);
      const last = computed.get(symbol);
      computed.delete(symbol);
      if (last === undefined) return;
      try {
        await store.compareOnly(() => steps.publish(symbol, last.inputs, last.result, nowMs));
      } catch (error) {
        report?.compareFailed(phase, symbol, error);
      }
    },
  };
}
