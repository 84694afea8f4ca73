// The lease with real processes: a writer child (fixtures/leaseWriter.ts) frozen with SIGSTOP past
// its lease and thawed with SIGCONT after another instance took over — Redis refuses its write,
// nothing it sends after the takeover lands, and it reports the lease lost — plus the handover
// figures for kill -9 and SIGTERM with the default TTL.
import { performance } from "node:perf_hooks";
import type { Redis } from "ioredis";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createFencedStore } from "../../src/lease/fencedStore.js";
import type { RedisStore } from "../../src/store/redisStore.js";
import type { TestRedis } from "../helpers/redisServer.js";
import {
  cmd,
  Instances,
  LEASE_KEY,
  startChild,
  startMonitor,
  until,
  useLeaseRedis,
  type Child,
  type MonitorLine,
} from "./helpers.js";

let server: TestRedis;
let raw: Redis;
let inner: RedisStore;
const instances = new Instances();
const children: Child[] = [];

const env = useLeaseRedis();
beforeAll(() => {
  ({ server, raw, inner } = env);
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.state() !== "gone") {
      child.proc.kill("SIGCONT");
      child.proc.kill("SIGKILL");
      await child.exited;
    }
  }
  await instances.closeAll();
});

function spawnWriter(env: Record<string, string>): Child {
  const child = startChild({ REDIS_URL: server.url, ...env });
  children.push(child);
  return child;
}

async function addrOf(name: string): Promise<string> {
  const list = (await raw.call("CLIENT", "LIST")) as string;
  const addr = list
    .split("\n")
    .find((l) => l.includes(` name=${name} `))
    ?.match(/\baddr=(\S+)/)?.[1];
  if (!addr) throw new Error(`no connection named ${name}`);
  return addr;
}

/** Index of the SET NX that gave `token` the lease: its last SET (afterwards it only renews). */
const takeoverIndex = (lines: MonitorLine[], token: string): number =>
  lines.findLastIndex((l) => cmd(l) === "set" && l.args[2] === token);

const CHILD_BOOT_MS = 30_000; // the child transpiles the sources on start (a few seconds on a slow box)

