// /healthz and /metrics of a service started in-process against a real redis-server that goes
// away and comes back.
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getText as fetchText, until } from "../helpers/serviceHarness.js";
import type { Redis } from "ioredis";
import { pino } from "pino";
import { loadConfig } from "../../src/config/load.js";
import { createServiceMetrics } from "../../src/metrics/serviceMetrics.js";
import { operatorRoutes } from "../../src/http/operatorRoutes.js";
import { startHttpServer, type HttpServerHandle } from "../../src/http/server.js";
import type { HealthReport } from "../../src/http/health.js";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { createStoreFromConfig } from "../../src/service/storeFactory.js";
import type { RedisStore } from "../../src/store/redisStore.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { longPosition, prices, redisClient, seedCandles, seedPosition } from "../helpers/seed.js";

const logger = pino({ level: process.env.QC_TEST_LOG ?? "silent" });
const SYMBOLS = ["BTCUSDT", "ETHUSDT"];

let server: TestRedis;
let redis: Redis;
let service: ServiceHandle;
let http: HttpServerHandle;

async function health(): Promise<{ status: number; report: HealthReport }> {
  const r = await fetchText(http.port, "/healthz");
  return { status: r.status, report: JSON.parse(r.body) as HealthReport };
}

async function seed(): Promise<void> {
  for (const [i, symbol] of SYMBOLS.entries()) {
    const closes = prices("trend", 300, 100 * (i + 1), 11 + i);
    await seedCandles(redis, symbol, closes);
    await seedPosition(redis, longPosition(symbol, closes[closes.length - 1]));
  }
}

