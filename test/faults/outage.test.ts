// Redis away: absent when the service starts, and restarted mid-run coming back empty. The
// service must start anyway and keep retrying with capped backoff, publish within one backoff
// step of Redis appearing, and — when Redis comes back empty — write nothing at all until inputs
// exist again: no proposal from remembered state, no invented positions. The first two tests
// are about the publishers' own retries, so they run without the single-writer lease (which
// would stand the service by while Redis cannot be asked); the third is the default, with it.
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { longPosition, prices, redisClient, seedCandles, seedPosition } from "../helpers/seed.js";
import {
  captureLogger,
  explainWith,
  fastFlags,
  serviceConfig,
  until,
  stopService,
} from "../helpers/serviceHarness.js";

const SYMBOLS = ["BTCUSDT", "ETHUSDT"];
const BACKOFF_CAP_MS = 300;
const INTERVAL_MS = 100;

let server: TestRedis;
let redis: Redis;
let service: ServiceHandle | undefined;
const watch = new CycleWatch();
const log = captureLogger("debug");

async function seed(): Promise<void> {
  for (const [i, symbol] of SYMBOLS.entries()) {
    const closes = prices("trend", 300, 100 * (i + 1), 5 + i);
    await seedCandles(redis, symbol, closes);
    await seedPosition(redis, longPosition(symbol, closes[closes.length - 1]));
  }
}

/** True once every (phase, symbol) has a cycle with this outcome reported after `sinceMs`. */
function everyActor(outcome: (o: string) => boolean, sinceMs: number): boolean {
  const seen = new Set(
    watch
      .since(sinceMs)
      .filter((c) => outcome(c.event.outcome))
      .map((c) => `${c.event.phase}:${c.event.symbol}`),
  );
  return seen.size === 3 * SYMBOLS.length;
}

beforeAll(async () => {
  server = await startTestRedis();
  redis = redisClient(server.url);
  redis.on("error", () => undefined); // the server goes away on purpose
});
afterAll(async () => {
  await stopService(service);
  redis?.disconnect();
  await server?.close();
});

