// The single-writer lease against a real redis-server: acquire (SET NX PX), renewals
// (WATCH/GET/MULTI PEXPIRE/EXEC), release (never another's), one leader among two, takeover after
// a release and after a holder that died, a lease lost by our own clock when renewals fail, and
// the one-shot acquire of `run --once`.
import { performance } from "node:perf_hooks";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  formatHolder,
  LEASE_DEFAULTS,
  LeaseLostError,
  LeaseManager,
  makeLeaseToken,
  type LeaseState,
} from "../../src/lease/lease.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { cmd, Instances, LEASE_KEY, rawClient, startMonitor, until } from "./helpers.js";

let server: TestRedis;
let raw: Redis;
const instances = new Instances();

beforeAll(async () => {
  server = await startTestRedis();
  raw = rawClient(server.url);
});
afterAll(async () => {
  raw?.disconnect();
  await server?.close();
});
beforeEach(async () => {
  await raw.flushall();
});
afterEach(async () => {
  await instances.closeAll();
});

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

describe("defaults and the token", () => {
  it("leaseKey quantum:calc:leader, leaseTtlMs 5000, renew every ttl/3, poll every min(ttl/3, 500 ms)", async () => {
    expect(LEASE_DEFAULTS.leaseKey).toBe(LEASE_KEY);
    const { lease } = await instances.create(server.url);
    expect([lease.leaseKey, lease.ttlMs, lease.renewEveryMs, lease.pollEveryMs]).toEqual([
      LEASE_KEY,
      5000,
      1666,
      500,
    ]);
    const short = new LeaseManager(
      { exclusive: () => Promise.reject(new Error("unused")) },
      { leaseTtlMs: 600 },
    );
    expect([short.renewEveryMs, short.pollEveryMs]).toEqual([200, 200]);
  });

  it("the token is host:pid:uuid (random), shown as host:pid:uuid8", () => {
    const a = makeLeaseToken();
    const b = makeLeaseToken();
    expect(a).not.toBe(b);
    expect(a).toMatch(new RegExp(`^[^:\\s]+:${process.pid}:${UUID.source}$`));
    expect(formatHolder(a)).toBe(a.slice(0, a.length - 28));
    expect(formatHolder(a)).toMatch(new RegExp(`^[^:]+:${process.pid}:[0-9a-f]{8}$`));
    expect(formatHolder("somebody-else")).toBe("somebody-else");
    expect(formatHolder(null)).toBeNull();
    // The last text shown is kept (formatHolder runs at every role check): values taking turns
    // each get their own.
    for (const value of [a, b, a, "x".repeat(90), b, a])
      expect(formatHolder(value)).toBe(
        value.length > 80 ? `${"x".repeat(77)}...` : value.slice(0, value.length - 28),
      );
  });
});

describe("one manager", () => {
  it("acquires with SET NX PX, keeps the lease by renewals past several TTLs, and release deletes it", async () => {
    const monitor = await startMonitor(server.url);
    try {
      const { lease } = await instances.create(server.url, { leaseTtlMs: 600 });
      const roles: LeaseState["role"][] = [];
      lease.on("role", (s) => roles.push(s.role));
      const state = await lease.start();
      expect(state.role).toBe("leader");
      expect(state.holder).toBe(lease.self);
      expect(lease.isLeader()).toBe(true);
      expect(await raw.get(LEASE_KEY)).toBe(lease.token);
      const pttl = await raw.pttl(LEASE_KEY);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(600);

      // Six renewals take ~1.2 s, two TTLs: only the renewals can have kept the key.
      const t0 = performance.now();
      await until(
        "six renewals",
        () => monitor.lines.filter((l) => cmd(l) === "pexpire").length >= 6,
        10_000,
      );
      expect(performance.now() - t0).toBeGreaterThan(600);
      expect(await raw.get(LEASE_KEY)).toBe(lease.token);
      expect(lease.isLeader()).toBe(true);
      await monitor.sync();
      // Each renewal is WATCH, GET, MULTI, PEXPIRE <key> 600, EXEC.
      const renewal = monitor.lines.findIndex((l) => cmd(l) === "pexpire");
      expect(
        monitor.lines
          .slice(renewal - 3, renewal + 2)
          .map((l) => l.args.map((a) => a.toLowerCase()).join(" ")),
      ).toEqual([
        `watch ${LEASE_KEY}`,
        `get ${LEASE_KEY}`,
        "multi",
        `pexpire ${LEASE_KEY} 600`,
        "exec",
      ]);
      const acquire = monitor.lines.find((l) => cmd(l) === "set");
      expect(acquire?.args).toEqual(["set", LEASE_KEY, lease.token, "PX", "600", "NX"]);

      expect(await lease.release()).toBe(true);
      expect(await raw.exists(LEASE_KEY)).toBe(0);
      expect(lease.isLeader()).toBe(false);
      expect(lease.state().role).toBe("standby");
      expect(roles).toEqual(["standby", "leader", "standby"]);
    } finally {
      monitor.stop();
    }
  });

  it("release never deletes another instance's lease", async () => {
    const { lease } = await instances.create(server.url, { leaseTtlMs: 5000 });
    expect((await lease.start()).role).toBe("leader");
    const other = makeLeaseToken().replace(/^[^:]+/, "otherhost");
    await raw.set(LEASE_KEY, other, "PX", 5000); // taken over behind our back
    expect(await lease.release()).toBe(false);
    expect(await raw.get(LEASE_KEY)).toBe(other);
    expect(lease.state().holder).toBe(formatHolder(other));
  });

  it("a renewal that finds another token: lost at once, standby naming the new holder", async () => {
    const { lease } = await instances.create(server.url, { leaseTtlMs: 900 });
    expect((await lease.start()).role).toBe("leader");
    const lost: Array<[string, string | null]> = [];
    lease.on("lost", (reason, holder) => lost.push([reason, holder]));
    const other = makeLeaseToken().replace(/^[^:]+/, "otherhost");
    await raw.set(LEASE_KEY, other, "PX", 60_000);
    await until("the lease lost", () => lost.length > 0, 5000);
    expect(lease.isLeader()).toBe(false);
    expect(lost[0]).toEqual([
      `the lease was taken over by ${formatHolder(other)}`,
      formatHolder(other),
    ]);
    expect(lease.state()).toMatchObject({ role: "standby", holder: formatHolder(other) });
    expect(await raw.get(LEASE_KEY)).toBe(other);
  });
});