describe("a writer frozen past its lease (SIGSTOP … SIGCONT)", () => {
  it("frozen between the WATCH and the EXEC, with a clock that did not see the pause: Redis refuses the EXEC, nothing lands, it reports the lease lost", async () => {
    const target = "quantum:calc:test:frozen";
    const monitor = await startMonitor(server.url);
    try {
      const child = spawnWriter({
        LEASE_TTL_MS: "1000",
        LEASE_MODE: "fence-stop",
        TARGET_KEY: target,
      });
      const childLeader = await child.next("leader", undefined, CHILD_BOOT_MS);
      const childWriter = await addrOf("lease-child-writer");
      const watched = await child.next("watched");
      expect(watched.value).toBe(childLeader.token); // the fence's GET said "ours"
      await until("the child stopped", () => child.state() === "T", 5000, 1);

      // Another instance takes over once the frozen child's lease has expired in Redis.
      const b = await instances.create(server.url, { leaseTtlMs: 1000 }, "taker-writer");
      await b.lease.start();
      await until("the takeover", () => b.lease.isLeader(), 5000, 1);
      expect(await raw.get(LEASE_KEY)).toBe(b.lease.token);

      child.proc.kill("SIGCONT");
      const refused = await child.next("refused");
      expect(refused).toMatchObject({ name: "LeaseLostError", holder: b.lease.self });
      expect(String(refused.message)).toMatch(
        /Redis refused the write: the lease changed between WATCH and EXEC, nothing was applied/,
      );
      const lost = await child.next("lost");
      expect(lost.holder).toBe(b.lease.self);

      await monitor.sync();
      // Redis received the frozen writer's MULTI … EXEC after the takeover and ran none of it.
      const taken = takeoverIndex(monitor.lines, b.lease.token);
      const childAfter = monitor.lines
        .slice(taken + 1)
        .filter((l) => l.source === childWriter)
        .map(cmd);
      expect(childAfter).toContain("multi");
      expect(childAfter).toContain("exec");
      expect(monitor.lines.filter((l) => cmd(l) === "hset" && l.args[1] === target)).toEqual([]);
      expect(await raw.exists(target)).toBe(0);
      expect(await raw.get(LEASE_KEY)).toBe(b.lease.token);
      expect(b.lease.isLeader()).toBe(true);
    } finally {
      monitor.stop();
    }
  });

  it("frozen anywhere in a publishing loop: after SIGCONT nothing it sends lands over the new leader's data; it reports lost and stands by", async () => {
    const target = "quantum:calc:test:shared";
    const monitor = await startMonitor(server.url);
    try {
      const child = spawnWriter({
        LEASE_TTL_MS: "1000",
        LEASE_MODE: "loop",
        TARGET_KEY: target,
        PUBLISH_EVERY_MS: "5",
      });
      const childLeader = await child.next("leader", undefined, CHILD_BOOT_MS);
      await child.next("published", (l) => Number(l.seq) >= 20);
      const childWriter = await addrOf("lease-child-writer");
      const b = await instances.create(server.url, { leaseTtlMs: 1000 }, "taker-writer");
      expect((await b.lease.start()).holder).toBe(childLeader.self);

      child.proc.kill("SIGSTOP");
      await until("the child stopped", () => child.state() === "T", 5000, 1);
      const stoppedAt = performance.now();
      await until("the takeover", () => b.lease.isLeader(), 5000, 1);
      const gapMs = performance.now() - stoppedAt;
      // The new leader writes.
      const bStore = createFencedStore(inner, b.writer, b.lease);
      await bStore.publish({
        hashes: [{ key: target, fields: { seq: "b", pid: "parent" } }],
        streams: [],
      });

      const from = child.lines.length;
      child.proc.kill("SIGCONT");
      const lost = await child.next("lost", undefined, 10_000, from);
      await child.next(
        "refused",
        () => child.lines.slice(from).filter((l) => l.event === "refused").length >= 5,
        10_000,
        from,
      );
      console.log(
        `[lease figures] frozen writer: takeover ${gapMs.toFixed(0)} ms after SIGSTOP (TTL 1000); after SIGCONT it reported: ${String(lost.reason)}`,
      );
      expect(lost.holder === b.lease.self || lost.holder === null).toBe(true);
      for (const l of child.lines.slice(from).filter((l) => l.event === "refused"))
        expect(l.name).toBe("LeaseLostError");

      await monitor.sync();
      const taken = takeoverIndex(monitor.lines, b.lease.token);
      expect(taken).toBeGreaterThan(0);
      const childWritesAfter = monitor.lines
        .slice(taken + 1)
        .filter((l) => l.source === childWriter && ["hset", "xadd", "expire"].includes(cmd(l)));
      expect(childWritesAfter).toEqual([]);
      expect(await raw.hgetall(target)).toEqual({ seq: "b", pid: "parent" });
      expect(await raw.get(LEASE_KEY)).toBe(b.lease.token);
    } finally {
      monitor.stop();
    }
  });
});

describe("handover with the default TTL (5000 ms)", () => {
  /** A writer child publishing every 50 ms, and an in-process standby that sees it as the holder. */
  async function writerChildAndStandby(): Promise<{
    child: Child;
    b: Awaited<ReturnType<Instances["create"]>>;
  }> {
    const child = spawnWriter({ LEASE_MODE: "loop", PUBLISH_EVERY_MS: "50" });
    const childLeader = await child.next("leader", undefined, CHILD_BOOT_MS);
    await child.next("published");
    const b = await instances.create(server.url, {}, "taker-writer");
    expect((await b.lease.start()).holder).toBe(childLeader.self);
    return { child, b };
  }

  it("kill -9 of the writer: the standby takes over within TTL + poll", async () => {
    const { child, b } = await writerChildAndStandby();
    const t0 = performance.now();
    child.proc.kill("SIGKILL");
    await child.exited;
    await until("the takeover", () => b.lease.isLeader(), 10_000, 1);
    const gapMs = performance.now() - t0;
    console.log(
      `[lease figures] kill -9 → standby leader after ${gapMs.toFixed(0)} ms (TTL 5000 + poll 500 at most)`,
    );
    expect(gapMs).toBeLessThan(5000 + 500 + 500);
    expect(await raw.get(LEASE_KEY)).toBe(b.lease.token);
  });

  it("SIGTERM of the writer (it releases): the standby takes over within ~0.5 s", async () => {
    const { child, b } = await writerChildAndStandby();
    const t0 = performance.now();
    child.proc.kill("SIGTERM");
    await until("the takeover", () => b.lease.isLeader(), 5000, 1);
    const gapMs = performance.now() - t0;
    expect(await child.exited).toBe(0);
    expect(child.lines.find((l) => l.event === "released")?.released).toBe(true);
    console.log(
      `[lease figures] SIGTERM (release) → standby leader after ${gapMs.toFixed(0)} ms (poll 500)`,
    );
    expect(gapMs).toBeLessThan(1500);
  });
});