describe("Redis outages", () => {
  it("down at start: the service starts, retries with capped backoff, and publishes within one backoff step of Redis appearing", async () => {
    await server.stop();
    const config = serviceConfig(
      fastFlags(server.url, SYMBOLS, { backoffCapMs: BACKOFF_CAP_MS, lease: false }),
    );
    const started = wallClock();
    service = await startService({ config, logger: log.logger, hooks: watch.hooks });
    const handle = service;
    // Every actor fails and keeps retrying; the backoff grows to its cap.
    await until(
      "repeated failures of every actor",
      () => everyActor((o) => o === "error", started) && watch.of("risk", "error").length >= 8,
      15_000,
    ).catch(explainWith(handle));
    expect(
      Math.max(...watch.cycles.map((c) => c.event.consecutiveFailures)),
    ).toBeGreaterThanOrEqual(4);
    // Long enough for the store's own reconnect schedule (100 ms doubling up to 5 s: attempts at
    // 0.1, 0.3, 0.7, 1.5, 3.1, 6.3 s) to be in its 3.2 s wait: were the reconnect delay not capped
    // by backoffCapMs, the first publish would come ~3 s after Redis is back, outside the bound.
    await until("3.3 s of outage", () => wallClock() - started > 3300, 5000, 50);
    expect(handle.actor.getSnapshot().status).toBe("active");
    expect(log.text()).toContain("redis unreachable; reconnecting with backoff");

    await server.start();
    const up = wallClock();
    await seed();
    const firstPublish = await until(
      "the first publish",
      () => watch.since(up).find((c) => c.event.outcome === "published"),
      15_000,
    ).catch(explainWith(handle));
    // One backoff step: the reconnect delay (capped at backoffCapMs), the actor's backoff (capped),
    // then one polling interval; plus scheduling slack for a loaded 2-core machine.
    expect(firstPublish.atMs - up).toBeLessThan(
      BACKOFF_CAP_MS + BACKOFF_CAP_MS + INTERVAL_MS + 1500,
    );
    await until(
      "every actor to publish",
      () => everyActor((o) => o === "published", up),
      15_000,
    ).catch(explainWith(handle));
  });

  it("restarted mid-run and back empty: nothing is written until inputs exist again, then every phase publishes", async () => {
    const handle = service!;
    await server.restart(); // SIGKILL, no persistence: it comes back empty
    const back = wallClock();
    // Every actor completes a cycle against the empty server: skips, not errors, and no writes.
    await until(
      "a cycle of every actor on the empty server",
      () => everyActor((o) => o === "skipped", back),
      15_000,
    ).catch(explainWith(handle));
    const skips = watch.since(back).filter((c) => c.event.outcome === "skipped");
    expect(
      new Set(skips.filter((c) => c.event.phase === "marketstate").map((c) => c.event.reason)),
    ).toEqual(new Set(["insufficient_data"]));
    expect(
      new Set(skips.filter((c) => c.event.phase !== "marketstate").map((c) => c.event.reason)),
    ).toEqual(new Set(["no_marketstate"]));
    expect(await redis.keys("*")).toEqual([]);

    // Positions are back but candles are not: still nothing (no marketstate, so no proposal).
    for (const symbol of SYMBOLS) await seedPosition(redis, longPosition(symbol, 100));
    const positionsBack = wallClock();
    await until(
      "another cycle of every actor",
      () => everyActor((o) => o === "skipped", positionsBack),
      15_000,
    ).catch(explainWith(handle));
    expect(
      (await redis.keys("*")).filter((k) => !k.startsWith("quantum:state:positions:")),
    ).toEqual([]);

    await seed();
    const seeded = wallClock();
    await until(
      "every actor to publish again",
      () => everyActor((o) => o === "published", seeded),
      15_000,
    ).catch(explainWith(handle));
    // The same candles as before the restart: marketstate republished because its hash was gone.
    const marketstate = watch
      .since(seeded)
      .filter((c) => c.event.phase === "marketstate" && c.event.outcome === "published");
    expect(marketstate.map((c) => c.event.reason)).toContain("output_missing");
    for (const symbol of SYMBOLS) {
      expect(
        await redis.exists(
          `quantum:marketstate:${symbol}`,
          `quantum:risk:proposal:${symbol}`,
          `quantum:harvest:proposal:${symbol}`,
        ),
      ).toBe(3);
    }
    expect(handle.stats.restarts).toBe(0);
  });

  it("with the lease (the default): down at start it stands by; once Redis answers it takes the lease and every phase publishes within 3 s", async () => {
    await stopService(service);
    service = undefined;
    await server.stop();
    const config = serviceConfig(fastFlags(server.url, SYMBOLS, { backoffCapMs: 30_000 }));
    service = await startService({ config, logger: log.logger, hooks: watch.hooks });
    const handle = service;
    // Nobody can be asked for the lease: standing by, no publisher runs (nothing fails either).
    expect(handle.role()).toMatchObject({
      role: "standby",
      holder: null,
      leaseKey: "quantum:calc:leader",
    });
    expect(handle.role().lastError).not.toBeNull();
    expect(String(handle.actor.getSnapshot().value)).toBe("standby");
    await until("2 s of outage", () => false, 2000, 100).catch(() => undefined);
    expect(handle.actor.getSnapshot().status).toBe("active");

    await server.start();
    const up = wallClock();
    await seed();
    await until(
      "every actor to publish",
      () => everyActor((o) => o === "published", up),
      15_000,
    ).catch(explainWith(handle));
    const last = Math.max(
      ...[
        ...new Set(
          SYMBOLS.flatMap((s) => ["marketstate", "risk", "harvest"].map((p) => `${p}:${s}`)),
        ),
      ].map((key) =>
        Math.min(
          ...watch
            .since(up)
            .filter(
              (c) =>
                `${c.event.phase}:${c.event.symbol}` === key && c.event.outcome === "published",
            )
            .map((c) => c.atMs),
        ),
      ),
    );
    expect(handle.role().role).toBe("leader");
    expect(last - up).toBeLessThan(3000);
    expect(log.text()).toContain("single-writer lease quantum:calc:leader acquired");
  });
});
