// Soak under faults (`npm run soak -- --minutes N [--sentinel]`): 200 symbols, all three phases at
// 1 s intervals, a new candle per symbol every second — while a fault loop keeps breaking Redis
// and the service. Two instances of the service run in this process under the single-writer lease
// (one leader, one standby; each its own startService handle, connections, lease manager and
// supervisor — what two processes on two hosts would have, except the event loop).
//
// Two deployments (--sentinel picks the second):
//  - a private local redis-server. Faults, in turn: restart (SIGKILL, it comes back empty and is
//    re-seeded — the lease key is gone too, so either instance may win it), CLIENT KILL of every
//    connection of ours (publishers' and lease writer's, leader's and standby's), CLIENT PAUSE of
//    every client, a SIGTERM-like handover (the leader's handle.close(): drain, release the lease,
//    close; the standby takes over; a fresh standby is started) and a kill-like handover (the
//    leader stops dead without releasing: every actor stopped, the lease no longer renewed, its
//    connections left open like a frozen process's; the standby takes over once the lease expires
//    in Redis; then the dead one is closed — its release finds another holder and deletes nothing
//    — and a fresh standby is started).
//  - Redis Sentinel (a primary, a replica, three `redis-server --sentinel`, quorum 2, test/helpers/
//    sentinel.ts); the service, the feeder and the checks follow the primary through the
//    sentinels. Faults: crash (SIGKILL of the current primary: the sentinels fail over to the
//    replica, which has the data; the crashed node is started again empty, becomes a replica and
//    resyncs — the Sentinel meaning of "restart": nothing is re-seeded), CLIENT KILL and CLIENT
//    PAUSE on the current primary, SENTINEL FAILOVER, and the two handovers. down-after-
//    milliseconds is max(5 s, pause + 2 s), so a CLIENT PAUSE stalls the primary without making
//    the sentinels fail over.
//
// After each fault it measures how long until every symbol's heartbeat (last_update_epoch of its
// risk and harvest hashes, integer seconds: a stamp counts only when it is > the second of the
// reference point, so the figure is pessimistic by up to 1 s), read from the current primary, is
// newer than the fault's recovery point:
//   restart: Redis back and re-seeded · kill: connections killed · pause: pause over ·
//   handover: the leader's close() began (SIGTERM; stamps must also be newer than its end) ·
//   handover-kill: the dead leader's lease expired in Redis (its PTTL at the kill) ·
//   crash / failover: the sentinels named the new primary / the replica reported role master.
// A second figure per kind, against the issue's goals: handover — the standby's first write
// ≤ 3 s after SIGTERM; handover-kill — first write ≤ TTL + 2 s after the kill; crash / failover —
// every heartbeat fresh ≤ 15 s after the crash / the SENTINEL FAILOVER command. After a failover
// it also checks that nothing was written to the demoted primary: no READONLY reply there (a write
// sent to a replica), and it counts the EXECs (fenced publishes, lease renewals) the old primary
// executed after the promotion while it was still a primary (writes lost with it; not a goal:
// asynchronous replication allows them).
//
// Goals: RSS growth < 10 %, no unhandled error, every heartbeat fresh within 5 s of each
// recovery, the per-kind goals above, no READONLY on a demoted primary. Exit 0 when all are met,
// 1 otherwise.
//
// RSS is sampled (after a full GC) every 10 s. It moves by ±10 % from one sample to the next
// (allocator arenas, V8's young generation), so single samples would decide the goal by chance:
// "start" is the median of the first minute of samples after the warm-up (--warmup-sec; by
// default until every fault kind has run once, plus 30 s, at least 60 s, at most half the run:
// faults already running, V8 and the service's caches grown to their working size) and "end" the median of the last minute (each
// a perf_hooks histogram of the samples, in KiB to 4 significant digits).
//
// SOAK_HEAP_SNAPSHOTS=DIR writes a heap snapshot at every 10 s sample (to find what grows).
//
//   node --expose-gc dist/bench/soak.js [--minutes 5] [--symbols 200] [--fault-every-sec 30] [--pause-ms 3000] [--warmup-sec S]
//        [--sentinel] [--faults restart,kill,pause,handover,handover-kill | crash,kill,pause,failover,handover,handover-kill]
import { mkdtempSync, readFileSync, rmSync, createWriteStream } from "node:fs";
import { createHistogram } from "node:perf_hooks";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { Redis } from "ioredis";
import type { CycleDoneEvent } from "../machines/publisher.js";
import { loadConfig } from "../src/config/load.js";
import type { Config } from "../src/config/schema.js";
import { createLogger, type Logger } from "../src/log.js";
import {
  startService,
  wallClock,
  type CloseReport,
  type ServiceHandle,
} from "../src/service/service.js";
import { createPriceWalk, REGIMES } from "../src/synthetic/prices.js";
import { startTestRedis, type TestRedis } from "../test/helpers/redisServer.js";
import {
  startSentinelDeployment,
  type ManagedProcess,
  type SentinelDeployment,
} from "../test/helpers/sentinel.js";
import { benchCandleAgeSec, benchHistoryStart } from "./liveLayouts.js";

const SINGLE_FAULTS = ["restart", "kill", "pause", "handover", "handover-kill"] as const;
const SENTINEL_FAULTS = [
  "crash",
  "kill",
  "pause",
  "failover",
  "handover",
  "handover-kill",
] as const;
type FaultKind = (typeof SINGLE_FAULTS)[number] | (typeof SENTINEL_FAULTS)[number];

