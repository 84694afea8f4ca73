// Scale (CONTRACT.md, "Scale"): 10,000 open-position keys in quantum:state:positions:* (the
// position brain's layout) with symbolsSource policy. Before: one sequential HGETALL per key
// before the start line, every key a symbol — no start line for 80 s, RSS near 1 GB, SIGTERM
// ignored. Now: the SCAN stops once maxSymbols (universe and open positions together) could be
// filled, positions are read in batches, one warning says what was left out, and start-up waits
// for the scan only a short bound (then starts on the universe and adds the positions later).
// Speed is reported, never asserted tightly: the bounds below are generous.
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CANONICAL_POSITION_PREFIX } from "../../src/inputs/positions.js";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { createRedisStore } from "../../src/store/redisStore.js";
import type { Store } from "../../src/store/types.js";
import { brainFields, generatorPolicy, positionKey } from "../helpers/producers.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { captureLogger, fastFlags, serviceConfig, until } from "../helpers/serviceHarness.js";
import { writePolicy } from "../policy/harness.js";

const KEYS = 10_000;
const MAX_SYMBOLS = 300;
/** Generous: the start-up wait for the scan is at most 2 s; this only catches a hang. */
const START_BOUND_MS = 20_000;
/** Generous: RSS growth of the whole test process while the service starts. */
const RSS_BOUND_MB = 400;

const fixture = useTestRedis();
let redis: Redis;

const symbolOf = (i: number): string => `S${String(i).padStart(5, "0")}USDT`;

/** 10,000 open LONG positions as the position brain writes them (one pipeline per 1,000). */
async function seedPositions(nowMs: number): Promise<void> {
  for (let from = 0; from < KEYS; from += 1000) {
    const pipe = redis.pipeline();
    for (let i = from; i < from + 1000; i++) {
      const symbol = symbolOf(i);
      pipe.hset(
        positionKey(symbol),
        brainFields(
          {
            symbol,
            positionAmt: 0.5,
            entry: 100,
            mark: 101,
            unrealizedPnl: 0.5,
            tsEpoch: Math.floor(nowMs / 1000),
          },
          nowMs,
        ),
      );
      pipe.expire(positionKey(symbol), 3600);
    }
    await pipe.exec();
  }
}

const capWarnings = (log: ReturnType<typeof captureLogger>): string[] =>
  log
    .lines()
    .filter((l) => l.level === 40 && /^maxSymbols \d+ reached/.test(l.msg))
    .map((l) => l.msg);
const runningOf = (h: ServiceHandle): string[] => h.actor.getSnapshot().context.symbols;

beforeAll(async () => {
  redis = fixture.redis;
  await redis.flushall();
  await seedPositions(Date.now());
  expect(await redis.dbsize()).toBe(KEYS);
});

