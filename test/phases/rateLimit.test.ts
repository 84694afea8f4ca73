import { describe, expect, it } from "vitest";
import { decideHarvest, decideMarketState, decideRisk } from "../../src/phases/registry.js";

const s = { maxPublishAgeMs: 60_000, changeEpsPct: 0.001 };

describe("marketstate rate limit", () => {
  it("publishes first, on new candles, and at max age; else holds", () => {
    expect(decideMarketState(null, "a", 0, s)).toEqual({ publish: true, why: "first_publish" });
    const memory = { fingerprint: "a", publishedAtMs: 1000 };
    expect(decideMarketState(memory, "b", 2000, s).why).toBe("new_candles");
    expect(decideMarketState(memory, "a", 60_999, s).publish).toBe(false);
    expect(decideMarketState(memory, "a", 61_000, s).why).toBe("max_age");
    expect(decideMarketState({ fingerprint: null, publishedAtMs: 1000 }, "a", 2000, s).why).toBe(
      "new_candles",
    );
  });
});

describe("risk rate limit", () => {
  const memory = { sl: 100, tp: 110, publishedAtMs: 0 };
  it("uses |Δ|/max(last, 1) > 0.001 for SL and TP", () => {
    expect(decideRisk(null, { sl: 1, tp: 2 }, 0, s).why).toBe("first_publish");
    expect(decideRisk(memory, { sl: 100.1, tp: 110 }, 1000, s).publish).toBe(false); // 0.001 exactly: not more
    expect(decideRisk(memory, { sl: 100.11, tp: 110 }, 1000, s).why).toBe("sl_changed");
    expect(decideRisk(memory, { sl: 100, tp: 109.8 }, 1000, s).why).toBe("tp_changed");
    expect(decideRisk(memory, { sl: 100, tp: 110 }, 60_000, s).why).toBe("max_age");
  });
  it("floors the divisor at 1 for sub-unit prices", () => {
    const small = { sl: 0.01, tp: 0.02, publishedAtMs: 0 };
    expect(decideRisk(small, { sl: 0.0105, tp: 0.02 }, 1, s).publish).toBe(false); // |Δ| 0.0005 < 0.001·1
    expect(decideRisk(small, { sl: 0.0115, tp: 0.02 }, 1, s).why).toBe("sl_changed");
  });
});

describe("harvest rate limit", () => {
  const memory = {
    action: "NONE",
    newSl: null,
    killScore: 0.5,
    publishedAtMs: 0,
    policyVersion: "",
  };
  it("publishes on action change, SL set/unset or change, K change, or max age", () => {
    expect(
      decideHarvest(null, { action: "NONE", newSl: null, killScore: 0.5, policyVersion: "" }, 0, s)
        .why,
    ).toBe("first_publish");
    expect(
      decideHarvest(
        memory,
        { action: "PARTIAL_25", newSl: null, killScore: 0.5, policyVersion: "" },
        1,
        s,
      ).why,
    ).toBe("action_changed");
    expect(
      decideHarvest(memory, { action: "NONE", newSl: 100, killScore: 0.5, policyVersion: "" }, 1, s)
        .why,
    ).toBe("new_sl_set_changed");
    const withSl = { ...memory, newSl: 100 };
    expect(
      decideHarvest(
        withSl,
        { action: "NONE", newSl: null, killScore: 0.5, policyVersion: "" },
        1,
        s,
      ).why,
    ).toBe("new_sl_set_changed");
    expect(
      decideHarvest(
        withSl,
        { action: "NONE", newSl: 100.05, killScore: 0.5, policyVersion: "" },
        1,
        s,
      ).publish,
    ).toBe(false);
    expect(
      decideHarvest(
        withSl,
        { action: "NONE", newSl: 100.2, killScore: 0.5, policyVersion: "" },
        1,
        s,
      ).why,
    ).toBe("new_sl_changed");
    expect(
      decideHarvest(
        memory,
        { action: "NONE", newSl: null, killScore: 0.5009, policyVersion: "" },
        1,
        s,
      ).publish,
    ).toBe(false);
    expect(
      decideHarvest(
        memory,
        { action: "NONE", newSl: null, killScore: 0.5011, policyVersion: "" },
        1,
        s,
      ).why,
    ).toBe("kill_score_changed");
    expect(
      decideHarvest(
        memory,
        { action: "NONE", newSl: null, killScore: 0.5, policyVersion: "" },
        60_000,
        s,
      ).why,
    ).toBe("max_age");
  });
  it("publishes when the theta in force changes (policy applied, changed or expired), even with the same proposal", () => {
    expect(
      decideHarvest(
        memory,
        { action: "NONE", newSl: null, killScore: 0.5, policyVersion: "1.0.0-ai-v1" },
        1,
        s,
      ).why,
    ).toBe("theta_changed");
    const underPolicy = { ...memory, policyVersion: "1.0.0-ai-v1" };
    expect(
      decideHarvest(
        underPolicy,
        { action: "NONE", newSl: null, killScore: 0.5, policyVersion: "" },
        1,
        s,
      ).why,
    ).toBe("theta_changed");
    expect(
      decideHarvest(
        underPolicy,
        { action: "NONE", newSl: null, killScore: 0.5, policyVersion: "1.0.0-ai-v1" },
        1,
        s,
      ).publish,
    ).toBe(false);
  });
});
