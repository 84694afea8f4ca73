// Per-call cost of the three kernels (`npm run bench`), timed by tinybench: each row warms its
// kernel up (so the optimising compiler has done its work), then samples it for a fixed time.
// One sample is a batch of calls — one per input path, repeated — timed as a whole and reported
// per call (tinybench's `overriddenDuration`), so even a 0.25 µs kernel is measured well above
// the timer's resolution. The figure is the median sample: on a shared machine the median is
// steadier than the mean; the spread (fastest sample to p99) and tinybench's relative margin of
// error are printed so a noisy run is visible as such.
//
// Market-state inputs are 300 closes (the service's default window_size) from seeded synthetic
// paths of every regime; calls cycle through several paths so the figures are not those of one
// memorised input. The reference (Python) implementation needs about 7.6 ms per market-state call on
// 300 closes with the default theta; the last column is the speed-up against that.
//
// Then the batch path (issue 12's goal: ≥ 50× the reference through `compute market-state
// --batch` on the same JSON lines, where the reference takes ~3.8–5.3 ms a call): random walks of
// 300 closes as JSON lines, timed per line in process (JSON.parse + kernel + JSON.stringify, what
// `--batch` does per line) and end to end through the CLI, where the steady-state figure is the
// difference between a long and a short run divided by the extra lines (start-up cancels out).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Bench, type FnReturnedObject } from "tinybench";
import { computeHarvest } from "../src/kernels/harvest.js";
import { computeMarketState } from "../src/kernels/marketState.js";
import { computeStops } from "../src/kernels/stops.js";
import type { MarketState, Position } from "../src/kernels/types.js";
import { computeBatchLine } from "../src/commands/compute.js";
import { mulberry32, REGIMES, syntheticPrices } from "../src/synthetic/prices.js";

const REFERENCE_MARKET_STATE_MS = 7.6;
/** The reference through the batch path on the same JSON lines (issue 12): ~3.8–5.3 ms a call. */
const REFERENCE_BATCH_MS = [3.8, 5.3] as const;
const BATCH_GOAL_SPEEDUP = 50;
const WARMUP_MS = 300;
const TIME_MS = 1750;

interface Row {
  kernel: string;
  input: string;
  /** Calls per sample. */
  batch: number;
  medianUs: number;
  minUs: number;
  p99Us: number;
  rmePct: number;
  samples: number;
  reference: boolean;
}

/** Keeps results alive so no call can be optimised away. */
let sink = 0;

function consume(value: unknown): void {
  sink += value === null ? 0 : 1;
}

const bench = new Bench({
  timestampProvider: "hrtimeNow",
  warmup: true,
  warmupTime: WARMUP_MS,
  warmupIterations: 1,
  time: TIME_MS,
  iterations: 7,
  throws: true,
});

interface RowSpec {
  kernel: string;
  input: string;
  batch: number;
  call: (i: number) => unknown;
  reference?: boolean;
}
const specs: RowSpec[] = [];

/** A row: `batch` calls of `call(i)` (i = 0, 1, 2, …) per sample, reported per call. */
function row(
  kernel: string,
  input: string,
  batch: number,
  call: (i: number) => unknown,
  reference = false,
): void {
  specs.push({ kernel, input, batch, call, reference });
  let i = 0;
  bench.add(`${kernel} ${input}`, (): FnReturnedObject => {
    const start = bench.now();
    for (let k = 0; k < batch; k++) consume(call(i++));
    const elapsed = bench.now() - start;
    return { overriddenDuration: elapsed / batch, overriddenIterationCost: elapsed };
  });
}

function requireState(state: MarketState | null): MarketState {
  if (state === null) throw new Error("benchmark input is shorter than the kernel needs");
  return state;
}

// --- inputs ----------------------------------------------------------------------------------

const SEEDS = [1, 2, 3, 4];
const paths = REGIMES.flatMap((regime) =>
  SEEDS.map((seed) => syntheticPrices(regime, { length: 300, seed, start: 45000 })),
);
const constant = new Array<number>(300).fill(45000);
const OLS = { trend: { method: "ols" as const } };

