// An operator (or Redis itself: timeout, maxmemory client eviction) kills our connection while
// the service publishes new candles every few hundred milliseconds. The service finds itself in
// CLIENT LIST by its name, comes back on one new connection each time, and no stream entry is
// ever written twice.
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
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
  fieldsOf,
  serviceConfig,
  until,
  stopService,
} from "../helpers/serviceHarness.js";

const SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
// From the clock: the service refuses candles older than maxCandleAge.
// The feeder below adds a minute of candles every 150 ms, far faster than the clock: seeded to end
// a day back (with maxCandleAge above that), its candles stay in the past for the whole test. Ending
// now, they would be dated in the future within a second and skipped as future_candle.
const BACKLOG_MINUTES = 24 * 60;
const FIRST_OPEN = firstOpenTimeFor(300 + BACKLOG_MINUTES);

let server: TestRedis;
let redis: Redis;
let service: ServiceHandle | undefined;
let feeder: NodeJS.Timeout | undefined;

beforeAll(async () => {
  server = await startTestRedis();
  redis = redisClient(server.url);
});
afterAll(async () => {
  if (feeder) clearInterval(feeder);
  await stopService(service);
  redis?.disconnect();
  await server?.close();
});

/** Our connections in CLIENT LIST: id of each client named quantum-calc. */
async function ourConnections(): Promise<string[]> {
  const list = (await redis.call("CLIENT", "LIST")) as string;
  return list
    .split("\n")
    .filter((line) => / name=quantum-calc /.test(line))
    .map((line) => /(?:^|\s)id=(\d+)/.exec(line)![1]);
}

describe("CLIENT KILL of our connection", () => {
  it("reconnects each time, keeps publishing new candles, and never duplicates a stream entry", async () => {
    const next = new Map<string, { index: number; close: number }>();
    for (const [i, symbol] of SYMBOLS.entries()) {
      const closes = prices("trend", 300, 100 * (i + 1), 21 + i);
      await seedCandles(redis, symbol, closes, { firstOpenTimeMs: FIRST_OPEN });
      await seedPosition(redis, longPosition(symbol, closes[closes.length - 1]));
      next.set(symbol, { index: closes.length, close: closes[closes.length - 1] });
    }
    // A new candle per symbol every 150 ms, as the market-data writer would.
    feeder = setInterval(() => {
      for (const symbol of SYMBOLS) {
        const state = next.get(symbol)!;
        state.close *= 1 + 0.002 * Math.sin(state.index);
        const t = FIRST_OPEN + state.index * MINUTE_MS;
        state.index++;
        void redis
          .zadd(`candles:${symbol}:1m`, t, JSON.stringify({ t, close: state.close }))
          .catch(() => undefined);
      }
    }, 150);

    const watch = new CycleWatch();
    const { logger } = captureLogger("debug");
    const config = serviceConfig(
      fastFlags(server.url, SYMBOLS, {
        enableStream: true,
        maxPublishAge: 60,
        maxCandleAge: 2 * BACKLOG_MINUTES * 60,
      }),
    );
    const handle = await startService({
      config,
      logger,
      hooks: watch.hooks,
      inspect: watch.inspect,
    });
    service = handle;
    await until(
      "every symbol to publish a harvest proposal",
      () => new Set(watch.of("harvest", "published").map((c) => c.event.symbol)).size === 3,
    ).catch(explainWith(handle));

    const killed: string[] = [];
    for (let round = 0; round < 3; round++) {
      // The connection we kill must be the one we just saw: on a loaded machine a reply slower than
      // commandTimeoutMs (300 ms here) drops it by itself between CLIENT LIST and CLIENT KILL
      // (KILL answers 0). Then we look again and kill its successor.
      const id = await until("our connection in CLIENT LIST, killed", async () => {
        const ids = await ourConnections();
        if (ids.length !== 1 || killed.includes(ids[0])) return null;
        return (await redis.call("CLIENT", "KILL", "ID", ids[0])) === 1 ? ids[0] : null;
      });
      killed.push(id);
      const at = wallClock();
      // A cycle that started after the kill can only have published on a new connection.
      const after = (c: {
        event: { phase: string; outcome: string; startedAtMs: number | null };
      }) =>
        c.event.phase === "marketstate" &&
        c.event.outcome === "published" &&
        (c.event.startedAtMs ?? 0) > at;
      await until(
        `a marketstate publish after kill ${round + 1}`,
        () => watch.cycles.some(after),
        10_000,
      ).catch(explainWith(handle));
    }
    clearInterval(feeder);
    feeder = undefined;

    // One live connection, never one of the killed ones.
    const live = await until("one live connection", async () => {
      const ids = await ourConnections();
      return ids.length === 1 ? ids : null;
    });
    expect(killed).not.toContain(live[0]);

    // Streams: every entry once. A resent or re-decided publish would repeat an entry's content.
    const ms = (await redis.xrange("quantum:stream:marketstate", "-", "+")).map(([, flat]) =>
      fieldsOf(flat),
    );
    const msKeys = ms.map((f) => `${f.symbol} ${f.sigma} ${f.mu} ${f.ts}`);
    expect(new Set(msKeys).size).toBe(msKeys.length);
    const msOutcomes = watch
      .of("marketstate")
      .filter((c) => c.event.outcome === "published" || c.event.outcome === "error").length;
    expect(ms.length).toBeLessThanOrEqual(msOutcomes);
    for (const stream of ["quantum:stream:risk.proposal", "quantum:stream:harvest.proposal"]) {
      const keys = (await redis.xrange(stream, "-", "+")).map(([, flat]) => {
        const f = fieldsOf(flat);
        return `${f.symbol} ${f.computed_at_utc}`;
      });
      expect(keys.length, stream).toBeGreaterThan(0);
      expect(new Set(keys).size, stream).toBe(keys.length);
    }
    expect(handle.stats.restarts).toBe(0);
    expect(watch.maxConcurrentSteps).toBe(1);
  });
});
