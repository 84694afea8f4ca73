// The flight recorder's CPU overhead (issue 19's goal, ≤ 5 %: docs/performance.md, "Flight recorder
// cost"), as the shipped unit pays it: a bench run without and with the service's recordDir, pair
// by pair, alternating which goes first so that a drift of the machine's load falls on both sides.
// Runs of the same bench on this shared 2-core VM differ by up to ±20 % from one process to the
// next whatever they run, so one pair shows nothing: the figure is the median of the pairs'
// overheads, printed with the pairs' quartiles and a bootstrap 90 % interval of the median — more
// pairs narrow it. Used by bench/burst.ts (the minute burst) and bench/supervisor.ts (the steady
// state), each with `--compare-recorder PAIRS`.
//
// `--side-by-side`: the two runs of a pair at the same time, each on its own redis-server, instead
// of one after the other. The machine's speed here drifts over minutes (runs of one build one
// after another: 375, 401, 456, 503, 462 ms per 1,000 cycles), and a pair run in sequence takes
// that drift into its overhead; run side by side both meet the same moment of it. What they then
// share is the machine: each run's CPU time is its own (process CPU, not wall time), and the two
// cores must hold both — at 400 symbols each run takes ~0.6 of a core in the steady state.
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** The median of xs (the mean of the middle two when even). */
export function medianOf(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * A bootstrap 90 % interval of the median of xs: 2,000 resamples drawn by a fixed-seed generator,
 * so the same pairs always print the same interval.
 */
export function bootstrapMedian(xs: readonly number[]): [number, number] {
  let seed = 0x2545f491;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x1_0000_0000;
  };
  const medians: number[] = [];
  for (let r = 0; r < 2000; r++)
    medians.push(medianOf(xs.map(() => xs[Math.floor(next() * xs.length)])));
  medians.sort((a, b) => a - b);
  return [medians[Math.floor(0.05 * medians.length)], medians[Math.floor(0.95 * medians.length)]];
}

export const signedPct = (x: number): string => `${x >= 0 ? "+" : ""}${x.toFixed(1)} %`;

export interface CompareOptions {
  pairs: number;
  /** The bench script to run (its own path) and its arguments, without --record-dir. */
  script: string;
  args: readonly string[];
  /** The figure compared, read from a run's output (CPU: lower is cheaper). */
  figure: (stdout: string) => number;
  /** "at the burst", "in the steady state": where the overhead is measured (the goal's name). */
  where: string;
  /** "400 symbols", …: the run's setting, printed with the figure. */
  setting: string;
  /** How the figure is named on each pair's line: "CPU of bursts 2–8". */
  figureName: string;
  /** "ms", "ms per 1,000 cycles". */
  unit: string;
  /** Both runs of a pair at once (`--side-by-side`), not one after the other. */
  concurrent?: boolean;
  /**
   * NODE_OPTIONS for every run: the shipped unit's (bench/unitNodeOptions.ts), "" for V8's
   * defaults; undefined: the runs inherit this process's environment as it is.
   */
  nodeOptions?: string;
  /** Where nodeOptions came from, printed with them ("the shipped unit's", "--v8-defaults"). */
  nodeOptionsFrom?: string;
  /**
   * `--control`: both runs of every pair without the recorder (an A/A comparison) — what the
   * method shows when nothing differs between the two sides: its spread and any bias of a side.
   */
  control?: boolean;
  /** Other figures of the same runs, printed beside the CPU for each pair and as medians. */
  also?: ReadonlyArray<{
    name: string;
    unit: string;
    figure: (stdout: string) => number;
    /** Summed over the pairs, each side's total (a count: few a run), not a median of ratios. */
    total?: boolean;
  }>;
}

