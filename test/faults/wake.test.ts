// Wake on reconnect (issue 10 part 1): Redis away for longer than backoffCapMs (30 s, the
// default), so every actor has backed off to delays of 8–30 s; when Redis answers again, the
// store's 'ready' reaches the supervisor as STORE.READY, every publisher and the klines follower
// get WAKE and retry within 250 ms — every heartbeat is fresh within 3 s of Redis answering,
// instead of each actor waiting out its backoff.
//
// Redis comes back with its data (SAVE before the kill; the restarted server loads the RDB), as a
// real Redis with persistence does: the cycles after the restart have inputs, and succeed.
//
// The first test is the wake itself, so it runs without the single-writer lease: with it (the
// default) an outage longer than the lease's TTL stands the service by — every actor stopped —
// and Redis answering again means taking the lease and starting the publishers afresh. The
// second test holds the same 3 s goal on that path.
import type { Redis } from "ioredis";
import type { InspectionEvent } from "xstate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KLINES_FOLLOWER_KEY } from "../../machines/supervisor.js";
import { WAKE_SPREAD_MS } from "../../machines/publisher.js";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { longPosition, prices, redisClient, seedCandles, seedPosition } from "../helpers/seed.js";
import {
  captureLogger,
  explainWith,
  fastFlags,
  serviceConfig,
  stopService,
  until,
} from "../helpers/serviceHarness.js";

const SYMBOLS = ["BTCUSDT", "ETHUSDT"];
const PHASES = ["marketstate", "risk", "harvest"] as const;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_CAP_MS = 30_000;
/** The goal: every heartbeat fresh within this long of Redis answering again. */
const FRESH_WITHIN_MS = 3000;

let server: TestRedis;
let redis: Redis;
let service: ServiceHandle | undefined;
const watch = new CycleWatch();
const log = captureLogger("info");
/** Events the supervisor sent or received (WAKE to its children, KLINES.RESYNC from the follower), wall clock. */
const events: Array<{ atMs: number; type: string; to: string; from: string | null }> = [];
const inspect = (event: InspectionEvent): void => {
  if (event.type !== "@xstate.event") return;
  const type = event.event.type;
  if (type !== "WAKE" && type !== "KLINES.RESYNC" && type !== "STORE.READY" && type !== "RETRY")
    return;
  const to = (event.actorRef as unknown as { id: string }).id;
  const from = event.sourceRef ? (event.sourceRef as unknown as { id: string }).id : null;
  events.push({ atMs: wallClock(), type, to, from });
};

type Child = { getSnapshot(): { value: unknown; context: Record<string, unknown> } };
function children(handle: ServiceHandle): Record<string, Child> {
  return handle.actor.getSnapshot().children as unknown as Record<string, Child>;
}
const publisherIds = SYMBOLS.flatMap((symbol) => PHASES.map((phase) => `${phase}:${symbol}`));

/** Both tests' service: 2 s intervals, backoffs that grow to 30 s. */
function wakeConfig(extra: Record<string, unknown> = {}): ReturnType<typeof serviceConfig> {
  return serviceConfig(
    fastFlags(server.url, SYMBOLS, {
      backoffBaseMs: BACKOFF_BASE_MS,
      backoffCapMs: BACKOFF_CAP_MS,
      marketstateInterval: 2,
      riskInterval: 2,
      harvestInterval: 2,
      commandTimeoutMs: 1000,
      // The market state published before the outage is still good after it (the default
      // bound is 180 s); these tests are about the wake, not staleness.
      maxInputAge: 600,
      ...extra,
    }),
  );
}

/** Resolves once every risk and harvest heartbeat in Redis is newer than `sinceMs` (last_update_epoch is in seconds). */
function heartbeatsNewerThan(sinceMs: number): Promise<boolean> {
  return until(
    "every risk and harvest heartbeat newer than the restart",
    async () => {
      for (const symbol of SYMBOLS) {
        for (const key of [
          `quantum:risk:proposal:${symbol}`,
          `quantum:harvest:proposal:${symbol}`,
        ]) {
          if (Number(await redis.hget(key, "last_update_epoch")) < Math.floor(sinceMs / 1000))
            return false;
        }
      }
      return true;
    },
    15_000,
  );
}

