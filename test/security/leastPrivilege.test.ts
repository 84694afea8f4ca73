// Least privilege: the whole service runs as a Redis 7 ACL user that may only read the inputs
// and write its own keys — and Redis, not just our allow-list, refuses anything else. The
// credentials never appear in any output: logs, `config print`, `status`, error messages, also
// for a wrong password and an unreachable server.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { Redis as RedisClient } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { createRedisStore } from "../../src/store/redisStore.js";
import { ACL_RULES } from "../helpers/acl.js";
import { changedKeys, redisSnapshot } from "../helpers/redisSnapshot.js";
import { repoRoot, runCli } from "../helpers/runCli.js";
import { longPosition, prices, redisClient, seedCandles, seedPosition } from "../helpers/seed.js";
import { startCli, until } from "../helpers/serviceHarness.js";

const USER = "quantum-calc";
const PASSWORD = "Qc-acl-S3cret-91e7";
const SYMBOLS = ["BTCUSDT", "ETHUSDT"];

let server: TestRedis;
let admin: Redis;

const userUrl = (password = PASSWORD, port = server.port): string =>
  `redis://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;

/** Fails when `text` contains the secret in any of the forms it could be printed in. */
function expectNoSecret(text: string, secret = PASSWORD): void {
  for (const form of new Set([secret, encodeURIComponent(secret)]))
    expect(text).not.toContain(form);
}

beforeAll(async () => {
  server = await startTestRedis();
  admin = redisClient(server.url);
  expect(await admin.call("ACL", "SETUSER", USER, `>${PASSWORD}`, ...ACL_RULES)).toBe("OK");
  for (const [i, symbol] of SYMBOLS.entries()) {
    const closes = prices("trend", 300, 100 * (i + 1), 40 + i);
    await seedCandles(admin, symbol, closes);
    await seedPosition(admin, longPosition(symbol, closes[closes.length - 1]));
  }
});
afterAll(async () => {
  admin?.disconnect();
  await server?.close();
});

describe("the service as a least-privilege ACL user", () => {
  it("run --once publishes every phase for every symbol, streams included", async () => {
    const r = runCli([
      "run",
      "--once",
      "--redis-url",
      userUrl(),
      "--symbols",
      SYMBOLS.join(","),
      "--enable-stream",
      "--log-level",
      "debug",
    ]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    for (const symbol of SYMBOLS) {
      expect(
        await admin.exists(
          `quantum:marketstate:${symbol}`,
          `quantum:risk:proposal:${symbol}`,
          `quantum:harvest:proposal:${symbol}`,
          `quantum:calc:marketstate:${symbol}`,
        ),
      ).toBe(4);
      expect(await admin.ttl(`quantum:marketstate:${symbol}`)).toBeGreaterThan(0); // EXPIRE allowed
    }
    for (const stream of [
      "quantum:stream:marketstate",
      "quantum:stream:risk.proposal",
      "quantum:stream:harvest.proposal",
    ]) {
      expect(await admin.xlen(stream), stream).toBe(SYMBOLS.length);
    }
    expectNoSecret(r.stdout + r.stderr);
  });

  it("the user in the URL, the password from REDIS_PASSWORD (as docs/operations.md deploys it)", async () => {
    const run = startCli(
      [
        "run",
        "--once",
        "--redis-url",
        `redis://${USER}:@127.0.0.1:${server.port}/0`,
        "--symbols",
        "BTCUSDT",
        "--only",
        "marketstate",
      ],
      {
        REDIS_PASSWORD: PASSWORD,
      },
    );
    expect((await run.exit).code, run.output()).toBe(0);
    expectNoSecret(run.output());
  });

  it("docs/operations.md gives exactly these ACL rules", () => {
    const doc = readFileSync(join(repoRoot, "docs", "operations.md"), "utf8");
    const line = /^ACL SETUSER quantum-calc on >CHANGE-ME (.*)$/m.exec(doc);
    expect(line, "the ACL SETUSER line in docs/operations.md").not.toBeNull();
    expect(["on", ...line![1].trim().split(/\s+/)]).toEqual(ACL_RULES);
  });

  it("run --once in another database than 0 (SELECT allowed)", async () => {
    const db3 = new RedisClient({
      port: server.port,
      host: "127.0.0.1",
      db: 3,
      maxRetriesPerRequest: 1,
    });
    try {
      const closes = prices("chop", 300, 10, 77);
      await seedCandles(db3, "DBUSDT", closes);
      const r = runCli([
        "run",
        "--once",
        "--redis-url",
        `${userUrl()}/3`,
        "--symbols",
        "DBUSDT",
        "--only",
        "marketstate",
      ]);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(await db3.exists("quantum:marketstate:DBUSDT")).toBe(1);
      expect(await admin.exists("quantum:marketstate:DBUSDT")).toBe(0);
    } finally {
      db3.disconnect();
    }
  });

  it("run (long-running) works as the user, is named in CLIENT LIST, and exits 0 on SIGTERM", async () => {
    await admin.hset("quantum:harvest:proposal:BTCUSDT", "last_update_epoch", "1");
    const run = startCli([
      "run",
      "--redis-url",
      userUrl(),
      "--symbols",
      SYMBOLS.join(","),
      "--marketstate-interval",
      "0.5",
      "--risk-interval",
      "0.2",
      "--harvest-interval",
      "0.2",
      "--log-level",
      "debug",
    ]);
    try {
      // a heartbeat (or publish) of the harvest hash proves reads and writes work
      await until(
        "a harvest write by the ACL user",
        async () =>
          (await admin.hget("quantum:harvest:proposal:BTCUSDT", "last_update_epoch")) !== "1",
        15_000,
      );
      const list = (await admin.call("CLIENT", "LIST")) as string;
      expect(
        list
          .split("\n")
          .some((line) => / name=quantum-calc /.test(line) && / user=quantum-calc /.test(line)),
      ).toBe(true);
      run.child.kill("SIGTERM");
      const { code } = await run.exit;
      expect(code, run.output()).toBe(0);
      expect(run.output()).not.toMatch(/NOPERM/);
      expectNoSecret(run.output());
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
    }
  });

  it("Redis itself refuses the user anything outside its keys and commands", async () => {
    const user = new RedisClient({
      port: server.port,
      host: "127.0.0.1",
      username: USER,
      password: PASSWORD,
      maxRetriesPerRequest: 0,
    });
    try {
      // what the service needs
      expect(await user.ping()).toBe("PONG");
      expect(await user.call("CLIENT", "SETNAME", "quantum-calc")).toBe("OK");
      expect(await user.type("candles:BTCUSDT:1m")).toBe("zset");
      expect(await user.type("klines:BTCUSDT:1m")).toBe("none");
      expect(
        Object.keys(await user.hgetall("quantum:state:positions:BTCUSDT")).length,
      ).toBeGreaterThan(0);
      expect(await user.xrevrange("quantum:stream:execution.result", "+", "-", "COUNT", 1)).toEqual(
        [],
      );
      const tx = await user
        .multi()
        .hset("quantum:calc:probe", "x", "1")
        .expire("quantum:calc:probe", 10)
        .xadd("quantum:stream:marketstate", "MAXLEN", "~", 10, "*", "symbol", "PROBE")
        .exec();
      expect(tx!.every(([error]) => error === null)).toBe(true);
      // Gone now, not when its EXPIRE fires: a later test of this file compares snapshots of the
      // keys, and on a loaded machine the expiry could land in the middle of one.
      expect(await user.del("quantum:calc:probe")).toBe(1);

      // the candle reads' read-only script (issue 20): EVALSHA_RO/EVAL_RO on a read-only key
      const store = createRedisStore({
        url: `redis://${USER}:${PASSWORD}@127.0.0.1:${server.port}`,
      });
      try {
        await store.waitReady(5000);
        const bounded = await store.zrangeFromScoreWithin("candles:BTCUSDT:1m", 0, 1, 1 << 30);
        expect(bounded.bytes).toBeGreaterThan(0);
        expect(bounded.members).toHaveLength(1);
      } finally {
        await store.close();
      }

      // what it must never do
      const refused: Array<[string, () => Promise<unknown>]> = [
        ["HSET a position", () => user.hset("quantum:state:positions:BTCUSDT", "side", "SHORT")],
        ["DEL a position", () => user.del("quantum:state:positions:BTCUSDT")],
        ["ZADD a candle", () => user.zadd("candles:BTCUSDT:1m", 1, '{"close":1}')],
        [
          "XADD to the execution stream",
          () => user.xadd("quantum:stream:execution.result", "*", "event_type", "POSITION_CLOSED"),
        ],
        ["HSET an order key", () => user.hset("quantum:orders:BTCUSDT", "qty", "1")],
        ["SET outside quantum:", () => user.set("anything", "1")],
        ["INFO", () => user.info()],
        ["KEYS", () => user.keys("*")],
        ["FLUSHALL", () => user.flushall()],
        ["CONFIG GET", () => user.config("GET", "requirepass")],
        ["CLIENT LIST", () => user.call("CLIENT", "LIST")],
        ["CLIENT KILL", () => user.call("CLIENT", "KILL", "ID", "1")],
        ["ACL SETUSER", () => user.call("ACL", "SETUSER", USER, "+@all")],
        ["PUBLISH", () => user.publish("quantum:events", "x")],
        // EVAL_RO grants no command or key the user lacks: a script's commands are checked too.
        ["EVAL (not read-only)", () => user.eval("return 1", 0)],
        ["SCRIPT FLUSH", () => user.script("FLUSH")],
        ["FUNCTION FLUSH", () => user.call("FUNCTION", "FLUSH")],
      ];
      for (const [what, attempt] of refused) {
        await expect(attempt(), what).rejects.toThrow(/NOPERM/);
      }
      // A read-only script refuses every write, even to our own keys; and a command the user may not
      // run is refused inside a script as outside.
      const writesFromScripts: Array<[string, () => Promise<unknown>]> = [
        [
          "HSET our own hash from a script",
          () => user.eval_ro("return redis.call('HSET', 'quantum:calc:probe', 'x', '1')", 0),
        ],
        ["FLUSHALL from a script", () => user.eval_ro("return redis.call('FLUSHALL')", 0)],
      ];
      for (const [what, attempt] of writesFromScripts) {
        await expect(attempt(), what).rejects.toThrow(
          /Write commands are not allowed from read-only scripts|The user executing the script can't run this command/,
        );
      }
      expect(await admin.exists("quantum:calc:probe")).toBe(0);
      expect(await admin.hget("quantum:state:positions:BTCUSDT", "side")).toBe("LONG");
    } finally {
      user.disconnect();
    }
  });
});

