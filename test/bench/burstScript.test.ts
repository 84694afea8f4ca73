// bench/burst.ts prints issue 20's figures — Redis commands per chain (per burst, and the median
// burst's by command name) and every goal met or NOT met — on a tiny run: 5 symbols, one burst.
// Only the lines' shape is checked, never a figure against its goal: speed goals live in the
// benchmarks (docs/performance.md), not in tests. Runs the BUILT bench (`npm run build` first).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { unitNodeOptions } from "../../bench/unitNodeOptions.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const burstJs = `${root}dist/bench/burst.js`;

it("bench/burst.ts --symbols 5 --bursts 1 prints commands per chain and the goals' verdicts", () => {
  if (!existsSync(burstJs)) throw new Error(`${burstJs} not found: run \`npm run build\` first`);
  const run = spawnSync(process.execPath, [burstJs, "--symbols", "5", "--bursts", "1"], {
    cwd: root,
    encoding: "utf8",
    timeout: 90_000,
  });
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  // Within the live candles the service keeps, no note on windows with a gap.
  expect(run.stdout).not.toContain("note: bursts after");
  const lines = run.stdout.split("\n");
  const verdict = "(met|NOT met)";
  // Every chain publishes (hset inside the fenced MULTI/EXEC) and reads its inputs.
  const perBurst = lines.find((l) => l.startsWith("Redis commands, burst 1: "));
  expect(perBurst).toMatch(/^Redis commands, burst 1: \d+\.\d\d per chain \(\d+ in all\): \w/);
  expect(perBurst).toMatch(/\bhset \d+\.\d\d\b/);
  expect(perBurst).toMatch(/\bexec \d+\.\d\d\b/);
  // The bench's own commands are not counted: its burst XADDs one candle per symbol (the
  // service adds at most its marketstate stream entry per chain), and its INFO reads are left out.
  const xadd = Number(/\bxadd (\d+\.\d\d)\b/.exec(perBurst ?? "")?.[1] ?? 0);
  expect(xadd).toBeLessThan(2);
  expect(perBurst).not.toMatch(/\binfo\b/);
  expect(
    lines.some((l) => /^Redis commands, the median burst \(1\): \d+\.\d\d per chain/.test(l)),
  ).toBe(true);
  const goals = lines.find((l) => l.startsWith("goals (issue 20) at 5 symbols: "));
  expect(goals).toMatch(new RegExp(`p99 ≤ 100 ms ${verdict} `));
  expect(goals).toMatch(new RegExp(`every symbol ≤ 250 ms ${verdict} `));
  expect(goals).toMatch(new RegExp(`CPU per chain ≤ 0\\.4 ms ${verdict} \\(\\d+\\.\\d\\d ms\\)`));
  expect(goals).toMatch(new RegExp(`RSS ≤ 150 MB ${verdict} \\(\\d+ MB\\)`));
  // The lines other tools read stay as they were.
  expect(run.stdout).toMatch(/^burst 1: 5\/5 symbols reached harvest; /m);
  // What the collector did in each burst, and its medians over the bursts after the first.
  expect(run.stdout).toMatch(
    /^burst 1: .*; CPU \d+ ms \(user \d+, system \d+\); GC \d+ scavenges, \d+ full, \d+ ms paused; [\d.]+ MB allocated, [\d.]+ MB promoted$/m,
  );
  expect(run.stdout).toMatch(/^all bursts: p50 .* \(goal ≤ 100 ms: (met|NOT met)\)/m);
  expect(run.stdout).toMatch(/^RSS \d+ MB — .*, flight recorder off, /m);
}, 120_000);

// --shards N (issue 20, lever 4, docs/performance.md "Shards"): the same lines from N
// worker_threads, each a service over its share of the symbols; every symbol is collected from
// its shard and the RSS line names the split.
it("bench/burst.ts --shards 2 --symbols 4 --bursts 1 prints the same lines and the split", () => {
  if (!existsSync(burstJs)) throw new Error(`${burstJs} not found: run \`npm run build\` first`);
  const run = spawnSync(
    process.execPath,
    [burstJs, "--shards", "2", "--symbols", "4", "--bursts", "1"],
    { cwd: root, encoding: "utf8", timeout: 90_000 },
  );
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(/^burst 1: 4\/4 symbols reached harvest; .* p99 [\d.]+ ms, max /m);
  expect(run.stdout).toMatch(/^Redis commands, burst 1: \d+\.\d\d per chain .*\bhset \d/m);
  expect(run.stdout).toMatch(/^all bursts: p50 .* \(goal ≤ 100 ms: (met|NOT met)\)/m);
  expect(run.stdout).toMatch(/^goals \(issue 20\) at 4 symbols: p99 ≤ 100 ms (met|NOT met) /m);
  expect(run.stdout).toMatch(
    /^RSS \d+ MB — .*, shards 2 \(worker_threads: 2 \+ 2 symbols, the step gate per shard; CPU and RSS summed over every thread\)$/m,
  );
}, 120_000);

