// The long-running service as an operator runs it: a child process of the built CLI against a
// real redis-server that goes away and comes back empty. It must keep retrying, publish again
// once Redis is back, and exit 0 on SIGTERM.
import { spawn } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { startCli, until } from "../helpers/serviceHarness.js";
import type { Redis } from "ioredis";
import type { TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { longPosition, prices, seedCandles, seedPosition } from "../helpers/seed.js";
import { cliPath, repoRoot } from "../helpers/runCli.js";

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;
beforeAll(() => {
  ({ server, redis } = fixture);
});

async function seed(): Promise<void> {
  const closes = prices("trend", 300, 100);
  await seedCandles(redis, "BTCUSDT", closes);
  await seedPosition(redis, longPosition("BTCUSDT", closes[closes.length - 1]));
}

function startRun(args: string[], env: Record<string, string> = {}) {
  return startCli(["run", ...args], env);
}

describe("quantum-calc run (long-running)", () => {
  it("survives Redis going away and coming back empty, then exits 0 on SIGTERM", async () => {
    await seed();
    const run = startRun([
      "--redis-url",
      server.url,
      "--symbols",
      "BTCUSDT",
      "--marketstate-interval",
      "0.3",
      "--risk-interval",
      "0.3",
      "--harvest-interval",
      "0.3",
      "--max-publish-age",
      "1",
    ]);
    try {
      await until(
        "first harvest publish",
        async () =>
          (await redis.hget("quantum:harvest:proposal:BTCUSDT", "computed_at_utc")) !== null,
      );
      // ordinary log lines are JSON (journald-friendly)
      const firstLine = run.output().split("\n")[0];
      expect(JSON.parse(firstLine)).toMatchObject({ service: "quantum-calc" });

      await server.stop();
      await until("the outage to be logged", () =>
        /reconnecting|failed; backing off/.test(run.output()),
      );
      expect(run.child.exitCode).toBeNull();

      await server.start(); // comes back empty
      await seed();
      await until(
        "a publish after the outage",
        async () =>
          (await redis.hget("quantum:harvest:proposal:BTCUSDT", "computed_at_utc")) !== null,
        30_000,
      );
      expect(await redis.exists("quantum:marketstate:BTCUSDT")).toBe(1);
      expect(run.child.exitCode).toBeNull();

      run.child.kill("SIGTERM");
      const started = Date.now();
      const { code } = await run.exit;
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(run.output()).toContain("shutting down");
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
    }
  });

  it("exits 0 on SIGTERM while still waiting for the first connection", async () => {
    const { freePort } = await import("../helpers/redisServer.js");
    const run = startRun(
      ["--redis-url", `redis://127.0.0.1:${await freePort()}`, "--symbols", "BTCUSDT"],
      { QUANTUM_CALC_CONNECT_TIMEOUT_MS: "20000" },
    );
    try {
      await until("the first connection error", () =>
        run.output().includes("redis connection error"),
      );
      run.child.kill("SIGTERM");
      const { code, signal } = await run.exit;
      expect(signal).toBeNull();
      expect(code).toBe(0);
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
    }
  });

  it("never logs the password", async () => {
    const run = startRun([
      "--redis-url",
      `redis://:pw-should-not-leak@127.0.0.1:${server.port}`,
      "--symbols",
      "BTCUSDT",
      "--log-level",
      "debug",
    ]);
    try {
      await until("some log output", () => run.output().includes("redis"));
      run.child.kill("SIGTERM");
      await run.exit;
      expect(run.output()).not.toContain("pw-should-not-leak");
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
    }
  });
});

describe("quantum-calc demo", () => {
  it("shows proposals for the three demo symbols within seconds, no Redis needed", async () => {
    const child = spawn(
      process.execPath,
      [cliPath, "demo", "--candle-ms", "200", "--duration-sec", "3"],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((resolve) =>
      child.once("exit", (c) => resolve(c)),
    );
    expect(code).toBe(0);
    for (const symbol of ["BTCUSDT", "ETHUSDT", "SOLUSDT"]) {
      for (const phase of ["marketstate", "risk", "harvest"]) {
        expect(out).toMatch(new RegExp(`${phase}\\s+${symbol}\\s+\\S`));
      }
    }
    expect(out).toMatch(
      /harvest\s+\w+\s+(NONE|PARTIAL_\d+|FULL_CLOSE_PROPOSED) R=-?\d+(\.\d+)? K=0(\.\d+)? SL=/,
    );
    // proposals change over time: more than one distinct marketstate line per symbol
    const btc = out
      .split("\n")
      .filter((l) => /marketstate\s+BTCUSDT/.test(l))
      .map((l) => l.slice(10));
    expect(new Set(btc).size).toBeGreaterThan(1);
  });
});
