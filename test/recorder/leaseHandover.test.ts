// The flight recorder across a lease handover, end to end on a private redis-server: two service
// instances, each recording to its own directory, share the single-writer lease; A writes, B
// stands by; A is stopped (it releases the lease after its drain) and B takes over and writes.
// Each recording replays every cycle identically (`replay recording DIR --check` exits 0), and the
// role changes are in them: A's as leader, B's as standby (naming A) and then leader.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { readRecording } from "../../src/recorder/reader.js";
import type { RoleRecord } from "../../src/recorder/format.js";
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
/**
 * What the new writer does first: publish, or — its rate-limit memory seeded from what A wrote,
 * nothing having changed — a heartbeat or a rate-limited skip (every one of them recorded).
 */
const WROTE = ["published", "heartbeat", "skipped"];
let server: TestRedis;
let redis: Redis;
let dirA: string;
let dirB: string;
let serviceA: ServiceHandle | undefined;
let serviceB: ServiceHandle | undefined;
const watchA = new CycleWatch();
const watchB = new CycleWatch();

/** True once every (phase, symbol) of `watch` has ended a cycle with one of `outcomes` after `sinceMs`. */
function everyActor(watch: CycleWatch, sinceMs: number, outcomes: readonly string[]): boolean {
  const seen = new Set(
    watch
      .since(sinceMs)
      .filter((c) => outcomes.includes(c.event.outcome))
      .map((c) => `${c.event.phase}:${c.event.symbol}`),
  );
  return seen.size === 3 * SYMBOLS.length;
}

async function roles(dir: string): Promise<RoleRecord[]> {
  const out: RoleRecord[] = [];
  for await (const { record } of readRecording(dir)) if (record.k === "r") out.push(record);
  return out;
}

async function checkReplay(dir: string): Promise<void> {
  const result = await expectReplayIdentical(dir);
  expect(result.cycles.length).toBeGreaterThan(0);
  await expectCheckCommandIdentical(dir);
}

beforeAll(async () => {
  server = await startTestRedis();
  redis = redisClient(server.url);
  dirA = await mkdtemp(join(tmpdir(), "qc-rec-lease-a-"));
  dirB = await mkdtemp(join(tmpdir(), "qc-rec-lease-b-"));
});
afterAll(async () => {
  await stopService(serviceA);
  await stopService(serviceB);
  redis?.disconnect();
  await server?.close();
  await rm(dirA, { recursive: true, force: true });
  await rm(dirB, { recursive: true, force: true });
});

it("a recorded lease handover: both recordings replay identically (--check exits 0) and hold the role changes", async () => {
  for (const [i, symbol] of SYMBOLS.entries()) {
    const closes = prices("trend", 300, 100 * (i + 1), 5 + i);
    await seedCandles(redis, symbol, closes);
    await seedPosition(redis, longPosition(symbol, closes[closes.length - 1]));
  }
  const flags = (dir: string) =>
    serviceConfig(fastFlags(server.url, SYMBOLS, { recordDir: dir, followKlines: false }));

  // A first: it takes the lease and writes.
  const startedA = wallClock();
  serviceA = await startService({
    config: flags(dirA),
    logger: captureLogger("warn").logger,
    hooks: watchA.hooks,
  });
  const a = serviceA;
  await until(
    "A to write every actor",
    () => everyActor(watchA, startedA, ["published"]),
    15_000,
  ).catch(explainWith(a));
  expect(a.role().role).toBe("leader");

  // B beside it stands by.
  serviceB = await startService({
    config: flags(dirB),
    logger: captureLogger("warn").logger,
    hooks: watchB.hooks,
  });
  const b = serviceB;
  await until("B to stand by", () => b.role().role === "standby", 15_000);
  const selfA = a.role().self;
  expect(b.role().holder).toBe(selfA);

  // A stops: it releases the lease after its drain; B takes over and writes every actor.
  const handover = wallClock();
  await stopService(serviceA);
  serviceA = undefined;
  await until("B to take the lease", () => b.role().role === "leader", 15_000);
  await until(
    "B to write for every actor",
    () => everyActor(watchB, handover, WROTE),
    15_000,
  ).catch(explainWith(b));
  await stopService(serviceB);
  serviceB = undefined;
  // B ran no cycle while it stood by.
  expect(watchB.since(0).every((c) => c.atMs >= handover)).toBe(true);

  // The role changes are in the recordings.
  const rolesA = await roles(dirA);
  expect(rolesA[0]).toMatchObject({ role: "leader", holder: selfA });
  const rolesB = (await roles(dirB)).map((r) => r.role);
  const standby = rolesB.indexOf("standby");
  expect(standby).toBeGreaterThanOrEqual(0);
  expect(rolesB.indexOf("leader", standby)).toBeGreaterThan(standby);
  const standbyRecord = (await roles(dirB))[standby];
  expect(standbyRecord.holder).toBe(selfA);

  // Each recording replays identically.
  await checkReplay(dirA);
  await checkReplay(dirB);
});
