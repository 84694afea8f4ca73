// ServiceHandle.close(): the service tears itself down — drain → HTTP → watchdog → store → the
// klines follower's connection — once, whoever calls it how often, and a step that throws or hangs
// (bounded by its timeout) never keeps the later steps from running. The HTTP server and the
// watchdog are test doubles that record when they are closed; the hangs are promises that never
// settle, so every outcome is decided by the code under test, not by a race of sleeps.
import type { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import {
  CLOSE_STEPS,
  startService,
  type CloseStep,
  type ServiceHandle,
  type ServiceOptions,
} from "../../src/service/service.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import type { Store } from "../../src/store/types.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import {
  captureLogger,
  serviceConfig,
  until,
  type CapturedLogger,
} from "../helpers/serviceHarness.js";

/** A memory store that records its close() into `order`. */
class RecordingStore extends MemoryStore {
  closes = 0;
  constructor(private readonly order: string[]) {
    super();
  }

  override async close(): Promise<void> {
    this.closes++;
    this.order.push("store");
    await super.close();
  }
}

interface Doubles {
  order: string[];
  /** The supervisor's status when the HTTP double was closed. */
  supervisorAtHttp: string | null;
  http: { close(): Promise<void>; closes: number };
  watchdog: { stop(): Promise<void>; stops: number };
}

function doubles(
  handle: () => ServiceHandle,
  order: string[],
  behave: { http?: () => Promise<void>; watchdog?: () => Promise<void> } = {},
): Doubles {
  const d: Doubles = {
    order,
    supervisorAtHttp: null,
    http: {
      closes: 0,
      close() {
        d.http.closes++;
        order.push("http");
        d.supervisorAtHttp = handle().actor.getSnapshot().status;
        return behave.http ? behave.http() : Promise.resolve();
      },
    },
    watchdog: {
      stops: 0,
      stop() {
        d.watchdog.stops++;
        order.push("watchdog");
        return behave.watchdog ? behave.watchdog() : Promise.resolve();
      },
    },
  };
  return d;
}

const never = (): Promise<void> => new Promise<void>(() => undefined);

async function start(
  store: Store,
  log: CapturedLogger,
  extra: Partial<ServiceOptions> = {},
): Promise<ServiceHandle> {
  const config = serviceConfig({
    store: "memory",
    symbols: ["BTCUSDT"],
    marketstateInterval: 0.1,
    riskInterval: 0.1,
    harvestInterval: 0.1,
  });
  return await startService({ config, logger: log.logger, store, ...extra });
}

const outcomes = (steps: Array<{ step: CloseStep; outcome: string }>): Record<string, string> =>
  Object.fromEntries(steps.map((s) => [s.step, s.outcome]));

describe("ServiceHandle.close()", () => {
  it("is idempotent and memoized: two calls, one promise, one teardown", async () => {
    const order: string[] = [];
    const store = new RecordingStore(order);
    const handle = await start(store, captureLogger());
    const d = doubles(() => handle, order);
    handle.adopt({ http: d.http, watchdog: d.watchdog });

    const first = handle.close();
    const second = handle.close();
    expect(second).toBe(first);
    const report = await first;
    expect(handle.close()).toBe(first);
    await handle.close();

    expect(d.http.closes).toBe(1);
    expect(d.watchdog.stops).toBe(1);
    expect(store.closes).toBe(1);
    expect(order).toEqual(["http", "watchdog", "store"]);
    expect(report.output).toMatchObject({ exitCode: 0 });
  });

  it("tears down in order: drain, HTTP, watchdog, store, the follower connection", async () => {
    const order: string[] = [];
    const store = new RecordingStore(order);
    const handle = await start(store, captureLogger());
    const d = doubles(() => handle, order);
    handle.adopt({ http: d.http });
    handle.adopt({ watchdog: d.watchdog });

    const report = await handle.close();
    expect(order).toEqual(["http", "watchdog", "store"]);
    // The supervisor had ended (drained) before the HTTP server was closed.
    expect(d.supervisorAtHttp).toBe("done");
    expect(report.steps.map((s) => s.step)).toEqual([...CLOSE_STEPS]);
    // On the memory store the follower shares the service's store: no connection of its own.
    expect(outcomes(report.steps)).toEqual({
      drain: "done",
      lease: "skipped",
      recorder: "skipped",
      http: "done",
      watchdog: "done",
      store: "done",
      writer: "skipped",
      "klines store": "skipped",
    });
    expect(handle.actor.getSnapshot().status).toBe("done");
    // The store is closed.
    await expect(store.hgetall("quantum:marketstate:BTCUSDT")).rejects.toThrow(/closed/);
  });

  it("skips what was not adopted, and closes the store after a supervisor that ended on its own", async () => {
    const order: string[] = [];
    const store = new RecordingStore(order);
    const config = serviceConfig({ store: "memory", symbols: ["BTCUSDT"] });
    const handle = await startService({
      config,
      logger: captureLogger().logger,
      store,
      once: true,
    });
    const output = await handle.done;
    const report = await handle.close();
    expect(report.output).toBe(output);
    expect(outcomes(report.steps)).toEqual({
      drain: "done",
      lease: "skipped",
      recorder: "skipped",
      http: "skipped",
      watchdog: "skipped",
      store: "done",
      writer: "skipped",
      "klines store": "skipped",
    });
    expect(order).toEqual(["store"]);
  });

  it("a step that throws or hangs does not stop the later ones; each is logged, the hang bounded by its timeout", async () => {
    const order: string[] = [];
    const store = new RecordingStore(order);
    const log = captureLogger();
    const handle = await start(store, log, { closeTimeoutsMs: { watchdog: 30 } });
    const d = doubles(() => handle, order, {
      http: () => Promise.reject(new Error("injected http close failure")),
      watchdog: never,
    });
    handle.adopt({ http: d.http, watchdog: d.watchdog });

    const report = await handle.close();
    expect(order).toEqual(["http", "watchdog", "store"]);
    expect(outcomes(report.steps)).toEqual({
      drain: "done",
      lease: "skipped",
      recorder: "skipped",
      http: "failed",
      watchdog: "timed out",
      store: "done",
      writer: "skipped",
      "klines store": "skipped",
    });
    expect(report.steps.find((s) => s.step === "http")?.error).toBe("injected http close failure");
    await expect(store.hgetall("x")).rejects.toThrow(/closed/);

    const warnings = log.lines().filter((l) => l.level === 40 && typeof l.step === "string");
    expect(warnings.map((l) => l.msg)).toEqual([
      "shutdown: http failed; going on",
      "shutdown: watchdog did not finish within 30 ms; going on",
    ]);
    expect(warnings[0]).toMatchObject({ step: "http", err: "injected http close failure" });
  });

  it("a teardown that throws synchronously is a failed step too", async () => {
    const order: string[] = [];
    const store = new RecordingStore(order);
    const handle = await start(store, captureLogger());
    handle.adopt({
      watchdog: {
        stop: () => {
          order.push("watchdog");
          throw new Error("sync throw");
        },
      },
    });
    const report = await handle.close();
    expect(outcomes(report.steps)).toMatchObject({ watchdog: "failed", store: "done" });
    expect(order).toEqual(["watchdog", "store"]);
  });

  it("a drain that outlives its bound: the actors are stopped, the rest still torn down", async () => {
    const order: string[] = [];
    let reading: () => void = () => undefined;
    const aRead = new Promise<void>((resolve) => (reading = resolve));
    // Every read hangs: the publishers stay in their first step, so the drain (bounded by
    // drainTimeoutMs, 60 s here) cannot end before close()'s own 50 ms bound.
    const store = new RecordingStore(order);
    const hanging = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== "function" || prop === "close" || prop === "constructor") return value;
        return () => {
          reading();
          return never();
        };
      },
    });
    const config = serviceConfig({ store: "memory", symbols: ["BTCUSDT"], drainTimeoutMs: 60_000 });
    const log = captureLogger();
    const handle = await startService({
      config,
      logger: log.logger,
      store: hanging,
      closeTimeoutsMs: { drain: 50 },
    });
    const d = doubles(() => handle, order);
    handle.adopt({ http: d.http, watchdog: d.watchdog });
    await aRead;

    const report = await handle.close();
    expect(outcomes(report.steps)).toEqual({
      drain: "timed out",
      lease: "skipped",
      recorder: "skipped",
      http: "done",
      watchdog: "done",
      store: "done",
      writer: "skipped",
      "klines store": "skipped",
    });
    expect(report.output).toBeNull();
    expect(order).toEqual(["http", "watchdog", "store"]);
    expect(handle.actor.getSnapshot().status).toBe("stopped");
    expect(
      log.lines().some((l) => l.msg === "shutdown: drain did not finish within 50 ms; going on"),
    ).toBe(true);
  });

  it("a resource adopted after close() passed its step is torn down at once", async () => {
    const order: string[] = [];
    const handle = await start(new RecordingStore(order), captureLogger());
    await handle.close();
    let closed: () => void = () => undefined;
    const httpClosed = new Promise<void>((resolve) => (closed = resolve));
    handle.adopt({
      http: {
        close: async () => {
          closed();
        },
      },
    });
    await httpClosed;
  });
});

