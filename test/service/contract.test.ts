// End to end against a real redis-server: `run --once` through the built CLI writes exactly
// the docs/specification.md §5 hashes and nothing else; the rate limit, heartbeat and skips behave as docs/specification.md §6.
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import type { TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import {
  longPosition,
  prices,
  seedCandles,
  seedPosition,
  firstOpenTimeFor,
} from "../helpers/seed.js";
import { runCli } from "../helpers/runCli.js";

import { HARVEST_FIELDS, MARKETSTATE_FIELDS, RISK_FIELDS } from "../helpers/contractFields.js";

const DECIMAL = /^-?\d+(\.\d+)?$/;
const ALLOWED_WRITES =
  /^(quantum:marketstate:|quantum:risk:proposal:|quantum:harvest:proposal:|quantum:calc:|quantum:stream:(marketstate|risk\.proposal|harvest\.proposal)$)/;

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;
beforeAll(() => {
  ({ server, redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});

function once(...args: string[]) {
  return runCli(["run", "--once", "--redis-url", server.url, "--log-level", "warn", ...args]);
}

async function seedMarket(
  symbol: string,
  regime: "trend" | "mr" | "chop" = "trend",
): Promise<number> {
  const closes = prices(regime, 300, 100);
  await seedCandles(redis, symbol, closes);
  return closes[closes.length - 1];
}

describe("run --once against Redis", () => {
  it("writes exactly the contract hashes with the contract fields and formats", async () => {
    for (const s of ["BTCUSDT", "ETHUSDT"]) {
      const last = await seedMarket(s);
      await seedPosition(redis, longPosition(s, last));
    }
    const before = new Set(await redis.keys("*"));
    const r = once("--symbols", "BTCUSDT,ETHUSDT");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);

    const written = (await redis.keys("*")).filter((k) => !before.has(k)).sort();
    for (const key of written) expect(key).toMatch(ALLOWED_WRITES);
    expect(written).toEqual([
      "quantum:calc:marketstate:BTCUSDT",
      "quantum:calc:marketstate:ETHUSDT",
      // The position memory (docs/specification.md §4.2): our own bookkeeping.
      "quantum:calc:position:BTCUSDT",
      "quantum:calc:position:ETHUSDT",
      "quantum:harvest:proposal:BTCUSDT",
      "quantum:harvest:proposal:ETHUSDT",
      "quantum:marketstate:BTCUSDT",
      "quantum:marketstate:ETHUSDT",
      "quantum:risk:proposal:BTCUSDT",
      "quantum:risk:proposal:ETHUSDT",
      "quantum:stream:marketstate",
    ]);

    const ms = await redis.hgetall("quantum:marketstate:BTCUSDT");
    expect(Object.keys(ms).sort()).toEqual([...MARKETSTATE_FIELDS].sort());
    expect(ms.mu).toMatch(/^-?\d+\.\d{8}$/);
    expect(ms.sigma).toMatch(/^\d+\.\d{8}$/);
    for (const f of ["ts", "p_trend", "p_mr", "p_chop", "dp", "vr", "spike_proxy"])
      expect(ms[f]).toMatch(/^-?\d+\.\d{6}$/);
    expect(ms.ts_timestamp).toMatch(/^\d{10}$/);
    expect(ms.buffer_size).toBe("300");
    // The exit brain's JSON: the same 6-decimal probabilities as the flat fields.
    expect(ms.regime_probs).toBe(`{"trend":${ms.p_trend},"mr":${ms.p_mr},"chop":${ms.p_chop}}`);
    expect(JSON.parse(ms.regime_probs)).toEqual({
      trend: Number(ms.p_trend),
      mr: Number(ms.p_mr),
      chop: Number(ms.p_chop),
    });
    const ttl = await redis.ttl("quantum:marketstate:BTCUSDT");
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);

    const risk = await redis.hgetall("quantum:risk:proposal:BTCUSDT");
    expect(Object.keys(risk).sort()).toEqual([...RISK_FIELDS].sort());
    for (const f of [
      "proposed_sl",
      "proposed_tp",
      "stop_dist_pct",
      "tp_dist_pct",
      "trail_gap_pct",
      "sigma",
      "ts",
      "position_current_price",
    ]) {
      expect(risk[f]).toMatch(DECIMAL);
    }
    expect(risk.computed_at_utc).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(risk.position_side).toBe("LONG");
    expect(risk.reason_codes).toMatch(/^[a-z_]+(,[a-z_]+)*$/);
    expect(await redis.ttl("quantum:risk:proposal:BTCUSDT")).toBe(-1);

    const harvest = await redis.hgetall("quantum:harvest:proposal:BTCUSDT");
    expect(Object.keys(harvest).sort()).toEqual([...HARVEST_FIELDS].sort());
    expect(harvest.harvest_action).toMatch(
      /^(NONE|PARTIAL_25|PARTIAL_50|PARTIAL_75|FULL_CLOSE_PROPOSED)$/,
    );
    expect(harvest.new_sl_proposed === "" || DECIMAL.test(harvest.new_sl_proposed)).toBe(true);
    const { regime_probs: _json, ...flatMs } = ms;
    for (const value of [
      ...Object.values(flatMs),
      ...Object.values(risk),
      ...Object.values(harvest),
    ]) {
      expect(value).not.toMatch(/^(NaN|nan|Infinity|-Infinity|inf|None|null|undefined)$/);
      expect(value).not.toMatch(/e[+-]?\d/);
    }

    const stream = await redis.xrange("quantum:stream:marketstate", "-", "+");
    expect(stream).toHaveLength(2);
    const fields = Object.fromEntries(
      stream[0][1].reduce<[string, string][]>(
        (acc, v, i, a) => (i % 2 === 0 ? [...acc, [v, a[i + 1]]] : acc),
        [],
      ),
    );
    expect(Object.keys(fields).sort()).toEqual([
      "mu",
      "regime",
      "sigma",
      "symbol",
      "timestamp",
      "ts",
    ]);
    expect(["trend", "mr", "chop"]).toContain(fields.regime);
  });

  it("--enable-stream also appends the proposal streams", async () => {
    const last = await seedMarket("BTCUSDT");
    await seedPosition(redis, longPosition("BTCUSDT", last));
    expect(once("--symbols", "BTCUSDT", "--enable-stream").status).toBe(0);
    expect(await redis.xlen("quantum:stream:risk.proposal")).toBe(1);
    expect(await redis.xlen("quantum:stream:harvest.proposal")).toBe(1);
  });

  it("keeps fields other services wrote into the same hashes", async () => {
    const last = await seedMarket("BTCUSDT");
    await seedPosition(redis, longPosition("BTCUSDT", last));
    await redis.hset("quantum:harvest:proposal:BTCUSDT", {
      action: "HOLD",
      calibrated: "1",
      original_action: "PARTIAL_25",
    });
    await redis.hset("quantum:risk:proposal:BTCUSDT", { apply_status: "applied" });
    expect(once("--symbols", "BTCUSDT").status).toBe(0);
    expect(
      await redis.hmget(
        "quantum:harvest:proposal:BTCUSDT",
        "action",
        "calibrated",
        "original_action",
      ),
    ).toEqual(["HOLD", "1", "PARTIAL_25"]);
    expect(await redis.hget("quantum:risk:proposal:BTCUSDT", "apply_status")).toBe("applied");
    expect(await redis.hget("quantum:harvest:proposal:BTCUSDT", "harvest_action")).not.toBeNull();
  });

  it("auto position source without positions writes no proposal and exits 0", async () => {
    await seedMarket("BTCUSDT");
    const r = once("--symbols", "BTCUSDT", "--log-level", "info");
    expect(r.status).toBe(0);
    expect(await redis.exists("quantum:marketstate:BTCUSDT")).toBe(1);
    expect(await redis.exists("quantum:risk:proposal:BTCUSDT")).toBe(0);
    expect(await redis.exists("quantum:harvest:proposal:BTCUSDT")).toBe(0);
    expect(r.stdout).toContain("no_position");
  });

  it("reads the legacy single positions hash", async () => {
    const last = await seedMarket("ETHUSDT");
    await redis.hset(
      "quantum:state:positions",
      "ETHUSDT",
      JSON.stringify(longPosition("ETHUSDT", last)),
    );
    expect(once("--symbols", "ETHUSDT").status).toBe(0);
    expect(await redis.hget("quantum:risk:proposal:ETHUSDT", "position_side")).toBe("LONG");
  });

  it("deduplicates candles by open time", async () => {
    const closes = prices("trend", 280, 100);
    const first = firstOpenTimeFor(closes.length);
    await seedCandles(redis, "BTCUSDT", closes, { firstOpenTimeMs: first });
    // the same candles again under other member strings (a producer re-writing them)
    for (let i = 0; i < 50; i++) {
      const t = first + i * 60_000;
      await redis.zadd("candles:BTCUSDT:1m", t, JSON.stringify({ open_time: t, c: closes[i] }));
    }
    expect(once("--symbols", "BTCUSDT", "--only", "marketstate").status).toBe(0);
    expect(await redis.hget("quantum:marketstate:BTCUSDT", "buffer_size")).toBe("280");
  });

  it("too few candles is a counted skip (insufficient_data), exit 0, nothing written", async () => {
    await seedCandles(redis, "BTCUSDT", prices("trend", 100));
    const r = once("--symbols", "BTCUSDT", "--only", "marketstate", "--log-level", "info");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("insufficient_data");
    expect(await redis.exists("quantum:marketstate:BTCUSDT")).toBe(0);
  });

  it("risk refuses a stale marketstate", async () => {
    const last = await seedMarket("BTCUSDT");
    await seedPosition(redis, longPosition("BTCUSDT", last));
    expect(once("--symbols", "BTCUSDT", "--only", "marketstate").status).toBe(0);
    await redis.hset(
      "quantum:marketstate:BTCUSDT",
      "ts_timestamp",
      String(Math.floor(Date.now() / 1000) - 3600),
    );
    const r = once("--symbols", "BTCUSDT", "--only", "risk", "--log-level", "info");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("stale_marketstate");
    expect(await redis.exists("quantum:risk:proposal:BTCUSDT")).toBe(0);
  });

  it("a bad position is skipped as bad_position, never defaulted", async () => {
    const last = await seedMarket("BTCUSDT");
    await seedPosition(redis, longPosition("BTCUSDT", last, { side: "SIDEWAYS" }));
    const r = once("--symbols", "BTCUSDT", "--log-level", "info");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("bad_position");
    expect(await redis.exists("quantum:risk:proposal:BTCUSDT")).toBe(0);
  });

  it("a second pass with unchanged inputs does not re-publish: it only heartbeats", async () => {
    const last = await seedMarket("BTCUSDT");
    await seedPosition(redis, longPosition("BTCUSDT", last));
    expect(once("--symbols", "BTCUSDT", "--enable-stream").status).toBe(0);
    const risk1 = await redis.hgetall("quantum:risk:proposal:BTCUSDT");
    const harvest1 = await redis.hgetall("quantum:harvest:proposal:BTCUSDT");
    await redis.hset("quantum:risk:proposal:BTCUSDT", "last_update_epoch", "1");
    await redis.hset("quantum:harvest:proposal:BTCUSDT", "last_update_epoch", "1");
    expect(once("--symbols", "BTCUSDT", "--enable-stream").status).toBe(0);
    const risk2 = await redis.hgetall("quantum:risk:proposal:BTCUSDT");
    const harvest2 = await redis.hgetall("quantum:harvest:proposal:BTCUSDT");
    expect(risk2.computed_at_utc).toBe(risk1.computed_at_utc);
    expect(harvest2.computed_at_utc).toBe(harvest1.computed_at_utc);
    expect(Number(risk2.last_update_epoch)).toBeGreaterThan(1);
    expect(Number(harvest2.last_update_epoch)).toBeGreaterThan(1);
    expect(await redis.xlen("quantum:stream:marketstate")).toBe(1);
    expect(await redis.xlen("quantum:stream:risk.proposal")).toBe(1);
    expect(await redis.xlen("quantum:stream:harvest.proposal")).toBe(1);
  });

  it("a key of the wrong type is a counted skip, not a crash", async () => {
    await redis.set("candles:BTCUSDT:1m", "not a zset");
    const r = once("--symbols", "BTCUSDT", "--only", "marketstate", "--log-level", "info");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("bad_input");
  });
});

describe("run --once exit codes", () => {
  it("exits 1 within bounded time when Redis is unreachable, naming the server but not the password", async () => {
    const { freePort } = await import("../helpers/redisServer.js");
    const port = await freePort();
    const started = Date.now();
    const r = runCli(
      [
        "run",
        "--once",
        "--redis-url",
        `redis://:hunter2secret@127.0.0.1:${port}`,
        "--log-level",
        "warn",
      ],
      undefined,
    );
    expect(r.status).toBe(1);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(r.stderr).toContain(`127.0.0.1:${port}`);
    expect(r.stderr + r.stdout).not.toContain("hunter2secret");
  });

  it("exits 2 on a bad flag value, naming it", () => {
    const r = runCli(["run", "--once", "--harvest-interval", "soon"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("harvestInterval");
    expect(r.stderr).toContain("soon");
  });

  it("exits 2 on an unknown option", () => {
    expect(runCli(["run", "--once", "--frobnicate"]).status).toBe(2);
  });
});
