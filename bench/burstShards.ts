// bench:burst's `--shards N` (issue 20, lever 4 — measured, not built into the service): the
// symbols split over N worker_threads, each running a service instance of its own (startService,
// as the bench does in process) over its share, with its own connections and its own single-writer
// lease (leaseKey quantum:calc:leader-shard<k>, so every shard leads and every publish stays
// fenced, as in the unsharded bench). The main thread seeds, sends the burst and collects each
// shard's burst → harvest write latencies by message passing. docs/performance.md, "Shards".
//
// worker_threads, not child processes: that is the lever as issue 20 states it (one process, the
// main thread keeping the lease, HTTP and metrics), and it makes the process's own counters the
// figures wanted — process.cpuUsage() is getrusage(RUSAGE_SELF), every thread's CPU summed, and
// the RSS is the one process's. What the measurement leaves out: every shard's klines follower
// reads the whole stream and skips the other shards' symbols (unknown_symbol), where a built
// version would fan the entries out from the main thread.
//
// This file is also the workers' entry: loaded in a worker it starts the shard's service.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { loadConfig } from "../src/config/load.js";
import { createLogger } from "../src/log.js";
import { startService, wallClock } from "../src/service/service.js";
import { stepGate } from "../src/phases/stepGate.js";
import type { CycleDoneEvent } from "../machines/publisher.js";

export interface ShardData {
  shard: number;
  redisUrl: string;
  symbols: string[];
  maxCandleAge: number;
  handoff: boolean;
  /** The step gate's bound in this shard (src/phases/stepGate.ts); 0 = unbounded, null = default. */
  stepConcurrency: number | null;
}

/** main → worker */
type ToShard = { type: "watch"; t0: number; deadline: number } | { type: "close" };
/** worker → main */
type FromShard =
  | { type: "ready" }
  | { type: "seen"; seen: Array<[string, number]> }
  | { type: "closed" }
  | { type: "error"; message: string };

export interface Shards {
  /** How many symbols each shard runs. */
  sizes: number[];
  /**
   * Per symbol, the ms from t0 (the burst sent) to the end of the harvest cycle of a chain that
   * started at or after t0, from every shard; waits until each shard has all its symbols or the
   * deadline passed. Times are wallClock (performance.timeOrigin + now: epoch ms in every thread).
   */
  collect(t0: number, deadline: number): Promise<Map<string, number>>;
  close(): Promise<void>;
}

/** Round-robin, so each shard gets every price regime of the feed (liveFeed cycles them by index). */
export function splitSymbols(symbols: string[], n: number): string[][] {
  const parts = Array.from({ length: n }, () => [] as string[]);
  symbols.forEach((s, i) => parts[i % n].push(s));
  return parts;
}

