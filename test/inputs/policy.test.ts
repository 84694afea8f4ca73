// The AI policy parser (docs/specification.md §9) on the hash exactly as the universe generator writes it
// (scripts/ai_universe_generator_v1.py → lib/policy_store.py save_policy).
import { describe, expect, it } from "vitest";
import { MAX_UNIVERSE_SYMBOLS, parsePolicy, POLICY_THETA_RANGES } from "../../src/policy/policy.js";
import { DEFAULT_HARVEST_THETA } from "../../src/kernels/harvest.js";
import { GENERATOR_KILL_PARAMS, generatorPolicy } from "../helpers/producers.js";

const NOW = 1_764_576_000_000;

describe("parsePolicy", () => {
  it("takes the generator's harvest_params and kill_params keys that are harvest theta keys, and reports the others", () => {
    const read = parsePolicy(generatorPolicy({ nowMs: NOW }), NOW);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.policy.version).toBe("1.0.0-ai-v1");
    expect(read.policy.theta).toEqual({
      T1_R: 1.8,
      T2_R: 3.5,
      T3_R: 5.8,
      lock_R: 1.2,
      be_plus_pct: 0.003,
      cost_bps: 12,
      k_regime_flip: 0.8,
      k_sigma_spike: 0.6,
      k_ts_drop: 0.4,
      k_age_penalty: 0.2,
      kill_threshold: 0.55,
      trend_min: 0.25,
      sigma_ref: 0.012,
      sigma_spike_cap: 1.8,
      ts_ref: 0.35,
      ts_drop_cap: 0.45,
      max_age_sec: 72000,
    });
    expect(read.policy.unusedKeys).toEqual(["kill_params.k_close_threshold"]);
    expect(read.policy.universe).toEqual(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    expect(read.policy.validUntilMs).toBeCloseTo(NOW + 300_000, -1);
  });

  it("the same key in both objects must agree", () => {
    const read = parsePolicy(generatorPolicy({ nowMs: NOW, harvest: { trend_min: 0.3 } }), NOW);
    expect(read).toMatchObject({ ok: false, reason: "bad_value" });
    if (!read.ok)
      expect(read.detail).toMatch(/trend_min is 0\.3 in harvest_params but 0\.25 in kill_params/);
  });

  it("fallback_stop_pct from the policy is not applied (the configured one stays)", () => {
    const read = parsePolicy(
      generatorPolicy({ nowMs: NOW, harvest: { fallback_stop_pct: 0.5 } }),
      NOW,
    );
    expect(read.ok && read.policy.theta).not.toHaveProperty("fallback_stop_pct");
    expect(read.ok && read.policy.unusedKeys).toContain("harvest_params.fallback_stop_pct");
  });

  it("the same policy re-issued with a later expiry has the same fingerprint; a changed value does not", () => {
    const a = parsePolicy(generatorPolicy({ nowMs: NOW }), NOW);
    const b = parsePolicy(generatorPolicy({ nowMs: NOW + 60_000 }), NOW);
    const c = parsePolicy(generatorPolicy({ nowMs: NOW, harvest: { T1_R: 1.9 } }), NOW);
    expect(a.ok && b.ok && c.ok).toBe(true);
    if (!a.ok || !b.ok || !c.ok) return;
    expect(b.policy.fingerprint).toBe(a.policy.fingerprint);
    expect(c.policy.fingerprint).not.toBe(a.policy.fingerprint);
  });

  const refusals: Array<
    [string, Record<string, string> | (() => Record<string, string>), string, RegExp]
  > = [
    ["no hash", {}, "missing", /does not exist/],
    ["expired", generatorPolicy({ nowMs: NOW - 301_000 }), "expired", /expired 1 s ago/],
    [
      "harvest_params not JSON",
      { ...generatorPolicy({ nowMs: NOW }), harvest_params: "{T1_R: 2" },
      "bad_json",
      /harvest_params is not valid JSON/,
    ],
    [
      "kill_params a list",
      { ...generatorPolicy({ nowMs: NOW }), kill_params: "[1,2]" },
      "bad_json",
      /kill_params must be a JSON object/,
    ],
    [
      "a string value",
      generatorPolicy({ nowMs: NOW, harvest: { T1_R: "2" } }),
      "bad_value",
      /harvest_params\.T1_R must be an R threshold > 0 \(got "2"\)/,
    ],
    [
      "a negative weight",
      generatorPolicy({ nowMs: NOW, harvest: { k_ts_drop: -0.1 } }),
      "bad_value",
      /k_ts_drop must be a weight >= 0/,
    ],
    [
      "a kill threshold of 1",
      generatorPolicy({ nowMs: NOW, harvest: { kill_threshold: 1 } }),
      "bad_value",
      /kill_threshold must be a kill-score threshold inside \(0, 1\)/,
    ],
    [
      "a zero sigma_ref",
      generatorPolicy({ nowMs: NOW, kill: { sigma_ref: 0 } }),
      "bad_value",
      /sigma_ref must be a volatility > 0/,
    ],
    [
      "a trend_min above 1",
      generatorPolicy({ nowMs: NOW, kill: { trend_min: 1.5 } }),
      "bad_value",
      /trend_min must be a probability/,
    ],
    [
      "R thresholds not ascending",
      generatorPolicy({ nowMs: NOW, harvest: { T2_R: 6 } }),
      "bad_value",
      /must ascend, T1_R < T2_R < T3_R \(got 1\.8, 6, 5\.8\)/,
    ],
    [
      "a bad universe symbol",
      { ...generatorPolicy({ nowMs: NOW }), universe_symbols: '["BTCUSDT", "btc usdt"]' },
      "bad_universe",
      /universe_symbols\[1\]/,
    ],
    [
      "a universe not a list",
      { ...generatorPolicy({ nowMs: NOW }), universe_symbols: '"BTCUSDT"' },
      "bad_universe",
      /must be a JSON list/,
    ],
    [
      `${MAX_UNIVERSE_SYMBOLS + 1} symbols`,
      {
        ...generatorPolicy({ nowMs: NOW }),
        universe_symbols: JSON.stringify(
          Array.from({ length: MAX_UNIVERSE_SYMBOLS + 1 }, (_, i) => `S${i}USDT`),
        ),
      },
      "too_large",
      /lists 2001 symbols/,
    ],
    [
      "a 1 MB field",
      { ...generatorPolicy({ nowMs: NOW }), kill_params: `{"x": "${"y".repeat(1024 * 1024)}"}` },
      "too_large",
      /kill_params is \d+ characters/,
    ],
    [
      "no valid_until_epoch",
      { ...generatorPolicy({ nowMs: NOW }), valid_until_epoch: "soon" },
      "bad_value",
      /valid_until_epoch must be epoch seconds/,
    ],
  ];
  for (const [name, fields, reason, detail] of refusals) {
    it(`refuses the whole policy: ${name}`, () => {
      const read = parsePolicy(typeof fields === "function" ? fields() : fields, NOW);
      expect(read).toMatchObject({ ok: false, reason });
      if (!read.ok) expect(read.detail).toMatch(detail);
    });
  }

  it("every range admits the default theta value (the defaults are a valid policy)", () => {
    for (const [key, range] of Object.entries(POLICY_THETA_RANGES)) {
      const value = DEFAULT_HARVEST_THETA[key as keyof typeof DEFAULT_HARVEST_THETA];
      const inKill = key in GENERATOR_KILL_PARAMS;
      const read = parsePolicy(
        generatorPolicy({
          nowMs: NOW,
          ...(inKill ? { kill: { [key]: value } } : { harvest: { [key]: value } }),
        }),
        NOW,
      );
      expect(read.ok, `${key}=${value} (${range.why})`).toBe(true);
    }
  });
});
