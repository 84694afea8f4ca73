// The "done when": on a fresh clone, `run --once` and `run` with their defaults publish
// correct proposals from data laid out exactly as the live stack lays it out. The BUILT command
// line against a real redis-server; nothing but the URL and the symbols is configured.
import type { Redis } from "ioredis";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  applyLayerFields,
  brainFields,
  hsetPosition,
  MINUTE_MS,
  seedDataSink,
  xaddKline,
} from "../helpers/producers.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import type { TestRedis } from "../helpers/redisServer.js";
import { runCli } from "../helpers/runCli.js";
import { prices } from "../helpers/seed.js";
import { startCli, until, type CliProcess } from "../helpers/serviceHarness.js";

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;
let cli: CliProcess | undefined;
beforeAll(() => {
  ({ server, redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});
afterEach(async () => {
  if (cli && cli.child.exitCode === null) {
    cli.child.kill("SIGKILL");
    await cli.exit;
  }
  cli = undefined;
});

/** BTCUSDT long (brain + apply layer), SOLUSDT short (brain only), ETHUSDT flat; data-sink candles for all. */
async function seedLiveStack(): Promise<{ lastOpen: number; closes: Record<string, number> }> {
  const nowSec = Math.floor(Date.now() / 1000);
  const closes: Record<string, number> = {};
  let lastOpen = 0;
  for (const [symbol, regime, start] of [
    ["BTCUSDT", "trend", 67_000],
    ["ETHUSDT", "mr", 3_000],
    ["SOLUSDT", "chop", 150],
  ] as const) {
    const series = prices(regime, 300, start, 9);
    ({ lastOpenTimeMs: lastOpen } = await seedDataSink(redis, symbol, series));
    closes[symbol] = series[series.length - 1]!;
  }
  const btc = closes.BTCUSDT;
  await hsetPosition(
    redis,
    applyLayerFields({
      symbol: "BTCUSDT",
      side: "LONG",
      quantity: 0.05,
      entry: btc * 0.97,
      stopLoss: 0,
      createdAt: nowSec - 4 * 3600,
    }),
  );
  await hsetPosition(
    redis,
    brainFields({
      symbol: "BTCUSDT",
      positionAmt: 0.05,
      entry: btc * 0.97,
      mark: btc,
      unrealizedPnl: 0.05 * btc * 0.03,
    }),
  );
  const sol = closes.SOLUSDT;
  await hsetPosition(
    redis,
    brainFields({
      symbol: "SOLUSDT",
      positionAmt: -40,
      entry: sol * 1.01,
      mark: sol,
      unrealizedPnl: 40 * sol * 0.01,
    }),
  );
  await hsetPosition(
    redis,
    brainFields({
      symbol: "ETHUSDT",
      positionAmt: 0,
      entry: 0,
      mark: closes.ETHUSDT,
      unrealizedPnl: 0,
    }),
  );
  return { lastOpen, closes };
}

describe("the defaults on the live layouts", () => {
  it("run --once publishes every phase from the data sink and the position hash; a flat symbol gets only its marketstate", async () => {
    const { closes } = await seedLiveStack();
    const r = runCli([
      "run",
      "--once",
      "--redis-url",
      server.url,
      "--symbols",
      "BTCUSDT,ETHUSDT,SOLUSDT",
      "--log-level",
      "warn",
    ]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    for (const symbol of ["BTCUSDT", "ETHUSDT", "SOLUSDT"]) {
      expect(await redis.hget(`quantum:marketstate:${symbol}`, "buffer_size"), symbol).toBe("300");
    }
    const btcRisk = await redis.hgetall("quantum:risk:proposal:BTCUSDT");
    expect(btcRisk.position_side).toBe("LONG");
    expect(Number(btcRisk.position_current_price)).toBeCloseTo(closes.BTCUSDT, 6);
    // created_at 4 h ago (the apply layer): the age is real, not 0.
    expect(Number(btcRisk.position_age_sec)).toBeGreaterThanOrEqual(4 * 3600);
    expect(Number(btcRisk.proposed_sl)).toBeLessThan(closes.BTCUSDT);
    const solHarvest = await redis.hgetall("quantum:harvest:proposal:SOLUSDT");
    expect(solHarvest.position_side).toBe("SHORT");
    expect(solHarvest.harvest_action).toMatch(
      /^(NONE|PARTIAL_25|PARTIAL_50|PARTIAL_75|FULL_CLOSE_PROPOSED)$/,
    );
    expect(
      await redis.exists("quantum:risk:proposal:ETHUSDT", "quantum:harvest:proposal:ETHUSDT"),
    ).toBe(0);
    // The position memory of the open positions, none for the flat one.
    expect(await redis.hget("quantum:calc:position:BTCUSDT", "peak_price")).not.toBeNull();
    expect(await redis.exists("quantum:calc:position:ETHUSDT")).toBe(0);
  });

  it("run follows the klines stream: a closed candle reaches the harvest hash within seconds, without waiting for an interval; SIGTERM exits 0", async () => {
    const { lastOpen, closes } = await seedLiveStack();
    cli = startCli(
      ["run", "--redis-url", server.url, "--symbols", "BTCUSDT", "--log-level", "info"],
      {},
      { cleanEnv: true },
    );
    await until(
      "the first harvest publish",
      async () =>
        (await redis.hget("quantum:harvest:proposal:BTCUSDT", "computed_at_utc")) !== null,
      20_000,
    );
    await until("the follower connection", async () =>
      /name=quantum-calc-klines /.test((await redis.call("CLIENT", "LIST")) as string),
    );
    const before = await redis.hget("quantum:marketstate:BTCUSDT", "ts_timestamp");
    const beforeSigma = await redis.hget("quantum:marketstate:BTCUSDT", "sigma");
    // The 60 s marketstate interval has not come round: only the live candle can publish now. It
    // is the newest closed minute published again, corrected (a newer `timestamp` wins): the next
    // minute has not closed yet, and a candle whose close_time is after now is future_candle.
    await xaddKline(redis, {
      symbol: "BTCUSDT",
      open_time: lastOpen,
      close: closes.BTCUSDT * 1.01,
      high: closes.BTCUSDT * 1.012,
      low: closes.BTCUSDT,
      timestamp: (lastOpen + MINUTE_MS) / 1000 + 5,
    });
    await until(
      "the live candle publish",
      async () => (await redis.hget("quantum:marketstate:BTCUSDT", "sigma")) !== beforeSigma,
      10_000,
    );
    expect(
      Number(await redis.hget("quantum:marketstate:BTCUSDT", "ts_timestamp")),
    ).toBeGreaterThanOrEqual(Number(before));
    // The chain carried it on: the risk proposal follows the new price (heartbeat or publish).
    await until(
      "risk to see the new candle",
      async () =>
        Number(await redis.hget("quantum:risk:proposal:BTCUSDT", "last_update_epoch")) >=
        Number(before),
    );
    cli.child.kill("SIGTERM");
    expect((await cli.exit).code).toBe(0);
    expect(cli.output()).toMatch(/quantum-calc started/);
  });
});