export async function startShards(
  n: number,
  base: Omit<ShardData, "shard" | "symbols">,
  symbols: string[],
): Promise<Shards> {
  const parts = splitSymbols(symbols, n);
  if (parts.some((p) => p.length === 0))
    throw new Error(`--shards ${n}: more shards than the ${symbols.length} symbols`);
  const workers = parts.map(
    (share, shard) =>
      new Worker(new URL(import.meta.url), {
        workerData: { ...base, shard, symbols: share } satisfies ShardData,
      }),
  );
  // One reply awaited per worker at a time: the main thread asks, each shard answers once.
  let failed: Error | null = null;
  const waiting = new Map<
    Worker,
    { type: string; resolve: (m: FromShard) => void; reject: (e: Error) => void }
  >();
  const fail = (error: Error): void => {
    failed ??= error;
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
  };
  for (const [k, worker] of workers.entries()) {
    worker.on("message", (m: FromShard) => {
      if (m.type === "error") return fail(new Error(`shard ${k}: ${m.message}`));
      const w = waiting.get(worker);
      if (w === undefined || w.type !== m.type)
        return fail(new Error(`shard ${k}: unexpected ${m.type}`));
      waiting.delete(worker);
      w.resolve(m);
    });
    worker.on("error", (e) => fail(new Error(`shard ${k}: ${e.message}`)));
    worker.on("exit", (code) => {
      if (code !== 0) fail(new Error(`shard ${k} exited with ${code}`));
    });
  }
  const ask = (worker: Worker, type: FromShard["type"], msg: ToShard | null): Promise<FromShard> =>
    new Promise((resolve, reject) => {
      if (failed !== null) return reject(failed);
      waiting.set(worker, { type, resolve, reject });
      if (msg !== null) worker.postMessage(msg);
    });
  await Promise.all(workers.map((w) => ask(w, "ready", null)));
  return {
    sizes: parts.map((p) => p.length),
    async collect(t0, deadline) {
      const replies = await Promise.all(
        workers.map((w) => ask(w, "seen", { type: "watch", t0, deadline })),
      );
      const seen = new Map<string, number>();
      for (const r of replies) if (r.type === "seen") for (const [s, ms] of r.seen) seen.set(s, ms);
      return seen;
    },
    async close() {
      // Each shard closes its service (its lease released, its connections closed), then exits.
      // A shard whose service left a handle open is ended 2 s after its close() returned.
      const exits = workers.map((w) => new Promise((r) => w.once("exit", r)));
      await Promise.all(workers.map((w) => ask(w, "closed", { type: "close" })));
      const late = setTimeout(() => workers.forEach((w) => void w.terminate()), 2000);
      await Promise.all(exits);
      clearTimeout(late);
    },
  };
}

async function runShard(data: ShardData): Promise<void> {
  const port = parentPort!;
  if (data.stepConcurrency !== null)
    stepGate.setLimit(data.stepConcurrency === 0 ? Number.POSITIVE_INFINITY : data.stepConcurrency);
  const { config } = loadConfig({
    env: {},
    flags: {
      redisUrl: data.redisUrl,
      symbols: data.symbols,
      logLevel: "silent",
      maxPositionAge: 3600,
      maxCandleAge: data.maxCandleAge,
      leaseKey: `quantum:calc:leader-shard${data.shard}`,
    },
  });
  const harvestDone: Array<{ symbol: string; atMs: number; chainStartedAt: number | null }> = [];
  const onCycle = (e: CycleDoneEvent, nowMs: number): void => {
    if (e.phase === "harvest" && (e.outcome === "published" || e.outcome === "heartbeat"))
      harvestDone.push({ symbol: e.symbol, atMs: nowMs, chainStartedAt: e.chainStartedAt });
  };
  const handle = await startService({
    config,
    logger: createLogger({ level: "silent" }),
    hooks: { onCycle },
    now: wallClock,
    chainHandoff: data.handoff,
  });
  const send = (m: FromShard): void => port.postMessage(m);
  port.on("message", (m: ToShard) => {
    void (async () => {
      if (m.type === "close") {
        await handle.close();
        send({ type: "closed" });
        port.close();
        return;
      }
      // The same wait as the in-process bench: poll every 5 ms until every symbol has written.
      const seen = new Map<string, number>();
      while (seen.size < data.symbols.length && wallClock() < m.deadline) {
        for (const d of harvestDone)
          if (d.chainStartedAt !== null && d.chainStartedAt >= m.t0 && !seen.has(d.symbol))
            seen.set(d.symbol, d.atMs - m.t0);
        await new Promise((r) => setTimeout(r, 5));
      }
      harvestDone.length = 0;
      send({ type: "seen", seen: [...seen] });
    })().catch((e: unknown) => send({ type: "error", message: String(e) }));
  });
  send({ type: "ready" });
}

if (!isMainThread && (workerData as ShardData | null)?.redisUrl !== undefined)
  runShard(workerData as ShardData).catch((e: unknown) =>
    parentPort!.postMessage({ type: "error", message: String(e) } satisfies FromShard),
  );
