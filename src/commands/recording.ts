// `quantum-calc replay recording DIR`: a flight recording (run --record-dir) replayed through the
// service's own publisher machines and steps, with no Redis (src/recorder/replay.ts). Three uses:
//   (no flag)  every cycle in range as a table — when, trigger, outcome, why, the key figures;
//   --check    every replayed write compared with the recorded one: exit 0 when all match, else 1
//              with the first divergence (actor, cycle, field, recorded vs replayed);
//   --theta / --set theta.K.key=v   what-if: the proposals that another theta changes.
// docs/recording.md, "Debugging an incident", walks through them.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { CliError, ExitCode } from "../exitCodes.js";
import { PHASE_NAMES, type PhaseName } from "../core/phases.js";
import { THETA_KERNELS, thetaProblems, type ThetaKernel } from "../config/theta.js";
import { renderTable, type Column } from "../replay/table.js";
import {
  divergence,
  replayRecording,
  ReplayError,
  type Divergence,
  type ReplayedCycle,
  type ThetaOverride,
} from "../recorder/replay.js";
import { RecordingError } from "../recorder/reader.js";

interface RecordingOptions {
  from?: string;
  to?: string;
  symbols?: string;
  only?: string;
  check?: boolean;
  theta?: string;
  set?: string[];
  json?: boolean;
}

/** The figures shown per phase (the hash's own spellings). */
const KEY_FIELDS: Record<PhaseName, string[]> = {
  marketstate: ["regime", "sigma", "mu", "ts"],
  risk: ["proposed_sl", "proposed_tp", "reason_codes"],
  harvest: ["harvest_action", "R_net", "kill_score", "new_sl_proposed", "policy_version"],
};
/** Fields that say when, not what: left out of what-if differences. */
const TIME_FIELDS = new Set([
  "ts_timestamp",
  "computed_at_utc",
  "last_update_epoch",
  "published_at_ms",
  "timestamp",
]);

/** ISO 8601 (`2026-12-06T14:03:00Z`) or epoch seconds / milliseconds. */
export function parseTime(flag: string, text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const n = Number(trimmed);
    return n < 1e11 ? n * 1000 : n;
  }
  const ms = Date.parse(trimmed);
  if (!Number.isFinite(ms))
    throw new CliError(
      `${flag} ${JSON.stringify(text)}: not a time (ISO 8601 like 2026-12-06T14:03:00Z, or epoch seconds)`,
    );
  return ms;
}

function parseList(flag: string, text: string): string[] {
  const items = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new CliError(`${flag} ${JSON.stringify(text)}: an empty list`);
  return items;
}

/** A --set value: JSON when it parses (2.5, true, [64,128]), else the text. */
function setValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The what-if theta from --theta FILE and --set theta.K.path=v, checked as the config checks theta. */
export function thetaOverride(
  file: string | undefined,
  sets: readonly string[],
): ThetaOverride | null {
  const out: Record<string, Record<string, unknown>> = {};
  if (file !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new CliError(
        `--theta ${file}: ${err instanceof Error ? err.message : String(err)} (a JSON object {"marketstate": {...}, "stops": {...}, "harvest": {...}})`,
      );
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new CliError(`--theta ${file}: must be a JSON object of kernels`);
    for (const [kernel, value] of Object.entries(parsed)) {
      if (!(THETA_KERNELS as readonly string[]).includes(kernel))
        throw new CliError(
          `--theta ${file}: unknown kernel ${JSON.stringify(kernel)} (${THETA_KERNELS.join(", ")})`,
        );
      if (typeof value !== "object" || value === null || Array.isArray(value))
        throw new CliError(`--theta ${file}: ${kernel} must be an object`);
      out[kernel] = value as Record<string, unknown>;
    }
  }
  for (const set of sets) {
    const m = /^theta\.([a-z]+)\.([A-Za-z0-9_.]+)=(.*)$/s.exec(set);
    if (m === null || !(THETA_KERNELS as readonly string[]).includes(m[1]))
      throw new CliError(
        `--set ${JSON.stringify(set)}: expected theta.<${THETA_KERNELS.join("|")}>.<key>=<value>, e.g. theta.harvest.T1_R=2.5`,
      );
    const path = m[2].split(".");
    let node = (out[m[1]] ??= {});
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      node = (node[key] =
        typeof next === "object" && next !== null && !Array.isArray(next) ? next : {}) as Record<
        string,
        unknown
      >;
    }
    node[path[path.length - 1]] = setValue(m[3]);
  }
  if (Object.keys(out).length === 0) return null;
  for (const [kernel, value] of Object.entries(out)) {
    const problems = thetaProblems(kernel as ThetaKernel, value);
    if (problems.length > 0)
      throw new CliError(
        `what-if theta: ${problems.map((p) => `${p.path} = ${JSON.stringify(p.value)}: ${p.message}`).join("; ")}`,
      );
  }
  return out;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function keyFigures(c: ReplayedCycle, which: "recorded" | "replayed"): string {
  const end = c[which];
  const fields = end.written?.h[0]?.[1];
  if (end.outcome !== "published" || fields === undefined) return end.outcome;
  return KEY_FIELDS[c.phase]
    .filter((f) => fields[f] !== undefined && fields[f] !== "")
    .map((f) => `${f}=${fields[f]}`)
    .join(" ");
}

