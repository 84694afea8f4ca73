// Redis-only behaviour: URL handling, readiness, secrecy of the password, surviving a restart,
// failing fast while disconnected, and the transaction discipline of publish().
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { marketStateKey, riskProposalKey } from "../../src/store/keyGuard.js";
import {
  createRedisStore,
  parseRedisUrl,
  reconnectDelayMs,
  redactRedisUrl,
  type RedisStore,
  type RedisStoreEvent,
} from "../../src/store/redisStore.js";
import { redactRedisUrl as sharedRedact, redisTarget } from "../../src/store/redisUrl.js";
import { maskUrl } from "../../src/config/load.js";
import { freePort, startTestRedis, type TestRedis } from "../helpers/redisServer.js";

const PASSWORD = "s3cr3t-p@ss/word";

describe("parseRedisUrl / redactRedisUrl", () => {
  it("parses host, port, db, TLS and ACL credentials", () => {
    expect(parseRedisUrl("redis://127.0.0.1:6390/2")).toEqual({
      host: "127.0.0.1",
      port: 6390,
      db: 2,
      tls: false,
    });
    expect(parseRedisUrl("rediss://calc:pw@redis.internal")).toEqual({
      host: "redis.internal",
      port: 6379,
      db: 0,
      tls: true,
      username: "calc",
      password: "pw",
    });
    expect(parseRedisUrl("redis://:pw@h:1/")).toEqual({
      host: "h",
      port: 1,
      db: 0,
      tls: false,
      password: "pw",
    });
    expect(parseRedisUrl("redis://pw@h")).toEqual({
      host: "h",
      port: 6379,
      db: 0,
      tls: false,
      password: "pw",
    });
    expect(parseRedisUrl("redis://u:p%40ss@[::1]:7000/3")).toEqual({
      host: "::1",
      port: 7000,
      db: 3,
      tls: false,
      username: "u",
      password: "p@ss",
    });
  });

  it("refuses bad URLs without showing the password", () => {
    expect(() => parseRedisUrl("http://u:hunter2@h")).toThrow(/scheme/);
    expect(() => parseRedisUrl("http://u:hunter2@h")).not.toThrow(/hunter2/);
    expect(() => parseRedisUrl("redis://u:hunter2@h/abc")).toThrow(/database number/);
    expect(() => parseRedisUrl("redis://u:hunter2@h/abc")).not.toThrow(/hunter2/);
    expect(() => parseRedisUrl("not a url hunter2")).toThrow(/invalid Redis URL/);
  });

  it("redacts every password form", () => {
    expect(redactRedisUrl("redis://u:hunter2@h:1/0")).toBe("redis://u:***@h:1/0");
    expect(redactRedisUrl("redis://:hunter2@h")).toBe("redis://:***@h");
    expect(redactRedisUrl("redis://hunter2@h")).toBe("redis://:***@h");
    expect(redactRedisUrl("redis://u:hun@ter/2@h")).toBe("redis://u:***@h");
    expect(redactRedisUrl("redis://h:1")).toBe("redis://h:1");
  });

  it("is one redaction: the store's, and config's maskUrl, which shows a bare secret as ***", () => {
    expect(redactRedisUrl).toBe(sharedRedact);
    for (const url of [
      "redis://u:hunter2@h:1/0",
      "rediss://:hunter2@h",
      "redis://u:hun@ter/2@h",
      "redis://h:1",
      "rediss://u:a:b@h/2",
    ]) {
      expect(maskUrl(url)).toBe(redactRedisUrl(url));
    }
    expect(maskUrl("redis://hunter2@h")).toBe("redis://***@h");
    expect(redactRedisUrl("redis://hunter2@h", { bareSecret: "***" })).toBe("redis://***@h");
    expect(redisTarget({ host: "::1", port: 7000, db: 3 })).toBe("[::1]:7000/3");
    expect(redisTarget(parseRedisUrl("redis://u:pw@10.0.0.5:6380/2"))).toBe("10.0.0.5:6380/2");
  });

  it("reconnect delay doubles from the base up to the cap", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 100].map((n) => reconnectDelayMs(n, 100, 5000))).toEqual([
      100, 200, 400, 800, 1600, 3200, 5000, 5000,
    ]);
  });
});

