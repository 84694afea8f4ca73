// Bad input end to end: the service (startService, one pass per symbol) against a real
// redis-server holding broken candles, positions and marketstate hashes. Every case ends in a
// counted skip whose reason is logged and counted in handle.stats, the run ends normally, and
// nothing is written for the broken symbol beyond what its healthy phases may write.
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { PhaseName } from "../../machines/publisher.js";
import { closeStore, startService } from "../../src/service/service.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import { type TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import {
  MINUTE_MS,
  longPosition,
  prices,
  seedCandles,
  seedPosition,
  type PositionFields,
  firstOpenTimeFor,
} from "../helpers/seed.js";
import { captureLogger, serviceConfig } from "../helpers/serviceHarness.js";
import { redisSnapshot, changedKeys } from "../helpers/redisSnapshot.js";

const S = "BTCUSDT";
// From the clock: the service refuses candles older than maxCandleAge.
const FIRST_OPEN = firstOpenTimeFor(300);
const CANDLES = `candles:${S}:1m`;

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;

beforeAll(() => {
  ({ server, redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});

interface OnceResult {
  exitCode: number;
  /** handle.stats.summary(): `phase:outcome` and `skip:phase:reason` counts. */
  counts: Record<string, number>;
  skipDetail: (phase: PhaseName) => string | undefined;
  logText: string;
  changed: string[];
}

/** One pass (like `run --once`), in-process; returns counts, the logged skip details and what changed in Redis. */
async function once(flags: Record<string, unknown> = {}, symbols = [S]): Promise<OnceResult> {
  const before = await redisSnapshot(redis);
  const log = captureLogger("info");
  const watch = new CycleWatch();
  const config = serviceConfig({ redisUrl: server.url, symbols, ...flags });
  const handle = await startService({ config, logger: log.logger, once: true, hooks: watch.hooks });
  const output = await handle.done;
  await closeStore(handle.store);
  const lines = log.lines();
  return {
    exitCode: output.exitCode,
    counts: handle.stats.summary(),
    skipDetail: (phase) => {
      const line = lines.find(
        (l) =>
          l.phase === phase &&
          l.symbol === S &&
          typeof l.reason === "string" &&
          /skipped/.test(l.msg),
      );
      return line === undefined ? undefined : `${String(line.reason)}: ${String(line.detail)}`;
    },
    logText: log.text(),
    changed: changedKeys(before, await redisSnapshot(redis)),
  };
}

function candleMember(i: number, close: unknown): string {
  return JSON.stringify({ t: FIRST_OPEN + i * MINUTE_MS, close });
}

async function zaddMembers(members: Array<{ i: number; member: string }>): Promise<void> {
  const args: Array<string | number> = [];
  for (const { i, member } of members) args.push(FIRST_OPEN + i * MINUTE_MS, member);
  await redis.zadd(CANDLES, ...args);
}

async function goodMarket(): Promise<number> {
  const closes = prices("trend", 300, 100);
  await seedCandles(redis, S, closes, { firstOpenTimeMs: FIRST_OPEN });
  return closes[closes.length - 1];
}

describe("bad candles end in a counted skip (marketstate)", () => {
  const allBad: Array<[string, (i: number) => string]> = [
    ["members that are not JSON", (i) => `{"t":${i},"close":`],
    ['{"close":"NaN"}', () => '{"close":"NaN"}'],
    ["negative closes", (i) => candleMember(i, -100)],
    ["zero closes", (i) => candleMember(i, 0)],
    ["1e400 (overflows to Infinity)", (i) => `{"t":${FIRST_OPEN + i * MINUTE_MS},"close":1e400}`],
    ["empty objects", (i) => (i === 0 ? "{}" : `{"t":${FIRST_OPEN + i * MINUTE_MS}}`)],
  ];
  for (const [name, member] of allBad) {
    it(`${name}: bad_input, nothing written`, async () => {
      await zaddMembers(Array.from({ length: 300 }, (_, i) => ({ i, member: member(i) })));
      const r = await once({ phases: ["marketstate"] });
      expect(r.exitCode).toBe(0);
      expect(r.counts["skip:marketstate:bad_input"]).toBe(1);
      expect(r.skipDetail("marketstate")).toMatch(
        /^bad_input: all \d+ members read from candle key candles:BTCUSDT:1m are malformed/,
      );
      expect(r.changed).toEqual([]);
    });
  }

  it("a few malformed members among good ones are skipped, counted and reported with the publish", async () => {
    const closes = prices("trend", 300, 100);
    await seedCandles(redis, S, closes, { firstOpenTimeMs: FIRST_OPEN });
    // 20 broken members scored between the good ones
    await zaddMembers(
      Array.from({ length: 20 }, (_, k) => ({
        i: k * 10 + 0.5,
        member: ["{", '{"close":"NaN"}', '{"c":-1}', "{}"][k % 4] + " ".repeat(k),
      })),
    );
    const r = await once({ phases: ["marketstate"] });
    expect(r.counts["marketstate:published"]).toBe(1);
    expect(r.logText).toMatch(
      /marketstate BTCUSDT published: .*20 malformed candle members skipped/,
    );
    expect(await redis.hget(`quantum:marketstate:${S}`, "buffer_size")).toBe("300");
  });

  it("malformed members that leave too few candles: insufficient_data naming how many were skipped", async () => {
    // The broken ones are the oldest: with the newest ones broken the series would (also) be stale.
    await zaddMembers([
      ...Array.from({ length: 100 }, (_, k) => ({ i: k, member: candleMember(k, "NaN") })),
      ...Array.from({ length: 200 }, (_, i) => ({
        i: 100 + i,
        member: candleMember(100 + i, 100 + i / 10),
      })),
    ]);
    const r = await once({ phases: ["marketstate"] });
    expect(r.counts["skip:marketstate:insufficient_data"]).toBe(1);
    expect(r.skipDetail("marketstate")).toMatch(
      /^insufficient_data: 200 closes in candles:BTCUSDT:1m.*100 malformed/,
    );
    expect(r.changed).toEqual([]);
  });

  it("duplicated open times count once: 300 members over 150 open times is insufficient_data", async () => {
    // Two members per open time (a producer that rewrote each candle with another shape).
    // The newest 150 minutes, so the series is fresh.
    const members = Array.from({ length: 150 }, (_, k) => [
      { i: 150 + k, member: candleMember(150 + k, 100 + k) },
      {
        i: 150 + k,
        member: JSON.stringify({ open_time: FIRST_OPEN + (150 + k) * MINUTE_MS, c: 100 + k }),
      },
    ]).flat();
    await zaddMembers(members);
    expect(await redis.zcard(CANDLES)).toBe(300);
    const r = await once({ phases: ["marketstate"] });
    expect(r.counts["skip:marketstate:insufficient_data"]).toBe(1);
    expect(r.skipDetail("marketstate")).toMatch(/^insufficient_data: 150 closes .*150 duplicate/);
    expect(r.changed).toEqual([]);
  });

  it("out-of-order members (a list pushed out of order) are put in time order: the same result as in order", async () => {
    const closes = prices("mr", 300, 100, 3);
    const members = closes.map((close, i) => candleMember(i, close));
    await redis.rpush(`klines:${S}:1m`, ...members);
    const inOrder = await once({ phases: ["marketstate"] });
    expect(inOrder.counts["marketstate:published"]).toBe(1);
    const expected = await redis.hgetall(`quantum:marketstate:${S}`);
    await redis.flushall();
    // deterministic shuffle: reverse blocks of 7
    const shuffled: string[] = [];
    for (let i = 0; i < members.length; i += 7) shuffled.push(...members.slice(i, i + 7).reverse());
    await redis.rpush(`klines:${S}:1m`, ...shuffled);
    const outOfOrder = await once({ phases: ["marketstate"] });
    expect(outOfOrder.counts["marketstate:published"]).toBe(1);
    const got = await redis.hgetall(`quantum:marketstate:${S}`);
    for (const field of [
      "sigma",
      "mu",
      "ts",
      "p_trend",
      "p_mr",
      "p_chop",
      "dp",
      "vr",
      "spike_proxy",
      "buffer_size",
    ])
      expect(got[field], field).toBe(expected[field]);
  });

  it("candles under a key of the wrong type (WRONGTYPE): bad_input, nothing written", async () => {
    await redis.hset(CANDLES, "close", "100");
    const r = await once();
    expect(r.counts["skip:marketstate:bad_input"]).toBe(1);
    expect(r.skipDetail("marketstate")).toMatch(/candle key candles:BTCUSDT:1m is a hash/);
    // risk and harvest have no marketstate to work from
    expect(r.counts["skip:risk:no_marketstate"]).toBe(1);
    expect(r.changed).toEqual([]);
  });
});

describe("bad positions end in a counted skip (risk, harvest)", () => {
  const cases: Array<
    [string, Partial<PositionFields> | ((p: PositionFields) => PositionFields), RegExp]
  > = [
    [
      "an unknown side",
      { side: "SIDEWAYS" },
      /side must be LONG, SHORT or FLAT \(got "SIDEWAYS"\)/,
    ],
    [
      "a non-numeric price",
      { entry_price: "12abc" },
      /entry_price must be a number \(got "12abc"\)/,
    ],
    [
      "a missing price",
      (p) => {
        const { current_price: _drop, ...rest } = p;
        return rest as PositionFields;
      },
      /current_price or mark_price missing/,
    ],
    ["a negative age", { age_sec: -5 }, /age_sec must be >= 0 \(got -5\)/],
    ["NaN pnl", { unrealized_pnl: "NaN" }, /unrealized_pnl must be a number \(got "NaN"\)/],
  ];
  for (const [name, change, detail] of cases) {
    it(`${name}: bad_position naming the field; marketstate still publishes, no proposal`, async () => {
      const last = await goodMarket();
      const base = longPosition(S, last);
      await seedPosition(
        redis,
        typeof change === "function" ? change(base) : { ...base, ...change },
      );
      const r = await once();
      expect(r.exitCode).toBe(0);
      expect(r.counts["skip:risk:bad_position"]).toBe(1);
      expect(r.counts["skip:harvest:bad_position"]).toBe(1);
      expect(r.skipDetail("risk")).toMatch(detail);
      expect(r.skipDetail("harvest")).toMatch(detail);
      expect(r.changed).toEqual([
        "quantum:calc:marketstate:BTCUSDT",
        "quantum:marketstate:BTCUSDT",
        "quantum:stream:marketstate",
      ]);
    });
  }

  it("a position hash with 10,000 fields and a 1 MB value: bad_position with a short detail, the log stays small", async () => {
    const last = await goodMarket();
    const junk: Record<string, string> = {};
    for (let i = 0; i < 10_000; i++) junk[`extra_${i}`] = String(i);
    await redis.hset(`quantum:state:positions:${S}`, junk);
    const huge = "9".repeat(512 * 1024) + "x".repeat(512 * 1024); // 1 MB, not a number
    await seedPosition(redis, longPosition(S, last, { current_price: huge }));
    const r = await once();
    expect(r.counts["skip:risk:bad_position"]).toBe(1);
    expect(r.skipDetail("risk")).toMatch(/current_price must be a number \(got "9{20,}\.\.\."\)/);
    expect(r.logText.length).toBeLessThan(20_000);
    expect(r.changed).toEqual([
      "quantum:calc:marketstate:BTCUSDT",
      "quantum:marketstate:BTCUSDT",
      "quantum:stream:marketstate",
    ]);
  });

  it("the same 10,000 extra fields around a valid position are ignored: it is used", async () => {
    const last = await goodMarket();
    const junk: Record<string, string> = {};
    for (let i = 0; i < 10_000; i++) junk[`extra_${i}`] = "x".repeat(100);
    await redis.hset(`quantum:state:positions:${S}`, junk);
    await seedPosition(redis, longPosition(S, last));
    const r = await once();
    expect(r.counts["risk:published"]).toBe(1);
    expect(r.counts["harvest:published"]).toBe(1);
  });

  it("a positions key of the wrong type (WRONGTYPE): bad_position, no proposal", async () => {
    await goodMarket();
    await redis.rpush(`quantum:state:positions:${S}`, "LONG");
    const r = await once();
    expect(r.counts["skip:risk:bad_position"]).toBe(1);
    expect(r.skipDetail("risk")).toMatch(
      /key quantum:state:positions:BTCUSDT is not a hash \(it is a list\)/,
    );
    expect(r.changed).toEqual([
      "quantum:calc:marketstate:BTCUSDT",
      "quantum:marketstate:BTCUSDT",
      "quantum:stream:marketstate",
    ]);
  });

  it("the legacy positions key of the wrong type: bad_position", async () => {
    await goodMarket();
    await redis.set("quantum:state:positions", '{"BTCUSDT":{}}');
    const r = await once();
    expect(r.counts["skip:risk:bad_position"]).toBe(1);
    expect(r.skipDetail("risk")).toMatch(
      /key quantum:state:positions is not a hash \(it is a string\)/,
    );
  });
});

describe("a bad marketstate hash ends in a counted skip (risk, harvest)", () => {
  const now = (): string => String(Math.floor(Date.now() / 1000));
  const fields = (): Record<string, string> => ({
    sigma: "0.01",
    mu: "0.001",
    ts: "0.1",
    p_trend: "0.5",
    p_mr: "0.3",
    p_chop: "0.2",
    dp: "0.5",
    vr: "1",
    spike_proxy: "1",
    ts_timestamp: now(),
    buffer_size: "300",
  });
  const cases: Array<[string, (f: Record<string, string>) => void, RegExp]> = [
    ["a missing field", (f) => delete f.p_trend, /quantum:marketstate:BTCUSDT: p_trend missing/],
    ["a non-numeric field", (f) => (f.sigma = "abc"), /sigma="abc" is not a number/],
    ['"None" (what the Python service wrote)', (f) => (f.mu = "None"), /mu="None" is not a number/],
    ["NaN", (f) => (f.ts = "NaN"), /ts="NaN" is not a number/],
    ["a probability above 1", (f) => (f.p_mr = "1.5"), /p_mr=1\.5 is not a probability/],
    [
      "a non-numeric timestamp",
      (f) => (f.ts_timestamp = "yesterday"),
      /ts_timestamp="yesterday" is not a number/,
    ],
  ];
  for (const [name, damage, detail] of cases) {
    it(`${name}: bad_input naming the field, no proposal, the hash untouched`, async () => {
      await seedPosition(redis, longPosition(S, 100));
      const f = fields();
      damage(f);
      await redis.hset(`quantum:marketstate:${S}`, f);
      const r = await once({ phases: ["risk", "harvest"] });
      expect(r.exitCode).toBe(0);
      expect(r.counts["skip:risk:bad_input"]).toBe(1);
      expect(r.counts["skip:harvest:bad_input"]).toBe(1);
      expect(r.skipDetail("risk")).toMatch(detail);
      expect(r.changed).toEqual([]);
    });
  }

  it("a marketstate key of the wrong type (WRONGTYPE): every phase skips it as bad_input, nothing written, exit 0", async () => {
    await goodMarket();
    await seedPosition(redis, longPosition(S, 100));
    await redis.set(`quantum:marketstate:${S}`, "not a hash");
    const r = await once();
    expect(r.exitCode).toBe(0);
    expect(r.counts["skip:marketstate:bad_input"]).toBe(1);
    expect(r.counts["skip:risk:bad_input"]).toBe(1);
    expect(r.counts["skip:harvest:bad_input"]).toBe(1);
    expect(r.skipDetail("marketstate")).toMatch(
      /key quantum:marketstate:BTCUSDT is not a hash \(it is a string\)/,
    );
    expect(r.changed).toEqual([]);
    expect(await redis.get(`quantum:marketstate:${S}`)).toBe("not a hash");
  });

  it("our own risk and harvest hashes of the wrong type: skipped as bad_input, never overwritten", async () => {
    const last = await goodMarket();
    await seedPosition(redis, longPosition(S, last));
    await redis.rpush(`quantum:risk:proposal:${S}`, "x");
    await redis.set(`quantum:harvest:proposal:${S}`, "y");
    const r = await once();
    expect(r.exitCode).toBe(0);
    expect(r.counts["skip:risk:bad_input"]).toBe(1);
    expect(r.counts["skip:harvest:bad_input"]).toBe(1);
    expect(r.changed).toEqual([
      "quantum:calc:marketstate:BTCUSDT",
      "quantum:marketstate:BTCUSDT",
      "quantum:stream:marketstate",
    ]);
  });
});
