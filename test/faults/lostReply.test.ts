// A reply lost after the server ran the command: the proxy forwards the publish's MULTI/EXEC and
// swallows everything the server answers. The publish times out with its outcome unknown. It must
// not be resent (ioredis would resend a whole MULTI on reconnect if allowed), nothing may land
// late, and the next cycle must find out what is already there before deciding to publish again —
// otherwise the same market state is appended to the stream twice.
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type ServiceHandle } from "../../src/service/service.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { MINUTE_MS, firstOpenTimeFor, prices, redisClient, seedCandles } from "../helpers/seed.js";
import {
  captureLogger,
  explainWith,
  fastFlags,
  serviceConfig,
  until,
  stopService,
} from "../helpers/serviceHarness.js";
import { hasCommand, startTcpProxy, type TcpProxy } from "../helpers/tcpProxy.js";

const SYMBOL = "BTCUSDT";
const STREAM = "quantum:stream:marketstate";

let server: TestRedis;
let redis: Redis;
let proxy: TcpProxy;
let service: ServiceHandle | undefined;

beforeAll(async () => {
  server = await startTestRedis();
  redis = redisClient(server.url);
  proxy = await startTcpProxy(server.port);
});

afterAll(async () => {
  await stopService(service);
  redis?.disconnect();
  await proxy?.close();
  await server?.close();
});

describe("a lost reply", () => {
  it("is not resent, does not land late, and the next cycle does not publish the same state again", async () => {
    const closes = prices("trend", 300, 100);
    const first = firstOpenTimeFor(closes.length);
    await seedCandles(redis, SYMBOL, closes, { firstOpenTimeMs: first });

    let execsForwarded = 0;
    let swallowedReplies = 0;
    proxy.onChunk((chunk) => {
      if (
        chunk.direction === "requests" &&
        hasCommand(chunk.text, "EXEC") &&
        !chunk.text.includes("quantum:calc:leader")
      )
        execsForwarded++;
      if (chunk.action === "swallowed") swallowedReplies++;
    });
    // The first connection that sends a publish's EXEC (not a lease renewal's) gets no reply to it, nor to anything after it.
    proxy.setMode({
      kind: "dropReplies",
      request: (text) => hasCommand(text, "EXEC") && !text.includes("quantum:calc:leader"),
      once: true,
    });

    const watch = new CycleWatch();
    const { logger } = captureLogger("debug");
    const config = serviceConfig(
      fastFlags(proxy.url(), [SYMBOL], { phases: ["marketstate"], maxPublishAge: 60 }),
    );
    const handle = await startService({
      config,
      logger,
      hooks: watch.hooks,
      inspect: watch.inspect,
    });
    service = handle;

    // The publish ran at the server, its reply never came: an error cycle, outcome unknown.
    const failure = await until(
      "the publish to time out",
      () => watch.of("marketstate", "error")[0],
    ).catch(explainWith(handle));
    // Through the lease's fenced writer connection (the default) the publish is its MULTI/EXEC.
    expect(failure.event.detail).toMatch(
      /MULTI\/EXEC\)? of .*(no reply within 300 ms|connection lost before the reply)/,
    );
    expect(swallowedReplies).toBeGreaterThan(0);
    expect(await redis.xlen(STREAM)).toBe(1);
    const landedId = (await redis.xrange(STREAM, "-", "+"))[0][0];

    // Five more cycles on a fresh connection: the candles are unchanged, so each one must see
    // that this state is already published and only heartbeat.
    await until(
      "five cycles after the failure",
      () => watch.since(failure.atMs).filter((c) => c.event.outcome !== "error").length >= 5,
    ).catch(explainWith(handle));
    const after = watch.since(failure.atMs).map((c) => c.event.outcome);
    expect(after.filter((o) => o === "published")).toEqual([]);
    expect(after).toContain("heartbeat");
    expect(execsForwarded).toBe(1);
    const entries = await redis.xrange(STREAM, "-", "+");
    expect(entries.map(([id]) => id)).toEqual([landedId]);

    // Not stuck either: a new candle is published once.
    const next = first + closes.length * MINUTE_MS;
    await redis.zadd(
      `candles:${SYMBOL}:1m`,
      next,
      JSON.stringify({ t: next, close: closes[closes.length - 1] * 1.01 }),
    );
    await until(
      "the new candle to be published",
      () => watch.of("marketstate", "published").length === 1,
    ).catch(explainWith(handle));
    expect(await redis.xlen(STREAM)).toBe(2);
    expect(execsForwarded).toBe(2);
    expect(watch.maxConcurrentSteps).toBe(1);
  });
});
