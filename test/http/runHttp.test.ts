// `quantum-calc run --http-port` as an operator starts it (the BUILT CLI; `npm run build` first
// when running this file alone): the endpoints are served, the watchdog is on, SIGTERM closes both.
import { createServer, type Server } from "node:http";
import { describe, expect, it } from "vitest";
import { getText as fetchText, startCli, until } from "../helpers/serviceHarness.js";

function startRun(args: string[], env: Record<string, string> = {}) {
  return startCli(["run", ...args], env, { cleanEnv: true });
}

/** The port from the "http server listening" JSON log line. */
function listeningPort(output: string): number | null {
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as { msg?: string; port?: number };
    if (entry.msg === "http server listening" && typeof entry.port === "number") return entry.port;
  }
  return null;
}

const MEMORY_RUN = [
  "--store",
  "memory",
  "--symbols",
  "BTCUSDT,ETHUSDT",
  "--marketstate-interval",
  "0.2",
  "--risk-interval",
  "0.2",
  "--harvest-interval",
  "0.2",
];

describe("run --http-port", () => {
  it("serves /healthz and /metrics, runs the watchdog, and closes both on SIGTERM", async () => {
    const run = startRun([...MEMORY_RUN, "--http-port", "0"], { QUANTUM_CALC_WATCHDOG_SEC: "5" });
    try {
      const port = await until("the HTTP server", () => listeningPort(run.output()));
      const health = await fetchText(port, "/healthz");
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toMatchObject({
        status: "ok",
        store: "memory",
        actors: { total: 7, failing: 0 },
      }); // 2 symbols x 3 phases + the klines follower
      const metrics = await fetchText(port, "/metrics");
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain(
        'quantum_calc_staleness_seconds{phase="harvest",symbol="ETHUSDT"}',
      );
      expect(metrics.body).toContain("quantum_calc_redis_up 1");
      expect(run.output()).toContain(
        "event-loop watchdog on: exit 4 when the loop is blocked over 5 s",
      );

      run.child.kill("SIGTERM");
      const { code } = await run.exit;
      expect(code).toBe(0);
      await expect(fetchText(port, "/healthz")).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      run.child.kill("SIGKILL");
    }
  });

  it("is off unless asked, and the watchdog is off with watchdogSec 0", async () => {
    const run = startRun(MEMORY_RUN, { QUANTUM_CALC_WATCHDOG_SEC: "0" });
    try {
      await until("the service to start", () => run.output().includes("quantum-calc started"));
      run.child.kill("SIGTERM");
      expect((await run.exit).code).toBe(0);
      expect(run.output()).not.toContain("http server listening");
      expect(run.output()).not.toContain("event-loop watchdog on");
    } finally {
      run.child.kill("SIGKILL");
    }
  });

  it("exits 1 with a clear message when the port is taken", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const run = startRun([...MEMORY_RUN, "--http-port", String(taken)]);
      const { code } = await run.exit;
      expect(code).toBe(1);
      expect(run.output()).toContain(
        `quantum-calc: cannot serve HTTP on 127.0.0.1:${taken}: listen EADDRINUSE`,
      );
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });
});
