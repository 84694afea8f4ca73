// Exact replay's speed (issue 19): `replay recording --check` of a 400-symbol recording, as ×
// real time (recorded span ÷ replay wall time). Goal: ≥ 100× real time at 400 symbols.
//
//   npm run build && node dist/bench/replay.js [--symbols 400] [--minutes 10] [--runs 5]
//
// The recording is made by the recorder benchmark's own run (dist/bench/recorder.js --child
// record, kept with KEEP=1): the real publisher machines and phase steps on the embedded store,
// one candle per symbol a minute with its burst, interval cycles between. Each replay runs in a
// process of its own (a fresh heap, as the CLI has), reading, replaying and checking every write
// against the recorded one exactly as `replay recording --check` does; the figures are the
// medians over --runs. Wall time depends on the machine's load, so the CPU time is shown too.
import { execFileSync, spawnSync } from "node:child_process";
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join, dirname } from "node:path";
import { divergence, replayRecording } from "../src/recorder/replay.js";

const GOAL = 100;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0)
    throw new Error(`--${name} ${process.argv[i + 1]}: a whole number > 0`);
  return v;
}

interface RunResult {
  wallMs: number;
  cpuMs: number;
  spanMs: number;
  cycles: number;
  writes: number;
  identical: boolean;
}

/** One replay, in this process: what `replay recording --check` does, timed. */
async function child(dir: string): Promise<void> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let cycles = 0;
  let writes = 0;
  let identical = true;
  const result = await replayRecording({
    dir,
    keepInputs: false,
    onCycle: (c) => {
      cycles++;
      if (c.recorded.written !== null) writes++;
      if (identical && divergence(c) !== null) identical = false;
      return false;
    },
  });
  const used = process.cpuUsage(cpu);
  const out: RunResult = {
    wallMs: performance.now() - started,
    cpuMs: (used.user + used.system) / 1000,
    spanMs: result.spanMs === null ? 0 : result.spanMs[1] - result.spanMs[0],
    cycles,
    writes,
    identical,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const at = process.argv.indexOf("--child");
  if (at >= 0) return child(process.argv[at + 1]);
  const symbols = arg("symbols", 400);
  const minutes = arg("minutes", 10);
  const runs = arg("runs", 5);

  // The recording: the recorder benchmark's recorded run, kept (it names the directory on stderr).
  const recorderJs = join(dirname(fileURLToPath(import.meta.url)), "recorder.js");
  const made = spawnSync(
    process.execPath,
    [recorderJs, "--child", "record", "--symbols", String(symbols), "--minutes", String(minutes)],
    { env: { ...process.env, KEEP: "1" }, encoding: "utf8", maxBuffer: 1 << 26 },
  );
  const kept = /kept (\S+)/.exec(made.stderr ?? "");
  if (made.status !== 0 || kept === null)
    throw new Error(`recording run failed (exit ${made.status}): ${made.stderr}`);
  const dir = kept[1];
  try {
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--child", dir], {
        encoding: "utf8",
        maxBuffer: 1 << 26,
      });
      results.push(JSON.parse(out.trim().split("\n").pop() ?? "{}") as RunResult);
    }
    const spanSec = results[0].spanMs / 1000;
    const wallSec = median(results.map((r) => r.wallMs)) / 1000;
    const cpuSec = median(results.map((r) => r.cpuMs)) / 1000;
    const speed = spanSec / wallSec;
    const identical = results.every((r) => r.identical);
    process.stdout.write(
      `${JSON.stringify(
        {
          symbols,
          recordedSec: spanSec,
          cycles: results[0].cycles,
          writes: results[0].writes,
          runs,
          wallSec: results.map((r) => +(r.wallMs / 1000).toFixed(2)),
          cpuSec: results.map((r) => +(r.cpuMs / 1000).toFixed(2)),
          medianWallSec: wallSec,
          medianCpuSec: cpuSec,
          realTimeX: speed,
          realTimeXByCpu: spanSec / cpuSec,
          identical,
        },
        null,
        2,
      )}\n`,
    );
    process.stdout.write(
      `replay at ${symbols} symbols: ${speed.toFixed(0)}x real time (median of ${runs}; ${(spanSec / cpuSec).toFixed(0)}x by CPU time) — goal >= ${GOAL}x ${speed >= GOAL ? "met" : "NOT met"}; ${identical ? "every write identical" : "DIVERGED"}\n`,
    );
    if (!identical) process.exitCode = 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

void main();