const states = paths.map((prices) => requireState(computeMarketState(prices)));
const positions: Position[] = paths.map((prices, k) => {
  const price = prices[prices.length - 1];
  const long = k % 2 === 0;
  const entry = price * (long ? 0.97 : 1.03);
  return {
    symbol: "BTCUSDT",
    side: long ? "LONG" : "SHORT",
    entry_price: entry,
    current_price: price,
    peak_price: long ? Math.max(...prices) : Math.min(...prices),
    trough_price: long ? Math.min(...prices) : Math.max(...prices),
    age_sec: 3600 * (k + 1),
    unrealized_pnl: (long ? price - entry : entry - price) * 0.5,
    current_sl: k % 3 === 0 ? null : entry * (long ? 0.98 : 1.02),
    current_tp: null,
  };
});
const stopsProposals = paths.map((_, k) =>
  computeStops({ market_state: states[k], position: positions[k] }, "BTCUSDT"),
);

// --- run -------------------------------------------------------------------------------------

const n = paths.length;
// A sample: one call per path (market-state, ~0.1 ms each) or 100 per path (stops, harvest: < 1 µs).
row(
  "market-state",
  `theil_sen, 300 closes (${n} paths)`,
  n,
  (i) => computeMarketState(paths[i % n]),
  true,
);
// The reference's 7.6 ms is for theil_sen; comparing the ols row with it would flatter it.
row("market-state", `ols, 300 closes (${n} paths)`, n, (i) =>
  computeMarketState(paths[i % n], OLS),
);
row(
  "market-state",
  "theil_sen, 300 constant closes (all slopes tie)",
  n,
  () => computeMarketState(constant),
  true,
);
row("stops", `${n} positions`, 100 * n, (i) =>
  computeStops({ market_state: states[i % n], position: positions[i % n] }, "BTCUSDT"),
);
row("harvest", `${n} positions, with P1 proposal`, 100 * n, (i) =>
  computeHarvest({
    position: positions[i % n],
    market_state: {
      sigma: states[i % n].sigma,
      ts: states[i % n].ts,
      p_trend: states[i % n].regime_probs.trend,
      p_mr: states[i % n].regime_probs.mr,
      p_chop: states[i % n].regime_probs.chop,
    },
    p1_proposal: { stop_dist_pct: stopsProposals[i % n].intermediates.stop_dist_pct },
  }),
);

