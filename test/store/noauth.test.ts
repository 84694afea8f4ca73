// A Redis that requires a password, met without one (or with a wrong one): the store must never
// announce 'ready', must say "authentication failed" and what to set, and waitReady must reject
// within its timeout — before the fix the handshake sent no AUTH, opened the gate, logged
// "redis ready", and `run --once` then hung on NOAUTH for ever. The password never shows.
import { existsSync } from "node:fs";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createRedisStore,
  type RedisStore,
  type RedisStoreEvent,
  type RedisStoreOptions,
} from "../../src/store/redisStore.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { cliPath } from "../helpers/runCli.js";
import { startCli } from "../helpers/serviceHarness.js";

const PASSWORD = "N0auth-S3cret/p@ss";
const WRONG = "Wr0ng-S3cret/p@ss";

let server: TestRedis;
let admin: Redis;

beforeAll(async () => {
  server = await startTestRedis(["--requirepass", PASSWORD]);
  admin = new Redis({
    host: "127.0.0.1",
    port: server.port,
    password: PASSWORD,
    maxRetriesPerRequest: 1,
  });
  // An ACL user that may do everything but PING, the handshake's check.
  expect(
    await admin.call("ACL", "SETUSER", "noping", "on", ">noping-pw", "~*", "&*", "+@all", "-ping"),
  ).toBe("OK");
});
afterAll(async () => {
  admin?.disconnect();
  await server?.close();
});

const plainUrl = (db = 0): string => `redis://127.0.0.1:${server.port}/${db}`;
const urlWith = (password: string, user = ""): string =>
  `redis://${user}:${encodeURIComponent(password)}@127.0.0.1:${server.port}/0`;

interface Attempt {
  error: Error | null;
  elapsedMs: number;
  events: RedisStoreEvent[];
  store: RedisStore;
}

/** Creates a store, waits for it up to `timeoutMs`, closes it; what happened. */
async function attempt(
  options: Omit<RedisStoreOptions, "onEvent">,
  timeoutMs: number,
): Promise<Attempt> {
  const events: RedisStoreEvent[] = [];
  const store = createRedisStore({
    reconnectBaseMs: 20,
    reconnectCapMs: 50,
    ...options,
    onEvent: (e) => events.push(e),
  });
  const started = Date.now();
  const error = await store.waitReady(timeoutMs).then(
    () => null,
    (e: unknown) => e as Error,
  );
  const elapsedMs = Date.now() - started;
  return { error, elapsedMs, events, store };
}

function expectNoSecret(text: string, ...secrets: string[]): void {
  for (const secret of secrets) {
    expect(text).not.toContain(secret);
    expect(text).not.toContain(encodeURIComponent(secret));
  }
}

const NOAUTH_MESSAGE =
  "authentication failed: the server requires a password (NOAUTH) — set redisPassword / REDIS_PASSWORD";

