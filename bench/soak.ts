// Soak under faults (`npm run soak -- --minutes N`): 200 symbols, all three phases at 1 s
// intervals, a new candle per symbol every second, against a private local redis-server — while a
// fault loop keeps breaking Redis: restart (it comes back empty and is re-seeded), CLIENT KILL of
// our connection, CLIENT PAUSE of every client. Reports cycles, publishes, skips, errors, actor
// restarts, RSS at the start and the end, unhandled errors, and after each recovery how long
// until every symbol's heartbeat (last_update_epoch of its risk and harvest hashes) is fresh.
//
// Goals (30 min): RSS growth < 10 %, no unhandled error, every heartbeat fresh within 5 s of each
// recovery. Exit 0 when all are met, 1 otherwise.
//
// RSS is sampled (after a full GC) every 10 s. It moves by ±10 % from one sample to the next
// (allocator arenas, V8's young generation), so single samples would decide the goal by chance:
// "start" is the median of the first minute of samples after the warm-up (--warmup-sec, faults
// already running, V8 grown to its working size) and "end" the median of the last minute (each
// a perf_hooks histogram of the samples, in KiB to 4 significant digits).
//
//   node --expose-gc dist/bench/soak.js [--minutes 5] [--symbols 200] [--fault-every-sec 30] [--pause-ms 3000] [--warmup-sec 60]
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { createHistogram } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { CycleDoneEvent } from '../machines/publisher.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { closeStore, startService, wallClock } from '../src/service.js';
import { createPriceWalk, REGIMES } from '../src/synthetic/prices.js';
import { startTestRedis, type TestRedis } from '../test/helpers/redisServer.js';

interface Args {
  minutes: number;
  symbols: number;
  faultEverySec: number;
  pauseMs: number;
  warmupSec: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { minutes: 5, symbols: 200, faultEverySec: 30, pauseMs: 3000, warmupSec: 60 };
  const names: Record<string, keyof Args> = {
    '--minutes': 'minutes', '--symbols': 'symbols', '--fault-every-sec': 'faultEverySec', '--pause-ms': 'pauseMs', '--warmup-sec': 'warmupSec',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]!];
    if (key === undefined) throw new Error(`unknown argument ${argv[i]} (expected ${Object.keys(names).join(', ')})`);
    args[key] = Number(argv[i + 1]);
    if (!(Number.isFinite(args[key]) && args[key] > 0)) throw new Error(`${argv[i]} must be a positive number (got ${argv[i + 1]})`);
  }
  return args;
}

const CANDLE_MS = 60_000;
const HISTORY = 300;
/** Candles kept per key: the window plus the reader's margin, so Redis memory stays flat too. */
const KEEP = 700;
const FRESH_GOAL_MS = 5000;
const RSS_GOAL = 0.1;

type FaultKind = 'restart' | 'kill' | 'pause';
interface Recovery {
  fault: FaultKind;
  atSec: number;
  /** From the end of the fault (Redis back and re-seeded / connection killed / pause over) until every heartbeat is newer. */
  freshMs: number | null;
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;

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

class Market {
  private readonly walks: Array<() => number>;
  // The history ends now: the service skips a symbol whose newest candle is older than
  // maxCandleAge (later candles run ahead of the clock, which no check minds).
  private openTime = Math.floor(Date.now() / CANDLE_MS) * CANDLE_MS - HISTORY * CANDLE_MS;
  readonly last: number[];

  constructor(readonly symbols: string[]) {
    this.walks = symbols.map((_, i) => createPriceWalk(REGIMES[i % REGIMES.length]!, 500 + i, 20 + (i % 80)));
    this.last = symbols.map(() => 0);
  }

  /** One new candle per symbol, written in one pipeline (trimmed to KEEP per key). */
  async tick(redis: Redis): Promise<void> {
    const pipe = redis.pipeline();
    this.symbols.forEach((symbol, i) => {
      const close = Number(this.walks[i]!().toPrecision(10));
      this.last[i] = close;
      const key = `candles:${symbol}:1m`;
      pipe.zadd(key, this.openTime, JSON.stringify({ t: this.openTime, close }));
      pipe.zremrangebyrank(key, 0, -KEEP - 1);
    });
    this.openTime += CANDLE_MS;
    await pipe.exec();
  }

