// A Redis that stops answering: first the server itself (CLIENT PAUSE … WRITE: reads are served,
// writes wait), then the network path (a proxy that accepts bytes and forwards none). Either way
// the cycle must time out, the actor back off with growing delays, cycles never overlap, the
// event loop keep running — and a publish that timed out must never land later, when the server
// resumes, on top of newer data.
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backoffDelayMs } from "../../machines/publisher.js";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { longPosition, prices, redisClient, seedCandles, seedPosition } from "../helpers/seed.js";
import {
  captureLogger,
  explainWith,
  fastFlags,
  fieldsOf,
  serviceConfig,
  streamIdMs,
  until,
  type CapturedLogger,
  stopService,
} from "../helpers/serviceHarness.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcpProxy.js";

const SYMBOL = "BTCUSDT";
const COMMAND_TIMEOUT_MS = 300;
const BACKOFF = { baseMs: 50, capMs: 300 };
const PROPOSAL_STREAMS = ["quantum:stream:risk.proposal", "quantum:stream:harvest.proposal"];

let server: TestRedis;
let redis: Redis;
let proxy: TcpProxy;
let service: ServiceHandle;
let log: CapturedLogger;
const watch = new CycleWatch();

beforeAll(async () => {
  server = await startTestRedis();
  redis = redisClient(server.url);
  proxy = await startTcpProxy(server.port);
  const closes = prices("trend", 300, 100);
  await seedCandles(redis, SYMBOL, closes);
  await seedPosition(redis, longPosition(SYMBOL, closes[closes.length - 1]));
  log = captureLogger("debug");
  const config = serviceConfig(
    fastFlags(proxy.url(), [SYMBOL], {
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      backoffBaseMs: BACKOFF.baseMs,
      backoffCapMs: BACKOFF.capMs,
      // Every cycle publishes (max age 0.05 s < the 0.1 s interval), and every risk and harvest
      // publish is appended to its stream: the streams record what landed when (id = server time).
      maxPublishAge: 0.05,
      enableStream: true,
    }),
  );
  service = await startService({
    config,
    logger: log.logger,
    hooks: watch.hooks,
    inspect: watch.inspect,
  });
  await until("the first risk publish", () => watch.of("risk", "published").length > 0);
});

afterAll(async () => {
  await stopService(service);
  redis?.disconnect();
  await proxy?.close();
  await server?.close();
});

interface Landed {
  computedAtMs: number;
  landedAtMs: number;
}

/**
 * Every publish that landed, per stream in landing order. Proposal entries carry their cycle's
 * time to the millisecond (computed_at_utc); marketstate entries only to the second
 * (`timestamp`), so for those `computedAtMs` is up to 999 ms early.
 */
async function landedPublishes(): Promise<
  Array<{ stream: string; entries: Landed[]; resolutionMs: number }>
> {
  const proposals = await Promise.all(
    PROPOSAL_STREAMS.map(async (stream) => ({
      stream,
      resolutionMs: 1,
      entries: (await redis.xrange(stream, "-", "+")).map(([id, flat]) => ({
        computedAtMs: Date.parse(fieldsOf(flat).computed_at_utc),
        landedAtMs: streamIdMs(id),
      })),
    })),
  );
  const marketstate = (await redis.xrange("quantum:stream:marketstate", "-", "+")).map(
    ([id, flat]) => ({
      computedAtMs: Number(fieldsOf(flat).timestamp) * 1000,
      landedAtMs: streamIdMs(id),
    }),
  );
  return [
    ...proposals,
    { stream: "quantum:stream:marketstate", resolutionMs: 1000, entries: marketstate },
  ];
}

/** Error cycles of one actor come at least the minimum backoff delay apart. */
function expectBackoffBetweenErrors(phase: string): void {
  const errors = watch.of(phase, "error", SYMBOL);
  for (let i = 1; i < errors.length; i++) {
    const previous = errors[i - 1];
    const current = errors[i];
    if (current.event.consecutiveFailures !== previous.event.consecutiveFailures + 1) continue; // a success in between
    const ceiling = Math.min(
      BACKOFF.capMs,
      BACKOFF.baseMs * 2 ** (previous.event.consecutiveFailures - 1),
    );
    // backoffDelayMs never goes below half its ceiling (equal jitter); timers never fire early.
    expect(backoffDelayMs(previous.event.consecutiveFailures, BACKOFF, () => 0)).toBe(
      Math.round(ceiling / 2),
    );
    expect(current.atMs - previous.atMs).toBeGreaterThanOrEqual(Math.round(ceiling / 2) - 2);
  }
}

