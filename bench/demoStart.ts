// Time to the demo's first line on a built clone (`npm run bench:demo`, issue 18 item 5): starts
// `npm run demo` as a newcomer does — npm, the build step (`tsc -b`, which writes nothing when
// nothing changed), the command line — and measures, from the spawn, when the demo's own first
// line ("quantum-calc demo: …") and its first publish line ("09:52:12  marketstate BTCUSDT …")
// reach stdout; npm's header lines are not counted. Then Ctrl-C (SIGINT to the process group)
// and the exit are awaited before the next run, so runs never overlap.
//
// The goal (README Quick start) is the first line within about 2 s on an idle machine. Nothing
// is asserted here: the figures depend on the machine and its load, which are printed with them.
//
//   npm run bench:demo [-- --runs 5]
import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

interface Args {
  runs: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { runs: 5 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--runs") args.runs = Number(value);
    else throw new Error(`unknown argument ${flag} ${value ?? ""}`);
  }
  if (!(Number.isInteger(args.runs) && args.runs > 0))
    throw new Error(`--runs must be a whole number > 0 (got ${argv.join(" ")})`);
  return args;
}

interface Run {
  /** Spawn to the demo's own first line, in ms. */
  firstLineMs: number;
  /** Spawn to the first publish line, in ms. */
  firstPublishMs: number;
}

const HEADER = /^quantum-calc demo: /;
const PUBLISH = /^\d\d:\d\d:\d\d {2}(marketstate|risk|harvest) /;

function runOnce(): Promise<Run> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    // Its own process group, so one SIGINT reaches npm, its shell and the demo, as Ctrl-C does.
    const child = spawn("npm", ["run", "demo"], {
      cwd: repoRoot,
      detached: true,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let firstLineMs: number | null = null;
    let firstPublishMs: number | null = null;
    let pending = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const at = performance.now() - startedAt;
        if (firstLineMs === null && HEADER.test(line)) firstLineMs = at;
        if (firstPublishMs === null && PUBLISH.test(line)) {
          firstPublishMs = at;
          process.kill(-(child.pid as number), "SIGINT");
        }
      }
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (firstLineMs === null || firstPublishMs === null) {
        reject(
          new Error(
            `npm run demo ended (code ${code}, signal ${signal}) before its first publish line`,
          ),
        );
      } else {
        resolve({ firstLineMs, firstPublishMs });
      }
    });
  });
}

/** README Quick start: the demo's first line within about 2 s on an idle machine. */
const FIRST_LINE_GOAL_MS = 2000;

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const ms = (v: number): string => `${Math.round(v)} ms`;
  return `median ${ms(median)}, min ${ms(sorted[0])}, max ${ms(sorted[sorted.length - 1])}`;
}

async function main(): Promise<void> {
  const { runs } = parseArgs(process.argv.slice(2));
  const load = loadavg().map((l) => l.toFixed(2));
  process.stdout.write(
    `demo start on a built clone: ${runs} runs of \`npm run demo\`; node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, load ${load.join(" ")}\n`,
  );
  const results: Run[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await runOnce();
    results.push(run);
    process.stdout.write(
      `  run ${i + 1}: first line ${Math.round(run.firstLineMs)} ms, first publish ${Math.round(run.firstPublishMs)} ms\n`,
    );
  }
  process.stdout.write(`first line:    ${summary(results.map((r) => r.firstLineMs))}\n`);
  process.stdout.write(`first publish: ${summary(results.map((r) => r.firstPublishMs))}\n`);
  // The goal is "about 2 s" on an idle machine: the median against 2 s, with the load it ran at.
  const firstLines = results.map((r) => r.firstLineMs).sort((a, b) => a - b);
  const median = firstLines[Math.floor(firstLines.length / 2)];
  process.stdout.write(
    `goal first line within ~${FIRST_LINE_GOAL_MS / 1000} s (on an idle machine; load at start ${load[0]}): median ${Math.round(median)} ms, ${median <= FIRST_LINE_GOAL_MS ? "met" : "NOT met"}\n`,
  );
}

await main();