beforeAll(async () => {
  server = await startTestRedis();
  redis = redisClient(server.url);
  redis.on("error", () => undefined); // the server goes away on purpose
  for (const [i, symbol] of SYMBOLS.entries()) {
    const closes = prices("trend", 300, 100 * (i + 1), 5 + i);
    await seedCandles(redis, symbol, closes);
    await seedPosition(redis, longPosition(symbol, closes[closes.length - 1]));
  }
});
afterAll(async () => {
  await stopService(service);
  redis?.disconnect();
  await server?.close();
});

describe("wake on reconnect", () => {
  it(`after an outage longer than backoffCapMs every actor retries on WAKE, and every heartbeat is fresh within ${FRESH_WITHIN_MS / 1000} s of Redis answering`, async () => {
    const config = wakeConfig({ lease: false });
    const started = wallClock();
    service = await startService({
      config,
      logger: log.logger,
      hooks: watch.hooks,
      inspect,
      systemd: null,
    });
    const handle = service;
    await until(
      "every actor to publish",
      () =>
        new Set(
          watch
            .since(started)
            .filter((c) => c.event.outcome === "published")
            .map((c) => `${c.event.phase}:${c.event.symbol}`),
        ).size === publisherIds.length,
      15_000,
    ).catch(explainWith(handle));

    // The outage: longer than backoffCapMs, until every actor has backed off far.
    await redis.save(); // the restarted server loads it: Redis comes back with its data
    await server.stop();
    const down = wallClock();
    await until(
      "an outage longer than backoffCapMs, every actor in backoff after 5 failures or more",
      () =>
        wallClock() - down > BACKOFF_CAP_MS + 1000 &&
        [...publisherIds, KLINES_FOLLOWER_KEY].every((id) => {
          const snapshot = children(handle)[id]?.getSnapshot();
          return snapshot?.value === "backoff" && Number(snapshot.context.consecutiveFailures) >= 5;
        }),
      BACKOFF_CAP_MS + 30_000,
      100,
    ).catch(explainWith(handle));
    // When each actor's own backoff would have ended: its last failure + the delay it armed.
    const lastFailure = (id: string): number => {
      const [phase, symbol] = id.split(":");
      return watch.of(phase, "error", symbol).at(-1)!.atMs;
    };
    const wouldRetryAt = publisherIds.map(
      (id) => lastFailure(id) + Number(children(handle)[id].getSnapshot().context.retryDelayMs),
    );
    const armed = [...publisherIds, KLINES_FOLLOWER_KEY].map((id) =>
      Number(children(handle)[id].getSnapshot().context.retryDelayMs),
    );
    expect(Math.min(...armed)).toBeGreaterThanOrEqual((BACKOFF_BASE_MS * 2 ** 4) / 2); // failure 5+: ≥ 8 s

    await server.start();
    const up = wallClock();

    // Every publisher's next cycle succeeds (publish or heartbeat)…
    const firstSuccess = await until(
      "a successful cycle of every publisher after the restart",
      () => {
        const first = new Map<string, (typeof watch.cycles)[number]>();
        for (const c of watch.since(up)) {
          const id = `${c.event.phase}:${c.event.symbol}`;
          if (
            !first.has(id) &&
            (c.event.outcome === "published" || c.event.outcome === "heartbeat")
          )
            first.set(id, c);
        }
        return first.size === publisherIds.length ? first : null;
      },
      15_000,
    ).catch(explainWith(handle));
    // …and every heartbeat in Redis is newer than the restart.
    await heartbeatsNewerThan(up).catch(explainWith(handle));
    const freshAfterMs = wallClock() - up;
    const resync = await until(
      "the klines follower to resume",
      () => events.find((e) => e.type === "KLINES.RESYNC" && e.atMs >= up),
      15_000,
    );

    // The mechanism: STORE.READY came once per connection, each actor got WAKE, and its first
    // cycle after the restart was started by that WAKE — not by its own backoff (RETRY).
    const storeReady = events.filter((e) => e.type === "STORE.READY" && e.atMs >= up);
    expect(storeReady.length).toBe(2); // the publishers' connection and the follower's
    const wakes = events.filter((e) => e.type === "WAKE" && e.atMs >= up);
    expect(new Set(wakes.map((e) => e.to))).toEqual(
      new Set([...publisherIds, KLINES_FOLLOWER_KEY]),
    );
    for (const [id, cycle] of firstSuccess)
      expect(cycle.event.trigger, `${id}'s first cycle after the restart`).toBe("wake");
    expect(children(handle)[KLINES_FOLLOWER_KEY].getSnapshot().context.lastRetry).toBe("wake");
    // Each woken actor retried within WAKE_SPREAD_MS of its WAKE (plus the cycle's own time).
    for (const [id, cycle] of firstSuccess) {
      const wake = wakes.find((e) => e.to === id)!;
      expect(cycle.atMs - wake.atMs, id).toBeLessThan(WAKE_SPREAD_MS + 1000);
    }

    const firstSuccessAfter = Math.max(...[...firstSuccess.values()].map((c) => c.atMs)) - up;
    const readyAfter = Math.min(...storeReady.map((e) => e.atMs)) - up;
    console.info(
      `wake.test: outage ${((up - down) / 1000).toFixed(1)} s (backoffCapMs ${BACKOFF_CAP_MS / 1000} s); after Redis answered: store ready ${Math.round(readyAfter)} ms, ` +
        `every publisher's first success ${Math.round(firstSuccessAfter)} ms, every heartbeat fresh ${Math.round(freshAfterMs)} ms, follower resumed ${Math.round(resync.atMs - up)} ms; ` +
        `without the wake the last one would have retried after ${((Math.max(...wouldRetryAt) - up) / 1000).toFixed(1)} s (armed backoffs ${Math.min(...armed)}–${Math.max(...armed)} ms)`,
    );
    expect(firstSuccessAfter).toBeLessThan(FRESH_WITHIN_MS);
    expect(freshAfterMs).toBeLessThan(FRESH_WITHIN_MS);
    expect(resync.atMs - up).toBeLessThan(FRESH_WITHIN_MS);
    expect(log.lines().some((l) => /redis ready again: woke 6 publisher\(s\)/.test(l.msg))).toBe(
      true,
    );
    expect(handle.stats.restarts).toBe(0);
  }, 120_000);

  it(`with the lease (the default): an outage longer than its TTL stands the service by; when Redis answers it takes the lease again and every heartbeat is fresh within ${FRESH_WITHIN_MS / 1000} s`, async () => {
    await stopService(service);
    service = undefined;
    const config = wakeConfig();
    const started = wallClock();
    service = await startService({ config, logger: log.logger, hooks: watch.hooks, systemd: null });
    const handle = service;
    await until(
      "every actor to publish or heartbeat",
      () =>
        new Set(
          watch
            .since(started)
            .filter((c) => c.event.outcome === "published" || c.event.outcome === "heartbeat")
            .map((c) => `${c.event.phase}:${c.event.symbol}`),
        ).size === publisherIds.length,
      15_000,
    ).catch(explainWith(handle));
    expect(handle.role().role).toBe("leader");

    await redis.save();
    await server.stop();
    // Past the TTL (5 s) without a renewal: the lease is given up by our clock, every actor stopped.
    await until(
      "the lease lost and the service standing by",
      () =>
        handle.role().role === "standby" && String(handle.actor.getSnapshot().value) === "standby",
      15_000,
      50,
    ).catch(explainWith(handle));
    expect(Object.keys(children(handle))).toEqual([]);
    expect(log.text()).toMatch(
      /single-writer lease lost \(no renewal succeeded within the lease TTL \(5000 ms\)/,
    );
    await until("8 s of outage", () => false, 2000, 100).catch(() => undefined);

    await server.start();
    const up = wallClock();
    await heartbeatsNewerThan(up).catch(explainWith(handle));
    const freshAfterMs = wallClock() - up;
    console.info(
      `wake.test (lease on): after Redis answered, leader again and every heartbeat fresh ${Math.round(freshAfterMs)} ms`,
    );
    expect(handle.role().role).toBe("leader");
    expect(freshAfterMs).toBeLessThan(FRESH_WITHIN_MS);
    expect(handle.stats.restarts).toBe(0);
  }, 120_000);
});
