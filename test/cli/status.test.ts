// `quantum-calc status` against a real redis-server (the BUILT CLI: `npm run build` first when
// running this file alone). Hashes are written the way the publishers (or the old Python
// services) write them, with timestamps chosen to be fresh or stale.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Redis } from "ioredis";
import { formatAge, harvestStatus, type StatusReport } from "../../src/commands/status.js";
import { freePort, startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { redisClient } from "../helpers/seed.js";
import { runCli } from "../helpers/runCli.js";

const PASSWORD = "s3cret-Pa55";
let server: TestRedis;
let redis: Redis;
let url: string;
const nowSec = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  server = await startTestRedis(["--requirepass", PASSWORD]);
  url = `redis://:${PASSWORD}@127.0.0.1:${server.port}`;
  redis = redisClient(url);
  const t = nowSec();
  // BTCUSDT: everything fresh.
  await redis.hset("quantum:marketstate:BTCUSDT", {
    sigma: "0.00132760",
    mu: "0.00098009",
    ts: "0.738260",
    p_trend: "0.730000",
    p_mr: "0.030000",
    p_chop: "0.240000",
    ts_timestamp: String(t - 5),
    buffer_size: "300",
  });
  await redis.hset("quantum:risk:proposal:BTCUSDT", {
    proposed_sl: "134.25",
    proposed_tp: "134.92",
    stop_dist_pct: "0.01",
    last_update_epoch: String(t - 2),
  });
  await redis.hset("quantum:harvest:proposal:BTCUSDT", {
    harvest_action: "PARTIAL_50",
    new_sl_proposed: "129.84",
    R_net: "5.987",
    kill_score: "0.503",
    last_update_epoch: String(t - 3),
  });
  // ETHUSDT: everything stale (defaults 60/10/10 s → stale past 180/30/30 s), written like the
  // old Python harvest service ("None" for no new stop), mean-reverting regime.
  await redis.hset("quantum:marketstate:ETHUSDT", {
    sigma: "0.002",
    mu: "0",
    ts: "0.1",
    p_trend: "0.1",
    p_mr: "0.6",
    p_chop: "0.3",
    ts_timestamp: String(t - 600),
  });
  await redis.hset("quantum:risk:proposal:ETHUSDT", {
    proposed_sl: "2500.5",
    proposed_tp: "2700",
    last_update_epoch: String(t - 45),
  });
  await redis.hset("quantum:harvest:proposal:ETHUSDT", {
    harvest_action: "HOLD",
    new_sl_proposed: "None",
    R_net: "-0.5",
    kill_score: "0.2",
    last_update_epoch: String(t - 3700),
  });
  // SOLUSDT: only a marketstate, with a broken field; XRPUSDT: nothing at all.
  await redis.hset("quantum:marketstate:SOLUSDT", {
    sigma: "nan",
    p_trend: "0.2",
    p_mr: "0.2",
    p_chop: "0.6",
    ts_timestamp: String(t - 1),
  });
});

afterAll(async () => {
  redis.disconnect();
  await server.close();
});

function status(args: string[], env: Record<string, string> = {}) {
  // A clean environment: the developer's REDIS_URL/SYMBOLS must not leak in.
  const saved = { ...process.env };
  for (const k of Object.keys(process.env))
    if (/^(REDIS|SYMBOLS|QUANTUM_CALC|MARKETSTATE|PUBLISH_INTERVAL)/.test(k)) delete process.env[k];
  Object.assign(process.env, env);
  try {
    return runCli(["status", ...args]);
  } finally {
    process.env = saved;
  }
}

const SYMBOLS = ["--symbols", "BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT"];

