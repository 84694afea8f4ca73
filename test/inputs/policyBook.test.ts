// The policy in force over time: applied, refreshed, refused (keeping the last good one until it
// expires), expiring while running, and the configured theta underneath.
import { describe, expect, it } from "vitest";
import { PolicyBook, type PolicyEvent } from "../../src/policy/policyBook.js";
import { POLICY_KEY } from "../../src/policy/policy.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { generatorPolicy } from "../helpers/producers.js";

const T0 = 1_764_576_000_000;

function book(source: "policy" | "config" = "policy") {
  const store = new MemoryStore({ now: () => T0 });
  const events: PolicyEvent[] = [];
  const b = new PolicyBook({
    store,
    source,
    configured: { fallback_stop_pct: 0.02, T1_R: 2.2 },
    onEvent: (e) => events.push(e),
  });
  return { store, events, b };
}

describe("PolicyBook", () => {
  it("before a read, and without a policy, the configured theta is in force, and says why", async () => {
    const { b } = book();
    expect(b.thetaAt(T0)).toEqual({
      theta: { fallback_stop_pct: 0.02, T1_R: 2.2 },
      source: "config",
      version: "",
      why: "policy not read yet",
    });
    await b.refresh(T0);
    expect(b.thetaAt(T0)).toMatchObject({
      source: "config",
      version: "",
      why: expect.stringMatching(
        /^policy refused \(missing\): quantum:policy:current does not exist/,
      ),
    });
  });

  it("applies the policy's theta on top of the configured one (fallback_stop_pct stays configured), and reports unused keys once", async () => {
    const { store, b, events } = book();
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0 }));
    await b.refresh(T0);
    const inForce = b.thetaAt(T0);
    expect(inForce).toMatchObject({ source: "policy", version: "1.0.0-ai-v1", why: null });
    expect(inForce.theta).toMatchObject({
      fallback_stop_pct: 0.02,
      T1_R: 1.8,
      kill_threshold: 0.55,
      trend_min: 0.25,
    });
    await b.refresh(T0 + 1000);
    expect(events.map((e) => e.type)).toEqual(["applied", "unused_keys", "refreshed"]);
    expect(events[1]).toMatchObject({ keys: ["kill_params.k_close_threshold"] });
    expect(b.universe(T0)).toEqual(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
  });

  it("a policy that expires while running stops applying at that moment, without a re-read", async () => {
    const { store, b } = book();
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0, validForSec: 60 }));
    await b.refresh(T0);
    expect(b.thetaAt(T0 + 59_999).source).toBe("policy");
    const expired = b.thetaAt(T0 + 60_000);
    expect(expired).toMatchObject({
      source: "config",
      version: "",
      why: expect.stringMatching(/^policy 1\.0\.0-ai-v1 expired at /),
    });
    expect(expired.theta).toEqual({ fallback_stop_pct: 0.02, T1_R: 2.2 });
    expect(b.universe(T0 + 60_000)).toBeNull();
  });

  it("a broken update is refused and logged once; the last good policy stays in force until it expires", async () => {
    const { store, b, events } = book();
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0 }));
    await b.refresh(T0);
    store.hset(POLICY_KEY, { harvest_params: '{"T1_R": -1}' });
    await b.refresh(T0 + 1000);
    await b.refresh(T0 + 2000);
    expect(events.filter((e) => e.type === "refused")).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({
      type: "refused",
      reason: "bad_value",
      keptPrevious: true,
    });
    expect(b.thetaAt(T0 + 2000)).toMatchObject({ source: "policy", version: "1.0.0-ai-v1" });
    expect(b.describe(T0 + 2000).refusal).toMatch(
      /^bad_value: quantum:policy:current\.harvest_params\.T1_R/,
    );
  });

  it("a changed policy (same version, new content) is applied from the next cycle", async () => {
    const { store, b, events } = book();
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0 }));
    await b.refresh(T0);
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0, harvest: { kill_threshold: 0.7 } }));
    await b.refresh(T0 + 1000);
    expect(events.filter((e) => e.type === "applied")).toHaveLength(2);
    expect(b.thetaAt(T0 + 1000).theta).toMatchObject({ kill_threshold: 0.7 });
  });

  it("a policy hash of the wrong type is a refusal, not a crash", async () => {
    const { store, b, events } = book();
    store.set(POLICY_KEY, "oops");
    await b.refresh(T0);
    expect(events).toMatchObject([{ type: "refused", reason: "wrong_type" }]);
    expect(b.thetaAt(T0).source).toBe("config");
  });

  it("harvestThetaSource config never reads the policy", async () => {
    const { store, b } = book("config");
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0 }));
    await b.refresh(T0);
    expect(b.thetaAt(T0)).toMatchObject({ source: "config", why: "harvestThetaSource is config" });
  });
});
