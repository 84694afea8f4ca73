// Nothing this service writes is ever NaN, Infinity, None, null or undefined. A varied run —
// trending, choppy, flat and tiny-priced markets, LONG and SHORT, stops set and unset, positions
// from the canonical hash, the legacy JSON hash and the execution stream, broken inputs beside
// good ones, streams on, new candles arriving — is recorded with MONITOR: every value of every
// HSET and XADD that reached Redis is checked, then every hash and stream left behind.
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeStore, startService } from "../../src/service/service.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import {
  MINUTE_MS,
  longPosition,
  prices,
  redisClient,
  seedCandles,
  seedPosition,
  firstOpenTimeFor,
} from "../helpers/seed.js";
import {
  captureLogger,
  explainWith,
  fastFlags,
  serviceConfig,
  until,
} from "../helpers/serviceHarness.js";
import { monitorOf } from "../helpers/monitor.js";

// Case matters: harvest_action's "NONE" is a contract value; Python's None is not.
const FORBIDDEN = /^(NaN|nan|NAN|[+-]?Infinity|[+-]?inf|[+-]?INF|None|null|undefined)$/;
// From the clock: the service refuses candles older than maxCandleAge.
const FIRST_OPEN = firstOpenTimeFor(300);

let server: TestRedis;
let redis: Redis;
let monitor: Redis;
const writes: string[][] = [];

beforeAll(async () => {
  server = await startTestRedis();
  redis = redisClient(server.url);
  monitor = await monitorOf(redisClient(server.url));
  monitor.on("monitor", (_time: string, args: string[]) => {
    const command = String(args[0]).toLowerCase();
    if (command === "hset" || command === "xadd" || command === "hmset" || command === "set")
      writes.push(args.map(String));
  });
});
afterAll(async () => {
  monitor?.disconnect();
  redis?.disconnect();
  await server?.close();
});

/** The values of an HSET/XADD command as recorded by MONITOR (field names dropped). */
function valuesOf(args: string[]): string[] {
  const command = args[0].toLowerCase();
  if (command === "set") return [args[2]];
  let i = 2;
  if (command === "xadd") {
    while (i < args.length && args[i] !== "*" && !/^\d+-\d+$/.test(args[i])) i++;
    i++; // past the id
  }
  const values: string[] = [];
  for (let k = i + 1; k < args.length; k += 2) values.push(args[k]);
  return values;
}

async function seedVaried(): Promise<void> {
  const flat = Array.from({ length: 300 }, () => 42);
  const tiny = prices("chop", 300, 0.00001234, 9);
  const markets: Array<[string, number[]]> = [
    ["BTCUSDT", prices("trend", 300, 60_000, 1)],
    ["ETHUSDT", prices("chop", 300, 3000, 2)],
    ["SOLUSDT", prices("mr", 300, 150, 3)],
    ["FLATUSDT", flat],
    ["TINYUSDT", tiny],
    ["LEGACYUSDT", prices("trend", 300, 2, 4)],
    ["STREAMUSDT", prices("chop", 300, 7, 5)],
    ["BADUSDT", prices("trend", 300, 10, 6)],
  ];
  for (const [symbol, closes] of markets)
    await seedCandles(redis, symbol, closes, { firstOpenTimeMs: FIRST_OPEN });
  const last = (symbol: string): number => markets.find(([s]) => s === symbol)![1].at(-1)!;

  await seedPosition(redis, longPosition("BTCUSDT", last("BTCUSDT")));
  // SHORT, deep in profit, no stop or target set
  const eth = last("ETHUSDT");
  await seedPosition(redis, {
    symbol: "ETHUSDT",
    side: "SHORT",
    entry_price: eth * 1.2,
    current_price: eth,
    age_sec: 90_000,
    unrealized_pnl: eth * 0.2,
    current_sl: "",
    current_tp: "",
  });
  // LONG far in profit (harvest partials, profit lock), stop far below
  const sol = last("SOLUSDT");
  await seedPosition(
    redis,
    longPosition("SOLUSDT", sol, {
      entry_price: sol * 0.5,
      unrealized_pnl: sol * 0.5,
      peak_price: sol,
      trough_price: sol * 0.5,
      current_sl: sol * 0.4,
    }),
  );
  await seedPosition(
    redis,
    longPosition("FLATUSDT", 42, {
      entry_price: 42,
      unrealized_pnl: 0,
      peak_price: 42,
      trough_price: 42,
      age_sec: 0,
    }),
  );
  await seedPosition(redis, longPosition("TINYUSDT", last("TINYUSDT")));
  await redis.hset(
    "quantum:state:positions",
    "LEGACYUSDT",
    JSON.stringify({
      side: "SHORT",
      entry_price: 2.1,
      current_price: last("LEGACYUSDT"),
      age_sec: 10,
      unrealized_pnl: -0.01,
    }),
  );
  await redis.xadd(
    "quantum:stream:execution.result",
    "*",
    "event_type",
    "POSITION_OPENED",
    "symbol",
    "STREAMUSDT",
    "payload",
    JSON.stringify({
      side: "LONG",
      entry_price: 6.9,
      current_price: last("STREAMUSDT"),
      age_sec: 1,
      unrealized_pnl: 0.1,
    }),
  );
  // broken inputs next to the good ones
  await redis.zadd(
    "candles:BADUSDT:1m",
    FIRST_OPEN + 0.5 * MINUTE_MS,
    '{"close":"NaN"}',
    FIRST_OPEN + 1.5 * MINUTE_MS,
    '{"close":1e400}',
  );
  await seedPosition(
    redis,
    longPosition("BADUSDT", 10, { unrealized_pnl: "NaN", current_sl: "None" }),
  );
}

