// What a symbol costs in memory (`npm run build && node --expose-gc dist/bench/memory.js --symbols 1000`):
// N symbols in the live layouts (bench/liveLayouts.ts) on a private redis-server, the production
// intervals, the klines follower on; after the first cycles and two minute bursts (every
// marketstate has read, and keeps, its candle window), a full GC, then RSS, heap used, external
// memory and the heap spaces. Goals (issue 12): RSS ≤ 150 MB at 1,000 symbols, ≤ 80 MB at 3.
//
//   --heap-snapshot FILE   also write a heap snapshot (after the GC)
//   --summarize FILE [--minus FILE2] [--per N]
//                          no service: the snapshot's self sizes by kind of object (type and
//                          constructor), largest first; with --minus, the difference between two
//                          snapshots (e.g. 1,000 symbols minus 3), divided by --per (the symbols
//                          between them): what one symbol costs, object kind by object kind.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import os from "node:os";
import v8 from "node:v8";
import { Redis } from "ioredis";
import { loadConfig } from "../src/config/load.js";
import { createLogger } from "../src/log.js";
import { startService, wallClock } from "../src/service/service.js";
import { startTestRedis } from "../test/helpers/redisServer.js";
import { benchCandleAgeSec, benchSymbols, LIVE_FEED_AHEAD, liveFeed } from "./liveLayouts.js";

interface Args {
  symbols: number;
  heapSnapshot: string | null;
  summarize: string | null;
  minus: string | null;
  per: number;
  /** Internal: only seed the live layouts on this Redis URL and exit (a child process). */
  seed: string | null;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    symbols: 1000,
    heapSnapshot: null,
    summarize: null,
    minus: null,
    per: 1,
    seed: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--symbols") args.symbols = Number(value);
    else if (flag === "--heap-snapshot") args.heapSnapshot = value;
    else if (flag === "--summarize") args.summarize = value;
    else if (flag === "--minus") args.minus = value;
    else if (flag === "--per") args.per = Number(value);
    else if (flag === "--seed") args.seed = value;
    else throw new Error(`unknown argument ${flag}`);
  }
  return args;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** Self sizes of a .heapsnapshot by `type:name` (strings by type only: their names are their text). */
function selfSizes(file: string): Map<string, { bytes: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [iType, iName, iSize] = ["type", "name", "self_size"].map((f) => fields.indexOf(f));
  const out = new Map<string, { bytes: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]];
    const name = snap.strings[snap.nodes[i + iName]];
    const key =
      type === "string" ||
      type === "concatenated string" ||
      type === "sliced string" ||
      type === "number" ||
      type === "code"
        ? type
        : `${type}:${name.slice(0, 60)}`;
    const entry = out.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += snap.nodes[i + iSize];
    entry.count += 1;
    out.set(key, entry);
  }
  return out;
}

function summarize(args: Args): void {
  const a = selfSizes(args.summarize!);
  const b =
    args.minus === null
      ? new Map<string, { bytes: number; count: number }>()
      : selfSizes(args.minus);
  const keys = new Set([...a.keys(), ...b.keys()]);
  const rows = [...keys].map((k) => {
    const x = a.get(k) ?? { bytes: 0, count: 0 };
    const y = b.get(k) ?? { bytes: 0, count: 0 };
    return { key: k, bytes: (x.bytes - y.bytes) / args.per, count: (x.count - y.count) / args.per };
  });
  rows.sort((p, q) => q.bytes - p.bytes);
  const total = rows.reduce((s, r) => s + r.bytes, 0);
  const unit = args.per === 1 ? "" : " per symbol";
  console.log(
    `self size${unit}: ${(total / 1024).toFixed(1)} KiB${args.minus === null ? "" : ` (${args.summarize} minus ${args.minus}, / ${args.per})`}`,
  );
  console.log("| bytes | share | objects | kind |\n|---|---|---|---|");
  for (const r of rows.slice(0, 25)) {
    console.log(
      `| ${r.bytes.toFixed(0)} | ${((100 * r.bytes) / total).toFixed(1)} % | ${r.count.toFixed(1)} | ${r.key.replace(/\|/g, "\\|")} |`,
    );
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.summarize !== null) return summarize(args);
  const symbols = benchSymbols(args.symbols);
  if (args.seed !== null) {
    const seeder = new Redis(args.seed);
    await liveFeed(seeder, symbols).seed();
    seeder.disconnect();
    return;
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with node --expose-gc");
  const server = await startTestRedis();
  // The history is written by a child process: its pipelines would otherwise stay in this RSS.
  execFileSync(
    process.execPath,
    [fileURLToPath(import.meta.url), "--seed", server.url, "--symbols", String(args.symbols)],
    { stdio: "inherit" },
  );
  const redis = new Redis(server.url);
  // The same walks as the child's, so the bursts continue its history (the minute after it).
  const feed = liveFeed(redis, symbols);
  feed.skipHistory();
  gc();
  const before = process.memoryUsage();
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
  const handle = await startService({
    config,
    logger: createLogger({ level: "silent" }),
    now: wallClock,
  });
  await sleep(4000);
  for (let b = 0; b < 2; b++) {
    await feed.prepareBurst(`m${b}`)();
    await sleep(3000);
  }
  gc();
  gc();
  const after = process.memoryUsage();
  const heap = v8.getHeapStatistics();
  console.log(
    `${args.symbols} symbols, after the first cycles and two minute bursts, after a full GC — ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`,
  );
  console.log(
    `RSS ${mb(after.rss)} (goal ≤ ${args.symbols >= 1000 ? 150 : args.symbols <= 3 ? 80 : "–"} MB), heap used ${mb(after.heapUsed)} of ${mb(after.heapTotal)}, ` +
      `external ${mb(after.external)} (array buffers ${mb(after.arrayBuffers)}); before the service: RSS ${mb(before.rss)}, heap used ${mb(before.heapUsed)}`,
  );
  console.log(
    `heap used by the service: ${mb(after.heapUsed - before.heapUsed)} = ${((after.heapUsed - before.heapUsed) / 1024 / args.symbols).toFixed(1)} KiB per symbol (malloced ${mb(heap.malloced_memory)})`,
  );
  const goalMB = args.symbols >= 1000 ? 150 : args.symbols <= 3 ? 80 : null;
  console.log(
    goalMB === null
      ? `no goal at ${args.symbols} symbols (the goals: RSS ≤ 80 MB at 3 symbols, ≤ 150 MB at 1,000)`
      : `goal RSS ≤ ${goalMB} MB at ${args.symbols <= 3 ? 3 : "1,000"} symbols: ${mb(after.rss)}, ${after.rss / 2 ** 20 <= goalMB ? "met" : "NOT met"}`,
  );
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_used_size > 1 << 20)
      console.log(
        `  ${space.space_name.padEnd(24)} used ${mb(space.space_used_size)} of ${mb(space.space_size)}`,
      );
  }
  if (args.heapSnapshot !== null)
    console.log(`heap snapshot: ${v8.writeHeapSnapshot(args.heapSnapshot)}`);
  await handle.close();
  redis.disconnect();
  await server.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