describe("RedisStore against a server that requires a password", () => {
  it("no password, reconnecting: waitReady rejects within its timeout saying authentication failed; never ready", async () => {
    const timeoutMs = 800;
    const a = await attempt({ url: plainUrl() }, timeoutMs);
    try {
      expect(a.error?.message).toBe(
        `redis 127.0.0.1:${server.port}/0 not ready after ${timeoutMs} ms (status ${statusIn(a.error)}; last error: ${NOAUTH_MESSAGE})`,
      );
      expect(statusIn(a.error)).not.toBe("ready");
      expect(a.elapsedMs).toBeLessThan(timeoutMs + 1000);
      expect(a.events.map((e) => e.type)).not.toContain("ready");
      // It keeps retrying with the capped backoff, and each refusal is reported.
      expect(
        a.events.filter((e) => e.type === "error" && e.message === NOAUTH_MESSAGE).length,
      ).toBeGreaterThanOrEqual(2);
      expect(a.store.status()).not.toBe("ready");
      // The gate stayed closed: a command fails at once as "not connected", not with NOAUTH.
      await expect(a.store.ping()).rejects.toThrow(/not connected/);
    } finally {
      await a.store.close();
    }
  });

  it("no password, reconnect: false: waitReady rejects as soon as the store ends, saying authentication failed", async () => {
    const a = await attempt({ url: plainUrl(), reconnect: false }, 20_000);
    await a.store.close();
    expect(a.error?.message).toBe(
      `redis 127.0.0.1:${server.port}/0: connection closed and not reconnecting (last error: ${NOAUTH_MESSAGE})`,
    );
    expect(a.elapsedMs).toBeLessThan(5000);
    expect(a.store.status()).toBe("end");
    expect(a.events.map((e) => e.type)).not.toContain("ready");
    expect(a.events.map((e) => e.type)).toContain("end");
  });

  it("no password with a db number: the refused SELECT is an authentication failure too", async () => {
    const a = await attempt({ url: plainUrl(3), reconnect: false }, 20_000);
    await a.store.close();
    expect(a.error?.message).toContain(NOAUTH_MESSAGE);
    expect(a.events.map((e) => e.type)).not.toContain("ready");
  });

  it("wrong password (URL or option, reconnecting or not): authentication failed, the password never shown", async () => {
    const cases: Array<Omit<RedisStoreOptions, "onEvent">> = [
      { url: urlWith(WRONG) },
      { url: urlWith(WRONG), reconnect: false },
      { url: plainUrl(), password: WRONG, reconnect: false },
      { url: urlWith(PASSWORD), password: WRONG, reconnect: false },
    ];
    for (const options of cases) {
      const a = await attempt(options, 800);
      await a.store.close();
      const shown = JSON.stringify(options.url);
      expect(a.error?.message, shown).toMatch(
        /authentication failed: the server refused the password for the default user \(WRONGPASS .*\) — check redisPassword \/ REDIS_PASSWORD/,
      );
      // Bounded by the wait, with room for a loaded machine (the point: no retry loop past it).
      expect(a.elapsedMs, shown).toBeLessThan(800 + 4000);
      expect(
        a.events.map((e) => e.type),
        shown,
      ).not.toContain("ready");
      expectNoSecret(a.error?.message ?? "", WRONG, PASSWORD);
      expectNoSecret(JSON.stringify(a.events), WRONG, PASSWORD);
    }
  });

  it("an unknown ACL user: authentication failed naming the user, not the password", async () => {
    const a = await attempt({ url: urlWith(WRONG, "nobody"), reconnect: false }, 5000);
    await a.store.close();
    expect(a.error?.message).toMatch(
      /authentication failed: the server refused the password for user nobody \(WRONGPASS/,
    );
    expectNoSecret(a.error?.message ?? "", WRONG);
  });

  it("a user not allowed PING (NOPERM) is reported as an authentication failure, never ready", async () => {
    const a = await attempt({ url: urlWith("noping-pw", "noping"), reconnect: false }, 5000);
    await a.store.close();
    expect(a.error?.message).toMatch(
      /authentication failed: user noping is not allowed to run PING \(NOPERM .*\) — check the user's ACL/,
    );
    expect(a.events.map((e) => e.type)).not.toContain("ready");
    expectNoSecret(a.error?.message ?? "", "noping-pw");
  });

  it("the right password (URL or option): ready, once, and commands work", async () => {
    for (const options of [
      { url: urlWith(PASSWORD) },
      { url: plainUrl(), password: PASSWORD },
      { url: urlWith(WRONG), password: PASSWORD },
    ]) {
      const a = await attempt(options, 5000);
      try {
        expect(a.error).toBeNull();
        expect(a.store.status()).toBe("ready");
        expect(a.events.filter((e) => e.type === "ready")).toHaveLength(1);
        await a.store.ping();
        expect(await a.store.deleteOwn(["quantum:calc:noauth"])).toBe(0);
      } finally {
        await a.store.close();
      }
    }
  });
});

describe("quantum-calc run --once against a server that requires a password", () => {
  /** Runs the built CLI, bounded: kills it (the child we started) if it has not exited in `limitMs`. */
  async function runOnce(args: string[], env: Record<string, string>, limitMs = 20_000) {
    if (!existsSync(cliPath)) throw new Error(`${cliPath} not found: run \`npm run build\` first`);
    const started = Date.now();
    const run = startCli(
      ["run", "--once", ...args],
      { QUANTUM_CALC_CONNECT_TIMEOUT_MS: "1500", ...env },
      { cleanEnv: true },
    );
    let stderr = "";
    run.child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<"hung">((resolve) => {
      timer = setTimeout(() => resolve("hung"), limitMs);
    });
    const outcome = await Promise.race([run.exit, limit]);
    clearTimeout(timer);
    if (outcome === "hung") {
      run.child.kill("SIGKILL");
      await run.exit;
      throw new Error(`run --once still running after ${limitMs} ms:\n${run.output()}`);
    }
    return { code: outcome.code, stderr, output: run.output(), elapsedMs: Date.now() - started };
  }

  it('without a password: exits 1 within a few seconds, "authentication" on stderr, never "redis ready"', async () => {
    const r = await runOnce(["--redis-url", plainUrl(), "--symbols", "BTCUSDT"], {});
    expect(r.code, r.output).toBe(1);
    expect(r.stderr).toContain("authentication failed");
    expect(r.stderr).toContain("REDIS_PASSWORD");
    expect(r.output).not.toContain("redis ready");
    expect(r.elapsedMs).toBeLessThan(10_000);
  });

  it('with a wrong REDIS_PASSWORD: exits 1, "authentication" on stderr, the password never printed', async () => {
    const r = await runOnce(["--redis-url", plainUrl(), "--symbols", "BTCUSDT"], {
      REDIS_PASSWORD: WRONG,
    });
    expect(r.code, r.output).toBe(1);
    expect(r.stderr).toContain("authentication failed");
    expect(r.output).not.toContain("redis ready");
    expectNoSecret(r.output, WRONG);
  });
});

/** The status word inside a "not ready" message (connect or reconnecting, depending on timing). */
function statusIn(error: Error | null): string {
  return /\(status (\w+);/.exec(error?.message ?? "")?.[1] ?? "?";
}
