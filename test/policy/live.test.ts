// The policy followed by the long-running service (docs/specification.md §9), in-process against a real
// redis-server with short intervals: a new policy applies from the next cycle without a restart,
// one that expires while running stops applying at that moment, and a flapping one costs at most
// about one re-read a second while the publishers keep running. Everything waits by polling.
import type { Redis } from "ioredis";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { POLICY_KEY, POLICY_UPDATE_STREAM } from "../../src/policy/policy.js";
import type { PolicyEvent } from "../../src/policy/policyBook.js";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { generatorPolicy } from "../helpers/producers.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import type { TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import {
  captureLogger,
  explainWith,
  fastFlags,
  serviceConfig,
  until,
  type CapturedLogger,
} from "../helpers/serviceHarness.js";
import type { HarvestTheta } from "../../src/kernels/harvest.js";
import {
  generatorTheta,
  harvestKey,
  hashFields,
  kernelOnPublished,
  monitorCommands,
  openLong,
  published,
  resultFields,
  seedMarket,
  thetaOf,
  writePolicy,
} from "./harness.js";

const S = "BTCUSDT";

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;
let handle: ServiceHandle | undefined;
beforeAll(() => {
  ({ server, redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});
afterEach(async () => {
  await handle?.close();
  handle = undefined;
});

interface Live {
  handle: ServiceHandle;
  watch: CycleWatch;
  log: CapturedLogger;
  /** What every policy re-read found (the onPolicy hook). */
  events: PolicyEvent[];
}

/**
 * The service with 0.1 s cycles. maxPublishAge stays 60 s (a publish means something changed),
 * and the market state is accepted for 10 minutes (it is republished only every 60 s).
 */
async function startLive(extra: Record<string, unknown> = {}): Promise<Live> {
  const log = captureLogger("debug");
  const watch = new CycleWatch();
  const events: PolicyEvent[] = [];
  const config = serviceConfig(
    fastFlags(server.url, [S], { maxInputAge: 600, followKlines: false, ...extra }),
  );
  handle = await startService({
    config,
    logger: log.logger,
    hooks: { ...watch.hooks, onPolicy: (e) => events.push(e) },
    now: wallClock,
  });
  return { handle, watch, log, events };
}

async function inputs(nowMs: number): Promise<void> {
  const mark = await seedMarket(redis, S, nowMs);
  await openLong(redis, S, mark, nowMs, { profit: 0.03, ageSec: 20_000 });
}

const harvestVersion = async (): Promise<string | null> =>
  await redis.hget(harvestKey(S), "policy_version");

/**
 * Waits until the harvest hash is the kernel's proposal under `theta` on the inputs it echoes and
 * the risk hash's stop distance (the very first cycles may still run before the first risk
 * proposal, on the fallback stop).
 */
async function computedWith(theta: HarvestTheta): Promise<void> {
  let last = "";
  await until(
    "the harvest hash computed with the expected theta",
    async () => {
      const out = await published(redis, S);
      const got = JSON.stringify(hashFields(out.harvest));
      const want = JSON.stringify(resultFields(kernelOnPublished(out, theta)));
      last = `got ${got}, want ${want}`;
      return got === want;
    },
    10_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${last}`);
  });
}

describe("a live policy change", () => {
  it("is applied from the next cycle without a restart: announced on quantum:stream:policy.update (first entry of the stream), the next publish carries the new version and theta", async () => {
    const t0 = Date.now();
    await inputs(t0);
    // The first policy is there before the start, the update stream does not exist yet.
    await writePolicy(redis, generatorPolicy({ nowMs: t0, version: "v1" }), false);
    // A harvest interval of 30 s: the interval re-read cannot be what finds the change (harvest
    // still runs every 0.1 s, chained after every risk cycle).
    const { handle: h, watch } = await startLive({ harvestInterval: 30 });
    await until("a harvest publish under v1", async () => (await harvestVersion()) === "v1").catch(
      explainWith(h),
    );
    const idsBefore = Object.keys(h.actor.getSnapshot().children).sort();

    const v2 = { k_age_penalty: 3, kill_threshold: 0.9 };
    const announcedAt = Date.now();
    await writePolicy(redis, generatorPolicy({ nowMs: Date.now(), version: "v2", harvest: v2 }));
    await until(
      "a harvest publish under v2",
      async () => (await harvestVersion()) === "v2",
      10_000,
    ).catch(explainWith(h));
    // Found through the announcement, within a policy tick or two (not the 30 s interval).
    expect(Date.now() - announcedAt).toBeLessThan(5000);
    await computedWith(thetaOf({}, generatorTheta(v2))).catch(explainWith(h));
    const first = watch
      .of("harvest", "published", S)
      .find((c) => c.event.labels?.policy_version === "v2");
    expect(first?.event.reason).toMatch(/^(theta_changed|action_changed)$/);
    // No restart, no respawn: the same publishers computed with the new theta.
    expect(h.stats.restarts).toBe(0);
    expect(Object.keys(h.actor.getSnapshot().children).sort()).toEqual(idsBefore);
    expect(watch.of("harvest", "error")).toEqual([]);
  });

  it("the same version with new content (as the generator re-issues it) is applied too", async () => {
    const t0 = Date.now();
    await inputs(t0);
    await writePolicy(redis, generatorPolicy({ nowMs: t0 }));
    const { handle: h } = await startLive({ harvestInterval: 30 });
    await until(
      "a harvest publish under the policy",
      async () => (await harvestVersion()) === "1.0.0-ai-v1",
    ).catch(explainWith(h));
    await computedWith(thetaOf({}, generatorTheta())).catch(explainWith(h));

    // Same policy_version, a much heavier age weight: K moves far beyond the change threshold.
    const changed = { k_age_penalty: 4 };
    await writePolicy(redis, generatorPolicy({ nowMs: Date.now(), harvest: changed }));
    await computedWith(thetaOf({}, generatorTheta(changed))).catch(explainWith(h));
    expect(await harvestVersion()).toBe("1.0.0-ai-v1");
  });
});

describe("a policy update stream of the wrong type", () => {
  it("is one warning, not one a second; the interval re-read still finds a new policy", async () => {
    const t0 = Date.now();
    await inputs(t0);
    await redis.set(POLICY_UPDATE_STREAM, "not a stream");
    await writePolicy(redis, generatorPolicy({ nowMs: t0, version: "w1" }), false);
    const { handle: h, log } = await startLive({ harvestInterval: 0.5 });
    await until("a harvest publish under w1", async () => (await harvestVersion()) === "w1").catch(
      explainWith(h),
    );
    const monitor = await monitorCommands(server.port);
    try {
      await writePolicy(redis, generatorPolicy({ version: "w2" }), false);
      await until(
        "a harvest publish under w2",
        async () => (await harvestVersion()) === "w2",
      ).catch(explainWith(h));
      await until(
        "three more looks at the update stream",
        () => monitor.count("xrevrange", POLICY_UPDATE_STREAM) >= 3,
        10_000,
      );
    } finally {
      monitor.stop();
    }
    const warnings = log
      .lines()
      .filter((l) => l.level === 40 && /policy update stream failed/.test(l.msg));
    expect(warnings.length, warnings.map((l) => l.msg).join("\n")).toBe(1);
    expect(String(warnings[0].err)).toMatch(/quantum:stream:policy\.update is not a stream/);
  });
});

describe("a policy that expires while running", () => {
  it('stops applying at that moment: the first harvest cycle after valid_until_epoch computes with the configured theta, publishes policy_version "" (theta_changed), and a warning says expired', async () => {
    const t0 = Date.now();
    await inputs(t0);
    await writePolicy(redis, generatorPolicy({ nowMs: t0, version: "v-exp" }));
    const { handle: h, watch, log, events } = await startLive();
    await until(
      "a harvest publish under the policy",
      async () => (await harvestVersion()) === "v-exp",
    ).catch(explainWith(h));

    // The generator re-issues the same policy, now valid for 3 more seconds only (a refresh).
    const validUntilSec = Math.floor(Date.now() / 1000) + 3;
    await writePolicy(redis, {
      ...generatorPolicy({ version: "v-exp" }),
      valid_until_epoch: String(validUntilSec),
    });
    const validUntilMs = validUntilSec * 1000;
    await until(
      "the refresh to be read",
      () => h.policy.describe(wallClock()).validUntilMs === validUntilMs,
    ).catch(explainWith(h));
    expect(Date.now(), "the refresh was read before the expiry").toBeLessThan(validUntilMs);

    const switched = await until(
      "the publish after the expiry",
      () => watch.of("harvest", "published", S).find((c) => c.event.labels?.policy_version === ""),
      10_000,
    ).catch(explainWith(h));
    expect(switched.event.reason).toBe("theta_changed");
    expect(switched.event.labels?.theta_source).toBe("config");

    // At that moment: every harvest cycle that started before it used the policy, the first one
    // that started at or after it is this publish.
    const harvestCycles = watch
      .of("harvest", undefined, S)
      .filter((c) => c.event.startedAtMs !== null);
    const after = harvestCycles
      .filter((c) => c.event.startedAtMs! >= validUntilMs)
      .sort((a, b) => a.event.startedAtMs! - b.event.startedAtMs!);
    expect(after[0]?.event).toBe(switched.event);
    for (const c of harvestCycles.filter(
      (c) => c.event.startedAtMs! < validUntilMs && c.event.outcome === "published",
    )) {
      expect(c.event.labels?.policy_version).toBe("v-exp");
    }
    expect(await harvestVersion()).toBe("");
    await computedWith(thetaOf({}, null)).catch(explainWith(h));

    await until("a warning that the policy expired", () =>
      log.lines().some((l) => l.level === 40 && /expired/.test(l.msg)),
    );
    expect(h.policy.describe(wallClock())).toMatchObject({
      source: "config",
      version: "",
      why: expect.stringMatching(/^policy v-exp expired at /),
    });

    // The expired policy stays in Redis and is re-read every tick: that is one problem, warned
    // about (and counted) once, not once a second.
    const monitor = await monitorCommands(server.port);
    try {
      await until(
        "three more re-reads of the expired policy",
        () => monitor.count("hgetall", POLICY_KEY) >= 3,
        10_000,
      );
    } finally {
      monitor.stop();
    }
    const expiryWarnings = log.lines().filter((l) => l.level === 40 && /expired/.test(l.msg));
    expect(expiryWarnings.length, expiryWarnings.map((l) => l.msg).join("\n")).toBeLessThanOrEqual(
      2,
    );
    expect(expiryWarnings.every((l) => !/stays in force/.test(l.msg))).toBe(true);
    expect(
      events.filter((e) => e.type === "refused" && e.reason === "expired").length,
    ).toBeLessThanOrEqual(1);

    // The generator comes back and re-issues the same policy: in force again (applied, not a
    // silent refresh), and the next publish carries its version.
    await writePolicy(redis, generatorPolicy({ version: "v-exp" }));
    const back = await until(
      "the policy applied again",
      () => events.find((e, i) => i > 0 && e.type === "applied"),
      10_000,
    );
    expect(back).toMatchObject({ type: "applied", policy: { version: "v-exp" } });
    expect(log.lines().filter((l) => /^policy v-exp in force/.test(l.msg))).toHaveLength(2);
    const again = await until("a publish under the policy again", () =>
      watch
        .of("harvest", "published", S)
        .find(
          (c) => c.event.labels?.policy_version === "v-exp" && c.event.startedAtMs! > validUntilMs,
        ),
    );
    expect(again.event.reason).toBe("theta_changed");
    expect(h.policy.describe(wallClock()).appliedAtMs).toBeGreaterThan(validUntilMs);
  });
});

describe("a policy flapping every 100 ms", () => {
  it("costs at most about one re-read a second, and the publishers keep running on a good theta", async () => {
    const t0 = Date.now();
    await inputs(t0);
    await writePolicy(redis, generatorPolicy({ nowMs: t0, version: "flap-a" }));
    const { handle: h, watch } = await startLive();
    await until(
      "a harvest publish under the policy",
      async () => (await harvestVersion()) === "flap-a",
    ).catch(explainWith(h));

    const monitor = await monitorCommands(server.port);
    try {
      const startedAt = Date.now();
      const cyclesBefore = watch.of("harvest", undefined, S).length;
      let flips = 0;
      while (Date.now() - startedAt < 4000) {
        const version = flips % 2 === 0 ? "flap-b" : "flap-a";
        await writePolicy(
          redis,
          generatorPolicy({ version, harvest: { kill_threshold: flips % 2 === 0 ? 0.7 : 0.55 } }),
        );
        flips += 1;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const seconds = (Date.now() - startedAt) / 1000;
      expect(flips).toBeGreaterThanOrEqual(20);
      // One policy tick a second: at most one HGETALL of the policy per tick (plus one partial tick).
      const reads = monitor.count("hgetall", POLICY_KEY, startedAt);
      expect(reads).toBeGreaterThanOrEqual(2);
      expect(reads).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
      expect(monitor.count("xrevrange", POLICY_UPDATE_STREAM, startedAt)).toBeLessThanOrEqual(
        Math.ceil(seconds) + 1,
      );
      // The publishers kept cycling (every 0.1 s) without an error, on one of the two good thetas.
      const during = watch.of("harvest", undefined, S).slice(cyclesBefore);
      expect(during.length).toBeGreaterThanOrEqual(10);
      expect(during.filter((c) => c.event.outcome === "error")).toEqual([]);
      expect(["flap-a", "flap-b"]).toContain(await harvestVersion());
      expect(h.stats.restarts).toBe(0);
    } finally {
      monitor.stop();
    }
  });
});
