// future_candle on the klines stream, through the running service on a real redis-server: a closed
// candle dated after now + maxClockSkew (a day ahead; or only its close_time ahead) is counted in
// quantum_calc_klines_skipped_total{reason="future_candle"} and never runs a cycle; an implausible
// one is bad_candle; the next good candle runs its symbol as always.
import type { Redis } from "ioredis";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createServiceMetrics } from "../../src/metrics/serviceMetrics.js";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import {
  applyLayerFields,
  brainFields,
  candlePayload,
  hsetPosition,
  klinesEnvelope,
  lastClosedOpenTime,
  MINUTE_MS,
  pyJson,
  seedDataSink,
  xaddKline,
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

const S = "BTCUSDT";
const STREAM = "quantum:stream:market.klines";
const fixture = useTestRedis();
let redis: Redis;
let service: ServiceHandle | undefined;
beforeAll(() => {
  ({ redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});
afterEach(async () => {
  await stopService(service);
  service = undefined;
});

/** The service on BTCUSDT with slow intervals, its cycles watched and its metrics kept; resolves after the first publish, once the follower reads. */
async function startWatched(
  flags: Record<string, unknown>,
): Promise<{ watch: CycleWatch; metrics: ReturnType<typeof createServiceMetrics> }> {
  const watch = new CycleWatch();
  const config = serviceConfig({
    redisUrl: fixture.server.url,
    symbols: [S],
    marketstateInterval: 600,
    maxPublishAge: 600,
    maxCandleAge: 600,
    commandTimeoutMs: 1000,
    ...flags,
  });
  const metrics = createServiceMetrics({
    phases: config.phases,
    symbols: [S],
    now: wallClock,
    defaultMetrics: false,
  });
  service = await startService({
    config,
    logger: captureLogger("debug").logger,
    hooks: {
      ...watch.hooks,
      ...metrics.hooks,
      onCycle: (e, t) => {
        watch.hooks.onCycle?.(e, t);
        metrics.hooks.onCycle(e, t);
      },
    },
    inspect: watch.inspect,
  });
  await until(
    "the first publish",
    () => watch.of("marketstate", "published", S).length === 1,
  ).catch(explainWith(service));
  await until("the follower", async () =>
    /name=quantum-calc-klines /.test((await redis.call("CLIENT", "LIST")) as string),
  );
  return { watch, metrics };
}

describe("future_candle on the klines stream", () => {
  it("is counted and runs no cycle; bad prices are bad_candle; a good candle after them publishes", async () => {
    // The sink's candles end two minutes back, so the "next" candle has closed (maxCandleAge 600).
    const closes = prices("trend", 300, 100, 5);
    const { lastOpenTimeMs: lastOpen } = await seedDataSink(redis, S, closes, {
      lastOpenTimeMs: lastClosedOpenTime() - 2 * MINUTE_MS,
    });
    const last = closes[closes.length - 1];
    const nowSec = Math.floor(Date.now() / 1000);
    await hsetPosition(
      redis,
      applyLayerFields({
        symbol: S,
        side: "LONG",
        quantity: 0.5,
        entry: last * 0.98,
        createdAt: nowSec - 3600,
      }),
    );
    await hsetPosition(
      redis,
      brainFields({
        symbol: S,
        positionAmt: 0.5,
        entry: last * 0.98,
        mark: last,
        unrealizedPnl: 0.5 * last * 0.02,
      }),
    );

    const { watch, metrics } = await startWatched({ riskInterval: 600, harvestInterval: 600 });
    const cyclesBefore = watch.of("marketstate", undefined, S).length;

    const next = lastOpen + MINUTE_MS;
    const record = JSON.parse(
      candlePayload({ symbol: S, open_time: next, close: last * 1.003 }),
    ) as Record<string, string | number | boolean>;
    const envelope = (payload: string) => ({
      ...klinesEnvelope({ symbol: S, open_time: next, close: last }),
      payload,
    });
    const entries = [
      // A day ahead, and a century ahead (open and close time).
      klinesEnvelope({
        symbol: S,
        open_time: lastClosedOpenTime() + 24 * 3600_000,
        close: last * 2,
      }),
      klinesEnvelope({
        symbol: S,
        open_time: lastClosedOpenTime() + 100 * 365 * 24 * 3600_000,
        close: last * 2,
      }),
      // The next minute, but its close_time an hour ahead.
      envelope(pyJson({ ...record, close_time: Date.now() + 3600_000 })),
      // Prices out of order, and out of range.
      envelope(pyJson({ ...record, low: last * 2 })),
      envelope(pyJson({ ...record, close: 1e308, high: 1e308, low: 1e308 })),
    ];
    for (const fields of entries) await redis.xadd(STREAM, "*", ...Object.entries(fields).flat());
    await xaddKline(redis, { symbol: S, open_time: next, close: last * 1.003 });
    await until(
      "the good candle to publish",
      () => watch.of("marketstate", "published", S).length === 2,
    ).catch(explainWith(service!));

    const text = (await metrics.render()).body;
    const value = (name: string) =>
      Number(
        new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, "m").exec(text)?.[1],
      );
    expect(value('quantum_calc_klines_skipped_total{reason="future_candle"}')).toBe(3);
    expect(value('quantum_calc_klines_skipped_total{reason="bad_candle"}')).toBe(2);
    expect(value("quantum_calc_klines_candles_total")).toBe(1);
    // Only the good candle ran a cycle, and the window holds its close, never the future ones.
    expect(watch.of("marketstate", undefined, S).length).toBe(cyclesBefore + 1);
    const published = watch.of("marketstate", "published", S)[1];
    expect(published.event.figures).toMatchObject({
      candles_live_only: 1,
      candles_future: 0,
      candle_gap_minutes: 0,
    });
    expect(value('quantum_calc_candle_gap_minutes{symbol="BTCUSDT"}')).toBe(0);
  });

  it("follows the configured price range and skew (the service passes them to the follower)", async () => {
    const closes = prices("trend", 300, 100, 5);
    const { lastOpenTimeMs: lastOpen } = await seedDataSink(redis, S, closes, {
      lastOpenTimeMs: lastClosedOpenTime() - 2 * MINUTE_MS,
    });
    const last = closes[closes.length - 1];
    const { watch, metrics } = await startWatched({
      phases: ["marketstate"],
      // The sink's closes (about 100) are inside; a live candle at twice the price is not.
      maxCandlePrice: last * 1.5,
      // An hour of skew: a candle whose close_time is 30 min ahead is accepted (the default 5 s refuses it).
      maxClockSkew: 3600,
    });
    const next = lastOpen + MINUTE_MS;
    const record = JSON.parse(
      candlePayload({ symbol: S, open_time: next, close: last * 1.003 }),
    ) as Record<string, string | number | boolean>;
    const envelope = (payload: string) => ({
      ...klinesEnvelope({ symbol: S, open_time: next, close: last }),
      payload,
    });
    await redis.xadd(
      STREAM,
      "*",
      ...Object.entries(klinesEnvelope({ symbol: S, open_time: next, close: last * 2 })).flat(),
    );
    await redis.xadd(
      STREAM,
      "*",
      ...Object.entries(envelope(pyJson({ ...record, close_time: Date.now() + 1800_000 }))).flat(),
    );
    await until(
      "the skewed candle to publish",
      () => watch.of("marketstate", "published", S).length === 2,
    ).catch(explainWith(service!));
    const text = (await metrics.render()).body;
    expect(text).toMatch(/^quantum_calc_klines_skipped_total\{reason="bad_candle"\} 1$/m);
    expect(text).toMatch(/^quantum_calc_klines_skipped_total\{reason="future_candle"\} 0$/m);
    expect(text).toMatch(/^quantum_calc_klines_candles_total 1$/m);
  });
});