describe("10,000 open-position keys, symbolsSource policy", () => {
  let handle: ServiceHandle | undefined;
  beforeEach(async () => {
    await redis.del("quantum:policy:current", "quantum:stream:policy.update");
    return async () => {
      await handle?.close();
      handle = undefined;
    };
  });

  it("starts at once, runs at most maxSymbols symbols, warns once, and close() returns promptly", async () => {
    const log = captureLogger("info");
    const config = serviceConfig(
      fastFlags(fixture.server.url, ["BTCUSDT"], {
        symbolsSource: "policy",
        maxSymbols: MAX_SYMBOLS,
        universeApplyInterval: 0,
        followKlines: false,
        // Cycles for 300 symbols without candles are not what this test is about.
        marketstateInterval: 60,
        riskInterval: 60,
        harvestInterval: 60,
      }),
    );
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    handle = await startService({ config, logger: log.logger, now: wallClock, systemd: null });
    const startMs = performance.now() - t0;
    const h = handle;
    expect(log.lines().some((l) => /^quantum-calc started/.test(l.msg))).toBe(true);
    // The universe (the configured symbol) plus open positions, up to maxSymbols together.
    await until(
      "the open positions to run",
      () => runningOf(h).length === MAX_SYMBOLS,
      START_BOUND_MS,
    );
    const rssAfter = process.memoryUsage().rss;
    expect(runningOf(h)[0]).toBe("BTCUSDT");
    expect(new Set(runningOf(h)).size).toBe(MAX_SYMBOLS);
    expect(capWarnings(log)).toHaveLength(1);
    expect(capWarnings(log)[0]).toMatch(
      /1 universe symbol\(s\) and 299 open position\(s\) run; more position keys than that/,
    );

    // Rechecks (policy changes, the universe applied at once) find the same cap: no new warning.
    for (const version of ["v1", "v2", "v3"]) {
      await writePolicy(redis, generatorPolicy({ universe: ["BTCUSDT", "ETHUSDT"], version }));
      await until(`policy ${version} applied`, () =>
        log.lines().some((l) => l.msg.startsWith(`policy ${version} `)),
      );
    }
    await until("ETHUSDT to run", () => runningOf(h).includes("ETHUSDT"));
    expect(runningOf(h).length).toBeLessThanOrEqual(MAX_SYMBOLS);
    expect(capWarnings(log)).toHaveLength(1);

    const t1 = performance.now();
    const report = await h.close();
    const closeMs = performance.now() - t1;
    handle = undefined;
    expect(report.steps.every((s) => s.outcome !== "timed out")).toBe(true);
    console.info(
      `[scale] ${KEYS} position keys, maxSymbols ${MAX_SYMBOLS}: start ${Math.round(startMs)} ms, RSS +${Math.round((rssAfter - rssBefore) / 1e6)} MB, close ${Math.round(closeMs)} ms`,
    );
    expect(startMs).toBeLessThan(START_BOUND_MS);
    expect((rssAfter - rssBefore) / 1e6).toBeLessThan(RSS_BOUND_MB);
  });

  it("a scan that does not end: start-up goes on without it, and close() returns while it is under way", async () => {
    const log = captureLogger("info");
    const config = serviceConfig(
      fastFlags(fixture.server.url, ["BTCUSDT"], {
        symbolsSource: "policy",
        maxSymbols: 5000,
        universeApplyInterval: 0,
        followKlines: false,
        marketstateInterval: 60,
        riskInterval: 60,
        harvestInterval: 60,
      }),
    );
    // The position hashes answer only when released: the scan hangs in its first batch.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let positionReads = 0;
    const inner = createRedisStore({
      url: fixture.server.url,
      reconnectBaseMs: 20,
      reconnectCapMs: 200,
    });
    await inner.waitReady(5000);
    const store: Store = new Proxy(inner, {
      get(target, name, receiver) {
        if (name === "hgetall") {
          return async (key: string) => {
            if (key.startsWith(CANONICAL_POSITION_PREFIX) && key !== positionKey("BTCUSDT")) {
              positionReads++;
              await gate;
            }
            return target.hgetall(key);
          };
        }
        const value = Reflect.get(target, name, receiver) as unknown;
        return typeof value === "function"
          ? (value as (...args: unknown[]) => unknown).bind(target)
          : value;
      },
    });
    const t0 = performance.now();
    handle = await startService({
      config,
      logger: log.logger,
      store,
      now: wallClock,
      systemd: null,
    });
    const startMs = performance.now() - t0;
    const h = handle;
    expect(
      log
        .lines()
        .some((l) => /^quantum-calc started: .* for 1 symbol\(s\) \(BTCUSDT\)/.test(l.msg)),
    ).toBe(true);
    expect(
      log
        .lines()
        .some((l) =>
          /are still being read after \d+ ms: starting on the 1 universe symbol/.test(l.msg),
        ),
    ).toBe(true);
    // Bounded concurrency: one batch of reads at a time, never one per key at once.
    expect(positionReads).toBeGreaterThan(0);
    expect(positionReads).toBeLessThanOrEqual(50);
    const t1 = performance.now();
    const report = await h.close();
    const closeMs = performance.now() - t1;
    handle = undefined;
    expect(report.steps.every((s) => s.outcome !== "timed out")).toBe(true);
    // The scan ends at its next piece and hands nothing on.
    release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(runningOf(h)).toEqual(["BTCUSDT"]);
    console.info(
      `[scale] hanging scan: start ${Math.round(startMs)} ms, close ${Math.round(closeMs)} ms`,
    );
    expect(startMs).toBeLessThan(START_BOUND_MS);
    expect(closeMs).toBeLessThan(START_BOUND_MS);
  });
});
