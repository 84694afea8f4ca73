// Regressions of the policy code found while testing it end to end (issue 9), pinned at unit level
// with the memory store and an injected clock.
import { describe, expect, it } from "vitest";
import { PolicyBook, type PolicyEvent } from "../../src/policy/policyBook.js";
import { parsePolicy, POLICY_KEY } from "../../src/policy/policy.js";
import { logPolicyEvent } from "../../src/policy/policyWatch.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { generatorPolicy } from "../helpers/producers.js";
import { captureLogger } from "../helpers/serviceHarness.js";

const T0 = 1_764_576_000_000;

function book(source: "policy" | "config" = "policy") {
  const store = new MemoryStore({ now: () => T0 });
  const events: PolicyEvent[] = [];
  const b = new PolicyBook({
    store,
    source,
    configured: { fallback_stop_pct: 0.02 },
    onEvent: (e) => events.push(e),
  });
  return { store, events, b };
}

describe("PolicyBook", () => {
  it("the same policy re-issued after it expired comes back into force: applied (logged, counted), its age from then — not a silent refresh", async () => {
    const { store, b, events } = book();
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0, validForSec: 60 }));
    await b.refresh(T0);
    expect(b.thetaAt(T0 + 61_000).source).toBe("config");
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0 + 600_000 }));
    await b.refresh(T0 + 600_000);
    expect(events.filter((e) => e.type === "applied")).toHaveLength(2);
    expect(b.describe(T0 + 600_000)).toMatchObject({ source: "policy", appliedAtMs: T0 + 600_000 });
    // While in force, the same content again is a refresh.
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0 + 660_000 }));
    await b.refresh(T0 + 660_000);
    expect(events.at(-1)?.type).toBe("refreshed");
  });

  it("an expired policy left in Redis is one refusal, however often it is re-read; the warning does not claim a kept policy that has expired", async () => {
    const { store, b, events } = book();
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0, validForSec: 60 }));
    await b.refresh(T0);
    for (let s = 61; s < 80; s++) await b.refresh(T0 + s * 1000);
    const refused = events.filter((e) => e.type === "refused");
    expect(refused).toEqual([expect.objectContaining({ reason: "expired", keptPrevious: false })]);
    // A different expired policy is a new problem.
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0 + 1000, validForSec: 60, version: "v2" }));
    await b.refresh(T0 + 90_000);
    expect(events.filter((e) => e.type === "refused")).toHaveLength(2);
  });

  it("a refusal while a good policy is still in force keeps it (keptPrevious)", async () => {
    const { store, b, events } = book();
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0 }));
    await b.refresh(T0);
    store.hset(POLICY_KEY, { universe_symbols: '["x"]' });
    await b.refresh(T0 + 1000);
    expect(events.at(-1)).toMatchObject({
      type: "refused",
      reason: "bad_universe",
      keptPrevious: true,
    });
  });

  it("harvestThetaSource config: not read at all, unless for the universe (symbolsSource policy) — then its theta still never applies", async () => {
    const { store, b, events } = book("config");
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: T0 }));
    await b.refresh(T0);
    expect(events).toEqual([]);
    expect(b.universe(T0)).toBeNull();
    await b.refresh(T0, { universe: true });
    expect(b.universe(T0)).toEqual(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    expect(b.thetaAt(T0)).toMatchObject({
      source: "config",
      version: "",
      why: "harvestThetaSource is config",
    });
    expect(events.map((e) => e.type)).toEqual(["applied"]); // no unused_keys: no theta is used
    expect(events[0]).toMatchObject({ thetaApplies: false });
    // No expiry or age of a policy whose theta is not in force.
    expect(b.describe(T0)).toMatchObject({
      source: "config",
      validUntilMs: null,
      appliedAtMs: null,
    });
  });
});

describe("parsePolicy", () => {
  it("refuses a kill_threshold at or below 0.5 (K is never lower: every position would be closed), accepts one just above", () => {
    for (const kill_threshold of [0.5, 0.3, 0.01]) {
      const read = parsePolicy(generatorPolicy({ nowMs: T0, harvest: { kill_threshold } }), T0);
      expect(read, String(kill_threshold)).toMatchObject({
        ok: false,
        reason: "bad_value",
        detail: expect.stringMatching(/every position would get FULL_CLOSE_PROPOSED/),
      });
    }
    expect(
      parsePolicy(generatorPolicy({ nowMs: T0, harvest: { kill_threshold: 0.501 } }), T0).ok,
    ).toBe(true);
  });

  it("refuses valid_until_epoch in milliseconds (it would never expire)", () => {
    const read = parsePolicy(
      { ...generatorPolicy({ nowMs: T0 }), valid_until_epoch: String(T0 + 300_000) },
      T0,
    );
    expect(read).toMatchObject({
      ok: false,
      reason: "bad_value",
      detail: expect.stringMatching(/must be epoch seconds .*milliseconds\?/),
    });
    // 2100-01-01 in seconds is seconds (no milliseconds guess), but further ahead than maxPolicyValidity.
    expect(
      parsePolicy({ ...generatorPolicy({ nowMs: T0 }), valid_until_epoch: "4102444800.5" }, T0),
    ).toMatchObject({ ok: false, reason: "too_far_ahead" });
    expect(
      parsePolicy(
        { ...generatorPolicy({ nowMs: T0 }), valid_until_epoch: "4102444800.5" },
        T0,
        {},
        { maxValiditySec: null },
      ).ok,
    ).toBe(true);
  });
});

describe("logPolicyEvent", () => {
  it("never throws on an instant with no ISO form (the observer chain would drop the event)", () => {
    const log = captureLogger("debug");
    const read = parsePolicy(generatorPolicy({ nowMs: T0 }), T0);
    if (!read.ok) throw new Error(read.detail);
    const policy = { ...read.policy, validUntilMs: 1e17 };
    expect(() =>
      logPolicyEvent(log.logger, { type: "applied", policy, previous: null }),
    ).not.toThrow();
    expect(() => logPolicyEvent(log.logger, { type: "refreshed", policy })).not.toThrow();
    expect(log.lines().map((l) => l.validUntil)).toEqual([1e17, 1e17]);
  });
});
