// The live feed's minute boundary (`npm run bench:burst -- --symbols 400`): N symbols in the live
// stack's layouts (data-sink sorted sets, position-brain hashes) on a private redis-server, the
// production intervals (60 / 10 / 10 s) and defaults, the klines follower on. Then the market
// publisher closes every symbol's 1m candle at the same instant: a burst of N entries on
// quantum:stream:market.klines. Per symbol: the time from the burst to the end of the harvest
// cycle it chained into (its harvest hash write: a publish or a heartbeat), and the CPU time the
// process spent on the burst.
//
//   node dist/bench/burst.js [--symbols 400] [--bursts 3] [--cpu-prof DIR] [--alloc-prof DIR]
//                           [--members live|compact] [--step-concurrency N]
//
// --step-concurrency N bounds the publisher steps under way at once (default STEP_CONCURRENCY,
// src/phases/stepGate.ts); 0 = unbounded, as before the gate.
//
// --members compact stores the history as {"t","close"} members (~40 bytes, bench:supervisor's)
// instead of the data sink's json.dumps (~230 bytes): it shows how much of the burst's CPU is
// the candle window's bytes (transfer, reply parsing, the parse cache's string keys).
// --cpu-prof DIR writes one .cpuprofile per burst (node:inspector, the burst's window only — not
// the seeding, start-up or shutdown that `node --cpu-prof` would mix in); --alloc-prof DIR one
// sampling heap profile per burst of everything it allocated, collected again or not.
//
// Goals (issue 12): p99 ≤ 100 ms and every symbol ≤ 250 ms, at 400 symbols (and at 1,000).
import { createHistogram } from "node:perf_hooks";
import { Session } from "node:inspector/promises";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import os from "node:os";
import { Redis } from "ioredis";
import { loadConfig } from "../src/config/load.js";
import { createLogger } from "../src/log.js";
import { startService, wallClock } from "../src/service/service.js";
import { benchCandleAgeSec, benchSymbols, LIVE_FEED_AHEAD, liveFeed } from "./liveLayouts.js";
import { stepGate, STEP_CONCURRENCY } from "../src/phases/stepGate.js";
import type { CycleDoneEvent } from "../machines/publisher.js";
import { startTestRedis } from "../test/helpers/redisServer.js";