describe("two instances", () => {
  it("exactly one leader; the other stands by and names the holder, and it stays that way", async () => {
    const a = await instances.create(server.url, { leaseTtlMs: 600 });
    const b = await instances.create(server.url, { leaseTtlMs: 600 });
    const [sa, sb] = await Promise.all([a.lease.start(), b.lease.start()]);
    expect([sa.role, sb.role].sort()).toEqual(["leader", "standby"]);
    const [leader, standby] = sa.role === "leader" ? [a.lease, b.lease] : [b.lease, a.lease];
    expect(standby.state().holder).toBe(leader.self);
    expect(await raw.get(LEASE_KEY)).toBe(leader.token);
    // Over three TTLs of renewals and polls nothing changes.
    const monitor = await startMonitor(server.url);
    try {
      await until(
        "renewals and polls over three TTLs",
        () => monitor.lines.filter((l) => cmd(l) === "pexpire").length >= 9,
        10_000,
      );
      expect(leader.isLeader()).toBe(true);
      expect(standby.isLeader()).toBe(false);
      expect(standby.state()).toMatchObject({ role: "standby", holder: leader.self });
      expect(monitor.lines.filter((l) => cmd(l) === "set").length).toBeGreaterThanOrEqual(3); // the standby's polls
      expect(await raw.get(LEASE_KEY)).toBe(leader.token);
    } finally {
      monitor.stop();
    }
  });

  it("release → the standby takes over within ~0.5 s (default TTL 5000, poll 500 ms)", async () => {
    const a = await instances.create(server.url);
    const b = await instances.create(server.url);
    expect((await a.lease.start()).role).toBe("leader");
    expect((await b.lease.start()).role).toBe("standby");
    const holders: Array<string | null> = [];
    b.lease.on("holder", (h) => holders.push(h));
    const t0 = performance.now();
    expect(await a.lease.release()).toBe(true);
    await until("the standby to take over", () => b.lease.isLeader(), 3000, 1);
    const gapMs = performance.now() - t0;
    console.log(
      `[lease figures] takeover after release: ${gapMs.toFixed(0)} ms (TTL 5000, poll 500)`,
    );
    expect(gapMs).toBeLessThan(1000);
    expect(await raw.get(LEASE_KEY)).toBe(b.lease.token);
    expect(holders.at(-1)).toBe(b.lease.self);
    expect(a.lease.state()).toMatchObject({ role: "standby", holder: null });
  });

  it("pollNow() tries at once instead of at the next poll (the service calls it when the writer connection is ready again)", async () => {
    const a = await instances.create(server.url);
    // A standby whose next poll is 20 s away.
    const b = await instances.create(server.url, { leaseTtlMs: 60_000, pollEveryMs: 20_000 });
    expect((await a.lease.start()).role).toBe("leader");
    expect((await b.lease.start()).role).toBe("standby");
    expect(await a.lease.release()).toBe(true);
    const t0 = performance.now();
    b.lease.pollNow();
    await until("the standby to take over", () => b.lease.isLeader(), 15_000, 1);
    // Far below the 20 s poll it would otherwise wait for, with room for a loaded machine.
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(await raw.get(LEASE_KEY)).toBe(b.lease.token);
  });

  it("a holder that dies without releasing (no renewals, no DEL) → takeover within TTL + poll", async () => {
    const a = await instances.create(server.url, { leaseTtlMs: 1500 });
    const b = await instances.create(server.url, { leaseTtlMs: 1500 });
    expect((await a.lease.start()).role).toBe("leader");
    expect((await b.lease.start()).role).toBe("standby");
    await a.lease.stop(); // as kill -9: the key stays until its TTL runs out
    const t0 = performance.now();
    await until("the standby to take over", () => b.lease.isLeader(), 5000, 1);
    const gapMs = performance.now() - t0;
    console.log(
      `[lease figures] takeover after a dead holder: ${gapMs.toFixed(0)} ms (TTL 1500, poll 500)`,
    );
    expect(gapMs).toBeLessThan(1500 + 500 + 300);
    expect(await raw.get(LEASE_KEY)).toBe(b.lease.token);
  });
});

