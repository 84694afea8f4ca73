// The lease and the fenced store as the least-privilege ACL user of the README (test/helpers/acl.ts):
// SET NX PX, WATCH/MULTI/EXEC/UNWATCH (+@transaction), PEXPIRE, DEL and GET on quantum:calc:leader,
// TYPE and the fenced writes — and Redis still refuses the user anything off its key patterns.
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createFencedStore } from "../../src/lease/fencedStore.js";
import { ForbiddenKeyError } from "../../src/store/keyGuard.js";
import {
  formatHolder,
  LeaseLostError,
  LeaseManager,
  makeLeaseToken,
} from "../../src/lease/lease.js";
import { createRedisStore, type RedisStore } from "../../src/store/redisStore.js";
import { ACL_RULES } from "../helpers/acl.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import {
  cmd,
  Instances,
  intercepted,
  LEASE_KEY,
  rawClient,
  startMonitor,
  until,
} from "./helpers.js";

const USER = "quantum-calc";
const PASSWORD = "Qc-lease-acl-7f3e";

let server: TestRedis;
let admin: Redis;
let userUrl: string;
let inner: RedisStore;
const instances = new Instances();

beforeAll(async () => {
  server = await startTestRedis();
  admin = rawClient(server.url);
  expect(await admin.call("ACL", "SETUSER", USER, `>${PASSWORD}`, ...ACL_RULES)).toBe("OK");
  userUrl = `redis://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}`;
  inner = createRedisStore({ url: userUrl });
  await inner.waitReady(5000);
});
afterAll(async () => {
  await inner?.close();
  admin?.disconnect();
  await server?.close();
});
afterEach(async () => {
  await instances.closeAll();
  await admin.flushall();
});

const batch = (i: number) => ({
  hashes: [{ key: `quantum:risk:proposal:S${i}`, fields: { sl: "1.5", i: String(i) }, ttlSec: 30 }],
  streams: [{ key: "quantum:stream:risk.proposal", fields: { symbol: `S${i}` }, maxLen: 100 }],
});

describe("the lease as the least-privilege ACL user", () => {
  it("acquire, renew, fenced group publish, release and takeover all work; nothing is refused", async () => {
    const monitor = await startMonitor(server.url);
    try {
      const a = await instances.create(userUrl, { leaseTtlMs: 600 });
      const b = await instances.create(userUrl, { leaseTtlMs: 600 });
      const errors: string[] = [];
      for (const { lease } of [a, b]) lease.on("ioError", (e) => errors.push(e.message));
      expect((await a.lease.start()).role).toBe("leader");
      expect(await b.lease.start()).toMatchObject({ role: "standby", holder: a.lease.self });
      await until(
        "renewals",
        () => monitor.lines.filter((l) => cmd(l) === "pexpire").length >= 3,
        5000,
      );

      const store = createFencedStore(inner, a.writer, a.lease);
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.publish(batch(i))));
      expect(await admin.xlen("quantum:stream:risk.proposal")).toBe(20);
      expect(await admin.ttl("quantum:risk:proposal:S3")).toBeGreaterThan(0);
      expect(store.stats()).toMatchObject({ groups: 1, publishes: 20 });

      expect(await a.lease.release()).toBe(true);
      await until("the takeover", () => b.lease.isLeader(), 3000, 1);
      expect(await admin.get(LEASE_KEY)).toBe(b.lease.token);
      expect(errors).toEqual([]);
    } finally {
      monitor.stop();
    }
  });

  it("the fence holds as that user: a lease stolen between WATCH and EXEC gets the EXEC refused", async () => {
    const a = await instances.create(userUrl, { leaseTtlMs: 5000 });
    expect((await a.lease.start()).role).toBe("leader");
    const thief = makeLeaseToken().replace(/^[^:]+/, "thief");
    let armed = true;
    const hooked = intercepted(a.writer, {
      beforeExec: async () => {
        if (!armed) return;
        armed = false;
        await admin.set(LEASE_KEY, thief, "PX", 60_000);
      },
    });
    const store = createFencedStore(inner, hooked, a.lease);
    const results = await Promise.allSettled([store.publish(batch(1)), store.publish(batch(2))]);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(LeaseLostError);
      expect(((r as PromiseRejectedResult).reason as LeaseLostError).holder).toBe(
        formatHolder(thief),
      );
    }
    expect(
      await admin.exists(
        "quantum:risk:proposal:S1",
        "quantum:risk:proposal:S2",
        "quantum:stream:risk.proposal",
      ),
    ).toBe(0);
  });

  it("a lease key outside quantum:calc:* is refused before anything is sent (release deletes it)", async () => {
    const { writer } = await instances.create(userUrl);
    expect(() => new LeaseManager(writer, { leaseKey: "quantum:leader" })).toThrow(
      ForbiddenKeyError,
    );
  });
});
