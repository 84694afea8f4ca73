// Teardown at scale (`node dist/bench/teardown.js`): start the service on the embedded (memory)
// store with N symbols x 3 phases, let it run a moment, then close it as SIGTERM does
// (ServiceHandle.close(): drain, lease, HTTP, store). Reports the start time, the close time, the
// time until the supervisor has forgotten its stopped children (after close() resolved), the CPU both used and the longest the event loop was blocked during the close — the figure that
// matters: a blocked loop fires no shutdown-deadline timer, renews no lease, answers no HTTP.
//
//   node dist/bench/teardown.js [--symbols 1000,2000] [--settle 2]
import { loadConfig } from "../src/config/load.js";
import { createLogger } from "../src/log.js";
import { startService, wallClock } from "../src/service/service.js";
import { MemoryStore } from "../src/store/memoryStore.js";

interface Args {
  symbols: number[];
  settle: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { symbols: [1000, 2000], settle: 2 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--symbols") args.symbols = (value ?? "").split(",").map(Number);
    else if (flag === "--settle") args.settle = Number(value);
    else throw new Error(`unknown argument ${flag} ${value ?? ""}`);
  }
  if (!args.symbols.every((n) => Number.isInteger(n) && n > 0))
    throw new Error("--symbols must be positive integers, comma-separated");
  if (!(Number.isFinite(args.settle) && args.settle >= 0))
    throw new Error("--settle must be a number of seconds >= 0");
  return args;
}

interface Result {
  symbols: number;
  actors: number;
  startMs: number;
  closeMs: number;
  /** Until the supervisor actor itself is done: the stopped children forgotten (after close() resolved). */
  teardownMs: number;
  closeCpuMs: number;
  maxBlockMs: number;
}

async function runOnce(count: number, settleSec: number): Promise<Result> {
  const symbols = Array.from({ length: count }, (_, i) => `SYM${String(i).padStart(5, "0")}USDT`);
  const { config } = loadConfig({
    env: {},
    flags: { store: "memory", symbols, maxSymbols: Math.max(count, 1), logLevel: "silent" },
  });
  const logger = createLogger({ level: "silent", pretty: false });
  const startedAt = performance.now();
  const handle = await startService({ config, logger, store: new MemoryStore(), now: wallClock });
  const startMs = performance.now() - startedAt;
  await new Promise((r) => setTimeout(r, settleSec * 1000));
  const actors = Object.keys(handle.actor.getSnapshot().children).length;

  const stall = watchStalls();
  const cpuBefore = process.cpuUsage();
  const closingAt = performance.now();
  const actorDone = new Promise<void>((resolve) => {
    handle.actor.subscribe({ complete: resolve, error: () => resolve() });
    if (handle.actor.getSnapshot().status !== "active") resolve();
  });
  await handle.close();
  const closeMs = performance.now() - closingAt;
  await actorDone;
  const teardownMs = performance.now() - closingAt;
  const cpu = process.cpuUsage(cpuBefore);
  const maxBlockMs = await stall.stop();
  return {
    symbols: count,
    actors,
    startMs,
    closeMs,
    teardownMs,
    closeCpuMs: (cpu.user + cpu.system) / 1000,
    maxBlockMs,
  };
}

/**
 * The loop's longest stall: the largest gap between two turns of a 1 ms timer. (perf_hooks'
 * monitorEventLoopDelay records only when its timer fires, so a close that ends in the stall
 * itself would go unrecorded.)
 */
function watchStalls(): { stop(): Promise<number> } {
  let last = performance.now();
  let max = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last);
    last = now;
  }, 1);
  return {
    stop: async () => {
      // One more turn: the stall that ended with the close is measured too.
      await new Promise((r) => setTimeout(r, 1));
      clearInterval(timer);
      return Math.max(max, performance.now() - last);
    },
  };
}

/** docs/operations.md: the unit SIGKILLs 15 s after SIGTERM; the process drains within 10 s. */
const CLOSE_GOAL_MS = 10_000;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const results: Result[] = [];
  for (const count of args.symbols) results.push(await runOnce(count, args.settle));
  const header = [
    "symbols",
    "actors",
    "start ms",
    "close() ms",
    "actors torn down ms",
    "CPU ms (close + teardown)",
    "max loop block ms",
  ];
  process.stdout.write(
    `Node ${process.version}, memory store, all three phases\n\n| ${header.join(" | ")} |\n|${header.map(() => "---").join("|")}|\n`,
  );
  for (const r of results) {
    process.stdout.write(
      `| ${[r.symbols, r.actors, r.startMs.toFixed(0), r.closeMs.toFixed(0), r.teardownMs.toFixed(0), r.closeCpuMs.toFixed(0), r.maxBlockMs.toFixed(0)].join(" | ")} |\n`,
    );
  }
  // docs/operations.md: SIGTERM, then SIGKILL after 15 s; the process drains within 10 s.
  for (const r of results)
    process.stdout.write(
      `${r === results[0] ? "\n" : ""}goal close() ≤ ${CLOSE_GOAL_MS / 1000} s at ${r.symbols} symbols (SIGKILL at 15 s): ${r.closeMs.toFixed(0)} ms, ${r.closeMs <= CLOSE_GOAL_MS ? "met" : "NOT met"}\n`,
    );
  process.stdout.write(`\n${JSON.stringify(results)}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