function metricValue(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

beforeAll(async () => {
  server = await startTestRedis();
  redis = redisClient(server.url);
  redis.on("error", () => undefined); // the outage test takes the server away
  await seed();
  const { config } = loadConfig({
    env: {},
    flags: {
      redisUrl: server.url,
      symbols: SYMBOLS,
      marketstateInterval: 0.2,
      riskInterval: 0.2,
      harvestInterval: 0.2,
      maxPublishAge: 1,
      // ts_timestamp has whole-second resolution: the default 3 x 0.2 s would refuse it at random.
      maxInputAge: 30,
      backoffBaseMs: 100,
      backoffCapMs: 400,
      commandTimeoutMs: 500,
      logLevel: "silent",
    },
  });
  const metrics = createServiceMetrics({
    phases: config.phases,
    symbols: config.symbols,
    now: wallClock,
  });
  // Connected before the actors start, so no first cycle fails on "not connected" (startService
  // itself does not wait in run mode).
  const store = createStoreFromConfig(config, logger, true) as RedisStore;
  await store.waitReady(5000);
  service = await startService({ config, logger, store, hooks: metrics.hooks });
  const { routes } = operatorRoutes({ handle: service, metrics, now: wallClock });
  http = await startHttpServer({ host: "127.0.0.1", port: 0, routes, logger });
  // As `run` does: the service tears the server down in its close() (drain, HTTP, store).
  service.adopt({ http });
});

afterAll(async () => {
  await service?.close();
  redis?.disconnect();
  await server?.close();
});

describe("/metrics and /healthz of a running service", () => {
  it("serves the named metrics after a few cycles", async () => {
    const body = await until(
      "harvest publishes for both symbols and a chained harvest",
      async () => {
        const r = await fetchText(http.port, "/metrics");
        const published = SYMBOLS.every(
          (s) => metricValue(r.body, `quantum_harvest_kill_score{symbol="${s}"}`) !== undefined,
        );
        return published &&
          (metricValue(r.body, "quantum_calc_chain_latency_seconds_count") ?? 0) >= 1
          ? r.body
          : null;
      },
    );
    const r = await fetchText(http.port, "/metrics");
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const phase of ["marketstate", "risk", "harvest"]) {
      expect(
        metricValue(body, `quantum_calc_cycles_total{phase="${phase}",outcome="published"}`),
      ).toBeGreaterThanOrEqual(1);
      expect(
        metricValue(body, `quantum_calc_publishes_total{phase="${phase}"}`),
      ).toBeGreaterThanOrEqual(1);
      expect(
        metricValue(body, `quantum_calc_cycle_duration_seconds_count{phase="${phase}"}`),
      ).toBeGreaterThanOrEqual(1);
      expect(metricValue(body, `quantum_calc_errors_total{phase="${phase}"}`)).toBe(0);
      expect(metricValue(body, `quantum_calc_actor_restarts_total{phase="${phase}"}`)).toBe(0);
    }
    for (const name of [
      "kill_score",
      "k_regime_flip",
      "k_sigma_spike",
      "k_ts_drop",
      "k_age_penalty",
      "r_net",
    ]) {
      expect(Number.isFinite(metricValue(body, `quantum_harvest_${name}{symbol="BTCUSDT"}`))).toBe(
        true,
      );
    }
    expect(metricValue(body, 'quantum_calc_skips_total{phase="risk",reason="no_position"}')).toBe(
      0,
    );
    const age = metricValue(
      body,
      'quantum_calc_input_age_seconds{phase="harvest",symbol="ETHUSDT"}',
    );
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(60);
    // Every phase published or heartbeated within the last few intervals.
    const staleness = metricValue(
      body,
      'quantum_calc_staleness_seconds{phase="risk",symbol="BTCUSDT"}',
    );
    expect(staleness).toBeGreaterThanOrEqual(0);
    expect(staleness).toBeLessThan(10);
    expect(metricValue(body, "quantum_calc_redis_up")).toBe(1);
    expect(body).toContain("process_resident_memory_bytes");
    expect(body).not.toMatch(/\bNaN\b/);
  });

  it("flips /healthz to 503 when Redis goes away and back to 200 when it returns", async () => {
    const ok = await until("healthy", async () =>
      (await health()).status === 200 ? health() : null,
    );
    expect(ok.status).toBe(200);
    expect(ok.report).toMatchObject({
      status: "ok",
      redis: "up",
      store: "redis",
      supervisor: "running",
      actors: { total: 7, failing: 0 },
      reasons: [],
    });

    await server.stop();
    const down = await until("503 after Redis stopped", async () => {
      const h = await health();
      // The PING is cached for up to 1 s, so the actors may notice first.
      return h.status === 503 && h.report.redis === "down" && h.report.actors.failing > 0
        ? h
        : null;
    });
    expect(down.report.status).toBe("failing");
    expect(down.report.redis).toBe("down");
    expect(down.report.reasons[0]).toMatch(/^redis unreachable: /);
    expect(
      down.report.reasons.some((r) =>
        /^(marketstate|risk|harvest):(BTCUSDT|ETHUSDT) failing: \d+ consecutive failures?: /.test(
          r,
        ),
      ),
    ).toBe(true);
    // The Redis URL carries no password here, but the gauge must say down.
    expect(
      metricValue((await fetchText(http.port, "/metrics")).body, "quantum_calc_redis_up"),
    ).toBe(0);

    await server.start(); // back, empty: cycles skip for insufficient data, which is not failing
    const back = await until(
      "200 after Redis returned",
      async () => {
        const h = await health();
        return h.status === 200 ? h : null;
      },
      20_000,
    );
    expect(back.report).toMatchObject({
      status: "ok",
      redis: "up",
      actors: { total: 7, failing: 0 },
    });
    const errors = metricValue(
      (await fetchText(http.port, "/metrics")).body,
      'quantum_calc_errors_total{phase="marketstate"}',
    );
    expect(errors).toBeGreaterThanOrEqual(1);
  });

  it("answers 404 and 405 on the same server", async () => {
    expect((await fetchText(http.port, "/nope")).status).toBe(404);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: http.port, path: "/healthz", method: "POST", agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(405);
  });
});