describe("quantum-calc status", () => {
  it("prints one row per symbol, marking stale ages and missing hashes", () => {
    const r = status(["--redis-url", url, ...SYMBOLS]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(
      /^Redis redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ at \S+Z; STALE = older than 3 intervals \(marketstate 180 s, risk 30 s, harvest 30 s\)$/,
    );
    const header = lines.find((l) => l.startsWith("SYMBOL"))!;
    expect(header.split(/\s{2,}/)).toEqual([
      "SYMBOL",
      "REGIME",
      "SIGMA",
      "MS AGE",
      "SL",
      "TP",
      "RISK AGE",
      "ACTION",
      "R_NET",
      "K",
      "NEW SL",
      "HARVEST AGE",
      "CANDLES",
      "POSITION",
    ]);
    const row = (symbol: string) => lines.find((l) => l.startsWith(`${symbol} `))!.split(/\s{2,}/);

    const btc = row("BTCUSDT");
    expect(btc.slice(0, 3)).toEqual(["BTCUSDT", "trend", "0.001328"]);
    expect(btc[3]).toMatch(/^[5-9]s$/);
    expect(btc.slice(4, 6)).toEqual(["134.25", "134.92"]);
    expect(btc[6]).toMatch(/^\ds$/);
    expect(btc.slice(7, 11)).toEqual(["PARTIAL_50", "5.99", "0.503", "129.84"]);
    expect(btc[11]).not.toContain("STALE");
    expect(btc.join(" ")).not.toContain("STALE");

    const eth = row("ETHUSDT");
    expect(eth.slice(0, 2)).toEqual(["ETHUSDT", "mr"]);
    expect(eth[3]).toMatch(/^10m0\ds STALE$/);
    expect(eth[6]).toMatch(/^4[5-9]s STALE$/);
    expect(eth.slice(7, 11)).toEqual(["HOLD", "-0.50", "0.200", "-"]);
    expect(eth[11]).toMatch(/^1h01m STALE$/);

    const sol = row("SOLUSDT");
    expect(sol.slice(0, 3)).toEqual(["SOLUSDT", "chop", "?"]);
    expect(sol.slice(4, 12)).toEqual(["-", "-", "-", "-", "-", "-", "-", "-"]);
    // No candles, no position: the reasons the publishers would count.
    expect(sol.slice(12)).toEqual(["insufficient_data", "no_position"]);
    expect(row("XRPUSDT")).toEqual([
      "XRPUSDT",
      ...Array<string>(11).fill("-"),
      "insufficient_data",
      "no_position",
    ]);
    expect(r.stdout).toContain(
      'Problems:\n  quantum:marketstate:SOLUSDT.sigma="nan" is not a number',
    );

    expect(r.stdout).not.toContain(PASSWORD);
  });

  it("--json gives the same facts as numbers, with null for missing hashes", () => {
    const r = status(["--redis-url", url, ...SYMBOLS, "--json"]);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as StatusReport;
    expect(report.redis).toBe(`redis://:***@127.0.0.1:${server.port}`);
    expect(report.stale_after_sec).toEqual({ marketstate: 180, risk: 30, harvest: 30 });
    expect(report.symbols.map((s) => s.symbol)).toEqual([
      "BTCUSDT",
      "ETHUSDT",
      "SOLUSDT",
      "XRPUSDT",
    ]);
    const [btc, eth, sol, xrp] = report.symbols;
    expect(btc.marketstate).toMatchObject({
      regime: "trend",
      p_trend: 0.73,
      p_mr: 0.03,
      p_chop: 0.24,
      sigma: 0.0013276,
      stale: false,
      problems: [],
    });
    expect(btc.marketstate!.age_sec).toBeGreaterThanOrEqual(5);
    expect(btc.risk).toMatchObject({ proposed_sl: 134.25, proposed_tp: 134.92, stale: false });
    expect(btc.harvest).toMatchObject({
      harvest_action: "PARTIAL_50",
      R_net: 5.987,
      kill_score: 0.503,
      new_sl_proposed: 129.84,
      stale: false,
    });
    expect(eth.marketstate).toMatchObject({ regime: "mr", stale: true });
    expect(eth.risk).toMatchObject({ stale: true });
    expect(eth.harvest).toMatchObject({
      harvest_action: "HOLD",
      new_sl_proposed: null,
      stale: true,
    });
    expect(eth.harvest!.age_sec).toBeGreaterThanOrEqual(3700);
    expect(sol.marketstate).toMatchObject({
      regime: "chop",
      sigma: null,
      problems: ['quantum:marketstate:SOLUSDT.sigma="nan" is not a number'],
    });
    expect(sol.risk).toBeNull();
    expect(xrp).toMatchObject({
      symbol: "XRPUSDT",
      marketstate: null,
      risk: null,
      harvest: null,
      errors: [],
    });
    // No candles and no position either: the reasons the publishers would count.
    expect(xrp.inputs.candles).toMatchObject({
      key: null,
      problem: expect.stringMatching(/^insufficient_data: no candle key for XRPUSDT/),
    });
    expect(xrp.inputs.position.state).toBe("no_position");
    expect(r.stdout).not.toContain(PASSWORD);
  });

  it("takes the symbols, URL and intervals from the config file and environment", () => {
    const r = status(["--json", "--risk-interval", "20"], {
      REDIS_URL: url,
      SYMBOLS: "ETHUSDT",
      PUBLISH_INTERVAL_SEC: "5", // old services' name: risk and harvest interval; the flag wins for risk
    });
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as StatusReport;
    expect(report.stale_after_sec).toEqual({ marketstate: 180, risk: 60, harvest: 15 });
    expect(report.symbols.map((s) => s.symbol)).toEqual(["ETHUSDT"]);
    // 45 s old: stale at 3 x 10 s, fresh at 3 x 20 s.
    expect(report.symbols[0].risk!.stale).toBe(false);
  });

  it("reports a wrong-typed key as an error on that row, not a crash", async () => {
    await redis.set("quantum:risk:proposal:ADAUSDT", "oops");
    const r = status(["--redis-url", url, "--symbols", "ADAUSDT"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /ADAUSDT: key quantum:risk:proposal:ADAUSDT is not a hash \(it is a string\)/,
    );
  });

  it("fails in bounded time with exit 1 and a masked URL when Redis is unreachable", async () => {
    const port = await freePort();
    const started = Date.now();
    const r = status(
      ["--redis-url", `redis://:${PASSWORD}@127.0.0.1:${port}`, "--symbols", "BTCUSDT"],
      { QUANTUM_CALC_CONNECT_TIMEOUT_MS: "1000" },
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(
      new RegExp(
        `^quantum-calc: cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: `,
      ),
    );
    expect(r.stderr + r.stdout).not.toContain(PASSWORD);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("fails with exit 1 on a wrong password, without printing it", () => {
    const r = status(
      [
        "--redis-url",
        `redis://:wrong-${PASSWORD}@127.0.0.1:${server.port}`,
        "--symbols",
        "BTCUSDT",
      ],
      {
        QUANTUM_CALC_CONNECT_TIMEOUT_MS: "1000",
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("cannot reach Redis at redis://:***@");
    expect(r.stderr + r.stdout).not.toContain(PASSWORD);
  });
});

describe("status helpers", () => {
  it("formats ages compactly", () => {
    expect(
      [0, 59.9, 119, 120, 3599, 3600, 7199, 172_799, 172_800, 200_000, -3].map(formatAge),
    ).toEqual([
      "0s",
      "59s",
      "119s",
      "2m00s",
      "59m59s",
      "1h00m",
      "1h59m",
      "47h59m",
      "2d00h",
      "2d07h",
      "-3s",
    ]);
  });

  it('treats a harvest hash without a timestamp as stale, and "" / "None" as no new stop', () => {
    const h = harvestStatus(
      "k",
      { harvest_action: "HOLD", R_net: "1", kill_score: "0.1", new_sl_proposed: "" },
      1_000_000,
      30,
    );
    expect(h).toMatchObject({
      age_sec: null,
      stale: true,
      new_sl_proposed: null,
      problems: ["k.last_update_epoch missing"],
    });
  });
});

describe("quantum-calc status: the inputs in the live layouts", () => {
  it("shows the data sink candles (count, age, STALE) and the position as the brain and apply layer write it, with the tracked peak", async () => {
    const {
      seedDataSink,
      brainFields,
      applyLayerFields,
      hsetPosition,
      lastClosedOpenTime,
      MINUTE_MS,
    } = await import("../helpers/producers.js");
    const closes = Array.from({ length: 300 }, (_, i) => 100 + Math.sin(i / 9));
    await seedDataSink(redis, "ADAUSDT", closes);
    await seedDataSink(redis, "DOTUSDT", closes, {
      lastOpenTimeMs: lastClosedOpenTime() - 20 * MINUTE_MS,
    });
    await hsetPosition(
      redis,
      applyLayerFields({
        symbol: "ADAUSDT",
        side: "LONG",
        quantity: 250,
        entry: 99.5,
        createdAt: nowSec() - 600,
      }),
    );
    await hsetPosition(
      redis,
      brainFields({
        symbol: "ADAUSDT",
        positionAmt: 250,
        entry: 99.5,
        mark: 100.2,
        unrealizedPnl: 175,
      }),
    );
    await redis.hset("quantum:calc:position:ADAUSDT", {
      identity: "plan:x:LONG",
      side: "LONG",
      first_seen_epoch: String(nowSec() - 500),
      peak_price: "101.25",
      trough_price: "99.1",
      candles_through_ms: "",
    });
    await hsetPosition(
      redis,
      brainFields({ symbol: "DOTUSDT", positionAmt: 0, entry: 0, mark: 7, unrealizedPnl: 0 }),
    );
    const r = status(["--redis-url", url, "--symbols", "ADAUSDT,DOTUSDT", "--json"]);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as StatusReport;
    const [ada, dot] = report.symbols;
    expect(ada.inputs.candles).toMatchObject({
      key: "quantum:history:ohlcv:ADAUSDT:1m",
      count: 300,
      stale: false,
      problem: null,
    });
    expect(ada.inputs.candles.newest_open_age_sec).toBeLessThan(125);
    expect(ada.inputs.position).toMatchObject({
      state: "open",
      side: "LONG",
      quantity: 250,
      entry_price: 99.5,
      current_price: 100.2,
    });
    expect(ada.inputs.memory).toMatchObject({ peak_price: 101.25, trough_price: 99.1 });
    expect(dot.inputs.candles.stale).toBe(true);
    expect(dot.inputs.position.state).toBe("no_position");

    const table = status(["--redis-url", url, "--symbols", "ADAUSDT,DOTUSDT"]);
    const rows = table.stdout.split("\n").filter((l) => /^(ADAUSDT|DOTUSDT) /.test(l));
    // The newest candle opened in the last closed minute: 60 to 120 s ago (2m00s at the edge).
    expect(rows[0]).toMatch(/ 300 @(\d+s|\d+m\d\ds) +LONG 250 @99\.5 peak 101\.25$/);
    expect(rows[1]).toMatch(/ 300 @2\dm\d\ds STALE +no_position$/);
  });
});

describe("status ages", () => {
  it("are whole milliseconds, never float noise", async () => {
    const { ageSince } = await import("../../src/commands/status.js");
    expect(ageSince(1_764_576_010_345, 1_764_576_000 * 1000)).toBe(10.345);
    // eslint-disable-next-line no-loss-of-precision -- the point: a float just past the millisecond
    expect(String(ageSince(1_764_576_010_345.0001, 1_764_576_000_000))).toBe("10.345");
  });
});

describe("status: the harvest theta in force", () => {
  it("names the policy in force, or why the configured theta is used", async () => {
    const { generatorPolicy } = await import("../helpers/producers.js");
    await redis.del("quantum:policy:current");
    const none = JSON.parse(
      status(["--redis-url", url, "--symbols", "BTCUSDT", "--json"]).stdout,
    ) as StatusReport;
    expect(none.theta).toMatchObject({
      source: "config",
      version: "",
      why: expect.stringMatching(
        /^policy refused \(missing\): quantum:policy:current does not exist/,
      ),
    });
    await redis.hset("quantum:policy:current", generatorPolicy());
    const table = status(["--redis-url", url, "--symbols", "BTCUSDT"]);
    expect(table.stdout.split("\n")[1]).toMatch(
      /^Harvest theta: policy 1\.0\.0-ai-v1 \(valid [45]m\d\ds more; 3 universe symbols\)$/,
    );
    await redis.hset("quantum:policy:current", "valid_until_epoch", String(Date.now() / 1000 - 10));
    const expired = JSON.parse(
      status(["--redis-url", url, "--symbols", "BTCUSDT", "--json"]).stdout,
    ) as StatusReport;
    expect(expired.theta).toMatchObject({
      source: "config",
      why: expect.stringMatching(
        /^policy refused \(expired\): policy 1\.0\.0-ai-v1 expired 1\d s ago/,
      ),
    });
  });
});

describe("status: the single-writer lease", () => {
  it("says who writes (holder and TTL), or that nobody holds the lease; --lease-key names another key", async () => {
    await redis.del("quantum:calc:leader");
    const free = status(["--redis-url", url, "--symbols", "BTCUSDT"]);
    expect(free.stdout.split("\n")[2]).toBe(
      "Writer: the single-writer lease quantum:calc:leader is free: no instance holds it (none running, or all with the lease off)",
    );
    // A TTL far longer than any status run, however loaded the machine: the assertions are on
    // what is shown (holder, the remaining TTL in 0.1 s), never on how fast the command ran.
    const ttlMs = 600_000;
    await redis.set(
      "quantum:calc:leader",
      "hostA:4242:0b7c1d2e-1111-4222-8333-944455556666",
      "PX",
      ttlMs,
    );
    const held = JSON.parse(
      status(["--redis-url", url, "--symbols", "BTCUSDT", "--json"]).stdout,
    ) as StatusReport;
    expect(held.lease).toMatchObject({ key: "quantum:calc:leader", holder: "hostA:4242:0b7c1d2e" });
    expect(held.lease.ttl_ms).toBeGreaterThan(0);
    expect(held.lease.ttl_ms).toBeLessThanOrEqual(ttlMs);
    const line =
      /^Writer: hostA:4242:0b7c1d2e holds the single-writer lease quantum:calc:leader \(expires in (\d+\.\d) s unless renewed\); any other instance stands by$/m.exec(
        status(["--redis-url", url, "--symbols", "BTCUSDT"]).stdout,
      );
    expect(line).not.toBeNull();
    const shownMs = Number(line![1]) * 1000;
    expect(shownMs).toBeGreaterThan(0);
    expect(shownMs).toBeLessThanOrEqual(ttlMs);
    const other = JSON.parse(
      status([
        "--redis-url",
        url,
        "--symbols",
        "BTCUSDT",
        "--json",
        "--lease-key",
        "quantum:calc:leader-b",
      ]).stdout,
    ) as StatusReport;
    expect(other.lease).toEqual({ key: "quantum:calc:leader-b", holder: null, ttl_ms: null });
    await redis.del("quantum:calc:leader");
  });
});
