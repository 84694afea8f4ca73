// A truthful /healthz (issue 21) against a real redis-server: an instance that cannot write is not
// healthy, and says why. Reproduced before the fix: an ACL user that may not write the lease key,
// or Redis at maxmemory with noeviction, left /healthz at 200 (role standby, holder null, or a
// leader whose every publish was refused) indefinitely.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ACL_RULES } from "../helpers/acl.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { longPosition, prices, seedCandles, seedPosition } from "../helpers/seed.js";
import {
  captureLogger,
  explainWith,
  fastFlags,
  serviceConfig,
  until,
} from "../helpers/serviceHarness.js";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { createServiceMetrics } from "../../src/metrics/serviceMetrics.js";
import { operatorRoutes } from "../../src/http/operatorRoutes.js";
import {
  registerWriteHealthMetrics,
  type HealthChecker,
  type HealthReport,
} from "../../src/http/health.js";
import type { Registry } from "prom-client";

const SYMBOL = "BTCUSDT";
const LEASE_TTL_MS = 600;
const fixture = useTestRedis();
let handle: ServiceHandle | undefined;

beforeEach(async () => {
  await fixture.redis.flushall();
  await fixture.redis.config("SET", "maxmemory", "0");
  const closes = prices("trend", 300, 100, 5);
  await seedCandles(fixture.redis, SYMBOL, closes);
  await seedPosition(fixture.redis, longPosition(SYMBOL, closes[closes.length - 1]));
});
afterEach(async () => {
  await fixture.redis.config("SET", "maxmemory", "0");
  await handle?.close();
  handle = undefined;
});

/** The service in-process with /healthz's checker and the write-failing gauges, as `run` wires them. */
async function start(
  redisUrl: string,
): Promise<{ health: HealthChecker; registry: Registry; log: ReturnType<typeof captureLogger> }> {
  const log = captureLogger("info");
  const config = serviceConfig(
    fastFlags(redisUrl, [SYMBOL], { leaseTtlMs: LEASE_TTL_MS, followKlines: false }),
  );
  handle = await startService({ config, logger: log.logger, systemd: null });
  const service = handle;
  const metrics = createServiceMetrics({
    phases: config.phases,
    symbols: config.symbols,
    now: wallClock,
    defaultMetrics: false,
  });
  const { health } = operatorRoutes({ handle: service, metrics, now: wallClock });
  registerWriteHealthMetrics(metrics.registry).setRoleProbe(() => service.role());
  return { health, registry: metrics.registry, log };
}

const failingWith =
  (health: HealthChecker, pattern: RegExp) => async (): Promise<HealthReport | null> => {
    const report = await health.check();
    return report.status === "failing" && report.reasons.some((r) => pattern.test(r))
      ? report
      : null;
  };

describe("/healthz when this instance cannot write", () => {
  it("an ACL user that may not write the lease key: 503 naming NOPERM (the lease stays free), the metric and a log line", async () => {
    const user = "qc-no-lease";
    const password = "Qc-no-lease-7f3a";
    // Read-only on quantum:* (the lease key included), read-write on the outputs: SET NX of the lease is NOPERM.
    const rules = ACL_RULES.filter((r) => r !== "~quantum:calc:*").concat(
      "~quantum:calc:marketstate:*",
    );
    expect(await fixture.redis.call("ACL", "SETUSER", user, `>${password}`, ...rules)).toBe("OK");
    const { health, registry, log } = await start(
      `redis://${user}:${password}@127.0.0.1:${fixture.server.port}`,
    );
    const report = await until(
      "/healthz 503 naming NOPERM",
      failingWith(health, /^lease key not writable: .*NOPERM/),
      10_000,
    ).catch(explainWith(handle!));
    expect(report).toMatchObject({ role: "standby", holder: null, redis: "up" });
    expect(report.writeProblems).toEqual([expect.objectContaining({ code: "NOPERM" })]);
    expect(report.reasons[0]).toContain("quantum:calc:leader");
    expect(await registry.metrics()).toContain('quantum_calc_write_failing{code="NOPERM"} 1');
    await until("the log line", () =>
      log
        .lines()
        .find(
          (l) => l.msg.startsWith("cannot write: lease key not writable") && /NOPERM/.test(l.msg),
        ),
    );
    expect(await fixture.redis.exists("quantum:calc:leader")).toBe(0);
  });

  it("Redis at maxmemory with noeviction under a running writer: 503 naming OOM, and 200 again once the limit is lifted", async () => {
    const { health, registry, log } = await start(fixture.server.url);
    await until(
      "the writer healthy and publishing",
      async () =>
        (await health.check()).status === "ok" &&
        (await fixture.redis.exists(`quantum:marketstate:${SYMBOL}`)) === 1,
    ).catch(explainWith(handle!));
    expect(handle!.role().role).toBe("leader");

    await fixture.redis.config("SET", "maxmemory-policy", "noeviction");
    await fixture.redis.config("SET", "maxmemory", "1");
    // Its publishes are refused, and so are the renewals (EXEC with PEXPIRE): the lease runs out,
    // and taking it again (SET NX) is refused too. Either way the reason names OOM.
    const report = await until(
      "/healthz 503 naming OOM",
      failingWith(
        health,
        /^(writes failing for \d+ s|lease key not writable): .*OOM command not allowed/,
      ),
      15_000,
    ).catch(explainWith(handle!));
    expect(report.writeProblems.map((p) => p.code)).toContain("OOM");
    expect(await registry.metrics()).toContain('quantum_calc_write_failing{code="OOM"} 1');
    await until("the log line", () =>
      log.lines().find((l) => l.msg.startsWith("cannot write: ") && /OOM/.test(l.msg)),
    );

    await fixture.redis.config("SET", "maxmemory", "0");
    await until(
      "/healthz 200 again",
      async () => (await health.check()).status === "ok",
      15_000,
    ).catch(explainWith(handle!));
    expect(await registry.metrics()).toContain('quantum_calc_write_failing{code="OOM"} 0');
    await until("the recovery logged", () =>
      log.lines().find((l) => l.msg.startsWith("writes accepted again")),
    );
  });

  it("a standby while another instance holds the lease stays healthy (200), naming the holder", async () => {
    await fixture.redis.set(
      "quantum:calc:leader",
      "otherhost:4242:0badc0de-0000-4000-8000-000000000000",
      "PX",
      60_000,
    );
    const { health } = await start(fixture.server.url);
    const report = await health.check();
    expect(report).toMatchObject({
      status: "ok",
      role: "standby",
      holder: "otherhost:4242:0badc0de",
      writeProblems: [],
    });
  });
});