async function faultWindow(run: () => Promise<{ startMs: number; endMs: number }>) {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const errorsBefore = watch.of("risk", "error").length;
  const window = await run();
  loop.disable();
  return {
    ...window,
    maxLoopDelayMs: loop.max / 1e6,
    errors: watch.of("risk", "error").length - errorsBefore,
  };
}

describe("an unresponsive Redis", () => {
  it("CLIENT PAUSE WRITE: publishes time out and back off, the loop keeps running, and no timed-out write lands after the pause", async () => {
    const PAUSE_MS = 2000;
    const w = await faultWindow(async () => {
      const startMs = wallClock();
      await redis.call("CLIENT", "PAUSE", String(PAUSE_MS), "WRITE");
      const endMs = startMs + PAUSE_MS;
      // Recovered: a risk publish computed after the pause ended.
      await until(
        "a publish after the pause",
        () => watch.of("risk", "published").some((c) => (c.event.startedAtMs ?? 0) > endMs + 50),
        15_000,
      ).catch(explainWith(service));
      return { startMs, endMs };
    });

    expect(w.errors).toBeGreaterThan(0);
    const timeouts = watch.of("risk", "error").map((c) => c.event.detail ?? "");
    expect(
      timeouts.some((d) => /no reply within 300 ms|connection lost before the reply/.test(d)),
    ).toBe(true);
    expectBackoffBetweenErrors("risk");

    // The record of what landed: nothing computed inside the pause landed (it could only have
    // landed after it, late), and nothing landed long after it was computed.
    // (A write held by the pause lands when it ends, ~PAUSE_MS after it was computed.)
    for (const { stream, entries, resolutionMs } of await landedPublishes()) {
      expect(entries.length, stream).toBeGreaterThan(0);
      const computedInsidePause = entries.filter(
        (e) => e.computedAtMs > w.startMs + 100 && e.computedAtMs + resolutionMs < w.endMs - 1000,
      );
      expect(computedInsidePause, stream).toEqual([]);
      for (const entry of entries)
        expect(entry.landedAtMs - entry.computedAtMs, stream).toBeLessThan(500 + resolutionMs);
      // …and in the order computed: no old write overtook a newer one.
      const order = entries.map((e) => e.computedAtMs);
      expect(order, stream).toEqual([...order].sort((a, b) => a - b));
    }

    // Cycles never overlapped, and the event loop was never held by the wait for Redis.
    expect(watch.maxConcurrentSteps).toBe(1);
    expect(w.maxLoopDelayMs).toBeLessThan(PAUSE_MS / 2);
    expect(service.actor.getSnapshot().status).toBe("active");
  });

  it("a path that swallows every byte: cycles time out, the connection is replaced, and the service recovers when it passes again", async () => {
    const SILENCE_MS = 1500;
    const acceptedBefore = proxy.accepted;
    const w = await faultWindow(async () => {
      const startMs = wallClock();
      proxy.setMode({ kind: "blackhole" });
      await until(
        "errors while silent",
        () => watch.since(startMs).some((c) => c.event.outcome === "error"),
        5000,
      );
      await new Promise((resolve) =>
        setTimeout(resolve, Math.max(0, startMs + SILENCE_MS - wallClock())),
      );
      proxy.setMode({ kind: "forward" });
      const endMs = wallClock();
      await until(
        "a publish after the silence",
        () => watch.of("risk", "published").some((c) => (c.event.startedAtMs ?? 0) > endMs),
        15_000,
      ).catch(explainWith(service));
      return { startMs, endMs };
    });
    expect(w.errors).toBeGreaterThan(0);
    expectBackoffBetweenErrors("risk");
    // The silent connection was given up and new ones were tried (the proxy accepted them).
    expect(proxy.accepted).toBeGreaterThan(acceptedBefore);
    expect(watch.maxConcurrentSteps).toBe(1);
    expect(w.maxLoopDelayMs).toBeLessThan(SILENCE_MS / 2);
    for (const { stream, entries, resolutionMs } of await landedPublishes()) {
      for (const entry of entries)
        expect(entry.landedAtMs - entry.computedAtMs, stream).toBeLessThan(500 + resolutionMs);
    }
    // After the replacement connection, replies match their commands again: fresh publishes
    // carry every contract field with numbers in them.
    const risk = await redis.hgetall("quantum:risk:proposal:BTCUSDT");
    expect(Number(risk.proposed_sl)).toBeGreaterThan(0);
    expect(log.text()).toContain("redis connection error");
  });
});