/** The written fields that differ between recorded and replayed (time fields left out). */
function changedFields(c: ReplayedCycle): { field: string; recorded: string; replayed: string }[] {
  const rec = c.recorded.written?.h[0]?.[1] ?? {};
  const rep = c.replayed.written?.h[0]?.[1] ?? {};
  const names = [...new Set([...Object.keys(rec), ...Object.keys(rep)])].filter(
    (n) => !TIME_FIELDS.has(n),
  );
  const out = names
    .filter((n) => rec[n] !== rep[n])
    .map((n) => ({ field: n, recorded: rec[n] ?? "-", replayed: rep[n] ?? "-" }));
  if (c.recorded.outcome !== c.replayed.outcome)
    out.unshift({ field: "outcome", recorded: c.recorded.outcome, replayed: c.replayed.outcome });
  return out;
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function replayCommand(dir: string, opts: RecordingOptions): Promise<void> {
  const fromMs = opts.from === undefined ? null : parseTime("--from", opts.from);
  const toMs = opts.to === undefined ? null : parseTime("--to", opts.to);
  const symbols = opts.symbols === undefined ? null : parseList("--symbols", opts.symbols);
  const phases =
    opts.only === undefined
      ? null
      : parseList("--only", opts.only).map((p) => {
          if (!(PHASE_NAMES as readonly string[]).includes(p))
            throw new CliError(
              `--only ${JSON.stringify(p)}: not a phase (${PHASE_NAMES.join(", ")})`,
            );
          return p as PhaseName;
        });
  const theta = thetaOverride(opts.theta, opts.set ?? []);
  if (opts.check && theta !== null)
    throw new CliError("--check compares with the recording as it ran: not with --theta or --set");

  const tty = process.stderr.isTTY === true && opts.json !== true;
  const started = performance.now();
  let firstAt: number | null = null;
  const progress = tty
    ? ({ records, atMs }: { records: number; atMs: number }) => {
        if (atMs <= 0) return;
        firstAt ??= atMs;
        const wall = (performance.now() - started) / 1000;
        const speed = wall > 0 ? (atMs - firstAt) / 1000 / wall : 0;
        process.stderr.write(
          `\rreplaying: ${records} records, at ${iso(atMs)} (${Math.round(speed)}x real time)   `,
        );
      }
    : undefined;

  // A check compares each cycle as it ends and keeps none: counts and the first divergence.
  let checked = 0;
  let checkedWrites = 0;
  let first: { c: ReplayedCycle; d: Divergence } | undefined;
  const onCycle = opts.check
    ? (c: ReplayedCycle): boolean => {
        checked++;
        if (c.recorded.written !== null) checkedWrites++;
        if (first === undefined) {
          const d = divergence(c);
          if (d !== null) first = { c, d };
        }
        return false;
      }
    : undefined;

  let result: Awaited<ReturnType<typeof replayRecording>>;
  try {
    result = await replayRecording({
      dir,
      fromMs,
      toMs,
      symbols,
      phases,
      theta,
      progress,
      // Only the plain --json listing prints each cycle's inputs.
      keepInputs: opts.json === true && opts.check !== true && theta === null,
      onCycle,
    });
  } catch (err) {
    if (err instanceof RecordingError) throw new CliError(err.message, ExitCode.USAGE);
    if (err instanceof ReplayError) throw new CliError(err.message, ExitCode.FAILURE);
    throw err;
  } finally {
    if (tty) process.stderr.write("\r\x1b[K");
  }
  const wallSec = (performance.now() - started) / 1000;
  const spanSec = result.spanMs === null ? 0 : (result.spanMs[1] - result.spanMs[0]) / 1000;
  const notes: string[] = [];
  if (result.dropped > 0) notes.push(`${result.dropped} record(s) dropped by the recorder`);
  if (result.unreplayable > 0)
    notes.push(`${result.unreplayable} cycle(s) not replayable (their inputs were lost in a gap)`);
  if (result.stopped > 0)
    notes.push(
      `${result.stopped} cycle(s) cut short by a stop (lease lost, shutdown): not replayed`,
    );
  if (result.report.badLines > 0)
    notes.push(`${result.report.badLines} line(s) unreadable (a crash's cut-short last line)`);
  const cycleCount = opts.check ? checked : result.cycles.length;
  const summary = `${cycleCount} cycle(s) in ${result.report.segments} segment(s), ${spanSec.toFixed(0)} s recorded, replayed in ${wallSec.toFixed(2)} s (${wallSec > 0 ? Math.round(spanSec / wallSec) : 0}x real time)${notes.length > 0 ? `; ${notes.join("; ")}` : ""}`;

  if (opts.check) {
    if (opts.json) {
      print(
        JSON.stringify({
          identical: first === undefined,
          cycles: checked,
          divergence:
            first === undefined
              ? null
              : {
                  phase: first.c.phase,
                  symbol: first.c.symbol,
                  cycle: first.c.cycle,
                  t: iso(first.c.t),
                  ...first.d,
                },
          dropped: result.dropped,
          unreplayable: result.unreplayable,
        }),
      );
    } else if (first === undefined) {
      print(
        `replay check: identical — every one of ${checkedWrites} write(s) reproduced; ${summary}`,
      );
    } else {
      const { c, d } = first;
      print(
        `replay check: first divergence at ${c.phase} ${c.symbol} cycle ${c.cycle} (${iso(c.t)}${c.trigger ? `, ${c.trigger}` : ""}): ${d?.field}: recorded ${d?.recorded}, replayed ${d?.replayed}`,
      );
      print(summary);
    }
    process.exitCode = first === undefined ? ExitCode.OK : ExitCode.FAILURE;
    return;
  }

  if (theta !== null) {
    const changed = result.cycles
      .map((c) => ({ c, fields: changedFields(c) }))
      .filter((x) => x.fields.length > 0);
    if (opts.json) {
      print(
        JSON.stringify(
          changed.map(({ c, fields }) => ({
            t: iso(c.t),
            phase: c.phase,
            symbol: c.symbol,
            cycle: c.cycle,
            recorded: c.recorded.written?.h[0]?.[1] ?? null,
            replayed: c.replayed.written?.h[0]?.[1] ?? null,
            changed: fields,
          })),
          null,
          2,
        ),
      );
      return;
    }
    const columns: Column[] = [
      { header: "time" },
      { header: "phase" },
      { header: "symbol" },
      { header: "cycle", align: "right" },
      { header: "recorded" },
      { header: "with this theta" },
    ];
    print(
      renderTable(
        columns,
        changed.map(({ c }) => [
          iso(c.t),
          c.phase,
          c.symbol,
          String(c.cycle),
          keyFigures(c, "recorded"),
          keyFigures(c, "replayed"),
        ]),
      ),
    );
    const chain = result.chain;
    // A marketstate or stops theta reaches risk and harvest through the hashes they read.
    const followed =
      chain === null
        ? ""
        : `; risk and harvest read the replayed marketstate and risk hashes (${chain.followed} input(s) followed${chain.asRecorded > 0 ? `, ${chain.asRecorded} left as recorded: the publish they read is not in the recording` : ""})`;
    print(
      `${changed.length} of ${result.cycles.length} cycle(s) change with this theta${followed}; ${summary}`,
    );
    return;
  }

  if (opts.json) {
    print(
      JSON.stringify(
        result.cycles.map((c) => ({
          t: iso(c.t),
          phase: c.phase,
          symbol: c.symbol,
          cycle: c.cycle,
          trigger: c.trigger,
          outcome: c.replayed.outcome,
          why: c.replayed.why,
          written: c.replayed.written,
          inputs: c.inputs,
          identical: divergence(c) === null,
        })),
        null,
        2,
      ),
    );
    return;
  }
  const columns: Column[] = [
    { header: "time" },
    { header: "phase" },
    { header: "symbol" },
    { header: "cycle", align: "right" },
    { header: "trigger" },
    { header: "outcome" },
    { header: "why" },
    { header: "figures" },
  ];
  print(
    renderTable(
      columns,
      result.cycles.map((c) => [
        iso(c.t),
        c.phase,
        c.symbol,
        String(c.cycle),
        c.trigger ?? "-",
        c.replayed.outcome,
        c.replayed.why,
        c.replayed.outcome === "published" ? keyFigures(c, "replayed") : "",
      ]),
    ),
  );
  print(summary);
}

/** Registers `replay recording DIR` under the `replay` command. */
export function registerRecordingReplay(replay: Command): void {
  replay
    .command("recording")
    .argument("<dir>", "the recording directory (run --record-dir)")
    .description(
      "Replay a flight recording (run --record-dir) through the service's own machines, with no Redis: " +
        "every cycle as a table, --check against the recorded writes, or --theta/--set for a what-if.",
    )
    .option("--from <time>", "only cycles at or after this time (ISO 8601 or epoch seconds)")
    .option("--to <time>", "only cycles before this time")
    .option("--symbols <list>", "only these symbols (comma-separated)")
    .option("--only <phases>", `only these phases (${PHASE_NAMES.join(", ")})`)
    .option(
      "--check",
      "compare every replayed write with the recorded one: exit 0 when all match, else 1 naming the first divergence",
    )
    .option(
      "--theta <file>",
      'what-if: replay with this theta, JSON {"harvest": {"T1_R": 2.5}, ...}',
    )
    .option(
      "--set <theta.kernel.key=value>",
      "what-if: one theta override, e.g. --set theta.harvest.T1_R=2.5 (repeatable)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--json", "print JSON instead of a table")
    .action((dir: string, opts: RecordingOptions) => replayCommand(dir, opts));
}