describe("everything written during a varied run", () => {
  it("never contains NaN, Infinity, None, null or undefined", async () => {
    await seedVaried();
    const symbols = [
      "BTCUSDT",
      "ETHUSDT",
      "SOLUSDT",
      "FLATUSDT",
      "TINYUSDT",
      "LEGACYUSDT",
      "STREAMUSDT",
      "BADUSDT",
      "NODATAUSDT",
    ];

    // One pass, as `run --once`…
    const once = await startService({
      config: serviceConfig({ redisUrl: server.url, symbols, enableStream: true }),
      logger: captureLogger("warn").logger,
      once: true,
    });
    expect((await once.done).exitCode).toBe(0);
    await closeStore(once.store);

    // …then the long-running service while new candles arrive (every cycle publishes).
    const watch = new CycleWatch();
    const handle = await startService({
      config: serviceConfig(
        fastFlags(server.url, symbols, { enableStream: true, maxPublishAge: 0.05 }),
      ),
      logger: captureLogger("warn").logger,
      hooks: watch.hooks,
    });
    try {
      for (let k = 0; k < 5; k++) {
        const t = FIRST_OPEN + (300 + k) * MINUTE_MS;
        for (const symbol of ["BTCUSDT", "ETHUSDT", "FLATUSDT", "TINYUSDT"]) {
          const close =
            symbol === "FLATUSDT"
              ? 42
              : symbol === "TINYUSDT"
                ? 0.0000123 * (1 + k / 100)
                : 100 + k;
          await redis.zadd(`candles:${symbol}:1m`, t, JSON.stringify({ t, close }));
        }
        const before = watch.of("harvest", "published").length;
        await until(
          `harvest publishes after candle ${k}`,
          () => watch.of("harvest", "published").length >= before + 4,
        ).catch(explainWith(handle));
      }
    } finally {
      handle.shutdown();
      await handle.done;
      await handle.close();
    }

    // Every symbol with good inputs published all three phases; the broken and empty ones none.
    const published = new Set(
      watch.cycles
        .filter((c) => c.event.outcome === "published")
        .map((c) => `${c.event.phase}:${c.event.symbol}`),
    );
    for (const symbol of [
      "BTCUSDT",
      "ETHUSDT",
      "SOLUSDT",
      "FLATUSDT",
      "TINYUSDT",
      "LEGACYUSDT",
      "STREAMUSDT",
    ]) {
      for (const phase of ["marketstate", "risk", "harvest"])
        expect(published, `${phase}:${symbol}`).toContain(`${phase}:${symbol}`);
    }
    expect(
      await redis.exists(
        "quantum:risk:proposal:BADUSDT",
        "quantum:harvest:proposal:BADUSDT",
        "quantum:marketstate:NODATAUSDT",
      ),
    ).toBe(0);

    // What reached Redis, command by command (MONITOR output arrives shortly after the command).
    await until("MONITOR to catch up", async () => {
      const last = await redis.xrevrange("quantum:stream:harvest.proposal", "+", "-", "COUNT", 1);
      return writes.some(
        (w) =>
          w[0].toLowerCase() === "xadd" &&
          w.includes(last[0][1].at(-1)!) &&
          w.includes("harvest_action"),
      );
    });
    const ourWrites = writes.filter((w) =>
      /^quantum:(marketstate|risk:proposal|harvest:proposal|calc|stream:(marketstate|risk\.proposal|harvest\.proposal)$)/.test(
        w[1] ?? "",
      ),
    );
    expect(ourWrites.length).toBeGreaterThan(100);
    const bad = ourWrites.flatMap((w) =>
      valuesOf(w)
        .filter((v) => FORBIDDEN.test(v.trim()))
        .map((v) => `${w[0]} ${w[1]}: ${v}`),
    );
    expect(bad).toEqual([]);
    // Numbers are plain decimals: no exponent form either.
    const exponent = ourWrites.flatMap((w) =>
      valuesOf(w)
        .filter((v) => /^-?\d+(\.\d+)?e[+-]?\d+$/i.test(v))
        .map((v) => `${w[1]}: ${v}`),
    );
    expect(exponent).toEqual([]);

    // And what is left: every hash field and stream value of our keys.
    for (const key of await redis.keys("quantum:*")) {
      if (
        !/^quantum:(marketstate|risk:proposal|harvest:proposal|calc|stream:(marketstate|risk\.proposal|harvest\.proposal)$)/.test(
          key,
        )
      )
        continue;
      const type = await redis.type(key);
      const values =
        type === "hash"
          ? Object.values(await redis.hgetall(key))
          : type === "string" // the single-writer lease, should it still stand
            ? [(await redis.get(key)) ?? ""]
            : (await redis.xrange(key, "-", "+")).flatMap(([, flat]) =>
                flat.filter((_, i) => i % 2 === 1),
              );
      for (const value of values) expect(value, key).not.toMatch(FORBIDDEN);
    }
  });
});