  /** Candle history and a position per symbol: what the producers would write. */
  async seed(redis: Redis): Promise<void> {
    for (let h = 0; h < HISTORY; h++) await this.tick(redis);
    const pipe = redis.pipeline();
    this.symbols.forEach((symbol, i) => {
      const current = this.last[i]!;
      const long = i % 2 === 0;
      const entry = long ? current * 0.98 : current * 1.02;
      pipe.hset(`quantum:state:positions:${symbol}`, {
        symbol,
        side: long ? 'LONG' : 'SHORT',
        entry_price: String(entry),
        current_price: String(current),
        age_sec: '3600',
        unrealized_pnl: String(long ? current - entry : entry - current),
      });
    });
    await pipe.exec();
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const symbols = Array.from({ length: args.symbols }, (_, i) => `SOAK${String(i).padStart(3, '0')}USDT`);
  const dir = mkdtempSync(join(tmpdir(), 'qc-soak-'));
  const logPath = join(dir, 'service.log');

  let unhandled = 0;
  const unhandledSamples: string[] = [];
  const countUnhandled = (error: unknown): void => {
    unhandled++;
    if (unhandledSamples.length < 5) unhandledSamples.push(error instanceof Error ? (error.stack ?? error.message) : String(error));
  };
  process.on('unhandledRejection', countUnhandled);
  process.on('uncaughtException', countUnhandled);

  const server: TestRedis = await startTestRedis();
  // The feeder's own client: no offline queue (writes during an outage are simply skipped).
  const feeder = new Redis({ port: server.port, host: '127.0.0.1', enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  feeder.on('error', () => undefined);
  const admin = new Redis({ port: server.port, host: '127.0.0.1', enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  admin.on('error', () => undefined);
  const ready = async (client: Redis): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (client.status !== 'ready') {
      if (Date.now() > deadline) throw new Error('soak: the feeder could not connect to redis-server');
      await sleep(20);
    }
  };
  await Promise.all([ready(feeder), ready(admin)]);
  const market = new Market(symbols);
  await market.seed(feeder);

  const counts = { cycles: 0, published: 0, heartbeat: 0, skipped: 0, error: 0, restarts: 0 };
  const skipReasons = new Map<string, number>();
  const { config } = loadConfig({
    env: {},
    flags: {
      redisUrl: server.url,
      symbols,
      marketstateInterval: 1,
      riskInterval: 1,
      harvestInterval: 1,
      // A 1 s service: retry within about a second of recovery (the 30 s default cap is for 60 s intervals).
      backoffBaseMs: 250,
      backoffCapMs: 2000,
      logLevel: 'warn',
    },
  });
  const logFile = createWriteStream(logPath);
  const service = await startService({
    config,
    logger: createLogger({ level: 'warn', destination: logFile }),
    hooks: {
      onCycle: (e: CycleDoneEvent) => {
        counts.cycles++;
        counts[e.outcome]++;
        if (e.outcome === 'skipped') skipReasons.set(`${e.phase}:${e.reason}`, (skipReasons.get(`${e.phase}:${e.reason}`) ?? 0) + 1);
      },
      onRestart: () => counts.restarts++,
    },
  });

  /** True when every symbol's risk and harvest hash was heartbeated after `sinceSec`. */
  const allFresh = async (sinceSec: number): Promise<boolean> => {
    const pipe = admin.pipeline();
    for (const symbol of symbols) {
      pipe.hget(`quantum:risk:proposal:${symbol}`, 'last_update_epoch');
      pipe.hget(`quantum:harvest:proposal:${symbol}`, 'last_update_epoch');
    }
    const replies = (await pipe.exec()) ?? [];
    return replies.length === 2 * symbols.length && replies.every(([error, value]) => error === null && Number(value) > sinceSec);
  };
  /** Milliseconds from `fromMs` until every heartbeat is newer than that second (null: not within 60 s). */
  const timeToFresh = async (fromMs: number): Promise<number | null> => {
    const sinceSec = Math.floor(fromMs / 1000);
    while (wallClock() - fromMs < 60_000) {
      if (await allFresh(sinceSec).catch(() => false)) return wallClock() - fromMs;
      await sleep(100);
    }
    return null;
  };

  // A candle per symbol per second (skipped while Redis is away or paused).
  let feeding = true;
  let reseeding = false;
  const feedLoop = (async () => {
    while (feeding) {
      const next = wallClock() + 1000;
      if (!reseeding) await market.tick(feeder).catch(() => undefined);
      await sleep(Math.max(0, next - wallClock()));
    }
  })();

  const started = wallClock();
  const endAt = started + args.minutes * 60_000;
  const elapsedSec = (): number => Math.round((wallClock() - started) / 1000);
  process.stdout.write(`soak: ${symbols.length} symbols, 1 s intervals, ${args.minutes} min, a fault every ~${args.faultEverySec} s; service log ${logPath}\n`);

  const warm = await timeToFresh(started);
  process.stdout.write(`start: every heartbeat fresh after ${warm === null ? 'NEVER' : `${(warm / 1000).toFixed(1)} s`}; RSS ${mb(memory().rss)}\n`);
  const warmupEnd = started + Math.min(args.warmupSec * 1000, (endAt - started) / 2);
  let baseline: { rss: number; heap: number } | null = null;
  const samples: Array<{ sec: number; rss: number; heap: number }> = [];

  const faults: FaultKind[] = ['restart', 'kill', 'pause'];
  const recoveries: Recovery[] = [];
  let nextFault = wallClock() + args.faultEverySec * 1000;
  let progressAt = wallClock() + 10_000;
  for (let n = 0; wallClock() < endAt; ) {
    if (baseline === null && wallClock() >= warmupEnd) {
      baseline = memory();
      process.stdout.write(`  t=${elapsedSec()} s warm-up over: baseline RSS ${mb(baseline.rss)}, heap ${mb(baseline.heap)}\n`);
    }
    if (wallClock() >= progressAt) {
      const m = memory();
      samples.push({ sec: elapsedSec(), ...m });
      if (samples.length % 3 === 0) {
        process.stdout.write(`  t=${elapsedSec()} s cycles=${counts.cycles} published=${counts.published} errors=${counts.error} RSS ${mb(m.rss)} heap ${mb(m.heap)}\n`);
      }
      progressAt += 10_000;
    }
    if (wallClock() < nextFault || wallClock() + 15_000 > endAt) {
      await sleep(200);
      continue;
    }
    const fault = faults[n++ % faults.length]!;
    let recoveredAt: number;
    if (fault === 'restart') {
      reseeding = true;
      await server.restart(); // SIGKILL; comes back empty
      await ready(feeder);
      await market.seed(feeder);
      reseeding = false;
      recoveredAt = wallClock();
    } else if (fault === 'kill') {
      const list = String(await admin.call('CLIENT', 'LIST'));
      const ids = list.split('\n').filter((l) => / name=quantum-calc /.test(l)).map((l) => /(?:^|\s)id=(\d+)/.exec(l)![1]!);
      for (const id of ids) await admin.call('CLIENT', 'KILL', 'ID', id).catch(() => undefined);
      recoveredAt = wallClock();
    } else {
      await admin.call('CLIENT', 'PAUSE', String(args.pauseMs), 'ALL');
      recoveredAt = wallClock() + args.pauseMs;
      await sleep(args.pauseMs);
    }
    const freshMs = await timeToFresh(recoveredAt);
    recoveries.push({ fault, atSec: elapsedSec(), freshMs });
    process.stdout.write(`  t=${elapsedSec()} s ${fault}: every heartbeat fresh ${freshMs === null ? 'NOT within 60 s' : `after ${(freshMs / 1000).toFixed(2)} s`}\n`);
    nextFault = wallClock() + args.faultEverySec * 1000;
  }

  const last = memory();
  samples.push({ sec: elapsedSec(), ...last });
  const afterWarmup = samples.filter((x) => x.sec * 1000 >= warmupEnd - started);
  const window = Math.min(6, Math.max(1, Math.floor(afterWarmup.length / 2)));
  const start = { rss: median(afterWarmup.slice(0, window).map((x) => x.rss)), heap: median(afterWarmup.slice(0, window).map((x) => x.heap)) };
  const end = { rss: median(afterWarmup.slice(-window).map((x) => x.rss)), heap: median(afterWarmup.slice(-window).map((x) => x.heap)) };
  const peakRss = Math.max(...afterWarmup.map((x) => x.rss));
  feeding = false;
  await feedLoop;
  service.shutdown();
  const output = await service.done;
  await closeStore(service.store);
  feeder.disconnect();
  admin.disconnect();
  await server.close();
  logFile.end();

  const growth = (end.rss - start.rss) / start.rss;
  const worst = recoveries.reduce<number | null>((w, r) => (r.freshMs === null || w === null ? null : Math.max(w, r.freshMs)), 0);
  const goals = {
    rss: growth < RSS_GOAL,
    unhandled: unhandled === 0,
    fresh: worst !== null && worst <= FRESH_GOAL_MS,
  };
  const lines = [
    '',
    `soak result (${args.minutes} min, ${symbols.length} symbols, 1 s intervals; ${recoveries.length} faults)`,
    `  cycles ${counts.cycles}  published ${counts.published}  heartbeats ${counts.heartbeat}  skipped ${counts.skipped}  errors ${counts.error}  actor restarts ${counts.restarts}`,
    `  skips by reason: ${[...skipReasons].map(([k, v]) => `${k}=${v}`).join(' ') || 'none'}`,
    `  RSS start ${mb(start.rss)}  end ${mb(end.rss)}  (medians of ${window} samples, 10 s apart, after a ${Math.round((warmupEnd - started) / 1000)} s warm-up / at the end)  peak ${mb(peakRss)}`,
    `  RSS growth ${(growth * 100).toFixed(1)} % (goal < ${RSS_GOAL * 100} %); JS heap ${mb(start.heap)} -> ${mb(end.heap)}; last sample RSS ${mb(last.rss)}`,
    `  unhandled errors ${unhandled}${unhandledSamples.length ? `: ${unhandledSamples.join(' | ')}` : ''}`,
    `  heartbeats fresh after recovery: ${recoveries.map((r) => `${r.fault}@${r.atSec}s ${r.freshMs === null ? 'never' : `${(r.freshMs / 1000).toFixed(2)}s`}`).join(', ')}`,
    `  worst ${worst === null ? 'never' : `${(worst / 1000).toFixed(2)} s`} (goal <= ${FRESH_GOAL_MS / 1000} s); service exit ${output.exitCode} (${output.reason})`,
    `  goals: RSS ${goals.rss ? 'met' : 'MISSED'}, unhandled ${goals.unhandled ? 'met' : 'MISSED'}, freshness ${goals.fresh ? 'met' : 'MISSED'}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  rmSync(dir, { recursive: true, force: true });
  return goals.rss && goals.unhandled && goals.fresh ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
    // ioredis and timers of a stopped service must not hold the exit.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