interface Args {
  minutes: number;
  symbols: number;
  faultEverySec: number;
  pauseMs: number;
  /** null: one round of the fault kinds (at least 60 s). */
  warmupSec: number | null;
  sentinel: boolean;
  faults: FaultKind[] | null;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    minutes: 5,
    symbols: 200,
    faultEverySec: 30,
    pauseMs: 3000,
    warmupSec: null,
    sentinel: false,
    faults: null,
  };
  const names: Record<string, "minutes" | "symbols" | "faultEverySec" | "pauseMs" | "warmupSec"> = {
    "--minutes": "minutes",
    "--symbols": "symbols",
    "--fault-every-sec": "faultEverySec",
    "--pause-ms": "pauseMs",
    "--warmup-sec": "warmupSec",
  };
  let faults: string | null = null;
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === "--sentinel") {
      args.sentinel = true;
      i--;
      continue;
    }
    if (argv[i] === "--faults") {
      faults = argv[i + 1] ?? "";
      continue;
    }
    const key = names[argv[i]];
    if (key === undefined)
      throw new Error(
        `unknown argument ${argv[i]} (expected ${[...Object.keys(names), "--sentinel", "--faults"].join(", ")})`,
      );
    const value = Number(argv[i + 1]);
    args[key] = value;
    if (!(Number.isFinite(value) && value > 0))
      throw new Error(`${argv[i]} must be a positive number (got ${argv[i + 1]})`);
  }
  if (faults !== null) {
    const allowed: readonly string[] = args.sentinel ? SENTINEL_FAULTS : SINGLE_FAULTS;
    const list = faults.split(",").filter((f) => f !== "");
    const wrong = list.filter((f) => !allowed.includes(f));
    if (list.length === 0 || wrong.length > 0)
      throw new Error(
        `--faults: ${wrong.join(",") || "(none)"} not among ${allowed.join(",")}${args.sentinel ? " (with --sentinel)" : ""}`,
      );
    args.faults = list as FaultKind[];
  }
  return args;
}

const CANDLE_MS = 60_000;
const HISTORY = 300;
/** Candles kept per key: the window plus the reader's margin, so Redis memory stays flat too. */
const KEEP = 700;
const FRESH_GOAL_MS = 5000;
const RSS_GOAL = 0.1;
/** Issue 10's goals: SIGTERM → the standby writes within 3 s; kill → within TTL + 2 s; failover → the new primary written within 15 s. */
const HANDOVER_WRITE_GOAL_MS = 3000;
const KILL_WRITE_SLACK_MS = 2000;
const FAILOVER_GOAL_MS = 15_000;
const LEASE_KEY = "quantum:calc:leader";

interface Recovery {
  fault: FaultKind;
  atSec: number;
  /** From the fault's recovery point (see the header) until every heartbeat is newer. */
  freshMs: number | null;
  /** The kind's second figure (see the header) and its goal; null figure: not measured / never. */
  second: { label: string; ms: number | null; goalMs: number } | null;
  /** Free text for the line (close report, takeover, lost writes). */
  notes: string[];
  /** Broke a goal that is not a time (READONLY on a demoted primary, a failed close step, no takeover). */
  failed: string | null;
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const sec = (ms: number | null): string => (ms === null ? "never" : `${(ms / 1000).toFixed(2)} s`);

/** Median of byte counts, through a perf_hooks histogram (KiB, 4 significant digits: ±0.01 %). */
function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const histogram = createHistogram({ lowest: 1, highest: 2 ** 32, figures: 4 });
  for (const v of values) histogram.record(Math.max(1, Math.round(v / 1024)));
  return histogram.percentile(50) * 1024;
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** RSS after a full GC when the process runs with --expose-gc (steadier than a raw sample). */
function memory(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed };
}