// --record-dir DIR (docs/performance.md, "Flight recorder cost"): the service's recordDir on, as
// the shipped unit runs it — the recorder's cost at the burst on Redis is the A/B of runs with
// and without. The run records into DIR and says so on its RSS line.
it("bench/burst.ts --record-dir DIR records the burst's cycles there and says the recorder is on", () => {
  if (!existsSync(burstJs)) throw new Error(`${burstJs} not found: run \`npm run build\` first`);
  const dir = mkdtempSync(join(tmpdir(), "qc-burst-rec-"));
  try {
    const run = spawnSync(
      process.execPath,
      [burstJs, "--symbols", "3", "--bursts", "1", "--record-dir", dir],
      { cwd: root, encoding: "utf8", timeout: 90_000 },
    );
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^burst 1: 3\/3 symbols reached harvest; /m);
    expect(run.stdout).toMatch(/^RSS \d+ MB — .*, flight recorder on, /m);
    const segments = readdirSync(dir).filter((f) => /^qc-.*\.jsonl(\.gz)?$/.test(f));
    expect(segments.length).toBeGreaterThan(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

// --compare-recorder PAIRS (issue 19's recorder CPU at the burst, docs/performance.md): pairs of
// runs without and with a recording directory of its own, each pair's overhead, the median with
// its interval, and the goal's verdict. Shape only: the figure is the benchmark's.
it("bench/burst.ts --compare-recorder 1 prints the pair, the median with its interval and the verdict", () => {
  if (!existsSync(burstJs)) throw new Error(`${burstJs} not found: run \`npm run build\` first`);
  const run = spawnSync(
    process.execPath,
    [burstJs, "--compare-recorder", "1", "--v8-defaults", "--symbols", "3", "--bursts", "2"],
    { cwd: root, encoding: "utf8", timeout: 150_000 },
  );
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  // --v8-defaults: the runs without the unit's NODE_OPTIONS, as a bare `node`.
  expect(run.stdout).toContain(
    'every run with NODE_OPTIONS="" (--v8-defaults: none, V8\'s own heap sizing)',
  );
  // Beside the CPU, the bytes the bursts allocated and promoted (steadier figures, gcTally.ts), and
  // the full collections each side had in them.
  expect(run.stdout).toMatch(
    /^pair 1: recorder off \d+ ms, on \d+ ms \([+-]\d+\.\d %\), CPU of bursts 2–2; allocated [\d.]+ → [\d.]+ MB \([+-]\d+\.\d %\); promoted [\d.]+ → [\d.]+ MB( \([+-]\d+\.\d %\))?; full collections \d+ → \d+$/m,
  );
  expect(run.stdout).toMatch(
    /^recorder at the burst, allocated: median [+-]\d+\.\d % over 1 pairs$/m,
  );
  expect(run.stdout).toMatch(
    /^recorder at the burst, 3 symbols, 1 pairs: median [+-]\d+\.\d % \(90 % interval [+-]\d+\.\d % … [+-]\d+\.\d %; quartiles .*\), pooled [+-]\d+\.\d %$/m,
  );
  expect(run.stdout).toMatch(
    /^goal \(issue 19\) recorder CPU at the burst ≤ 5 %: (met|NOT met) \(median of 1 pairs /m,
  );
  // Without a burst after the first there is nothing to count.
  const refused = spawnSync(
    process.execPath,
    [burstJs, "--compare-recorder", "1", "--bursts", "1"],
    {
      cwd: root,
      encoding: "utf8",
    },
  );
  expect(refused.status).not.toBe(0);
  expect(refused.stderr).toContain("--compare-recorder: --bursts 2 at least");
}, 180_000);

// --side-by-side: each pair's two runs at the same time (bench/compareRecorder.ts says why).
it("bench/burst.ts --compare-recorder 1 --side-by-side runs the pair side by side and says so", () => {
  if (!existsSync(burstJs)) throw new Error(`${burstJs} not found: run \`npm run build\` first`);
  const run = spawnSync(
    process.execPath,
    [burstJs, "--compare-recorder", "1", "--side-by-side", "--symbols", "3", "--bursts", "2"],
    { cwd: root, encoding: "utf8", timeout: 150_000 },
  );
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(/^pair 1: recorder off \d+ ms, on \d+ ms /m);
  // By default every run as the shipped unit runs the service: its NODE_OPTIONS.
  expect(run.stdout).toContain(
    `every run with NODE_OPTIONS=${JSON.stringify(unitNodeOptions())} (the shipped unit's, deploy/systemd/quantum-calc.service)`,
  );
  expect(run.stdout).toMatch(
    /^recorder at the burst, 3 symbols, 1 pairs side by side: median [+-]\d+\.\d % /m,
  );
  // Beside the CPU, each side's full collections in the counted bursts, and their totals.
  expect(run.stdout).toMatch(/^pair 1: .*; full collections \d+ → \d+$/m);
  expect(run.stdout).toMatch(
    /^recorder at the burst, full collections: \d+ without, \d+ with the recorder, in all 1 pairs$/m,
  );
  for (const flag of ["--side-by-side", "--v8-defaults"]) {
    const refused = spawnSync(process.execPath, [burstJs, flag], { cwd: root, encoding: "utf8" });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(`${flag}: only with --compare-recorder`);
  }
}, 180_000);

// The bench feeds the klines stream, not the data sink's sets: past the live candles the service
// keeps a symbol (8), a window has a gap and changes in its middle — the run says its figures are
// not production's (src/inputs/klines.ts LIVE_CANDLES_PER_SYMBOL; docs/performance.md).
it("bench/burst.ts --bursts 9 notes that bursts after the 8th are not production's", () => {
  if (!existsSync(burstJs)) throw new Error(`${burstJs} not found: run \`npm run build\` first`);
  const run = spawnSync(process.execPath, [burstJs, "--symbols", "3", "--bursts", "9"], {
    cwd: root,
    encoding: "utf8",
    timeout: 150_000,
  });
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(
    /^note: bursts after the 8th meet windows with a gap \(the data sink's sets are not fed\): not production's figures$/m,
  );
}, 180_000);
