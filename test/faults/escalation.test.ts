// An actor that crashes again and again: the supervisor restarts it one-for-one, then gives up
// with exit code 3 so systemd restarts the whole process.
//
// How the crash is made: no I/O or data path can crash a publisher — every store call runs inside
// a promise step whose failure the machine handles (backoff), compute/decide are wrapped, and
// observers (hooks, inspector) are guarded — so nothing the service reads can do it. What can is
// a bug in the actor's own transition code. startService's `wrapPublisher` seam provides the risk
// publisher with a `startCycle` action that throws — the same crash the machine tests inject —
// and it goes through the real service: its supervisor, restart logging, counters and escalation.
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../src/exitCodes.js";
import { startService } from "../../src/service/service.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { longPosition, prices, redisClient, seedCandles, seedPosition } from "../helpers/seed.js";
import { captureLogger, fastFlags, serviceConfig } from "../helpers/serviceHarness.js";

let server: TestRedis;
let redis: Redis;

beforeAll(async () => {
  server = await startTestRedis();
  redis = redisClient(server.url);
  const closes = prices("trend", 300, 100);
  await seedCandles(redis, "BTCUSDT", closes);
  await seedPosition(redis, longPosition("BTCUSDT", closes[closes.length - 1]));
});
afterAll(async () => {
  redis?.disconnect();
  await server?.close();
});

describe("a crashing actor", () => {
  it("is restarted under a new id, and after the restart budget the service ends with exit code 3", async () => {
    const watch = new CycleWatch();
    const crashes: string[] = [];
    const log = captureLogger("info");
    const restarts: string[] = [];
    const config = serviceConfig(
      fastFlags(server.url, ["BTCUSDT"], { restartBudget: 3, restartWindowSec: 60 }),
    );
    const handle = await startService({
      config,
      logger: log.logger,
      inspect: watch.inspect,
      wrapPublisher: (phase, machine) =>
        phase !== "risk"
          ? machine
          : machine.provide({
              actions: {
                startCycle: ({ self }) => {
                  crashes.push(self.id);
                  throw new Error(`injected crash in ${self.id}`);
                },
              },
            }),
      hooks: {
        ...watch.hooks,
        onRestart: (notice) => restarts.push(`${notice.oldId} -> ${notice.newId}`),
      },
    });
    const output = await Promise.race([
      handle.done,
      new Promise<never>((_, reject) =>
        setTimeout(
          () =>
            reject(
              new Error(`the supervisor did not end within 15 s (crashes: ${crashes.join(", ")})`),
            ),
          15_000,
        ),
      ),
    ]);
    await handle.close();

    expect(output.exitCode).toBe(ExitCode.ESCALATED);
    expect(output.escalation).toMatchObject({
      actorId: "risk:BTCUSDT#3",
      restarts: 3,
      error: "injected crash in risk:BTCUSDT#3",
    });
    expect(restarts).toEqual([
      "risk:BTCUSDT -> risk:BTCUSDT#1",
      "risk:BTCUSDT#1 -> risk:BTCUSDT#2",
      "risk:BTCUSDT#2 -> risk:BTCUSDT#3",
    ]);
    expect(crashes).toEqual(["risk:BTCUSDT", "risk:BTCUSDT#1", "risk:BTCUSDT#2", "risk:BTCUSDT#3"]);
    expect(handle.stats.restarts).toBe(3);
    // The other publishers kept working until the escalation.
    expect(watch.of("marketstate", "published").length).toBeGreaterThan(0);

    const lines = log.lines();
    const restartLines = lines.filter((l) => / crashed; restarted as /.test(l.msg));
    expect(restartLines).toHaveLength(3);
    expect(restartLines.every((l) => l.level === 50)).toBe(true); // error
    const fatal = lines.find((l) => l.level === 60);
    expect(fatal?.msg).toBe(
      "restart budget exhausted for risk:BTCUSDT#3; exiting with code 3 so systemd restarts the process",
    );
    expect(fatal).toMatchObject({ exitCode: 3, actor: "risk:BTCUSDT#3", restarts: 3 });
  });
});