describe("createRedisStore against a real server", () => {
  let server: TestRedis;
  let raw: Redis;

  beforeAll(async () => {
    server = await startTestRedis(["--requirepass", PASSWORD]);
    raw = new Redis({
      port: server.port,
      host: "127.0.0.1",
      password: PASSWORD,
      maxRetriesPerRequest: 1,
    });
  });
  afterAll(async () => {
    raw.disconnect();
    await server.close();
  });

  const urlWithPassword = (): string =>
    `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}/0`;

  it("connects with the URL password, and the password option overrides it", async () => {
    const fromUrl = createRedisStore({ url: urlWithPassword() });
    await fromUrl.waitReady(5000);
    expect(fromUrl.status()).toBe("ready");
    expect(fromUrl.target).toBe(`127.0.0.1:${server.port}/0`);
    await fromUrl.close();

    const fromFile = createRedisStore({
      url: `redis://:wrong@127.0.0.1:${server.port}`,
      password: PASSWORD,
    });
    await fromFile.waitReady(5000);
    await fromFile.ping();
    await fromFile.close();
    expect(fromFile.status()).toBe("end");
  });

  it("uses the db number of the URL", async () => {
    const store = createRedisStore({
      url: `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}/5`,
    });
    await store.waitReady(5000);
    await store.publish({
      hashes: [{ key: marketStateKey("DBTEST"), fields: { sigma: "1" } }],
      streams: [],
    });
    await raw.select(5);
    expect(await raw.hgetall(marketStateKey("DBTEST"))).toEqual({ sigma: "1" });
    await raw.select(0);
    expect(await raw.exists(marketStateKey("DBTEST"))).toBe(0);
    await store.close();
  });

  it("waitReady rejects with a wrong password, naming host:port but never the password", async () => {
    const store = createRedisStore({
      url: `redis://:not-${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}`,
      reconnectBaseMs: 20,
      reconnectCapMs: 50,
    });
    const error = await store.waitReady(500).then(
      () => null,
      (e: unknown) => e as Error,
    );
    await store.close();
    expect(error?.message).toMatch(
      new RegExp(`127\\.0\\.0\\.1:${server.port}.*not ready after 500 ms`),
    );
    expect(error?.message).toMatch(/WRONGPASS|NOAUTH|invalid/);
    expect(error?.message).not.toContain(PASSWORD);
  });

  it("waitReady rejects in bounded time against a closed port, without the password", async () => {
    const port = await freePort();
    const events: RedisStoreEvent[] = [];
    const store = createRedisStore({
      url: `redis://calc:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`,
      reconnectBaseMs: 20,
      reconnectCapMs: 100,
      onEvent: (e) => events.push(e),
    });
    const error = await store.waitReady(300).then(
      () => null,
      (e: unknown) => e as Error,
    );
    await store.close();
    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toContain(`127.0.0.1:${port}`);
    expect(error?.message).toMatch(/ECONNREFUSED/);
    expect(error?.message).not.toContain(PASSWORD);
    expect(events.some((e) => e.type === "reconnecting" && typeof e.delayMs === "number")).toBe(
      true,
    );
    expect(JSON.stringify(events)).not.toContain(PASSWORD);
  });

  it("with reconnect: false, waitReady ends as soon as the connection is given up", async () => {
    const port = await freePort();
    const store = createRedisStore({ url: `redis://127.0.0.1:${port}`, reconnect: false });
    await expect(store.waitReady(20_000)).rejects.toThrow(/connection closed and not reconnecting/);
    expect(store.status()).toBe("end");
  });

  it("xreadAfter refuses a block as long as the command timeout, naming both, before sending anything", async () => {
    const store = createRedisStore({ url: urlWithPassword(), commandTimeoutMs: 1000 });
    await store.waitReady(5000);
    for (const blockMs of [1000, 1500]) {
      await expect(store.xreadAfter("quantum:calc:reads", "0", 10, blockMs)).rejects.toThrow(
        new RegExp(`blockMs ${blockMs} must be below the command timeout, commandTimeoutMs 1000`),
      );
    }
    // Just below it is a normal blocking read: [] on an idle stream, the connection still usable.
    expect(await store.xreadAfter("quantum:calc:reads", "0", 10, 100)).toEqual([]);
    await store.ping();
    expect(store.status()).toBe("ready");
    await store.close();
  });

  it("checks every EXEC reply: a command failing at run time rejects the publish", async () => {
    // A stream whose last id is the largest possible one: XADD * fails inside EXEC, after the
    // type pre-check passed, while Redis still applies the HSET of the same transaction.
    await raw.xadd(
      "quantum:stream:marketstate",
      "18446744073709551615-18446744073709551615",
      "f",
      "v",
    );
    const store = createRedisStore({ url: urlWithPassword() });
    await store.waitReady(5000);
    await expect(
      store.publish({
        hashes: [{ key: marketStateKey("EXEC"), fields: { sigma: "1" } }],
        streams: [{ key: "quantum:stream:marketstate", fields: { symbol: "EXEC" }, maxLen: 10 }],
      }),
    ).rejects.toThrow(
      /publish of quantum:marketstate:EXEC, quantum:stream:marketstate partly failed .*1 of 2 commands failed: ERR/,
    );
    await store.close();
    await raw.del("quantum:stream:marketstate", marketStateKey("EXEC"));
  });

  it("zrangeFromScoreWithin is one script (EVALSHA_RO), answered again by EVAL_RO after SCRIPT FLUSH; above the bound no ZRANGEBYSCORE runs", async () => {
    const calls = async (): Promise<Record<string, number>> => {
      const counts: Record<string, number> = {};
      for (const m of (await raw.info("commandstats")).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
        counts[m[1]] = Number(m[2]);
      return counts;
    };
    const delta = (a: Record<string, number>, b: Record<string, number>, name: string): number =>
      (b[name] ?? 0) - (a[name] ?? 0);
    await raw.zadd("candles:SCRIPT", 1, "a", 2, "b");
    const store = createRedisStore({ url: urlWithPassword() });
    await store.waitReady(5000);
    const want = {
      bytes: await raw.memory("USAGE", "candles:SCRIPT", "SAMPLES", 0),
      members: [{ member: "b", score: 2 }],
    };
    // The first call on a connection sends EVALSHA_RO, and the script itself (EVAL_RO) on NOSCRIPT.
    expect(await store.zrangeFromScoreWithin("candles:SCRIPT", 2, 10, 1_000_000)).toEqual(want);
    const before = await calls();
    expect(await store.zrangeFromScoreWithin("candles:SCRIPT", 2, 10, 1_000_000)).toEqual(want);
    let after = await calls();
    expect(delta(before, after, "evalsha_ro")).toBe(1);
    expect(delta(before, after, "eval_ro")).toBe(0);
    expect(delta(before, after, "memory|usage")).toBe(1);
    expect(delta(before, after, "zrangebyscore")).toBe(1);

    // A server that forgot its scripts (a restart, a failover to a replica): NOSCRIPT, then EVAL —
    // nothing ran on the NOSCRIPT, so the resend reads once.
    await raw.script("FLUSH");
    const flushed = await calls();
    expect(await store.zrangeFromScoreWithin("candles:SCRIPT", 2, 10, 1_000_000)).toEqual(want);
    after = await calls();
    expect(delta(flushed, after, "evalsha_ro")).toBe(1);
    expect(delta(flushed, after, "eval_ro")).toBe(1);
    expect(delta(flushed, after, "zrangebyscore")).toBe(1);

    // Above the bound: the size only; the members are never asked for.
    const small = await calls();
    expect(await store.zrangeFromScoreWithin("candles:SCRIPT", 2, 10, 1)).toEqual({
      bytes: want.bytes,
      members: null,
    });
    after = await calls();
    expect(delta(small, after, "memory|usage")).toBe(1);
    expect(delta(small, after, "zrangebyscore")).toBe(0);
    await store.close();
    await raw.del("candles:SCRIPT");
  });

  it("zrangeFromScoreWithin as a user without EVAL_RO/EVALSHA_RO (an ACL not yet changed): the two calls, from then on", async () => {
    await raw.call(
      "ACL",
      "SETUSER",
      "noscript",
      "on",
      ">ns-pw",
      "~*",
      "+@all",
      "-evalsha_ro",
      "-eval_ro",
    );
    await raw.zadd("candles:NOSCRIPT", 1, "a", 2, "b");
    const store = createRedisStore({ url: `redis://noscript:ns-pw@127.0.0.1:${server.port}` });
    const degraded: string[] = [];
    store.onConnectionEvent((e) => {
      if (e.type === "degraded") degraded.push(e.message ?? "");
    });
    await store.waitReady(5000);
    const bytes = await raw.memory("USAGE", "candles:NOSCRIPT", "SAMPLES", 0);
    for (let i = 0; i < 2; i++) {
      expect(await store.zrangeFromScoreWithin("candles:NOSCRIPT", 2, 10, 1_000_000)).toEqual({
        bytes,
        members: [{ member: "b", score: 2 }],
      });
      expect(await store.zrangeFromScoreWithin("candles:NOSCRIPT", 2, 10, 1)).toEqual({
        bytes,
        members: null,
      });
    }
    // Not silent: the switch is reported once, naming the refusal and the ACL fix.
    expect(degraded).toHaveLength(1);
    expect(degraded[0]).toMatch(/two calls.*NOPERM.*\+eval_ro \+evalsha_ro/);
    // A refusal of the key (not of the script) is not taken for one: it stays an error.
    await raw.hset("candles:NOSCRIPT:h", "a", "1");
    await expect(
      store.zrangeFromScoreWithin("candles:NOSCRIPT:h", 0, 10, 1_000_000),
    ).rejects.toThrow(/not a zset/);
    await store.close();
    await raw.del("candles:NOSCRIPT", "candles:NOSCRIPT:h");
    await raw.call("ACL", "DELUSER", "noscript");
  });

  it("works as a restricted ACL user without INFO; a denied XADD aborts the whole MULTI", async () => {
    await raw.call(
      "ACL",
      "SETUSER",
      "calc",
      "on",
      ">calc-pw",
      "~*",
      "&*",
      "+@all",
      "-info",
      "-xadd",
    );
    const store = createRedisStore({ url: `redis://calc:calc-pw@127.0.0.1:${server.port}` });
    await store.waitReady(5000);
    await store.publish({
      hashes: [{ key: riskProposalKey("ACL"), fields: { proposed_sl: "1" }, ttlSec: 60 }],
      streams: [],
    });
    expect(await raw.hgetall(riskProposalKey("ACL"))).toEqual({ proposed_sl: "1" });

    const error = await store
      .publish({
        hashes: [{ key: riskProposalKey("ACL"), fields: { proposed_sl: "2" } }],
        streams: [{ key: "quantum:stream:risk.proposal", fields: { symbol: "ACL" }, maxLen: 10 }],
      })
      .then(
        () => null,
        (e: unknown) => e as Error,
      );
    expect(error?.message).toMatch(/EXECABORT|NOPERM/);
    expect(error?.message).toContain(riskProposalKey("ACL"));
    // Refused at queue time, so EXEC ran nothing: the hash still has the first value.
    expect(await raw.hgetall(riskProposalKey("ACL"))).toEqual({ proposed_sl: "1" });
    expect(await raw.exists("quantum:stream:risk.proposal")).toBe(0);
    await store.close();
  });
});

describe("createRedisStore across a server restart", () => {
  let server: TestRedis;
  let store: RedisStore;
  const events: RedisStoreEvent[] = [];

  beforeAll(async () => {
    server = await startTestRedis();
    // A huge command timeout: if a command were queued while disconnected, the test would hang
    // into its timeout instead of seeing an immediate "not connected" rejection.
    store = createRedisStore({
      url: server.url,
      commandTimeoutMs: 60_000,
      reconnectBaseMs: 20,
      reconnectCapMs: 200,
      onEvent: (e) => events.push(e),
    });
    await store.waitReady(5000);
  });
  afterAll(async () => {
    await store.close();
    await server.close();
  });

  it("fails fast while disconnected, then works again after reconnecting", async () => {
    await store.publish({
      hashes: [{ key: marketStateKey("A"), fields: { sigma: "1" } }],
      streams: [],
    });
    await server.stop();
    await waitFor(() => store.status() !== "ready");

    await expect(store.hgetall(marketStateKey("A"))).rejects.toThrow(/not connected/);
    await expect(
      store.publish({
        hashes: [{ key: marketStateKey("A"), fields: { sigma: "2" } }],
        streams: [],
      }),
    ).rejects.toThrow(/not connected/);
    await expect(store.ping()).rejects.toThrow(/not connected/);

    await server.start();
    await store.waitReady(10_000);
    // The server came back empty (nothing persisted), and the publish refused while down was
    // not replayed behind our back.
    expect(await store.hgetall(marketStateKey("A"))).toEqual({});
    await store.publish({
      hashes: [{ key: marketStateKey("A"), fields: { sigma: "3" } }],
      streams: [],
    });
    expect(await store.hgetall(marketStateKey("A"))).toEqual({ sigma: "3" });
    // The restarted server holds no scripts: the size-bounded read (a script) still answers.
    await store.publish({
      hashes: [{ key: marketStateKey("B"), fields: { s: "1" } }],
      streams: [],
    });
    await expect(
      store.zrangeFromScoreWithin(marketStateKey("B"), 0, 10, 1_000_000),
    ).rejects.toThrow(/not a zset \(it is a hash\)/);
    expect(await store.zrangeFromScoreWithin("candles:none", 0, 10, 1_000_000)).toEqual({
      bytes: null,
      members: null,
    });

    const types = events.map((e) => e.type);
    expect(types).toContain("close");
    expect(types).toContain("reconnecting");
    expect(types.filter((t) => t === "ready").length).toBeGreaterThanOrEqual(2);
  });
});

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
}
