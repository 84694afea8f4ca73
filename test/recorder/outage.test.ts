// The flight recorder across a Redis outage, end to end on a private redis-server: the service
// records while the server is killed (every actor's reads and writes fail, back off and retry)
// and started again (empty: re-seeded, every actor publishes again); then the recording replays
// every cycle identically — the failures, the backoffs and retries, the publishes after — and
// `replay recording DIR --check` exits 0.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { expectCheckCommandIdentical, expectReplayIdentical } from "./replayCheck.js";
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
let server: TestRedis;
let redis: Redis;
let dir: string;
let service: ServiceHandle | undefined;
const watch = new CycleWatch();

async function seed(): Promise<void> {
  for (const [i, symbol] of SYMBOLS.entries()) {
    const closes = prices("trend", 300, 100 * (i + 1), 5 + i);
    await seedCandles(redis, symbol, closes);
    await seedPosition(redis, longPosition(symbol, closes[closes.length - 1]));
  }
}

/** True once every (phase, symbol) has a cycle with this outcome reported after `sinceMs`. */
function everyActor(outcome: string, sinceMs: number): boolean {
  const seen = new Set(
    watch
      .since(sinceMs)
      .filter((c) => c.event.outcome === outcome)
      .map((c) => `${c.event.phase}:${c.event.symbol}`),
  );
  return seen.size === 3 * SYMBOLS.length;
}

beforeAll(async () => {
  server = await startTestRedis();
  redis = redisClient(server.url);
  redis.on("error", () => undefined); // the server goes away on purpose
  dir = await mkdtemp(join(tmpdir(), "qc-rec-outage-"));
});
afterAll(async () => {
  await stopService(service);
  redis?.disconnect();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

it("a recorded run through a Redis outage replays identically; replay recording --check exits 0", async () => {
  await seed();
  // Without the lease: the publishers themselves meet the outage (with it they would stand by).
  const config = serviceConfig(
    fastFlags(server.url, SYMBOLS, { recordDir: dir, lease: false, followKlines: false }),
  );
  const started = wallClock();
  service = await startService({
    config,
    logger: captureLogger("warn").logger,
    hooks: watch.hooks,
  });
  const explain = explainWith(service);
  await until("every actor to publish", () => everyActor("published", started), 15_000).catch(
    explain,
  );

  await server.stop();
  const down = wallClock();
  await until("every actor to fail", () => everyActor("error", down), 15_000).catch(explain);

  await server.start(); // empty: no persistence
  await seed();
  const up = wallClock();
  await until("every actor to publish again", () => everyActor("published", up), 15_000).catch(
    explain,
  );
  expect(service.recorder?.stats()).toMatchObject({ linesDropped: 0, faults: 0 });
  await stopService(service);
  service = undefined;

  const result = await expectReplayIdentical(dir);
  // The outage is in the recording: failed cycles of every actor, and publishes after them.
  const failed = new Set(
    result.cycles
      .filter((c) => c.recorded.outcome === "error")
      .map((c) => `${c.phase} ${c.symbol}`),
  );
  expect(failed.size).toBe(3 * SYMBOLS.length);
  for (const key of failed) {
    const cycles = result.cycles.filter((c) => `${c.phase} ${c.symbol}` === key);
    // The outage's errors, not a cycle the shutdown cut off mid-way (written as it got, an error
    // "cycle did not end"): on a loaded machine an actor's last cycle is often one of those.
    const lastError = cycles
      .map((c) => c.recorded.outcome === "error" && c.recorded.why !== "cycle did not end")
      .lastIndexOf(true);
    expect(
      cycles.slice(lastError).some((c) => c.recorded.outcome === "published"),
      `${key}: ${cycles.map((c) => `${c.recorded.outcome} (${c.recorded.why})`).join(", ")}`,
    ).toBe(true);
  }
  expect(result.cycles.some((c) => c.trigger === "retry")).toBe(true);

  await expectCheckCommandIdentical(dir);
});