// The batch path, per line: 64 random walks of 300 closes (Gaussian log steps, tick-rounded to
// 0.01 as exchange closes are), one JSON line each.
function randomWalkLines(count: number, seed: number): string[] {
  const uniform = mulberry32(seed);
  return Array.from({ length: count }, () => {
    let price = 100 + uniform() * 50_000;
    const prices: number[] = [];
    for (let i = 0; i < 300; i++) {
      const u1 = 1 - uniform();
      const u2 = uniform();
      price *= Math.exp(0.002 * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
      prices.push(Math.round(price * 100) / 100);
    }
    return JSON.stringify({ prices });
  });
}
const batchLines = randomWalkLines(64, 7);
const BATCH_ROW = `batch line: JSON.parse + kernel + JSON.stringify (${batchLines.length} random walks)`;
row(
  "market-state",
  BATCH_ROW,
  batchLines.length,
  (i) => computeBatchLine("market-state", batchLines[i % batchLines.length], i + 1).output,
);

bench.runSync();
const rows: Row[] = bench.tasks.map((task, k) => {
  const result = task.result;
  if (result.state !== "completed")
    throw new Error(
      `${task.name}: ${result.state === "errored" ? result.error.message : result.state}`,
    );
  const { latency } = result;
  return {
    ...specs[k],
    // tinybench's latencies are in ms.
    medianUs: latency.p50 * 1000,
    minUs: latency.min * 1000,
    p99Us: latency.p99 * 1000,
    rmePct: latency.rme,
    samples: latency.samplesCount,
    reference: specs[k].reference ?? false,
  };
});

const fmt = (x: number, digits: number) => x.toFixed(digits);
const table = rows.map((r) => ({
  kernel: r.kernel,
  input: r.input,
  "µs/call": fmt(r.medianUs, r.medianUs < 10 ? 2 : 1),
  "samples min–p99 µs": `${fmt(r.minUs, r.minUs < 10 ? 2 : 1)}–${fmt(r.p99Us, r.p99Us < 10 ? 2 : 1)}`,
  "±rme": `${fmt(r.rmePct, 1)}%`,
  samples: `${r.samples} × ${r.batch}`,
  "calls/s": Math.round(1e6 / r.medianUs).toLocaleString("en-US"),
  "vs reference 7.6 ms": r.reference
    ? `${Math.round((REFERENCE_MARKET_STATE_MS * 1000) / r.medianUs)}×`
    : "",
}));

const headers = Object.keys(table[0]) as (keyof (typeof table)[number])[];
const widths = headers.map((h) => Math.max(h.length, ...table.map((t) => String(t[h]).length)));
const line = (cells: string[]) => `| ${cells.map((c, k) => c.padEnd(widths[k])).join(" | ")} |`;
const cpu = cpus();
console.log(
  `Kernel benchmark — Node ${process.version}, ${process.platform}/${process.arch}, ${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, ` +
    `load average ${loadavg()[0].toFixed(2)}; tinybench, median sample over ~${TIME_MS} ms after ${WARMUP_MS} ms warm-up (samples × calls per sample)`,
);
console.log(line(headers));
console.log(line(widths.map((w) => "-".repeat(w))));
for (const t of table) console.log(line(headers.map((h) => String(t[h]))));

// --- the batch path against issue 12's goal ----------------------------------------------------

const [refLow, refHigh] = REFERENCE_BATCH_MS;
const goalUs = (refLow * 1000) / BATCH_GOAL_SPEEDUP;
const verdict = (us: number) =>
  `${(us / 1000).toFixed(3)} ms/line = ${Math.round((refLow * 1000) / us)}–${Math.round((refHigh * 1000) / us)}× the reference (${refLow}–${refHigh} ms); ` +
  `goal ≥ ${BATCH_GOAL_SPEEDUP}× (≤ ${goalUs.toFixed(0)} µs/line): ${us <= goalUs ? "met" : "NOT met"}`;
const batchRow = rows.find((r) => r.input === BATCH_ROW);
console.log("");
if (batchRow !== undefined)
  console.log(
    `compute market-state --batch, in process (median sample): ${verdict(batchRow.medianUs)}`,
  );

/** Wall time of `compute market-state --batch` over `lines` lines (best of `runs`), in ms. */
function cliBatchMs(file: string, runs: number): number {
  const cli = fileURLToPath(new URL("../src/cli.js", import.meta.url));
  let best = Infinity;
  for (let k = 0; k < runs; k++) {
    const start = process.hrtime.bigint();
    execFileSync(process.execPath, [cli, "compute", "market-state", "--batch", "--input", file], {
      stdio: ["ignore", "ignore", "inherit"],
      maxBuffer: 1 << 30,
    });
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
  }
  return best;
}
const dir = mkdtempSync(join(tmpdir(), "quantum-calc-bench-"));
try {
  const SHORT = 1_000;
  const LONG = 6_000;
  const lines = randomWalkLines(LONG, 11);
  const shortFile = join(dir, "short.jsonl");
  const longFile = join(dir, "long.jsonl");
  writeFileSync(shortFile, `${lines.slice(0, SHORT).join("\n")}\n`);
  writeFileSync(longFile, `${lines.join("\n")}\n`);
  const shortMs = cliBatchMs(shortFile, 3);
  const longMs = cliBatchMs(longFile, 3);
  const perLineUs = ((longMs - shortMs) * 1000) / (LONG - SHORT);
  console.log(
    `compute market-state --batch, end to end through the CLI: ${SHORT} lines ${shortMs.toFixed(0)} ms, ${LONG} lines ${longMs.toFixed(0)} ms (best of 3); ` +
      `steady state ${verdict(perLineUs)}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (sink < 0) console.log(sink); // never true; reading sink keeps it observable
