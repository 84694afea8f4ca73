// Readers never see half a publish. A reader loops over the output hashes (HGETALL, HLEN) while
// the service republishes them every cycle: each hash is either absent or has every contract
// field; and a marketstate hash and its bookkeeping entry, read together in one transaction,
// always come from the same publish.
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type ServiceHandle } from "../../src/service/service.js";
import { OUTPUT_HASHES } from "../helpers/contractFields.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { longPosition, prices, redisClient, seedCandles, seedPosition } from "../helpers/seed.js";
import { captureLogger, fastFlags, serviceConfig, stopService } from "../helpers/serviceHarness.js";

const SYMBOLS = ["BTCUSDT", "ETHUSDT"];

let server: TestRedis;
let writer: Redis;
let reader: Redis;
let service: ServiceHandle | undefined;

beforeAll(async () => {
  server = await startTestRedis();
  writer = redisClient(server.url);
  reader = redisClient(server.url);
});
afterAll(async () => {
  await stopService(service);
  writer?.disconnect();
  reader?.disconnect();
  await server?.close();
});

describe("a reader during publishes", () => {
  it("sees each output hash either absent or whole, and marketstate with its bookkeeping from one publish", async () => {
    for (const [i, symbol] of SYMBOLS.entries()) {
      const closes = prices(i === 0 ? "trend" : "chop", 300, 50 * (i + 1), 31 + i);
      await seedCandles(writer, symbol, closes);
      await seedPosition(writer, longPosition(symbol, closes[closes.length - 1]));
    }
    const watch = new CycleWatch();
    const { logger } = captureLogger("info");
    // Every cycle publishes (max age below the interval), so the hashes are rewritten constantly.
    const config = serviceConfig(
      fastFlags(server.url, SYMBOLS, {
        marketstateInterval: 0.05,
        riskInterval: 0.05,
        harvestInterval: 0.05,
        maxPublishAge: 0.01,
      }),
    );
    service = await startService({ config, logger, hooks: watch.hooks });

    const seen = { absent: 0, whole: 0, half: [] as string[], pairs: 0 };
    const deadline = Date.now() + 20_000;
    // From before the first publish until every phase has republished many times.
    while (watch.of("harvest", "published").length < 30 * SYMBOLS.length && Date.now() < deadline) {
      for (const symbol of SYMBOLS) {
        for (const { prefix, fields } of OUTPUT_HASHES) {
          const key = prefix + symbol;
          const [hash, length] = await Promise.all([reader.hgetall(key), reader.hlen(key)]);
          for (const view of [Object.keys(hash), length]) {
            const count = typeof view === "number" ? view : view.length;
            if (count === 0) seen.absent++;
            else if (
              count === fields.length &&
              (typeof view === "number" || fields.every((f) => view.includes(f)))
            )
              seen.whole++;
            else seen.half.push(`${key}: ${JSON.stringify(view)}`);
          }
        }
        // The hash and the bookkeeping written in the same MULTI/EXEC, read in one MULTI/EXEC.
        const replies = await reader
          .multi()
          .hget(`quantum:marketstate:${symbol}`, "ts_timestamp")
          .hget(`quantum:calc:marketstate:${symbol}`, "published_at_ms")
          .exec();
        const [stamp, publishedAtMs] = replies!.map(([, value]) => value as string | null);
        if (stamp !== null || publishedAtMs !== null) {
          expect(Math.floor(Number(publishedAtMs) / 1000), `${symbol}`).toBe(Number(stamp));
          seen.pairs++;
        }
      }
    }
    expect(seen.half).toEqual([]);
    expect(seen.absent).toBeGreaterThan(0); // the reader started before the first publish
    expect(seen.whole).toBeGreaterThan(100);
    expect(seen.pairs).toBeGreaterThan(20);
    expect(watch.of("harvest", "published").length).toBeGreaterThanOrEqual(30 * SYMBOLS.length);
  });
});
