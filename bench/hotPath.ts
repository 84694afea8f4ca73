// The in-process part of a minute burst's symbol chains, without Redis or XState
// (`node dist/bench/hotPath.js [--root DIR] [--only-bursts N]`): per symbol the candle series of a
// 319-member window (buildSeries), the three kernels, the output guards that spell the fields,
// the publish's stamps and a fenced publish (its MULTI commands; the writer connection a stub
// that answers at once) — 400 symbols per burst. It prints the bytes allocated per chain (a
// sampling heap profile over 20 bursts, what was collected again included), by the project's
// function that allocated them, and the CPU per chain (the best of 7 bursts). Unlike the whole
// burst (bench/burst.ts) it does the same work on every run, whatever the machine's load, so two
// builds compare exactly: `--root DIR` runs another checkout's build (DIR/dist) with this file.
//
// `--only-bursts N` runs 10 warm-up bursts and N more and nothing else: for instruction counts
// (valgrind --tool=callgrind, the difference between two N).
import { Session } from "node:inspector/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

interface Args {
  root: string | null;
  onlyBursts: number | null;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { root: null, onlyBursts: null };
  for (let i = 0; i < argv.length; i += 2) {
    const value = argv[i + 1] ?? "";
    if (argv[i] === "--root" && value !== "") args.root = resolve(value);
    else if (argv[i] === "--only-bursts" && /^\d+$/.test(value)) args.onlyBursts = Number(value);
    else throw new Error(`unknown or incomplete argument ${argv[i]}`);
  }
  return args;
}

const SYMBOLS = 400;
const ROWS = 319;
const WINDOW = 300;