/** Runs the pairs and prints each, the median with its interval, and the goal's verdict. */
export async function compareRecorder(o: CompareOptions): Promise<void> {
  // The recording directory is made before either run starts: side by side, a run that awaited
  // it started a moment after the other, every pair, on the same side.
  const env =
    o.nodeOptions === undefined ? process.env : { ...process.env, NODE_OPTIONS: o.nodeOptions };
  const run = async (dir: string | null): Promise<string> => {
    const { stdout } = await execFileAsync(
      process.execPath,
      [o.script, ...o.args, ...(dir === null || o.control === true ? [] : ["--record-dir", dir])],
      { maxBuffer: 1 << 26, env },
    );
    return stdout;
  };
  if (o.nodeOptions !== undefined)
    console.log(
      `every run with NODE_OPTIONS=${JSON.stringify(o.nodeOptions)}${o.nodeOptionsFrom === undefined ? "" : ` (${o.nodeOptionsFrom})`}`,
    );
  const overheads: number[] = [];
  const also = (o.also ?? []).map((a) => ({ ...a, overheads: [] as number[], sums: [0, 0] }));
  let off = 0;
  let on = 0;
  for (let i = 0; i < o.pairs; i++) {
    const order = i % 2 === 0 ? [false, true] : [true, false];
    const outputs = new Map<boolean, string>();
    const dir = await mkdtemp(join(os.tmpdir(), "qc-compare-recorder-"));
    try {
      const runOf = (recording: boolean) => run(recording ? dir : null);
      if (o.concurrent === true) {
        const both = await Promise.all(order.map(runOf));
        order.forEach((recording, k) => outputs.set(recording, both[k]));
      } else for (const recording of order) outputs.set(recording, await runOf(recording));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const [offOut, onOut] = [outputs.get(false)!, outputs.get(true)!];
    const [a, b] = [o.figure(offOut), o.figure(onOut)];
    off += a;
    on += b;
    overheads.push((b / a - 1) * 100);
    let beside = "";
    for (const x of also) {
      const [xa, xb] = [x.figure(offOut), x.figure(onOut)];
      x.sums[0] += xa;
      x.sums[1] += xb;
      // Nothing without the recorder (a tiny run promotes nothing): no ratio to print.
      const pct = xa > 0 && x.total !== true ? (xb / xa - 1) * 100 : null;
      if (pct !== null) x.overheads.push(pct);
      const spell = (v: number): string => (x.total === true ? String(v) : v.toFixed(1));
      beside += `; ${x.name} ${spell(xa)} → ${spell(xb)}${x.unit === "" ? "" : ` ${x.unit}`}${pct === null ? "" : ` (${signedPct(pct)})`}`;
    }
    console.log(
      `pair ${i + 1}: ${o.control === true ? "control, side A" : "recorder off"} ${a.toFixed(0)} ${o.unit}, ${o.control === true ? "side B" : "on"} ${b.toFixed(0)} ${o.unit} (${signedPct(overheads.at(-1)!)}), ${o.figureName}${beside}`,
    );
  }
  const median = medianOf(overheads);
  const [lo, hi] = bootstrapMedian(overheads);
  const sorted = [...overheads].sort((x, y) => x - y);
  const quartile = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  // A control's "on" side ran without the recorder too: its figure is the method's, not the goal's.
  const what = o.control === true ? "control (both sides without the recorder)" : "recorder";
  console.log(
    `${what} ${o.where}, ${o.setting}, ${o.pairs} pairs${o.concurrent === true ? " side by side" : ""}: median ${signedPct(median)} ` +
      `(90 % interval ${signedPct(lo)} … ${signedPct(hi)}; quartiles ${signedPct(quartile(0.25))} … ${signedPct(quartile(0.75))}), ` +
      `pooled ${signedPct((on / off - 1) * 100)}`,
  );
  for (const x of also)
    if (x.total === true)
      console.log(
        `${what} ${o.where}, ${x.name}: ${x.sums[0]} ${o.control === true ? "on side A" : "without"}, ${x.sums[1]} ${o.control === true ? "on side B" : "with the recorder"}, in all ${o.pairs} pairs`,
      );
    else if (x.overheads.length > 0)
      console.log(
        `${what} ${o.where}, ${x.name}: median ${signedPct(medianOf(x.overheads))} over ${o.pairs} pairs`,
      );
  if (o.control === true) {
    console.log(
      `control: a pair's "off" and "on" runs both ran without the recorder — an overhead measured ${o.where} is told from the method's own spread only when it lies outside this one`,
    );
    return;
  }
  console.log(
    `goal (issue 19) recorder CPU ${o.where} ≤ 5 %: ${median <= 5 ? "met" : "NOT met"} (median of ${o.pairs} pairs ${signedPct(median)}; ` +
      `${hi <= 5 ? "the whole 90 % interval is within it" : "the 90 % interval reaches beyond it: more pairs narrow it"})`,
  );
}
