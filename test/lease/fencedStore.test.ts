// Fenced publishes against a real redis-server: every publish is WATCH <lease>, GET, TYPE… then
// MULTI … EXEC on the dedicated writer connection, group-committed. Proven with MONITOR: how many
// round trips a burst takes, that a lease stolen between WATCH and EXEC gets the EXEC refused by
// Redis (nothing applied), that a standby sends nothing, and that a demoted primary's READONLY is
// an I/O error.
import { performance } from "node:perf_hooks";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createFencedStore, type LeaseFence } from "../../src/lease/fencedStore.js";
import { ForbiddenKeyError, InvalidWriteError } from "../../src/store/keyGuard.js";
import { formatHolder, LeaseLostError, makeLeaseToken } from "../../src/lease/lease.js";
import { createRedisStore, type RedisStore } from "../../src/store/redisStore.js";
import { WrongTypeError, type PublishBatch } from "../../src/store/types.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import {
  cmd,
  Instances,
  intercepted,
  LEASE_KEY,
  rawClient,
  startMonitor,
  transactions,
  until,
  useLeaseRedis,
  writerFor,
  type MonitorLine,
} from "./helpers.js";

let server: TestRedis;
let raw: Redis;
let inner: RedisStore;
const instances = new Instances();
/** The MONITOR address of the current test's leader writer connection (see leader()). */
let addrOfWriter = "";

const env = useLeaseRedis();
beforeAll(() => {
  ({ server, raw, inner } = env);
});
afterEach(async () => {
  await instances.closeAll();
});

/** The address MONITOR shows for the connection named `name`. */
async function addrOf(name: string): Promise<string> {
  const list = (await raw.call("CLIENT", "LIST")) as string;
  const line = list.split("\n").find((l) => l.includes(` name=${name} `));
  const addr = line && /\baddr=(\S+)/.exec(line)?.[1];
  if (!addr) throw new Error(`no connection named ${name}`);
  return addr;
}

const symbolBatch = (i: number, tag = "a", maxLen = 10_000): PublishBatch => ({
  hashes: [
    { key: `quantum:marketstate:S${i}`, fields: { seq: String(i), tag, sigma: "0.1" }, ttlSec: 60 },
    { key: `quantum:calc:marketstate:S${i}`, fields: { seq: String(i), tag } },
  ],
  streams: [
    { key: "quantum:stream:marketstate", fields: { symbol: `S${i}`, seq: String(i), tag }, maxLen },
  ],
});

async function leader(name = "fenced-writer", ttlMs = 5000) {
  const made = await instances.create(server.url, { leaseTtlMs: ttlMs }, name);
  expect((await made.lease.start()).role).toBe("leader");
  addrOfWriter = await addrOf(name);
  return made;
}

const fenceWatches = (lines: MonitorLine[]): number =>
  lines.filter((l, i) => cmd(l) === "watch" && cmd(lines[i + 2] ?? l) === "type").length;