async function until<T>(
  what: string,
  check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs: number,
  everyMs = 50,
): Promise<T> {
  const deadline = wallClock() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve(check()).catch(() => null);
    if (value) return value;
    if (wallClock() > deadline)
      throw new Error(`soak: timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

class Market {
  private readonly walks: Array<() => number>;
  // A candle a second runs a minute ahead of the clock each: the history is laid back by the
  // candles the run will add, so none is dated in the future (future_candle), and maxCandleAge is
  // raised to match (benchCandleAgeSec).
  private openTime: number;
  readonly last: number[];

  constructor(
    readonly symbols: string[],
    ahead: number,
  ) {
    this.openTime = benchHistoryStart(HISTORY, ahead);
    this.walks = symbols.map((_, i) =>
      createPriceWalk(REGIMES[i % REGIMES.length], 500 + i, 20 + (i % 80)),
    );
    this.last = symbols.map(() => 0);
  }

  /** One new candle per symbol, written in one pipeline (trimmed to KEEP per key). */
  async tick(redis: Redis): Promise<void> {
    const pipe = redis.pipeline();
    this.symbols.forEach((symbol, i) => {
      const close = Number(this.walks[i]().toPrecision(10));
      this.last[i] = close;
      const key = `candles:${symbol}:1m`;
      pipe.zadd(key, this.openTime, JSON.stringify({ t: this.openTime, close }));
      pipe.zremrangebyrank(key, 0, -KEEP - 1);
    });
    this.openTime += CANDLE_MS;
    // exec() resolves with each command's error (READONLY from a demoted primary): report the first.
    const failed = ((await pipe.exec()) ?? []).find(([error]) => error !== null);
    if (failed) throw failed[0]!;
  }

  /** Candle history and a position per symbol: what the producers would write. */
  async seed(redis: Redis): Promise<void> {
    for (let h = 0; h < HISTORY; h++) await this.tick(redis);
    const pipe = redis.pipeline();
    this.symbols.forEach((symbol, i) => {
      const current = this.last[i];
      const long = i % 2 === 0;
      const entry = long ? current * 0.98 : current * 1.02;
      pipe.hset(`quantum:state:positions:${symbol}`, {
        symbol,
        side: long ? "LONG" : "SHORT",
        entry_price: String(entry),
        current_price: String(current),
        age_sec: "3600",
        unrealized_pnl: String(long ? current - entry : entry - current),
      });
    });
    await pipe.exec();
  }
}

/** One node's role and counters, read in one INFO (so the role and the counts are of one moment). */
interface NodeStats {
  role: string;
  exec: number;
  readonly: number;
}
function parseNodeStats(info: string): NodeStats {
  const num = (re: RegExp): number => Number(re.exec(info)?.[1] ?? 0);
  return {
    role: /^role:(\w+)/m.exec(info)?.[1] ?? "unknown",
    exec: num(/^cmdstat_exec:calls=(\d+)/m),
    readonly: num(/^errorstat_READONLY:count=(\d+)/m),
  };
}

/** Where the soak runs: a single redis-server or a Sentinel deployment. */
interface Target {
  readonly label: string;
  /** The service's connection flags. */
  readonly flags: Record<string, unknown>;
  /** The feeder's client (follows the primary; no offline queue: writes during an outage are skipped). */
  feeder(): Redis;
  /** How many times the feeder's client was replaced (it had given up reconnecting). */
  feederRenewals: number;
  /** A client of the current primary (heartbeat reads, CLIENT KILL / PAUSE, the lease's PTTL). */
  admin(): Redis;
  close(): Promise<void>;
}

const clientOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: () => 100,
  connectTimeout: 1000,
  commandTimeout: 3000,
} as const;

async function ready(client: Redis, timeoutMs = 15_000): Promise<void> {
  await until("a soak client to connect", () => client.status === "ready", timeoutMs, 20);
}

async function singleTarget(): Promise<Target & { server: TestRedis }> {
  const server = await startTestRedis();
  const feeder = new Redis({ port: server.port, host: "127.0.0.1", ...clientOptions });
  feeder.on("error", () => undefined);
  const admin = new Redis({ port: server.port, host: "127.0.0.1", ...clientOptions });
  admin.on("error", () => undefined);
  await Promise.all([ready(feeder), ready(admin)]);
  return {
    label: `a private redis-server on :${server.port}`,
    server,
    flags: { redisUrl: server.url },
    feeder: () => feeder,
    feederRenewals: 0,
    admin: () => admin,
    async close() {
      feeder.disconnect();
      admin.disconnect();
      await server.close();
    },
  };
}

interface SentinelTarget extends Target {
  deployment: SentinelDeployment;
  primaryPort: number;
  node(port: number): ManagedProcess;
  other(port: number): ManagedProcess;
  stats(port: number): Promise<NodeStats>;
}

async function sentinelTarget(pauseMs: number): Promise<SentinelTarget> {
  const downAfterMs = Math.max(5000, pauseMs + 2000);
  const deployment = await startSentinelDeployment({ downAfterMs, failoverTimeoutMs: 5000 });
  await deployment.waitForTopology(30_000);
  const { first, second } = deployment.nodes;
  const newFeeder = (): Redis => {
    const client = new Redis({
      sentinels: deployment.sentinelAddresses.map((a) => ({
        host: "127.0.0.1",
        port: Number(a.split(":")[1]),
      })),
      name: deployment.masterName,
      ...clientOptions,
      sentinelRetryStrategy: () => 100,
      failoverDetector: true,
      // A demoted primary answers READONLY: ask the sentinels again.
      reconnectOnError: (error) => (/^READONLY/.test(error.message) ? 1 : false),
    });
    client.on("error", () => undefined);
    return client;
  };
  let feeder = newFeeder();
  await ready(feeder);
  const admins = new Map<number, Redis>();
  const clientOf = (port: number): Redis => {
    let c = admins.get(port);
    if (c === undefined) {
      c = deployment.client(port);
      admins.set(port, c);
    }
    return c;
  };
  const target: SentinelTarget = {
    label: `Redis Sentinel (primary :${first.port}, replica :${second.port}, sentinels ${deployment.sentinels.map((s) => `:${s.port}`).join(" ")}, quorum 2, down-after ${downAfterMs} ms)`,
    deployment,
    primaryPort: first.port,
    flags: {
      redisUrl: "redis://unused.invalid:1/0",
      sentinels: deployment.sentinelAddresses.join(","),
      sentinelName: deployment.masterName,
    },
    // ioredis's Sentinel client sometimes gives up after a crash of the primary (status 'end',
    // "Connection is closed."): the feeder is then replaced (counted in feederRenewals).
    feeder: () => {
      if (feeder.status === "end") {
        feeder = newFeeder();
        target.feederRenewals++;
      }
      return feeder;
    },
    feederRenewals: 0,
    admin: () => clientOf(target.primaryPort),
    node: (port) => (port === first.port ? first : second),
    other: (port) => (port === first.port ? second : first),
    stats: async (port) =>
      parseNodeStats(await clientOf(port).info("replication", "commandstats", "errorstats")),
    async close() {
      feeder.disconnect();
      await deployment.close();
    },
  };
  return target;
}

/** One service instance (a startService handle) and what its hooks saw. */
interface Instance {
  id: number;
  handle: ServiceHandle;
  /** When it last became leader (wall clock), null while standby. */
  leaderSince: number | null;
  /** Its first write (publish or heartbeat cycle) after it last became leader. */
  firstWriteAt: number | null;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const symbols = Array.from(
    { length: args.symbols },
    (_, i) => `SOAK${String(i).padStart(3, "0")}USDT`,
  );
  const dir = mkdtempSync(join(tmpdir(), "qc-soak-"));
  const logPath = join(dir, "service.log");

  let unhandled = 0;
  const unhandledSamples: string[] = [];
  const countUnhandled = (error: unknown): void => {
    unhandled++;
    if (unhandledSamples.length < 5)
      unhandledSamples.push(
        error instanceof Error ? (error.stack ?? error.message) : String(error),
      );
  };
  process.on("unhandledRejection", countUnhandled);
  process.on("uncaughtException", countUnhandled);

  const single = args.sentinel ? null : await singleTarget();
  const sentinel = args.sentinel ? await sentinelTarget(args.pauseMs) : null;
  const target: Target = (single ?? sentinel)!;
  // One candle a second for the whole soak (and its warm-up), plus a history's worth per
  // reseed after a restart of the empty server (at most one fault per faultEverySec), with a margin.
  const soakSec = args.minutes * 60 + (args.warmupSec ?? 600) + 120;
  const candlesAhead = Math.ceil(soakSec + Math.ceil(soakSec / args.faultEverySec) * HISTORY);
  const market = new Market(symbols, candlesAhead);
  await market.seed(target.feeder());
  if (sentinel) await target.feeder().call("WAIT", "1", "5000");

  const counts = {
    cycles: 0,
    published: 0,
    heartbeat: 0,
    skipped: 0,
    error: 0,
    restarts: 0,
    instances: 0,
  };
  const skipReasons = new Map<string, number>();
  const { config }: { config: Config } = loadConfig({
    env: {},
    flags: {
      ...target.flags,
      symbols,
      marketstateInterval: 1,
      riskInterval: 1,
      harvestInterval: 1,
      // A 1 s service: retry within about a second of recovery (the 30 s default cap is for 60 s intervals).
      backoffBaseMs: 250,
      backoffCapMs: 2000,
      maxCandleAge: benchCandleAgeSec(candlesAhead),
      logLevel: "warn",
    },
  });
  const logFile = createWriteStream(logPath);
  const rootLogger: Logger = createLogger({ level: "warn", destination: logFile });

  const instances: Instance[] = [];
  let nextId = 1;
  const startInstance = async (): Promise<Instance> => {
    const id = nextId++;
    const instance: Instance = {
      id,
      handle: undefined as unknown as ServiceHandle,
      leaderSince: null,
      firstWriteAt: null,
    };
    const handle = await startService({
      config,
      logger: rootLogger.child({ instance: id }),
      systemd: null,
      hooks: {
        onCycle: (e: CycleDoneEvent) => {
          counts.cycles++;
          counts[e.outcome]++;
          if (e.outcome === "skipped")
            skipReasons.set(
              `${e.phase}:${e.reason}`,
              (skipReasons.get(`${e.phase}:${e.reason}`) ?? 0) + 1,
            );
          if (
            (e.outcome === "published" || e.outcome === "heartbeat") &&
            instance.firstWriteAt === null &&
            instance.leaderSince !== null
          )
            instance.firstWriteAt = wallClock();
        },
        onRestart: () => counts.restarts++,
        onRole: (role) => {
          if (role.role === "leader") {
            instance.leaderSince = wallClock();
            instance.firstWriteAt = null;
          } else {
            instance.leaderSince = null;
          }
        },
      },
    });
    instance.handle = handle;
    if (handle.role().role === "leader" && instance.leaderSince === null)
      instance.leaderSince = wallClock();
    counts.instances++;
    instances.push(instance);
    return instance;
  };
  const leaderNow = (): Instance | undefined =>
    instances.find((i) => i.handle.role().role === "leader");
  /** Dead leaders being closed in the background (their drain waits out its bound: the actors were stopped). */
  const closing: Array<Promise<CloseReport>> = [];
  const closeProblems: string[] = [];
  const closeSteps = (id: number, report: CloseReport): string[] =>
    report.steps
      .filter((s) => s.outcome === "failed" || (s.outcome === "timed out" && s.step !== "drain"))
      .map((s) => `#${id} ${s.step} ${s.outcome}${s.error ? ` (${s.error})` : ""}`);

  const first = await startInstance();
  const second = await startInstance();
  process.stdout.write(
    `instances: #${first.id} ${first.handle.role().role}, #${second.id} ${second.handle.role().role} (holder ${first.handle.role().holder ?? "?"})\n`,
  );

  /** True when every symbol's risk and harvest hash on the current primary was heartbeated after `sinceSec`. */
  const allFresh = async (sinceSec: number): Promise<boolean> => {
    const pipe = target.admin().pipeline();
    for (const symbol of symbols) {
      pipe.hget(`quantum:risk:proposal:${symbol}`, "last_update_epoch");
      pipe.hget(`quantum:harvest:proposal:${symbol}`, "last_update_epoch");
    }
    const replies = (await pipe.exec()) ?? [];
    return (
      replies.length === 2 * symbols.length &&
      replies.every(([error, value]) => error === null && Number(value) > sinceSec)
    );
  };
  /**
   * The wall-clock time at which every heartbeat was seen newer than the second of `newerThanMs`
   * (null: not within 60 s of `fromMs`).
   */
  const freshAt = async (fromMs: number, newerThanMs = fromMs): Promise<number | null> => {
    const sinceSec = Math.floor(newerThanMs / 1000);
    while (wallClock() - fromMs < 60_000) {
      if (await allFresh(sinceSec).catch(() => false)) return wallClock();
      await sleep(100);
    }
    return null;
  };
  const since = (at: number | null, fromMs: number): number | null =>
    at === null ? null : at - fromMs;

  // A candle per symbol per second (skipped while Redis is away or paused).
  const feed = { ok: 0, failed: 0, lastError: "" };
  let feeding = true;
  let reseeding = false;
  const feedLoop = (async () => {
    while (feeding) {
      const next = wallClock() + 1000;
      if (!reseeding) {
        await market.tick(target.feeder()).then(
          () => feed.ok++,
          (error: unknown) => {
            feed.failed++;
            feed.lastError = error instanceof Error ? error.message : String(error);
          },
        );
      }
      await sleep(Math.max(0, next - wallClock()));
    }
  })();

  const started = wallClock();
  const endAt = started + args.minutes * 60_000;
  const elapsedSec = (): number => Math.round((wallClock() - started) / 1000);
  const faults: FaultKind[] = args.faults ?? [...(sentinel ? SENTINEL_FAULTS : SINGLE_FAULTS)];
  process.stdout.write(
    `soak: ${symbols.length} symbols, 1 s intervals, ${args.minutes} min, a fault every ~${args.faultEverySec} s (${faults.join(", ")}); ${target.label}; ` +
      `lease TTL ${config.leaseTtlMs} ms; service log ${logPath}\n`,
  );

  const warm = since(await freshAt(started), started);
  process.stdout.write(
    `start: every heartbeat fresh after ${warm === null ? "NEVER" : sec(warm)}; RSS ${mb(memory().rss)}\n`,
  );
  // By default the warm-up lasts until every fault kind has run once, plus 30 s (at least 60 s,
  // at most half the run): the working set (V8's heap, the candle caches, instances that have
  // led and handed over) is reached only then — in a 15-min Sentinel run the JS heap stepped
  // from 34 to 52 to 65 MB over the first SIGTERM and kill-like handovers, then stayed at 65–78 MB.
  const halfRun = started + (endAt - started) / 2;
  let warmupEnd =
    args.warmupSec === null ? halfRun : Math.min(started + args.warmupSec * 1000, halfRun);
  let baseline: { rss: number; heap: number } | null = null;
  const samples: Array<{ sec: number; rss: number; heap: number }> = [];

  /** CLIENT KILL of every connection of ours (publishers', lease writer's, followers'; every instance). */
  const killOurs = async (): Promise<number> => {
    const admin = target.admin();
    const list = String(await admin.call("CLIENT", "LIST"));
    const ids = list
      .split("\n")
      .filter((l) => / name=quantum-calc\S* /.test(l))
      .map((l) => /(?:^|\s)id=(\d+)/.exec(l)![1]);
    for (const id of ids) await admin.call("CLIENT", "KILL", "ID", id).catch(() => undefined);
    return ids.length;
  };

  /** A handover: the leader goes (SIGTERM-like or kill-like), the standby takes over, a fresh standby is started. */
  const handover = async (
    kind: "handover" | "handover-kill",
  ): Promise<Omit<Recovery, "fault" | "atSec">> => {
    const leader = await until("a leader", () => leaderNow(), 20_000, 50);
    const standbys = instances.filter((i) => i !== leader);
    const notes: string[] = [];
    let failed: string | null = null;
    const t0 = wallClock();
    let recoveryAt: number;
    let newerThan: number;
    if (kind === "handover") {
      const report = await leader.handle.close(); // SIGTERM: drain, release, close
      const t1 = wallClock();
      instances.splice(instances.indexOf(leader), 1);
      notes.push(`close ${sec(t1 - t0)}`);
      const problems = closeSteps(leader.id, report);
      if (report.steps.some((s) => s.step === "drain" && s.outcome !== "done"))
        problems.push(
          `#${leader.id} drain ${report.steps.find((s) => s.step === "drain")!.outcome}`,
        );
      if (problems.length > 0) {
        closeProblems.push(...problems);
        failed = problems.join("; ");
      }
      recoveryAt = t0;
      newerThan = t1;
    } else {
      // Kill-like: nothing more is written and the lease is no longer renewed, nothing released.
      leader.handle.actor.stop();
      await leader.handle.lease!.stop();
      const [holder, pttl] = await Promise.all([
        target.admin().get(LEASE_KEY),
        target.admin().pttl(LEASE_KEY),
      ]);
      const expiresAt = wallClock() + Math.max(0, pttl);
      notes.push(`lease expired ${sec(expiresAt - t0)} after the kill`);
      if (holder !== leader.handle.lease!.token)
        notes.push(`lease key held ${holder === null ? "nothing" : "another token"} at the kill`);
      instances.splice(instances.indexOf(leader), 1);
      recoveryAt = expiresAt;
      newerThan = t0;
    }
    const fresh = await freshAt(recoveryAt, newerThan);
    const freshMs = since(fresh, recoveryAt);
    const taker = standbys.find((i) => i.leaderSince !== null && i.leaderSince >= t0);
    if (taker === undefined) failed = `${failed ? `${failed}; ` : ""}no standby took over`;
    else notes.push(`#${taker.id} leader after ${sec(taker.leaderSince! - t0)}`);
    const firstWrite = taker?.firstWriteAt ?? null;
    if (kind === "handover-kill") {
      // The dead leader is closed now: its release finds the new holder's token and deletes nothing.
      const holderBefore = await target
        .admin()
        .get(LEASE_KEY)
        .catch(() => null);
      closing.push(
        leader.handle.close().then(async (report) => {
          const after = await target
            .admin()
            .get(LEASE_KEY)
            .catch(() => "unknown");
          const problems = closeSteps(leader.id, report);
          // Its release saw (and kept) another holder's token, or deleted the key (holder null).
          if (holderBefore !== null && after === null && leader.handle.lease!.holder() === null)
            problems.push(`#${leader.id}'s close deleted the new holder's lease`);
          closeProblems.push(...problems);
          return report;
        }),
      );
    }
    const fresh2 = await startInstance();
    if (fresh2.handle.role().role !== "standby")
      failed = `${failed ? `${failed}; ` : ""}fresh instance #${fresh2.id} is ${fresh2.handle.role().role}`;
    notes.push(`#${fresh2.id} started as ${fresh2.handle.role().role}`);
    return {
      freshMs,
      second:
        kind === "handover"
          ? {
              label: "first write after SIGTERM",
              ms: since(firstWrite, t0),
              goalMs: HANDOVER_WRITE_GOAL_MS,
            }
          : {
              label: "first write after the kill",
              ms: since(firstWrite, t0),
              goalMs: config.leaseTtlMs + KILL_WRITE_SLACK_MS,
            },
      notes,
      failed,
    };
  };

  /** Sentinel: the primary crashes (SIGKILL); the sentinels fail over; the node comes back empty as a replica. */
  const crash = async (s: SentinelTarget): Promise<Omit<Recovery, "fault" | "atSec">> => {
    await s.deployment.waitForTopology(30_000);
    const old = s.node(s.primaryPort);
    const next = s.other(s.primaryPort);
    const t0 = wallClock();
    await old.kill();
    const promotedAt = await until(
      "the sentinels to name the replica",
      async () => ((await s.deployment.agreedPrimaryPort()) === next.port ? wallClock() : null),
      60_000,
      100,
    );
    s.primaryPort = next.port;
    const fresh = await freshAt(promotedAt);
    await old.start(); // empty: the sentinels make it a replica of the new primary
    const notes = [`promoted ${sec(promotedAt - t0)} after the crash`];
    let failed: string | null = null;
    // While the restarted node is still an (empty) primary nobody names, nothing of ours may go
    // there: its EXEC count (a fresh process: from 0) until the sentinels make it a replica.
    let execAsPrimary = 0;
    const converted = await until(
      "the restarted node to become a replica",
      async () => {
        const st = await s.stats(old.port);
        if (st.role === "master") execAsPrimary = st.exec;
        return st.role === "slave" ? wallClock() : null;
      },
      40_000,
      100,
    ).catch(() => null);
    if (converted === null) failed = `:${old.port} did not become a replica within 40 s`;
    else
      notes.push(
        `restarted empty, a replica ${sec(converted - t0)} after the crash; ${execAsPrimary} EXEC on it meanwhile`,
      );
    if (execAsPrimary > 0)
      failed = `${failed ? `${failed}; ` : ""}${execAsPrimary} EXEC on the restarted (unnamed) primary :${old.port}`;
    return {
      freshMs: since(fresh, promotedAt),
      second: { label: "fresh after the crash", ms: since(fresh, t0), goalMs: FAILOVER_GOAL_MS },
      notes,
      failed,
    };
  };

  /** Sentinel: SENTINEL FAILOVER; every heartbeat fresh on the new primary; nothing written to the demoted one. */
  const failover = async (s: SentinelTarget): Promise<Omit<Recovery, "fault" | "atSec">> => {
    await s.deployment.waitForTopology(30_000);
    const old = s.primaryPort;
    const next = s.other(old).port;
    const before = await s.stats(old);
    const t0 = wallClock();
    await s.deployment.failover();
    const promotedAt = await until(
      "the replica to be promoted",
      async () => ((await s.stats(next)).role === "master" ? wallClock() : null),
      20_000,
      20,
    );
    const atPromotion = await s.stats(old).catch(() => null);
    s.primaryPort = next;
    // The old primary stays a primary until the sentinels reconfigure it: watch its EXEC count until then.
    let lastAsPrimary = atPromotion;
    const demotion = until(
      "the old primary to be demoted",
      async () => {
        const st = await s.stats(old);
        if (st.role === "master") lastAsPrimary = st;
        return st.role === "slave" ? wallClock() : null;
      },
      60_000,
      100,
    ).catch(() => null);
    const fresh = await freshAt(promotedAt);
    const demotedAt = await demotion;
    const notes = [`promoted ${sec(promotedAt - t0)} after the command`];
    let failed: string | null = null;
    if (demotedAt === null) failed = `:${old} not demoted within 60 s`;
    else notes.push(`old primary demoted ${sec(demotedAt - t0)} after`);
    const lost = atPromotion && lastAsPrimary ? lastAsPrimary.exec - atPromotion.exec : null;
    notes.push(`${lost ?? "?"} EXEC on the old primary after the promotion`);
    // A write sent to it once it is a replica would be answered READONLY.
    await sleep(2000);
    const after = await s.stats(old).catch(() => null);
    const readonly = after === null ? null : after.readonly - before.readonly;
    notes.push(`READONLY on it: ${readonly ?? "?"}`);
    if (readonly !== 0)
      failed = `${failed ? `${failed}; ` : ""}${readonly ?? "unknown"} READONLY on the demoted primary :${old}`;
    return {
      freshMs: since(fresh, promotedAt),
      second: { label: "fresh after the command", ms: since(fresh, t0), goalMs: FAILOVER_GOAL_MS },
      notes,
      failed,
    };
  };

  const recoveries: Recovery[] = [];
  let nextFault = wallClock() + args.faultEverySec * 1000;
  let progressAt = wallClock() + 10_000;
  // Faults that may take long (a failover waits for the demotion) are not begun near the end.
  const tail = (fault: FaultKind): number =>
    fault === "failover" || fault === "crash" ? 45_000 : 20_000;
  for (let n = 0; wallClock() < endAt;) {
    if (baseline === null && wallClock() >= warmupEnd) {
      baseline = memory();
      process.stdout.write(
        `  t=${elapsedSec()} s warm-up over: baseline RSS ${mb(baseline.rss)}, heap ${mb(baseline.heap)}\n`,
      );
    }
    if (wallClock() >= progressAt) {
      const m = memory();
      samples.push({ sec: elapsedSec(), ...m });
      if (process.env.SOAK_HEAP_SNAPSHOTS)
        writeHeapSnapshot(
          join(process.env.SOAK_HEAP_SNAPSHOTS, `soak-${elapsedSec()}.heapsnapshot`),
        );
      if (samples.length % 3 === 0) {
        process.stdout.write(
          `  t=${elapsedSec()} s cycles=${counts.cycles} published=${counts.published} errors=${counts.error} candles ok/failed ${feed.ok}/${feed.failed}${target.feederRenewals ? ` (feeder renewed ${target.feederRenewals}×)` : ""} instances ${instances.length} RSS ${mb(m.rss)} heap ${mb(m.heap)}\n`,
        );
      }
      progressAt += 10_000;
    }
    const fault = faults[n % faults.length];
    if (wallClock() < nextFault || wallClock() + tail(fault) > endAt) {
      await sleep(200);
      continue;
    }
    n++;
    // A dead leader of the last kill-like handover is closed first (its drain waits out its bound).
    await Promise.all(closing.splice(0));
    const at = elapsedSec();
    const before = { ...counts };
    const skipsBefore = new Map(skipReasons);
    let result: Omit<Recovery, "fault" | "atSec">;
    try {
      if (fault === "restart") {
        reseeding = true;
        await single!.server.restart(); // SIGKILL; comes back empty
        await ready(target.feeder());
        await market.seed(target.feeder());
        reseeding = false;
        const recoveredAt = wallClock();
        result = {
          freshMs: since(await freshAt(recoveredAt), recoveredAt),
          second: null,
          notes: [],
          failed: null,
        };
      } else if (fault === "kill") {
        const killed = await killOurs();
        const recoveredAt = wallClock();
        result = {
          freshMs: since(await freshAt(recoveredAt), recoveredAt),
          second: null,
          notes: [`${killed} connections`],
          failed: null,
        };
      } else if (fault === "pause") {
        await target.admin().call("CLIENT", "PAUSE", String(args.pauseMs), "ALL");
        const recoveredAt = wallClock() + args.pauseMs;
        await sleep(args.pauseMs);
        result = {
          freshMs: since(await freshAt(recoveredAt), recoveredAt),
          second: null,
          notes: [],
          failed: null,
        };
      } else if (fault === "handover" || fault === "handover-kill") {
        result = await handover(fault);
      } else if (fault === "crash") {
        result = await crash(sentinel!);
      } else {
        result = await failover(sentinel!);
      }
    } catch (error) {
      reseeding = false;
      result = {
        freshMs: null,
        second: null,
        notes: [],
        failed: `the fault itself failed: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
    // What the cycles saw from the fault to every heartbeat fresh (errors: I/O failures; skips by reason).
    const skipsNow = [...skipReasons]
      .map(([k, v]) => [k, v - (skipsBefore.get(k) ?? 0)] as const)
      .filter(([, v]) => v > 0);
    result.notes.push(
      `errors ${counts.error - before.error}, skips ${counts.skipped - before.skipped}${skipsNow.length ? ` (${skipsNow.map(([k, v]) => `${k}=${v}`).join(" ")})` : ""}`,
    );
    const recovery: Recovery = { fault, atSec: at, ...result };
    recoveries.push(recovery);
    const secondText = recovery.second
      ? `; ${recovery.second.label} ${sec(recovery.second.ms)} (goal ≤ ${recovery.second.goalMs / 1000} s)`
      : "";
    process.stdout.write(
      `  t=${at} s ${fault}: every heartbeat fresh ${recovery.freshMs === null ? "NOT within 60 s" : `after ${sec(recovery.freshMs)}`}${secondText}` +
        `${recovery.notes.length ? ` [${recovery.notes.join("; ")}]` : ""}${recovery.failed ? ` FAILED: ${recovery.failed}` : ""}\n`,
    );
    nextFault = wallClock() + args.faultEverySec * 1000;
    if (args.warmupSec === null && n === faults.length && baseline === null)
      warmupEnd = Math.min(Math.max(wallClock() + 30_000, started + 60_000), halfRun);
  }

  const last = memory();
  samples.push({ sec: elapsedSec(), ...last });
  const afterWarmup = samples.filter((x) => x.sec * 1000 >= warmupEnd - started);
  const window = Math.min(6, Math.max(1, Math.floor(afterWarmup.length / 2)));
  const start = {
    rss: median(afterWarmup.slice(0, window).map((x) => x.rss)),
    heap: median(afterWarmup.slice(0, window).map((x) => x.heap)),
  };
  const end = {
    rss: median(afterWarmup.slice(-window).map((x) => x.rss)),
    heap: median(afterWarmup.slice(-window).map((x) => x.heap)),
  };
  const peakRss = Math.max(...afterWarmup.map((x) => x.rss));
  const leaderAtEnd = leaderNow();
  feeding = false;
  await feedLoop;
  await Promise.all(closing.splice(0));
  const exits: string[] = [];
  for (const instance of instances.splice(0)) {
    const report = await instance.handle.close();
    closeProblems.push(...closeSteps(instance.id, report));
    exits.push(
      `#${instance.id} ${report.output === null ? "no output" : `exit ${report.output.exitCode} (${report.output.reason})`}`,
    );
  }
  await target.close();
  await new Promise<void>((resolve) => logFile.end(resolve));
  // The service's warnings and errors, by level and message (numbers masked), for the report.
  const logged = new Map<string, number>();
  for (const line of readFileSync(logPath, "utf8").split("\n")) {
    if (line === "") continue;
    try {
      const entry = JSON.parse(line) as { level: number; msg?: string };
      const key = `${entry.level >= 50 ? "error" : "warn"}: ${String(entry.msg ?? "")
        .replace(/\d+(\.\d+)?/g, "N")
        .slice(0, 110)}`;
      logged.set(key, (logged.get(key) ?? 0) + 1);
    } catch {
      logged.set(
        `unparsed: ${line.slice(0, 80)}`,
        (logged.get(`unparsed: ${line.slice(0, 80)}`) ?? 0) + 1,
      );
    }
  }

  const growth = (end.rss - start.rss) / start.rss;
  const worst = recoveries.reduce<number | null>(
    (w, r) => (r.freshMs === null || w === null ? null : Math.max(w, r.freshMs)),
    0,
  );
  const secondMissed = recoveries.filter(
    (r) => r.second !== null && (r.second.ms === null || r.second.ms > r.second.goalMs),
  );
  const failedRecoveries = recoveries.filter((r) => r.failed !== null);
  const goals = {
    rss: growth < RSS_GOAL,
    unhandled: unhandled === 0,
    fresh: worst !== null && worst <= FRESH_GOAL_MS,
    perKind: secondMissed.length === 0,
    checks: failedRecoveries.length === 0 && closeProblems.length === 0,
  };
  const met = (ok: boolean): string => (ok ? "met" : "NOT met");
  const range = (values: Array<number | null>): string => {
    if (values.some((v) => v === null)) return `${values.filter((v) => v === null).length} never`;
    const ms = values as number[];
    return ms.length === 0
      ? "-"
      : `${(Math.min(...ms) / 1000).toFixed(2)}–${(Math.max(...ms) / 1000).toFixed(2)} s`;
  };
  const perKind = faults
    .filter((f, i) => faults.indexOf(f) === i)
    .map((f) => {
      const rs = recoveries.filter((r) => r.fault === f);
      const second = rs[0]?.second;
      return `    ${f.padEnd(14)} ${String(rs.length).padStart(3)}×  fresh ${range(rs.map((r) => r.freshMs))}${second ? `;  ${second.label} ${range(rs.map((r) => r.second?.ms ?? null))} (goal ≤ ${second.goalMs / 1000} s)` : ""}`;
    });
  const lines = [
    "",
    `soak result (${args.minutes} min, ${symbols.length} symbols, 1 s intervals, ${sentinel ? "Redis Sentinel" : "single redis-server"}; ${recoveries.length} faults; ${counts.instances} service instances started)`,
    `  cycles ${counts.cycles}  published ${counts.published}  heartbeats ${counts.heartbeat}  skipped ${counts.skipped}  errors ${counts.error}  actor restarts ${counts.restarts}`,
    `  skips by reason: ${[...skipReasons].map(([k, v]) => `${k}=${v}`).join(" ") || "none"}`,
    `  RSS start ${mb(start.rss)}  end ${mb(end.rss)}  (medians of ${window} samples, 10 s apart, after a ${Math.round((warmupEnd - started) / 1000)} s warm-up / at the end)  peak ${mb(peakRss)}`,
    `  RSS growth ${(growth * 100).toFixed(1)} % (goal < ${RSS_GOAL * 100} %); JS heap ${mb(start.heap)} -> ${mb(end.heap)}; last sample RSS ${mb(last.rss)}`,
    `  unhandled errors ${unhandled}${unhandledSamples.length ? `: ${unhandledSamples.join(" | ")}` : ""}`,
    `  per fault kind (count, every heartbeat fresh after the recovery point min–max; the kind's own goal):`,
    ...perKind,
    `  heartbeats fresh after recovery: ${recoveries.map((r) => `${r.fault}@${r.atSec}s ${sec(r.freshMs)}`).join(", ")}`,
    `  worst ${worst === null ? "never" : sec(worst)} (goal <= ${FRESH_GOAL_MS / 1000} s); leader at the end #${leaderAtEnd?.id ?? "none"}; ${exits.join(", ")}`,
    ...(failedRecoveries.length
      ? [
          `  failed checks: ${failedRecoveries.map((r) => `${r.fault}@${r.atSec}s: ${r.failed}`).join(" | ")}`,
        ]
      : []),
    ...(closeProblems.length ? [`  close problems: ${closeProblems.join(" | ")}`] : []),
    `  service log (warn and above, by message): ${logged.size === 0 ? "nothing" : ""}`,
    ...[...logged]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([k, v]) => `    ${String(v).padStart(6)}  ${k}`),
    `  goals: RSS ${met(goals.rss)}, unhandled ${met(goals.unhandled)}, freshness ${met(goals.fresh)}, per-kind ${met(goals.perKind)}, checks ${met(goals.checks)}`,
    "",
  ];
  process.stdout.write(lines.join("\n"));
  if (Object.values(goals).every(Boolean)) rmSync(dir, { recursive: true, force: true });
  else process.stdout.write(`service log kept: ${logPath}\n`);
  return Object.values(goals).every(Boolean) ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
    // ioredis and timers of a stopped service must not hold the exit.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error: unknown) => {
    process.stderr.write(
      `soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(2);
  },
);
