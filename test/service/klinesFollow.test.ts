// Live candles (docs/specification.md §5, §6): the service follows the market publisher's klines stream with plain
// XREAD, and a closed candle runs its symbol's marketstate at once — and through the chain risk
// and harvest — even before the data sink's sorted set holds it. All data is laid out as the
// producers write it (test/helpers/producers.ts), against a real redis-server.
import type { Redis } from "ioredis";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createServiceMetrics } from "../../src/metrics/serviceMetrics.js";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import {
  applyLayerFields,
  brainFields,
  candlePayload,
  dataSinkKey,
  hsetPosition,
  lastClosedOpenTime,
  MINUTE_MS,
  seedDataSink,
  xaddKline,
  zaddCandle,
} from "../helpers/producers.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { prices } from "../helpers/seed.js";
import {
  captureLogger,
  explainWith,
  serviceConfig,
  stopService,
  until,
} from "../helpers/serviceHarness.js";
import type { TestRedis } from "../helpers/redisServer.js";

const S = "BTCUSDT";
const STREAM = "quantum:stream:market.klines";
const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;
let service: ServiceHandle | undefined;
beforeAll(() => {
  ({ server, redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});
afterEach(async () => {
  await stopService(service);
  service = undefined;
});

/**
 * 300 data-sink candles ending two minutes before the last closed one, and a LONG from the brain
 * and the apply layer: the tests' "next" candles (lastOpen + 1 and + 2 minutes) have closed, as a
 * candle on the stream must have (a close_time after now + maxClockSkew is future_candle).
 */
async function seedMarket(symbol = S): Promise<{ lastOpen: number; lastClose: number }> {
  const closes = prices("trend", 300, 100, 5);
  const { lastOpenTimeMs } = await seedDataSink(redis, symbol, closes, {
    lastOpenTimeMs: lastClosedOpenTime() - 2 * MINUTE_MS,
  });
  const last = closes[closes.length - 1];
  const nowSec = Math.floor(Date.now() / 1000);
  await hsetPosition(
    redis,
    applyLayerFields({
      symbol,
      side: "LONG",
      quantity: 0.5,
      entry: last * 0.98,
      createdAt: nowSec - 3600,
    }),
  );
  await hsetPosition(
    redis,
    brainFields({
      symbol,
      positionAmt: 0.5,
      entry: last * 0.98,
      mark: last,
      unrealizedPnl: 0.5 * last * 0.02,
    }),
  );
  return { lastOpen: lastOpenTimeMs, lastClose: last };
}

/** Intervals far longer than the test: only a live candle (or a resync) can run marketstate again. */
function config(extra: Record<string, unknown> = {}) {
  return serviceConfig({
    redisUrl: server.url,
    symbols: [S, "ETHUSDT"],
    marketstateInterval: 600,
    riskInterval: 600,
    harvestInterval: 600,
    maxPublishAge: 600,
    commandTimeoutMs: 1000,
    ...extra,
  });
}

async function start(
  watch: CycleWatch,
  extra: Record<string, unknown> = {},
  hooks: Partial<ReturnType<typeof createServiceMetrics>["hooks"]> = {},
) {
  const log = captureLogger("debug");
  // The seeded candles end two minutes back (seedMarket): well within this maxCandleAge however
  // long the test runs.
  service = await startService({
    config: config({ maxCandleAge: 600, ...extra }),
    logger: log.logger,
    hooks: {
      ...watch.hooks,
      ...hooks,
      onCycle: (e, t) => {
        watch.hooks.onCycle?.(e, t);
        hooks.onCycle?.(e, t);
      },
    },
    inspect: watch.inspect,
  });
  // The first (staggered, within a second) cycles publish from the sorted set.
  await until("the first cycles to settle", () => settled(watch)).catch(explainWith(service));
  return log;
}

/**
 * Every publisher has had its first interval cycle, and every marketstate publish has chained
 * through to a harvest cycle: nothing more happens until the next candle.
 */
function settled(watch: CycleWatch): boolean {
  const keys = new Set(
    watch.cycles
      .filter((c) => c.event.chainStartedAt === null)
      .map((c) => `${c.event.phase}:${c.event.symbol}`),
  );
  if (keys.size < 6) return false;
  return [S, "ETHUSDT"].every(
    (symbol) =>
      watch.of("harvest", undefined, symbol).filter((c) => c.event.chainStartedAt !== null)
        .length >= watch.of("marketstate", "published", symbol).length,
  );
}

describe("the klines follower", () => {
  it("a closed candle on the stream reaches the harvest hash through the chain before the sorted set holds it", async () => {
    const { lastOpen, lastClose } = await seedMarket();
    const watch = new CycleWatch();
    await start(watch);
    const marketBefore = await redis.hgetall(`quantum:marketstate:${S}`);
    const harvestBefore = await redis.hget(`quantum:harvest:proposal:${S}`, "last_update_epoch");
    expect(watch.of("marketstate", "published", S)).toHaveLength(1);
    const harvestCycles = watch.of("harvest", undefined, S).length;

    // The market publisher closes the next minute; the data sink has not written it yet.
    const sentAt = Date.now();
    await xaddKline(redis, {
      symbol: S,
      open_time: lastOpen + MINUTE_MS,
      close: lastClose * 1.004,
      high: lastClose * 1.005,
      low: lastClose,
    });
    await until(
      "the live candle to chain through to harvest",
      () => watch.of("harvest", undefined, S).length > harvestCycles,
    ).catch(explainWith(service!));

    const [first, live] = watch.of("marketstate", "published", S);
    expect(live.event.reason).toBe("new_candles");
    expect(live.event.figures).toMatchObject({ candles_live_only: 1, buffer_size: 300 });
    expect(first.event.figures).toMatchObject({ candles_live_only: 0 });
    // Not in the sorted set: the window got the candle from the stream.
    expect(await redis.zcount(dataSinkKey(S), lastOpen + MINUTE_MS, "+inf")).toBe(0);
    const marketAfter = await redis.hgetall(`quantum:marketstate:${S}`);
    expect(marketAfter.sigma).not.toBe(marketBefore.sigma);

    // The chain: risk, then harvest, both started by that candle's marketstate publish.
    const risk = watch.of("risk", undefined, S).at(-1)!;
    const harvest = watch.of("harvest", undefined, S).at(-1)!;
    expect(risk.event.chainStartedAt).not.toBeNull();
    expect(harvest.event.chainStartedAt).toBe(risk.event.chainStartedAt);
    expect(risk.event.chainStartedAt!).toBeGreaterThanOrEqual(sentAt - 5);
    expect(["published", "heartbeat"]).toContain(harvest.event.outcome);
    expect(await redis.hget(`quantum:harvest:proposal:${S}`, "last_update_epoch")).not.toBeNull();
    expect(harvestBefore).not.toBeNull();
    // Well within a second of the XADD (the goal is milliseconds; this bound only guards the mechanism).
    expect(harvest.atMs - sentAt).toBeLessThan(1000);

    // Never a consumer group, nothing acknowledged or deleted: the stream is other services' too.
    expect(await redis.xlen(STREAM)).toBe(1);
    expect(await redis.call("XINFO", "GROUPS", STREAM)).toEqual([]);
  });

  it("when the data sink writes the candle afterwards (and republishes it), nothing is counted twice", async () => {
    const { lastOpen, lastClose } = await seedMarket();
    const watch = new CycleWatch();
    await start(watch);
    const candle = {
      symbol: S,
      open_time: lastOpen + MINUTE_MS,
      close: lastClose * 1.002,
      timestamp: Date.now() / 1000,
    };
    await xaddKline(redis, candle);
    await until(
      "the live candle publish",
      () => watch.of("marketstate", "published", S).length === 2,
    );
    await zaddCandle(redis, candle);
    // The same candle again on the stream: the window is unchanged, so no new publish.
    await xaddKline(redis, candle);
    await until("the repeat to be read", () => watch.of("marketstate", undefined, S).length >= 3);
    const repeat = watch.of("marketstate", undefined, S)[2];
    expect(repeat.event.outcome).toBe("heartbeat");
    expect(await redis.hget(`quantum:marketstate:${S}`, "buffer_size")).toBe("300");
  });

  it("counts every bad entry by reason and skips it; a good one still runs its symbol", async () => {
    const { lastOpen, lastClose } = await seedMarket();
    const watch = new CycleWatch();
    const metrics = createServiceMetrics({
      phases: ["marketstate", "risk", "harvest"],
      symbols: [S, "ETHUSDT"],
      now: wallClock,
      defaultMetrics: false,
    });
    await start(watch, {}, metrics.hooks);
    const envelope = {
      event_type: "market.klines",
      correlation_id: "x",
      timestamp: new Date().toISOString(),
      source: "market-publisher",
      trace_id: "",
    };
    const next = lastOpen + MINUTE_MS;
    const bad: Array<Record<string, string>> = [
      { ...envelope }, // no payload
      { ...envelope, payload: "{not json" },
      { ...envelope, payload: candlePayload({ symbol: S, open_time: next, close: 0 }) },
      { ...envelope, payload: candlePayload({ symbol: S, open_time: next, close: -5 }) },
      { ...envelope, payload: candlePayload({ symbol: "DOGEUSDT", open_time: next, close: 0.1 }) },
      {
        ...envelope,
        payload: candlePayload({ symbol: S, open_time: next, close: lastClose, is_closed: false }),
      },
      {
        ...envelope,
        payload: candlePayload({ symbol: S, open_time: next, close: lastClose, interval: "5m" }),
      },
    ];
    for (const fields of bad) await redis.xadd(STREAM, "*", ...Object.entries(fields).flat());
    await xaddKline(redis, { symbol: S, open_time: next, close: lastClose * 1.003 });
    await until(
      "the good candle to publish",
      () => watch.of("marketstate", "published", S).length === 2,
    );
    const text = (await metrics.render()).body;
    const value = (name: string) =>
      Number(
        new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, "m").exec(text)?.[1],
      );
    expect(value("quantum_calc_klines_entries_total")).toBe(8);
    expect(value("quantum_calc_klines_candles_total")).toBe(1);
    expect(value('quantum_calc_klines_skipped_total{reason="no_payload"}')).toBe(1);
    expect(value('quantum_calc_klines_skipped_total{reason="bad_json"}')).toBe(1);
    expect(value('quantum_calc_klines_skipped_total{reason="bad_candle"}')).toBe(2);
    expect(value('quantum_calc_klines_skipped_total{reason="unknown_symbol"}')).toBe(1);
    expect(value('quantum_calc_klines_skipped_total{reason="not_closed"}')).toBe(1);
    expect(value('quantum_calc_klines_skipped_total{reason="not_1m"}')).toBe(1);
    // The live candle's lag from its close_time to its marketstate publish is recorded.
    expect(value("quantum_calc_candle_lag_seconds_count")).toBeGreaterThanOrEqual(2);
    // Only the good candle ran a marketstate cycle: ETHUSDT saw none after its first.
    expect(watch.of("marketstate", undefined, "ETHUSDT").length).toBeLessThanOrEqual(1);
  });

  it("after its connection is killed it resumes from the stream end and resyncs: a candle written meanwhile is not lost", async () => {
    const { lastOpen, lastClose } = await seedMarket();
    const watch = new CycleWatch();
    // A long backoff (at least half of 4 s) leaves a wide window to write the candle in while
    // the follower is away; the publishers' own connection is untouched.
    const log = await start(watch, { backoffBaseMs: 4000, backoffCapMs: 4000 });
    const follower = await until("the follower connection", async () => {
      const list = (await redis.call("CLIENT", "LIST")) as string;
      return /(?:^|\s)id=(\d+) .* name=quantum-calc-klines /m.exec(list)?.[1];
    });
    await redis.call("CLIENT", "KILL", "ID", follower);
    await until("the follower to report the failure", () =>
      log.lines().some((l) => /klines follower: read failed/.test(l.msg)),
    );

    // While it is away the market publisher closes a candle and the data sink stores it.
    const candle = { symbol: S, open_time: lastOpen + MINUTE_MS, close: lastClose * 1.006 };
    await xaddKline(redis, candle);
    await zaddCandle(redis, candle);
    expect(watch.of("marketstate", "published", S)).toHaveLength(1);

    await until(
      "the resync to publish the candle",
      () => watch.of("marketstate", "published", S).length === 2,
      15_000,
    ).catch(explainWith(service!));
    expect(log.lines().some((l) => /klines follower resumed/.test(l.msg))).toBe(true);
    const resynced = watch.of("marketstate", "published", S)[1];
    expect(resynced.event.reason).toBe("new_candles");
    // From the sorted set this time, not from the stream (the follower started after the entry).
    expect(resynced.event.figures).toMatchObject({ candles_live_only: 0 });

    // Following continues: the next candle comes in live again.
    await xaddKline(redis, {
      symbol: S,
      open_time: lastOpen + 2 * MINUTE_MS,
      close: lastClose * 1.007,
    });
    await until("the next live candle", () => watch.of("marketstate", "published", S).length === 3);
    expect(watch.of("marketstate", "published", S)[2].event.figures).toMatchObject({
      candles_live_only: 1,
    });
  });

  it("followKlines false: no follower, no second connection; the intervals still publish", async () => {
    await seedMarket();
    const watch = new CycleWatch();
    await start(watch, { followKlines: false });
    const list = (await redis.call("CLIENT", "LIST")) as string;
    expect(list).not.toMatch(/name=quantum-calc-klines /);
    expect(Object.keys(service!.actor.getSnapshot().context.actorIds)).not.toContain(
      "follower:klines",
    );
  });

  it("follows the configured stream name", async () => {
    const { lastOpen, lastClose } = await seedMarket();
    const watch = new CycleWatch();
    await start(watch, { klinesStream: "test:klines" });
    await xaddKline(
      redis,
      { symbol: S, open_time: lastOpen + MINUTE_MS, close: lastClose * 1.01 },
      "test:klines",
    );
    await until(
      "the live candle on the other stream",
      () => watch.of("marketstate", "published", S).length === 2,
    );
  });
});

describe("stale market data", () => {
  it("a series whose newest candle opened more than maxCandleAge ago is skipped as stale_candles, and risk/harvest find no fresh marketstate", async () => {
    const closes = prices("trend", 300, 100, 5);
    // A frozen feed: the newest candle opened 10 minutes ago.
    await seedDataSink(redis, S, closes, { lastOpenTimeMs: lastClosedOpenTime() - 9 * MINUTE_MS });
    const log = captureLogger("debug");
    const handle = await startService({
      config: config({ symbols: [S] }),
      logger: log.logger,
      once: true,
    });
    service = undefined;
    const output = await handle.done;
    await handle.close();
    expect(output.exitCode).toBe(0);
    const counts = handle.stats.summary();
    expect(counts["skip:marketstate:stale_candles"]).toBe(1);
    expect(counts["skip:risk:no_marketstate"]).toBe(1);
    const line = log.lines().find((l) => l.reason === "stale_candles");
    expect(String(line?.detail)).toMatch(
      /newest candle in quantum:history:ohlcv:BTCUSDT:1m opened \d+ s ago \(maxCandleAge 180 s\)/,
    );
    expect(await redis.exists(`quantum:marketstate:${S}`)).toBe(0);
  });

  it("maxCandleAge is configurable: the same series passes with a larger bound", async () => {
    await seedDataSink(redis, S, prices("trend", 300, 100, 5), {
      lastOpenTimeMs: lastClosedOpenTime() - 9 * MINUTE_MS,
    });
    const handle = await startService({
      config: config({ symbols: [S], maxCandleAge: 900, phases: ["marketstate"] }),
      logger: captureLogger("warn").logger,
      once: true,
    });
    await handle.done;
    await handle.close();
    expect(handle.stats.summary()["marketstate:published"]).toBe(1);
  });
});
