// `quantum-calc run` at start-up and shutdown as an operator meets it (issue 18, items 3, 4, 9;
// the BUILT CLI: `npm run build` first when running this file alone):
//  - the exporter's harvest gauges are served from the hashes already in Redis at start, before
//    any harvest publish of this instance (the kill-score alert can fire at once);
//  - with Redis refused at start, the start line says what is true (Redis could not be asked),
//    never "held by nobody yet";
//  - a wrong password from --redis-password-file names the file; in `run`, /healthz names a
//    wrong password as an authentication failure, not as "unreachable … not connected";
//  - a second Ctrl-C (SIGINT while the drain is under way) exits 130.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestRedis } from "../helpers/redisFixture.js";
import { freePort, startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { redisClient } from "../helpers/seed.js";
import { getText, startCli, until, type CliProcess } from "../helpers/serviceHarness.js";

const fixture = useTestRedis();
const PASSWORD = "Startup-S3cret";
let secured: TestRedis;
let dir: string;
beforeAll(async () => {
  secured = await startTestRedis(["--requirepass", PASSWORD]);
  dir = mkdtempSync(join(tmpdir(), "qc-run-startup-"));
});
afterAll(async () => {
  await secured?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string> = {}): CliProcess {
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

/** The message of the first JSON log line whose msg starts with `prefix`. */
function logLine(output: string, prefix: string): string | null {
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as { msg?: string };
    if (entry.msg?.startsWith(prefix)) return entry.msg;
  }
  return null;
}

async function stop(cli: CliProcess): Promise<void> {
  if (cli.child.exitCode === null && cli.child.signalCode === null) {
    cli.child.kill("SIGKILL");
    await cli.exit;
  }
}

describe("run: start-up", () => {
  it("serves the exporter's harvest gauges from the hashes already published, before any harvest publish", async () => {
    const redis: Redis = fixture.redis;
    await redis.hset("quantum:harvest:proposal:BTCUSDT", {
      harvest_action: "PARTIAL_50",
      new_sl_proposed: "",
      R_net: "1.25",
      kill_score: "0.875",
      k_regime_flip: "0.5",
      k_sigma_spike: "0.25",
      k_ts_drop: "0.125",
      k_age_penalty: "0",
      last_update_epoch: "1700000000",
    });
    // No candles and no position: no cycle of this instance publishes a harvest proposal, so only
    // the hash already in Redis can give the gauges their values.
    const cli = run([
      "--redis-url",
      fixture.server.url,
      "--symbols",
      "BTCUSDT",
      "--http-port",
      "0",
      "--no-lease",
      "--no-follow-klines",
    ]);
    try {
      const port = await until("the HTTP server", () => listeningPort(cli.output()));
      const body = await until("the seeded kill score", async () => {
        const text = (await getText(port, "/metrics")).body;
        return text.includes('quantum_harvest_kill_score{symbol="BTCUSDT"}') ? text : null;
      });
      expect(body).toContain('quantum_harvest_kill_score{symbol="BTCUSDT"} 0.875');
      expect(body).toContain('quantum_harvest_k_regime_flip{symbol="BTCUSDT"} 0.5');
      expect(body).toContain('quantum_harvest_k_ts_drop{symbol="BTCUSDT"} 0.125');
      expect(body).toContain('quantum_harvest_r_net{symbol="BTCUSDT"} 1.25');
      expect(body).toContain('quantum_harvest_new_sl{symbol="BTCUSDT"} 0');
      expect(body).toContain('quantum_harvest_action{symbol="BTCUSDT",action="PARTIAL_50"} 1');
      expect(body).toContain('quantum_harvest_action{symbol="BTCUSDT",action="NONE"} 0');
      expect(body).toContain('quantum_harvest_last_update_epoch{symbol="BTCUSDT"} 1700000000');
      expect(body).toContain('quantum_calc_publishes_total{phase="harvest"} 0');
    } finally {
      await stop(cli);
    }
  }, 30_000);

  it("with Redis refused: the start line says Redis could not be asked for the lease, not 'held by nobody'", async () => {
    const port = await freePort();
    const cli = run(
      ["--redis-url", `redis://127.0.0.1:${port}`, "--symbols", "BTCUSDT", "--no-follow-klines"],
      { QUANTUM_CALC_CONNECT_TIMEOUT_MS: "300" },
    );
    try {
      const line = await until("the start line", () =>
        logLine(cli.output(), "quantum-calc started"),
      );
      expect(line).not.toContain("nobody yet");
      expect(line).toContain(
        "WAITING FOR REDIS: the single-writer lease quantum:calc:leader could not be asked (",
      );
      expect(line).toContain("nothing is written until this instance takes it");
      cli.child.kill("SIGTERM");
      expect((await cli.exit).code).toBe(0);
      expect(cli.output()).not.toContain("shutdown deadline passed");
    } finally {
      await stop(cli);
    }
  }, 30_000);
});

describe("run: a wrong password", () => {
  it("from --redis-password-file: --once exits 1 naming the file", async () => {
    const file = join(dir, "redis-password");
    writeFileSync(file, "not-the-password\n");
    const cli = run(
      ["--once", "--redis-url", secured.url, "--redis-password-file", file, "--symbols", "BTCUSDT"],
      { QUANTUM_CALC_CONNECT_TIMEOUT_MS: "1500" },
    );
    try {
      const { code } = await cli.exit;
      expect(code, cli.output()).toBe(1);
      expect(cli.output()).toContain("authentication failed");
      expect(cli.output()).toContain(`check the password file ${file} (--redis-password-file`);
      expect(cli.output()).not.toContain("not-the-password");
    } finally {
      await stop(cli);
    }
  }, 30_000);

  it("in run: /healthz names an authentication failure, not an unreachable Redis", async () => {
    const cli = run(
      ["--redis-url", secured.url, "--symbols", "BTCUSDT", "--http-port", "0", "--no-lease"],
      { REDIS_PASSWORD: "not-the-password", QUANTUM_CALC_CONNECT_TIMEOUT_MS: "300" },
    );
    try {
      const port = await until("the HTTP server", () => listeningPort(cli.output()));
      // Until the server has answered a first handshake (a loaded machine may take a while to
      // connect) Redis is only "not connected"; from then on the refusal is named.
      await until("the refused handshake", () =>
        cli.output().includes("authentication failed: the server refused the password"),
      );
      const report = await until("/healthz naming the refusal", async () => {
        const health = await getText(port, "/healthz");
        const body = JSON.parse(health.body) as { status: string; reasons: string[] };
        const reason = body.reasons.find((r) => r.startsWith("redis "));
        return body.status !== "starting" && reason?.startsWith("redis authentication failed")
          ? { code: health.status, reason }
          : null;
      });
      expect(report.code).toBe(503);
      expect(report.reason).toContain("the server refused the password for the default user");
      expect(cli.output()).not.toContain("not-the-password");
    } finally {
      await stop(cli);
    }
  }, 30_000);
  it("in run, while start-up waits for Redis: /healthz's 503 starting names the refusal; SIGTERM ends start-up at once", async () => {
    const cli = run(
      ["--redis-url", secured.url, "--symbols", "BTCUSDT", "--http-port", "0", "--no-lease"],
      // The connect timeout (60 s) is far beyond the test's: only the abort can end start-up.
      { REDIS_PASSWORD: "not-the-password", QUANTUM_CALC_CONNECT_TIMEOUT_MS: "60000" },
    );
    try {
      const port = await until("the HTTP server", () => listeningPort(cli.output()));
      const starting = await until("/healthz naming the refusal", async () => {
        const health = await getText(port, "/healthz");
        const body = JSON.parse(health.body) as { status: string; waitingFor?: string };
        return body.waitingFor?.includes("authentication failed") === true
          ? { code: health.status, body }
          : null;
      });
      expect(starting.code).toBe(503);
      expect(starting.body.status).toBe("starting");
      expect(starting.body.waitingFor).toMatch(
        /^connecting to Redis at 127\.0\.0\.1:\d+\/0 \(last error: authentication failed: the server refused the password/,
      );
      cli.child.kill("SIGTERM");
      expect((await cli.exit).code).toBe(0);
      expect(cli.output()).toContain("stopped before the service started");
      expect(cli.output()).not.toContain("shutdown deadline passed");
      expect(cli.output()).not.toContain("not-the-password");
    } finally {
      await stop(cli);
    }
  }, 30_000);
});

describe("run: shutdown", () => {
  it("a second Ctrl-C while the drain waits for an in-flight cycle exits 130", async () => {
    // Its own server: CLIENT PAUSE holds every command of the service for a minute, among them
    // the release of the single-writer lease that ends the drain (and the lease's renewal under
    // way), so the shutdown is still under way when the second SIGINT comes.
    const server = await startTestRedis();
    const admin = redisClient(server.url);
    const cli = run(
      [
        "--redis-url",
        server.url,
        "--symbols",
        "BTCUSDT",
        "--no-follow-klines",
        "--marketstate-interval",
        "0.2",
        "--risk-interval",
        "0.2",
        "--harvest-interval",
        "0.2",
        "--command-timeout-ms",
        "60000",
        "--drain-timeout-ms",
        "60000",
      ],
      {},
    );
    try {
      const started = await until("the service to start", () =>
        logLine(cli.output(), "quantum-calc started"),
      );
      expect(started).toContain("writing as the holder of the single-writer lease");
      await admin.call("CLIENT", "PAUSE", "60000", "ALL");
      cli.child.kill("SIGINT");
      await until("the drain to begin", () =>
        logLine(cli.output(), "shutting down: finishing in-flight publishes"),
      );
      cli.child.kill("SIGINT");
      const { code } = await cli.exit;
      expect(code, cli.output()).toBe(130);
      expect(logLine(cli.output(), "second signal: exiting now")).not.toBeNull();
    } finally {
      await stop(cli);
      admin.disconnect();
      await server.close();
    }
  }, 30_000);
});