describe("group commit", () => {
  it("100 concurrent publishes: one WATCH round trip and one MULTI/EXEC, every batch lands whole", async () => {
    const { writer, lease } = await leader();
    const store = createFencedStore(inner, writer, lease);
    const monitor = await startMonitor(server.url);
    try {
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.publish(symbolBatch(i))));
      await monitor.sync();
      const mine = monitor.lines.filter((l) => l.source === addrOfWriter);
      const writes = transactions(mine).filter((t) => t.commands.some((c) => cmd(c) === "hset"));
      console.log(
        `[lease figures] 100 concurrent publishes: ${fenceWatches(mine)} WATCH round trip(s) + ${writes.length} MULTI/EXEC (serialized would be 100 + 100); stats ${JSON.stringify(store.stats())}`,
      );
      expect(fenceWatches(mine)).toBe(1);
      expect(writes).toHaveLength(1);
      expect(store.stats()).toMatchObject({
        publishes: 100,
        groups: 1,
        watches: 1,
        execs: 1,
        refusedByRedis: 0,
        refusedLocally: 0,
      });
      // Inside the one transaction: every batch's HSET, EXPIRE, HSET, XADD.
      const commands = writes[0].commands.map(cmd);
      expect(commands.filter((c) => c === "hset")).toHaveLength(200);
      expect(commands.filter((c) => c === "expire")).toHaveLength(100);
      expect(commands.filter((c) => c === "xadd")).toHaveLength(100);
      for (let i = 0; i < 100; i++) {
        expect(await raw.hgetall(`quantum:marketstate:S${i}`)).toEqual({
          seq: String(i),
          tag: "a",
          sigma: "0.1",
        });
        expect(await raw.ttl(`quantum:marketstate:S${i}`)).toBeGreaterThan(0);
        expect(await raw.hget(`quantum:calc:marketstate:S${i}`, "seq")).toBe(String(i));
      }
      expect(await raw.xlen("quantum:stream:marketstate")).toBe(100);
    } finally {
      monitor.stop();
    }
  });

  it("a steady stream of publishes: each group takes what queued while the previous one was in flight", async () => {
    const { writer, lease } = await leader();
    const store = createFencedStore(inner, writer, lease);
    const pending: Array<Promise<void>> = [];
    const t0 = performance.now();
    for (let i = 0; i < 500; i++) {
      pending.push(store.publish(symbolBatch(i % 50, `w${i}`)));
      // One publish per event-loop turn: they arrive while groups are in flight.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(pending);
    const elapsedMs = performance.now() - t0;
    const { groups, watches, execs } = store.stats();
    console.log(
      `[lease figures] 500 publishes one per loop turn: ${groups} groups, ${watches + execs} round trips ` +
        `(${((watches + execs) / 500).toFixed(2)} per publish; serialized: 2), ${elapsedMs.toFixed(0)} ms`,
    );
    expect(groups).toBeLessThan(500);
    expect(watches + execs).toBe(2 * groups);
    expect(await raw.xlen("quantum:stream:marketstate")).toBe(500);
    // The last write of each symbol won (groups commit in order).
    for (let s = 0; s < 50; s++)
      expect(await raw.hget(`quantum:marketstate:S${s}`, "tag")).toBe(`w${450 + s}`);
  });

  it("a batch whose target has another type is refused alone (WrongTypeError); the rest of the group lands", async () => {
    const { writer, lease } = await leader();
    const store = createFencedStore(inner, writer, lease);
    await raw.set("quantum:marketstate:BAD", "a string");
    const bad: PublishBatch = {
      hashes: [
        { key: "quantum:marketstate:OKTOO", fields: { a: "1" } },
        { key: "quantum:marketstate:BAD", fields: { a: "1" } },
      ],
      streams: [],
    };
    const results = await Promise.allSettled([
      store.publish(symbolBatch(1)),
      store.publish(bad),
      store.publish(symbolBatch(2)),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(WrongTypeError);
    expect(await raw.exists("quantum:marketstate:OKTOO")).toBe(0); // all-or-nothing per batch
    expect(await raw.get("quantum:marketstate:BAD")).toBe("a string");
    expect(await raw.exists("quantum:marketstate:S1", "quantum:marketstate:S2")).toBe(2);
    expect(store.stats().groups).toBe(1);
  });

  it("EXEC replies are checked per batch: a type flipped between the TYPE check and EXEC fails that batch only", async () => {
    const { writer, lease } = await leader();
    let armed = true;
    const hooked = intercepted(writer, {
      beforeExec: async () => {
        if (!armed) return;
        armed = false;
        await raw.set("quantum:marketstate:FLIP", "now a string");
      },
    });
    const store = createFencedStore(inner, hooked, lease);
    const flip: PublishBatch = {
      hashes: [
        { key: "quantum:marketstate:FLIP", fields: { a: "1" } },
        { key: "quantum:marketstate:BESIDE", fields: { a: "1" } },
      ],
      streams: [],
    };
    const results = await Promise.allSettled([store.publish(symbolBatch(1)), store.publish(flip)]);
    expect(results[0].status).toBe("fulfilled");
    expect(results[1].status).toBe("rejected");
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(
      /partly failed .*1 of 2 commands failed: WRONGTYPE/,
    );
    expect(await raw.exists("quantum:marketstate:S1")).toBe(1);
  });

  it("an invalid batch is refused before anything is queued or sent", async () => {
    const { writer, lease } = await leader();
    const store = createFencedStore(inner, writer, lease);
    await expect(
      store.publish({ hashes: [{ key: "quantum:other:x", fields: { a: "1" } }], streams: [] }),
    ).rejects.toBeInstanceOf(ForbiddenKeyError);
    await expect(
      store.publish({
        hashes: [{ key: "quantum:marketstate:X", fields: { a: "NaN" } }],
        streams: [],
      }),
    ).rejects.toBeInstanceOf(InvalidWriteError);
    expect(store.stats()).toMatchObject({ publishes: 0, groups: 0 });
  });

  it("renewals and publishes share the writer connection without breaking each other (TTL 1200 ms, 2.4 s of publishing)", async () => {
    // TTL/3 = 400 ms between renewals: short enough for several in the run, long enough that a
    // loaded 2-core CI machine's event-loop hiccup is not mistaken for a lost lease.
    const { writer, lease } = await leader("fenced-writer", 1200);
    const lost: string[] = [];
    lease.on("lost", (r) => lost.push(r));
    const store = createFencedStore(inner, writer, lease);
    const monitor = await startMonitor(server.url);
    try {
      const t0 = performance.now();
      let i = 0;
      while (performance.now() - t0 < 2400) {
        await Promise.all(
          Array.from({ length: 20 }, () =>
            store.publish(symbolBatch(i++ % 30, `r${i}`, 1_000_000)),
          ),
        );
      }
      await monitor.sync();
      const renewals = monitor.lines.filter((l) => cmd(l) === "pexpire").length;
      console.log(
        `[lease figures] ${i} publishes in ${store.stats().groups} groups interleaved with ${renewals} renewals on one connection`,
      );
      expect(renewals).toBeGreaterThanOrEqual(5);
      expect(lost).toEqual([]);
      expect(store.stats()).toMatchObject({ refusedByRedis: 0, refusedLocally: 0, retries: 0 });
      expect(await raw.xlen("quantum:stream:marketstate")).toBe(i);
    } finally {
      monitor.stop();
    }
  });

  it("close() lets the queued publishes settle first", async () => {
    const { writer, lease } = await leader();
    const own = createRedisStore({ url: server.url, reconnectBaseMs: 20, reconnectCapMs: 200 });
    await own.waitReady(5000);
    const store = createFencedStore(own, writer, lease);
    const published = Promise.all(
      Array.from({ length: 10 }, (_, i) => store.publish(symbolBatch(i))),
    );
    await store.close();
    await published;
    expect(await raw.xlen("quantum:stream:marketstate")).toBe(10);
  });
});

describe("the fence", () => {
  it("a lease stolen between WATCH and EXEC: Redis refuses the EXEC, nothing is applied, every publish of the group rejects with LeaseLostError naming the holder", async () => {
    const { writer, lease } = await leader();
    const thief = makeLeaseToken().replace(/^[^:]+/, "thief");
    const lost: Array<string | null> = [];
    lease.on("lost", (_reason, holder) => lost.push(holder));
    let armed = true;
    const hooked = intercepted(writer, {
      beforeExec: async (commands) => {
        if (!armed || !commands.some((c) => c[0] === "hset")) return;
        armed = false;
        await raw.set(LEASE_KEY, thief, "PX", 60_000);
      },
    });
    const store = createFencedStore(inner, hooked, lease);
    const monitor = await startMonitor(server.url);
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => store.publish(symbolBatch(i))),
      );
      for (const r of results) {
        expect(r.status).toBe("rejected");
        const error = (r as PromiseRejectedResult).reason as LeaseLostError;
        expect(error).toBeInstanceOf(LeaseLostError);
        expect(error.holder).toBe(formatHolder(thief));
        expect(error.message).toMatch(
          /Redis refused the write: the lease changed between WATCH and EXEC, nothing was applied; lease quantum:calc:leader is held by thief:/,
        );
      }
      await monitor.sync();
      // Redis saw MULTI and EXEC from the writer — the write was attempted — and ran none of it.
      const mine = monitor.lines.filter((l) => l.source === addrOfWriter);
      expect(mine.map(cmd)).toContain("multi");
      expect(mine.map(cmd)).toContain("exec");
      expect(monitor.lines.filter((l) => ["hset", "xadd", "expire"].includes(cmd(l)))).toEqual([]);
      for (let i = 0; i < 10; i++)
        expect(
          await raw.exists(`quantum:marketstate:S${i}`, `quantum:calc:marketstate:S${i}`),
        ).toBe(0);
      expect(await raw.exists("quantum:stream:marketstate")).toBe(0);
      // The lease knows at once.
      expect(lease.isLeader()).toBe(false);
      expect(lost).toEqual([formatHolder(thief)]);
      expect(lease.state()).toMatchObject({ role: "standby", holder: formatHolder(thief) });
      expect(store.stats()).toMatchObject({ refusedByRedis: 10, execs: 1 });
      // And later publishes are refused without a round trip.
      await expect(store.publish(symbolBatch(99))).rejects.toBeInstanceOf(LeaseLostError);
      expect(store.stats()).toMatchObject({ refusedLocally: 1, groups: 1 });
    } finally {
      monitor.stop();
    }
  });

  it("a lease taken while idle: refused at the WATCH round trip, no MULTI sent", async () => {
    const { writer, lease } = await leader();
    const store = createFencedStore(inner, writer, lease);
    const thief = makeLeaseToken().replace(/^[^:]+/, "thief");
    await raw.set(LEASE_KEY, thief, "PX", 60_000);
    const monitor = await startMonitor(server.url);
    try {
      const error = await store.publish(symbolBatch(1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LeaseLostError);
      expect((error as LeaseLostError).holder).toBe(formatHolder(thief));
      await monitor.sync();
      expect(monitor.lines.filter((l) => l.source === addrOfWriter).map(cmd)).not.toContain(
        "multi",
      );
      expect(store.stats()).toMatchObject({ watches: 1, execs: 0, refusedByRedis: 1 });
      expect(lease.isLeader()).toBe(false);
    } finally {
      monitor.stop();
    }
  });

  it("a standby publishes nothing: refused locally, naming the holder, no command sent", async () => {
    const a = await leader();
    const b = await instances.create(server.url, {}, "standby-writer");
    expect((await b.lease.start()).role).toBe("standby");
    const store = createFencedStore(inner, b.writer, b.lease);
    const monitor = await startMonitor(server.url);
    try {
      const error = await store.publish(symbolBatch(1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LeaseLostError);
      expect((error as LeaseLostError).holder).toBe(a.lease.self);
      await monitor.sync();
      const standbyAddr = await addrOf("standby-writer");
      expect(
        monitor.lines.filter(
          (l) => l.source === standbyAddr && cmd(l) !== "set" && cmd(l) !== "get",
        ),
      ).toEqual([]);
      expect(store.stats()).toMatchObject({ refusedLocally: 1, groups: 0 });
    } finally {
      monitor.stop();
    }
  });

  it("a touch of the lease key that leaves it ours (a renewal on another connection) aborts the EXEC; the group is sent again once and lands once", async () => {
    const { writer, lease } = await leader();
    let touches = 0;
    const hooked = intercepted(writer, {
      beforeExec: async (commands) => {
        if (touches > 0 || !commands.some((c) => c[0] === "hset")) return;
        touches++;
        await raw.pexpire(LEASE_KEY, 5000);
      },
    });
    const store = createFencedStore(inner, hooked, lease);
    const monitor = await startMonitor(server.url);
    try {
      await Promise.all([store.publish(symbolBatch(1)), store.publish(symbolBatch(2))]);
      await monitor.sync();
      expect(store.stats()).toMatchObject({ retries: 1, execs: 2, watches: 2 });
      expect(monitor.lines.filter((l) => cmd(l) === "xadd")).toHaveLength(2);
      expect(await raw.xlen("quantum:stream:marketstate")).toBe(2);
      expect(lease.isLeader()).toBe(true);
    } finally {
      monitor.stop();
    }
  });

  it("Redis unreachable: the group rejects with the I/O error (not LeaseLostError)", async () => {
    const { writer, lease } = await leader();
    const store = createFencedStore(inner, writer, lease);
    await server.stop();
    try {
      const error = await store.publish(symbolBatch(1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(LeaseLostError);
      expect(String(error)).toMatch(/not connected|connection/);
    } finally {
      await server.start();
    }
  });
});

describe("deleteOwn is fenced too", () => {
  it("the leader deletes its bookkeeping; a standby is refused; a lease stolen before the EXEC keeps the key", async () => {
    const a = await leader();
    const store = createFencedStore(inner, a.writer, a.lease);
    await raw.hset("quantum:calc:positionmemory:S1", { a: "1" });
    await raw.hset("quantum:calc:positionmemory:S2", { a: "1" });
    expect(await store.deleteOwn(["quantum:calc:positionmemory:S1", "quantum:calc:nothing"])).toBe(
      1,
    );
    expect(await raw.exists("quantum:calc:positionmemory:S1")).toBe(0);
    await expect(store.deleteOwn(["quantum:marketstate:S1"])).rejects.toBeInstanceOf(
      ForbiddenKeyError,
    );
    await expect(store.deleteOwn([LEASE_KEY])).rejects.toBeInstanceOf(ForbiddenKeyError);

    const b = await instances.create(server.url, {}, "standby-writer");
    expect((await b.lease.start()).role).toBe("standby");
    await expect(
      createFencedStore(inner, b.writer, b.lease).deleteOwn(["quantum:calc:positionmemory:S2"]),
    ).rejects.toBeInstanceOf(LeaseLostError);

    const thief = makeLeaseToken().replace(/^[^:]+/, "thief");
    const hooked = intercepted(a.writer, {
      beforeExec: async () => void (await raw.set(LEASE_KEY, thief, "PX", 60_000)),
    });
    const error = await createFencedStore(inner, hooked, a.lease)
      .deleteOwn(["quantum:calc:positionmemory:S2"])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaseLostError);
    expect((error as LeaseLostError).holder).toBe(formatHolder(thief));
    expect(await raw.exists("quantum:calc:positionmemory:S2")).toBe(1);
    expect(a.lease.isLeader()).toBe(false);
  });
});

describe("a demoted primary (READONLY)", () => {
  let primary: TestRedis;
  let replica: TestRedis;
  let primaryRaw: Redis;
  let replicaRaw: Redis;
  beforeAll(async () => {
    primary = await startTestRedis();
    replica = await startTestRedis(["--replicaof", "127.0.0.1", String(primary.port)]);
    primaryRaw = rawClient(primary.url);
    replicaRaw = rawClient(replica.url);
    await until(
      "the replica in sync",
      async () => /master_link_status:up/.test(await replicaRaw.info("replication")),
      15_000,
      50,
    );
  });
  afterAll(async () => {
    primaryRaw?.disconnect();
    replicaRaw?.disconnect();
    await replica?.close();
    await primary?.close();
  });

  it("a fenced publish answered READONLY rejects as an I/O error naming READONLY; nothing is written", async () => {
    const token = makeLeaseToken();
    await primaryRaw.set(LEASE_KEY, token, "PX", 60_000);
    await until(
      "the lease replicated",
      async () => (await replicaRaw.get(LEASE_KEY)) === token,
      5000,
    );
    const writer = await writerFor(replica.url);
    const replicaStore = createRedisStore({ url: replica.url });
    await replicaStore.waitReady(5000);
    try {
      const reported: Array<string | null> = [];
      const fence: LeaseFence = {
        leaseKey: LEASE_KEY,
        currentToken: () => token,
        holder: () => formatHolder(token),
        reportLost: (v) => reported.push(v),
      };
      const store = createFencedStore(replicaStore, writer, fence);
      const error = await store.publish(symbolBatch(1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(LeaseLostError);
      expect(String(error)).toMatch(
        /READONLY — \S+ is a read-only replica, not the primary \(nothing was written\)/,
      );
      expect(reported).toEqual([]);
      expect(await primaryRaw.exists("quantum:marketstate:S1")).toBe(0);
    } finally {
      await replicaStore.close();
      await writer.close();
    }
  });

  it("the lease on a replica: acquire fails as I/O (READONLY), the manager stands by and does not crash", async () => {
    await primaryRaw.del(LEASE_KEY);
    await until(
      "the lease gone on the replica",
      async () => (await replicaRaw.exists(LEASE_KEY)) === 0,
      5000,
    );
    const { lease } = await instances.create(replica.url, { leaseTtlMs: 600 });
    const errors: string[] = [];
    lease.on("ioError", (e) => errors.push(e.message));
    const result = await lease.acquireOnce();
    expect(result.acquired).toBe(false);
    expect(result.error).toMatch(/READONLY/);
    const state = await (await instances.create(replica.url, { leaseTtlMs: 600 })).lease.start();
    expect(state.role).toBe("standby");
    expect(state.lastError).toMatch(/READONLY/);
  });
});