describe("credentials never appear in output", () => {
  it("config print (URL password, REDIS_PASSWORD, --origins) masks them", () => {
    const outputs = [
      runCli(["config", "print", "--redis-url", userUrl()]),
      runCli(
        ["config", "print", "--origins", "--redis-url", `redis://${USER}@127.0.0.1:${server.port}`],
        undefined,
      ),
    ];
    for (const r of outputs) {
      expect(r.status).toBe(0);
      expectNoSecret(r.stdout + r.stderr);
    }
    expect(outputs[0].stdout).toContain(`redis://${USER}:***@127.0.0.1:${server.port}`);
  });

  it('a password with a raw "@" (accepted by the URL parser) is masked whole, in config print and status', () => {
    const secret = "p@ss-Tail-Secret";
    const url = `redis://${USER}:${secret}@127.0.0.1:1/0`;
    const print = runCli(["config", "print", "--redis-url", url]);
    expect(print.status).toBe(0);
    expect(print.stdout).toContain(`redis://${USER}:***@127.0.0.1:1/0`);
    const status = runCli(["status", "--redis-url", url, "--symbols", "BTCUSDT"]);
    expect(status.status).toBe(1);
    for (const r of [print, status]) {
      expect(r.stdout + r.stderr).not.toContain("Tail-Secret");
      expectNoSecret(r.stdout + r.stderr, secret);
    }
  });

  it("status (table and JSON) as the ACL user", () => {
    for (const json of [[], ["--json"]]) {
      const r = runCli([
        "status",
        "--redis-url",
        userUrl(),
        "--symbols",
        SYMBOLS.join(","),
        ...json,
      ]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain("BTCUSDT");
      expectNoSecret(r.stdout + r.stderr);
    }
  });

  it("a wrong password: run --once and status fail (exit 1) without showing either password, and run nothing", async () => {
    const wrong = "Wrong-Pw-0b5c";
    // This server's default user needs no password: a command sent before AUTH's refusal arrived
    // would run as `default`, with every right. None may: the store opens only after AUTH answered.
    const before = await redisSnapshot(admin);
    const once = runCli([
      "run",
      "--once",
      "--redis-url",
      userUrl(wrong),
      "--symbols",
      "BTCUSDT",
      "--log-level",
      "debug",
    ]);
    expect(once.status).toBe(1);
    expect(once.stderr).toMatch(/WRONGPASS/);
    expect(changedKeys(before, await redisSnapshot(admin))).toEqual([]);
    const status = runCli(["status", "--redis-url", userUrl(wrong), "--symbols", "BTCUSDT"]);
    expect(status.status).toBe(1);
    for (const r of [once, status]) {
      expectNoSecret(r.stdout + r.stderr, wrong);
      expectNoSecret(r.stdout + r.stderr);
    }
  });

  it("an unreachable server: run --once, run and status fail without showing the password", async () => {
    const port = await freePort();
    const fast = { QUANTUM_CALC_CONNECT_TIMEOUT_MS: "1000" };
    const once = startCli(
      ["run", "--once", "--redis-url", userUrl(PASSWORD, port), "--log-level", "debug"],
      fast,
    );
    const status = startCli(
      ["status", "--redis-url", userUrl(PASSWORD, port), "--symbols", "BTCUSDT"],
      fast,
    );
    expect((await once.exit).code).toBe(1);
    expect(once.output()).toContain(`127.0.0.1:${port}`);
    expect((await status.exit).code).toBe(1);
    const run = startCli(
      [
        "run",
        "--redis-url",
        userUrl(PASSWORD, port),
        "--symbols",
        "BTCUSDT",
        "--log-level",
        "debug",
      ],
      { ...fast, REDIS_PASSWORD: PASSWORD },
    );
    try {
      // Started (it first waits up to connectTimeoutMs for Redis), standing by: the lease cannot
      // be asked for, and its retries are logged without the password too.
      await until(
        "the service to start and stand by",
        () =>
          /quantum-calc started/.test(run.output()) &&
          /single-writer lease: Redis could not be asked/.test(run.output()),
        15_000,
      );
      run.child.kill("SIGTERM");
      expect((await run.exit).code).toBe(0);
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
    }
    for (const text of [once.output(), status.output(), run.output()]) expectNoSecret(text);
  });
});
