// Start-up responsiveness (issue 21): the HTTP server answers from the start — 503 `starting`,
// naming what start-up waits for — and SIGTERM ends a slow start-up at once, whatever it waits
// for, closing what it opened.
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/store/memoryStore.js";
import type { Store } from "../../src/store/types.js";
import { startService, StartAbortedError } from "../../src/service/service.js";
import {
  captureLogger,
  getText,
  serviceConfig,
  startCli,
  until,
} from "../helpers/serviceHarness.js";

/** A TCP server that accepts connections and never answers: a Redis that hangs. */
let blackhole: Server;
const sockets = new Set<Socket>();
beforeAll(async () => {
  blackhole = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", () => resolve()));
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => blackhole.close(() => resolve()));
});

function listeningPort(output: string): number | null {
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as { msg?: string; port?: number };
    if (entry.msg === "http server listening" && typeof entry.port === "number") return entry.port;
  }
  return null;
}

describe("start-up", () => {
  // The connect timeout (60 s) is far beyond the test's own timeout: only an immediate reaction
  // to the signal lets it pass.
  it("run: /healthz answers 503 naming what it waits for while Redis hangs, /metrics 200; SIGTERM ends it at once (exit 0)", async () => {
    const port = (blackhole.address() as { port: number }).port;
    const run = startCli(
      [
        "run",
        "--redis-url",
        `redis://127.0.0.1:${port}`,
        "--symbols",
        "BTCUSDT",
        "--http-port",
        "0",
      ],
      { QUANTUM_CALC_CONNECT_TIMEOUT_MS: "60000" },
      { cleanEnv: true },
    );
    try {
      const httpPort = await until("the HTTP server", () => listeningPort(run.output()));
      const health = await getText(httpPort, "/healthz");
      expect(health.status).toBe(503);
      expect(JSON.parse(health.body)).toMatchObject({
        status: "starting",
        waitingFor: `connecting to Redis at 127.0.0.1:${port}/0`,
      });
      expect((await getText(httpPort, "/metrics")).status).toBe(200);
      expect(run.output()).not.toContain("quantum-calc started");

      run.child.kill("SIGTERM");
      expect(await run.exit).toEqual({ code: 0, signal: null });
      expect(run.output()).toContain("stopped before the service started");
    } finally {
      run.child.kill("SIGKILL");
    }
  }, 20_000);

  it("startService: an abort while the first policy read hangs rejects at once with StartAbortedError and closes the store", async () => {
    const inner = new MemoryStore();
    let closed = false;
    // A store whose policy reads never answer (a huge key, a stuck server) and whose close is seen.
    const hanging = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === "xrevrange" || property === "hgetall")
          return () => new Promise(() => undefined);
        if (property === "close")
          return async () => {
            closed = true;
            await target.close();
          };
        return Reflect.get(target, property, receiver) as unknown;
      },
    }) as Store;
    const steps: string[] = [];
    const controller = new AbortController();
    const config = serviceConfig({
      store: "memory",
      symbols: ["BTCUSDT"],
      commandTimeoutMs: 60_000,
    });
    const started = startService({
      config,
      logger: captureLogger().logger,
      store: hanging,
      signal: controller.signal,
      systemd: null,
      onStartup: (what) => steps.push(what),
    });
    await until("the policy read under way", () => steps.includes("reading the policy"));
    controller.abort();
    await expect(started).rejects.toBeInstanceOf(StartAbortedError);
    expect(closed).toBe(true);
  }, 20_000);
});