describe("ServiceHandle.close() on Redis (redis-server)", () => {
  const fixture = useTestRedis();
  let redis: Redis;
  beforeAll(() => {
    ({ redis } = fixture);
  });

  /** The names of the service's connections the server still has. */
  const serviceClients = async (): Promise<string[]> =>
    ((await redis.client("LIST")) as string)
      .split("\n")
      .map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? "")
      .filter((name) => name.startsWith("quantum-calc"))
      .sort();

  it("closes the store, the lease writer and the klines follower connection; the lease is released first", async () => {
    const config = serviceConfig({
      redisUrl: fixture.server.url,
      symbols: ["BTCUSDT"],
      marketstateInterval: 0.2,
      riskInterval: 0.2,
      harvestInterval: 0.2,
    });
    const handle = await startService({ config, logger: captureLogger().logger });
    await until("three connections named", async () => (await serviceClients()).length === 3);
    expect(await serviceClients()).toEqual([
      "quantum-calc",
      "quantum-calc-klines",
      "quantum-calc-writer",
    ]);
    expect(handle.role()).toMatchObject({ role: "leader", leaseKey: "quantum:calc:leader" });
    expect(await redis.get("quantum:calc:leader")).toBe(handle.lease!.token);

    const report = await handle.close();
    expect(outcomes(report.steps)).toEqual({
      drain: "done",
      lease: "done",
      recorder: "skipped",
      http: "skipped",
      watchdog: "skipped",
      store: "done",
      writer: "done",
      "klines store": "done",
    });
    expect(await redis.exists("quantum:calc:leader")).toBe(0);
    await until(
      "the server to drop every connection",
      async () => (await serviceClients()).length === 0,
      5000,
    );
    // `done` (which closes the follower's connection too) has settled as well.
    await expect(handle.done).resolves.toMatchObject({ exitCode: 0 });
  });
});