interface Args {
  symbols: number;
  bursts: number;
  cpuProf: string | null;
  allocProf: string | null;
  members: "live" | "compact";
  /** The step gate's bound (src/phases/stepGate.ts); 0 = unbounded. */
  stepConcurrency: number | null;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    symbols: 400,
    bursts: 3,
    cpuProf: null,
    allocProf: null,
    members: "live",
    stepConcurrency: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === "--cpu-prof" || argv[i] === "--alloc-prof") {
      const dir = argv[i + 1] ?? "";
      if (dir === "") throw new Error(`${argv[i]} needs a directory`);
      if (argv[i] === "--cpu-prof") args.cpuProf = dir;
      else args.allocProf = dir;
      continue;
    }
    if (argv[i] === "--members") {
      const kind = argv[i + 1];
      if (kind !== "live" && kind !== "compact") throw new Error("--members is live or compact");
      args.members = kind;
      continue;
    }
    const [flag, value] = [argv[i], Number(argv[i + 1])];
    if (flag === "--symbols") args.symbols = value;
    else if (flag === "--bursts") args.bursts = value;
    else if (flag === "--step-concurrency") {
      args.stepConcurrency = value;
      if (value === 0) continue;
    } else throw new Error(`unknown argument ${flag}`);
    if (!(Number.isInteger(value) && value > 0))
      throw new Error(`${flag} must be a positive integer`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Other processes on the machine share its cores: the latency, not the CPU time, depends on it.
  const loadAtStart = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
  const server = await startTestRedis();
  const redis = new Redis(server.url);
  const symbols = benchSymbols(args.symbols);
  if (args.bursts > LIVE_FEED_AHEAD)
    throw new Error(
      `--bursts ${args.bursts}: at most ${LIVE_FEED_AHEAD} (the history is laid back by that many minutes)`,
    );
  const feed = liveFeed(redis, symbols, args.members);
  // History: the data sink's sorted sets, HISTORY candles per symbol; positions from the brain.
  await feed.seed();

  const { config } = loadConfig({
    env: {},
    flags: {
      redisUrl: server.url,
      symbols,
      logLevel: "silent",
      maxPositionAge: 3600,
      maxCandleAge: benchCandleAgeSec(LIVE_FEED_AHEAD),
    },
  });
  const harvestDone: Array<{ symbol: string; atMs: number; chainStartedAt: number | null }> = [];
  const onCycle = (e: CycleDoneEvent, nowMs: number): void => {
    if (e.phase === "harvest" && (e.outcome === "published" || e.outcome === "heartbeat"))
      harvestDone.push({ symbol: e.symbol, atMs: nowMs, chainStartedAt: e.chainStartedAt });
  };
  if (args.stepConcurrency !== null)
    stepGate.setLimit(args.stepConcurrency === 0 ? Number.POSITIVE_INFINITY : args.stepConcurrency);
  const handle = await startService({
    config,
    logger: createLogger({ level: "silent" }),
    hooks: { onCycle },
    now: wallClock,
  });
  // Let the first (staggered, within a second) cycles and their chains settle.
  await new Promise((r) => setTimeout(r, 4000));

  const profiler = args.cpuProf === null && args.allocProf === null ? null : new Session();
  if (profiler !== null) {
    for (const dir of [args.cpuProf, args.allocProf])
      if (dir !== null) mkdirSync(dir, { recursive: true });
    profiler.connect();
    if (args.cpuProf !== null) {
      await profiler.post("Profiler.enable");
      await profiler.post("Profiler.setSamplingInterval", { interval: 200 });
    }
  }
  const all: number[] = [];
  const cpuPerBurst: number[] = [];
  for (let b = 0; b < args.bursts; b++) {
    harvestDone.length = 0;
    if (profiler !== null && args.cpuProf !== null) await profiler.post("Profiler.start");
    if (profiler !== null && args.allocProf !== null) {
      await profiler.post("HeapProfiler.startSampling", {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      } as never);
    }
    const send = feed.prepareBurst(`b${b}`);
    const cpu0 = process.cpuUsage();
    const t0 = wallClock();
    await send();
    const deadline = t0 + 15_000;
    const seen = new Map<string, number>();
    while (seen.size < symbols.length && wallClock() < deadline) {
      for (const d of harvestDone)
        if (d.chainStartedAt !== null && d.chainStartedAt >= t0 && !seen.has(d.symbol))
          seen.set(d.symbol, d.atMs - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
    const cpu = process.cpuUsage(cpu0);
    if (profiler !== null && args.cpuProf !== null) {
      const { profile } = await profiler.post("Profiler.stop");
      writeFileSync(join(args.cpuProf, `burst-${b + 1}.cpuprofile`), JSON.stringify(profile));
    }
    if (profiler !== null && args.allocProf !== null) {
      const { profile } = await profiler.post("HeapProfiler.stopSampling");
      writeFileSync(join(args.allocProf, `burst-${b + 1}.heapprofile`), JSON.stringify(profile));
    }
    const hist = createHistogram();
    for (const ms of seen.values()) hist.record(Math.max(1, Math.round(ms * 1000)));
    const lat = [...seen.values()];
    all.push(...lat);
    cpuPerBurst.push((cpu.user + cpu.system) / 1000);
    const p = (q: number) => (hist.percentile(q) / 1000).toFixed(1);
    console.log(
      `burst ${b + 1}: ${seen.size}/${symbols.length} symbols reached harvest; burst → harvest write p50 ${p(50)} ms, p99 ${p(99)} ms, max ${Math.max(...lat).toFixed(1)} ms; ` +
        `CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms (user ${(cpu.user / 1000).toFixed(0)}, system ${(cpu.system / 1000).toFixed(0)})`,
    );
    await new Promise((r) => setTimeout(r, 2000));
  }
  const sorted = all.sort((a, b) => a - b);
  const q = (x: number) => sorted[Math.min(sorted.length - 1, Math.floor(x * sorted.length))];
  const p99 = q(0.99);
  const max = sorted.at(-1)!;
  const cpuSorted = [...cpuPerBurst].sort((a, b) => a - b);
  const cpuMedian = cpuSorted[Math.floor(cpuSorted.length / 2)];
  const verdict = (ok: boolean): string => (ok ? "met" : "NOT met");
  console.log(
    `all bursts: p50 ${q(0.5).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (goal ≤ 100 ms: ${verdict(p99 <= 100)}), max ${max.toFixed(1)} ms (goal ≤ 250 ms: ${verdict(max <= 250)}); ` +
      `CPU per burst median ${cpuMedian.toFixed(0)} ms = ${((cpuMedian * 1000) / symbols.length).toFixed(0)} µs per symbol chain`,
  );
  console.log(
    `RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB — ${process.version}, ${args.symbols} symbols, step concurrency ${args.stepConcurrency === null ? STEP_CONCURRENCY : args.stepConcurrency === 0 ? "unbounded" : args.stepConcurrency}, ${os.cpus().length} cores, load average at start ${loadAtStart}`,
  );
  await handle.close();
  redis.disconnect();
  await server.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