describe("our own clock", () => {
  it("renewals failing for I/O: the lease is lost by our clock within the TTL, before Redis could say so; back as leader after Redis returns", async () => {
    const { lease } = await instances.create(server.url, { leaseTtlMs: 1000 });
    expect((await lease.start()).role).toBe("leader");
    const ioErrors: string[] = [];
    const lost: string[] = [];
    let lostAt = 0;
    lease.on("ioError", (e) => ioErrors.push(e.message));
    lease.on("lost", (reason) => {
      lost.push(reason);
      lostAt = performance.now();
    });
    // Anchor: a renewal has just succeeded (validForMs jumps back up to ~TTL).
    await until("a fresh renewal", () => lease.state().validForMs > 950, 5000, 1);
    const renewedAt = performance.now();
    await server.stop();
    await until("the lease lost by our clock", () => lost.length > 0, 5000, 1);
    // Lost when the TTL ran out by our clock since the last renewal was sent (less the 1 % + 2 ms
    // drift allowance), not earlier, and not when Redis could next be asked.
    expect(lostAt - renewedAt).toBeGreaterThan(900);
    expect(lostAt - renewedAt).toBeLessThan(1000 + 50);
    expect(lost[0]).toMatch(/^no renewal succeeded within the lease TTL \(1000 ms\)/);
    expect(ioErrors.length).toBeGreaterThan(0);
    expect(lease.isLeader()).toBe(false);
    expect(lease.state()).toMatchObject({ role: "standby", validForMs: 0 });
    // Redis is back (empty): the standby's poll takes the lease again.
    await server.start();
    await until("the lease re-acquired", () => lease.isLeader(), 10_000);
    expect(await raw.get(LEASE_KEY)).toBe(lease.token);
  });

  it("a lease given up by our clock but still ours in Redis is taken back by a fenced renewal", async () => {
    let skew = 0;
    const { lease } = await instances.create(server.url, {
      leaseTtlMs: 3000,
      now: () => performance.now() + skew,
    });
    expect((await lease.start()).role).toBe("leader");
    const lost: string[] = [];
    lease.on("lost", (reason) => lost.push(reason));
    skew += 3000; // our clock says the TTL ran out with no renewal (as after a pause)
    expect(lease.isLeader()).toBe(false);
    expect(lost).toHaveLength(1);
    expect(await raw.get(LEASE_KEY)).toBe(lease.token);
    await until("the lease taken back", () => lease.isLeader(), 5000);
    expect(await raw.get(LEASE_KEY)).toBe(lease.token);
    expect(await raw.pttl(LEASE_KEY)).toBeGreaterThan(2000);
  });
});

describe("run --once: acquireOnce", () => {
  it("takes a free lease (renewed until release), or names the holder without waiting", async () => {
    const a = await instances.create(server.url, { leaseTtlMs: 600 });
    const b = await instances.create(server.url, { leaseTtlMs: 600 });
    expect(await a.lease.acquireOnce()).toEqual({
      acquired: true,
      holder: a.lease.self,
      error: null,
    });
    const monitor = await startMonitor(server.url);
    try {
      await until(
        "renewals of the one-shot lease",
        () => monitor.lines.filter((l) => cmd(l) === "pexpire").length >= 4,
        5000,
      );
    } finally {
      monitor.stop();
    }
    expect(await b.lease.acquireOnce()).toEqual({
      acquired: false,
      holder: a.lease.self,
      error: null,
    });
    expect(b.lease.state().role).toBe("standby");
    expect(await a.lease.release()).toBe(true);
    expect(await raw.exists(LEASE_KEY)).toBe(0);
  });

  it("reports an I/O failure as such (not as a holder)", async () => {
    const a = await instances.create(server.url, { leaseTtlMs: 600 });
    await server.stop();
    try {
      const result = await a.lease.acquireOnce();
      expect(result.acquired).toBe(false);
      expect(result.holder).toBeNull();
      expect(result.error).toMatch(/not connected|connection/);
    } finally {
      await server.start();
    }
  });
});

describe("LeaseLostError", () => {
  it("names the holder, or says the lease is free", () => {
    expect(new LeaseLostError(LEASE_KEY, "h:1:abcdef01", "the lease is not ours").message).toBe(
      `not the writer: the lease is not ours; lease ${LEASE_KEY} is held by h:1:abcdef01`,
    );
    expect(new LeaseLostError(LEASE_KEY, null, "x").message).toBe(
      `not the writer: x; lease ${LEASE_KEY} is free`,
    );
  });
});