/* eslint-disable @typescript-eslint/no-explicit-any -- another checkout's build, loaded by path */
async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // This file is dist/bench/hotPath.js: its own build's modules are ../src.
  const base =
    args.root === null ? new URL("../", import.meta.url) : pathToFileURL(`${args.root}/dist/`);
  const load = (path: string): Promise<any> => import(new URL(path, base).href);
  const { CandleColumns } = await load("src/candles/columns.js");
  const { buildSeries } = await load("src/candles/series.js");
  const { parseCandleMember } = await load("src/candles/parse.js");
  const { liveCandle } = await load("bench/liveLayouts.js");
  const { computeMarketState } = await load("src/kernels/marketState.js");
  const { computeStops } = await load("src/kernels/stops.js");
  const { computeHarvest } = await load("src/kernels/harvest.js");
  const guard = await load("src/phases/outputGuard.js");
  const { stamped, outputKey } = await load("src/contracts/output.js");
  const { MARKETSTATE_OUTPUT } = await load("src/contracts/marketstateOutput.js");
  const { RISK_PROPOSAL_OUTPUT } = await load("src/contracts/riskProposalOutput.js");
  const { HARVEST_PROPOSAL_OUTPUT } = await load("src/contracts/harvestProposalOutput.js");
  const { createFencedStore } = await load("src/lease/fencedStore.js");

  const guards = { minPrice: 1e-12, maxPrice: 1e12, futureAfterMs: 2e12, maxKeyBytes: 1e9 };
  const t0 = 1.7e12 - (1.7e12 % 60_000);
  const nowMs = t0 + 400 * 60_000;
  const symbols = Array.from({ length: SYMBOLS }, (_, i) => `S${String(i).padStart(4, "0")}USDT`);
  const columns = symbols.map((symbol, k) => {
    const raw = Array.from({ length: ROWS }, (_, i) => ({
      member: liveCandle(symbol, t0 + i * 60_000, 100 + k + 3 * Math.sin(i / 7 + k) + i * 0.01),
      score: t0 + i * 60_000,
    }));
    const parsed = raw.map((r) => parseCandleMember(r.member));
    return CandleColumns.fromMembers(raw, parsed, ROWS + 64, guards);
  });
  const positionOf = (symbol: string, k: number) => ({
    symbol,
    side: k % 2 === 1 ? "LONG" : "SHORT",
    entry_price: 100 + k,
    current_price: 101 + k,
    peak_price: 102 + k,
    trough_price: 99 + k,
    age_sec: 3600,
    unrealized_pnl: 5,
    current_sl: null,
    current_tp: null,
  });
  const limits = { maxPriceRatio: 10, maxStopDistPct: 0.5 };
  const session = {
    watch: async (_key: string, keys: string[] = []) => ({
      value: "token",
      types: keys.map(() => "hash"),
    }),
    unwatch: async () => {},
    get: async () => "token",
    exec: async (commands: unknown[]) => commands.map(() => [null, 1]),
  };
  const writer = { target: "stub", exclusive: async (fn: any) => fn(session) };
  const lease = {
    leaseKey: "quantum:calc:lease",
    currentToken: () => "token",
    holder: () => "bench",
    reportLost: () => {},
  };
  const store = createFencedStore({ kind: "redis" }, writer, lease);
  // As the harvest phase passes it: the configured fallback stop (src/phases/harvest.ts).
  const harvestTheta = { fallback_stop_pct: 0.02 };

  const burst = async (): Promise<void> => {
    const pending: Array<Promise<void>> = [];
    for (let k = 0; k < SYMBOLS; k++) {
      const symbol = symbols[k];
      const key = `quantum:history:ohlcv:${symbol}:1m`;
      const series = buildSeries(key, columns[k], 0, ROWS, WINDOW, undefined, guards.futureAfterMs);
      const closes: number[] = series.value.closes;
      const ms = computeMarketState(closes, undefined);
      const spelledMs = guard.guardMarketState(ms, closes.length);
      const msFields = stamped(MARKETSTATE_OUTPUT, spelledMs.value.fields, nowMs);
      const market = {
        sigma: ms.sigma,
        mu: ms.mu,
        ts: ms.ts,
        p_trend: ms.regime_probs.trend,
        p_mr: ms.regime_probs.mr,
        p_chop: ms.regime_probs.chop,
      };
      const position = positionOf(symbol, k);
      const stops = computeStops(
        {
          market_state: { sigma: ms.sigma, ts: ms.ts, regime_probs: { ...ms.regime_probs } },
          position,
        },
        symbol,
      );
      const spelledRisk = guard.guardRiskResult(stops, market, position, limits);
      const riskFields = stamped(RISK_PROPOSAL_OUTPUT, spelledRisk.value.fields, nowMs);
      const harvest = computeHarvest({
        position,
        market_state: {
          sigma: ms.sigma,
          ts: ms.ts,
          p_trend: market.p_trend,
          p_mr: market.p_mr,
          p_chop: market.p_chop,
        },
        p1_proposal: { stop_dist_pct: stops.intermediates.stop_dist_pct },
        theta: harvestTheta,
      });
      const spelledHarvest = guard.guardHarvestResult(harvest, market, position, limits, "");
      const harvestFields = stamped(HARVEST_PROPOSAL_OUTPUT, spelledHarvest.value.fields, nowMs);
      for (const [output, fields] of [
        [MARKETSTATE_OUTPUT, msFields],
        [RISK_PROPOSAL_OUTPUT, riskFields],
        [HARVEST_PROPOSAL_OUTPUT, harvestFields],
      ])
        pending.push(
          store.publish({ hashes: [{ key: outputKey(output, symbol), fields }], streams: [] }),
        );
    }
    await Promise.all(pending);
  };

  if (args.onlyBursts !== null) {
    for (let i = 0; i < 10 + args.onlyBursts; i++) await burst();
    return;
  }
  for (let i = 0; i < 30; i++) await burst();
  const profiler = new Session();
  profiler.connect();
  await profiler.post("HeapProfiler.startSampling", {
    samplingInterval: 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as never);
  const measured = 20;
  for (let i = 0; i < measured; i++) await burst();
  const { profile } = await profiler.post("HeapProfiler.stopSampling");
  profiler.disconnect();
  const byFunction = new Map<string, number>();
  let total = 0;
  const walk = (node: any, owner: string): void => {
    const frame = node.callFrame;
    const ours = /\/dist\/src\//.test(frame.url)
      ? `${frame.url.replace(/.*\/dist\/src\//, "")} ${frame.functionName || "(anonymous)"}`
      : owner;
    total += node.selfSize;
    if (node.selfSize > 0) byFunction.set(ours, (byFunction.get(ours) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child, ours);
  };
  walk(profile.head, "(outside src/: node, the bench)");
  const chains = measured * SYMBOLS;
  console.log(`allocated per chain: ${(total / chains).toFixed(0)} bytes; by function:`);
  for (const [name, bytes] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 12))
    console.log(`  ${(bytes / chains).toFixed(0).padStart(6)}  ${name}`);
  let best = Infinity;
  for (let r = 0; r < 7; r++) {
    const cpu0 = process.cpuUsage();
    await burst();
    const cpu = process.cpuUsage(cpu0);
    best = Math.min(best, (cpu.user + cpu.system) / SYMBOLS);
  }
  // No goal of its own: a diagnostic of the in-process share of the burst's 0.4 ms chain goal.
  console.log(
    `CPU per chain (best of 7 bursts of ${SYMBOLS}): ${best.toFixed(0)} µs — no goal of its own (a diagnostic: the in-process share of bench:burst's 0.4 ms per chain)`,
  );
}
/* eslint-enable @typescript-eslint/no-explicit-any */

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
