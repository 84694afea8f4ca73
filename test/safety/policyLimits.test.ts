// The AI policy's plausibility (CONTRACT.md, "Plausibility"): a valid_until_epoch more than
// maxPolicyValidity ahead is refused like an expired one (`too_far_ahead`); policy_version is at
// most 64 characters and free of control and bidi/invisible format characters (`bad_value` naming
// the code point, never echoing it); the universe is bounded by maxSymbols. A refused policy
// reaches nothing: not the harvest hash, not a log line, not a metric label.
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createServiceMetrics } from "../../src/metrics/serviceMetrics.js";
import {
  DEFAULT_MAX_POLICY_VALIDITY_SEC,
  MAX_POLICY_VERSION_CHARS,
  parsePolicy,
  POLICY_KEY,
  POLICY_REFUSAL_REASONS,
  policyLimitsFrom,
  type PolicyRead,
} from "../../src/policy/policy.js";
import { PolicyBook, type PolicyEvent } from "../../src/policy/policyBook.js";
import { escapeUnsafe, firstUnsafeCharacter, quoteForLog } from "../../src/contracts/safeText.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { generatorPolicy } from "../helpers/producers.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { oncePass, serviceConfig } from "../helpers/serviceHarness.js";
import { harvestKey, openLong, seedMarket, writePolicy } from "../policy/harness.js";

const NOW = 1_796_518_455_250;
const DAY = 86_400;
const refused = (read: PolicyRead) => {
  if (read.ok) throw new Error("expected a refusal");
  return read;
};
/** Every unsafe character the rule names (C0, DEL, C1, the bidi/invisible format characters). */
const UNSAFE = [
  "\u0000",
  "\u0009",
  "\u001B",
  "\u007F",
  "\u0085",
  "\u009F",
  "\u061C",
  "\u200B",
  "\u200F",
  "\u202A",
  "\u202E",
  "\u2066",
  "\u2069",
  "\uFEFF",
];

describe("valid_until_epoch: maxPolicyValidity", () => {
  it("the generator's 300 s and up to the limit are fine; further ahead is too_far_ahead, naming the value and the limit", () => {
    expect(parsePolicy(generatorPolicy({ nowMs: NOW }), NOW).ok).toBe(true);
    expect(parsePolicy(generatorPolicy({ nowMs: NOW, validForSec: DAY }), NOW).ok).toBe(true);
    const month = refused(parsePolicy(generatorPolicy({ nowMs: NOW, validForSec: 30 * DAY }), NOW));
    expect(month.reason).toBe("too_far_ahead");
    expect(month.detail).toBe(
      `policy 1.0.0-ai-v1 is valid until ${NOW / 1000 + 30 * DAY}, 2592000 s ahead (maxPolicyValidity 86400 s)`,
    );
    expect(DEFAULT_MAX_POLICY_VALIDITY_SEC).toBe(DAY);
  });

  it("99999999999 is seconds (below the 1e11 milliseconds guess) in the year 5138: too_far_ahead; 1e11 and up is milliseconds", () => {
    expect(
      parsePolicy({ ...generatorPolicy({ nowMs: NOW }), valid_until_epoch: "99999999999" }, NOW),
    ).toMatchObject({ ok: false, reason: "too_far_ahead" });
    expect(
      parsePolicy({ ...generatorPolicy({ nowMs: NOW }), valid_until_epoch: "100000000000" }, NOW),
    ).toMatchObject({
      ok: false,
      reason: "bad_value",
      detail: expect.stringMatching(/milliseconds\?/),
    });
  });

  it("the configured maxPolicyValidity decides (policyLimitsFrom(config))", () => {
    const limits = policyLimitsFrom(serviceConfig({ maxPolicyValidity: 600 }));
    expect(limits).toEqual({ maxValiditySec: 600, maxSymbols: 2000 });
    expect(
      parsePolicy(generatorPolicy({ nowMs: NOW, validForSec: 601 }), NOW, {}, limits),
    ).toMatchObject({
      ok: false,
      reason: "too_far_ahead",
      detail: expect.stringContaining("(maxPolicyValidity 600 s)"),
    });
    expect(parsePolicy(generatorPolicy({ nowMs: NOW, validForSec: 599 }), NOW, {}, limits).ok).toBe(
      true,
    );
  });

  it("in the book it is refused like an expired one: the last good policy stays in force until it expires, then the configured theta", async () => {
    const store = new MemoryStore({ now: () => NOW });
    const events: PolicyEvent[] = [];
    const book = new PolicyBook({
      store,
      source: "policy",
      configured: { fallback_stop_pct: 0.02 },
      onEvent: (e) => events.push(e),
    });
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: NOW, version: "good" }));
    await book.refresh(NOW);
    expect(book.thetaAt(NOW).version).toBe("good");
    store.hset(POLICY_KEY, generatorPolicy({ nowMs: NOW, version: "far", validForSec: 365 * DAY }));
    await book.refresh(NOW + 1000);
    expect(events.at(-1)).toMatchObject({
      type: "refused",
      reason: "too_far_ahead",
      keptPrevious: true,
    });
    expect(book.thetaAt(NOW + 1000).version).toBe("good");
    expect(book.thetaAt(NOW + 301_000)).toMatchObject({ source: "config", version: "" });
  });

  it("too_far_ahead is a pre-registered refusal reason of quantum_calc_policy_refusals_total", async () => {
    expect(POLICY_REFUSAL_REASONS).toContain("too_far_ahead");
    const metrics = createServiceMetrics({
      phases: ["harvest"],
      symbols: ["BTCUSDT"],
      now: () => NOW,
      defaultMetrics: false,
    });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/quantum_calc_policy_refusals_total\{reason="too_far_ahead"\} 0/);
  });
});

describe("policy_version", () => {
  it("the generator's version is fine; longer than 64 characters is too_large", () => {
    expect(parsePolicy(generatorPolicy({ nowMs: NOW, version: "1.0.0-ai-v1" }), NOW)).toMatchObject(
      { ok: true, policy: { version: "1.0.0-ai-v1" } },
    );
    expect(
      parsePolicy(
        generatorPolicy({ nowMs: NOW, version: "v".repeat(MAX_POLICY_VERSION_CHARS) }),
        NOW,
      ).ok,
    ).toBe(true);
    expect(
      parsePolicy(
        generatorPolicy({ nowMs: NOW, version: "v".repeat(MAX_POLICY_VERSION_CHARS + 1) }),
        NOW,
      ),
    ).toMatchObject({
      ok: false,
      reason: "too_large",
      detail: expect.stringContaining("policy_version is 65 characters (at most 64)"),
    });
  });

  it("a control or bidi/invisible format character is bad_value naming the code point, and the detail holds none of them", () => {
    for (const char of UNSAFE) {
      const read = refused(
        parsePolicy(generatorPolicy({ nowMs: NOW, version: `1.0.0${char}-ai-v1` }), NOW),
      );
      const name = `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
      expect(read.reason, name).toBe("bad_value");
      expect(read.detail, name).toContain(`policy_version holds ${name} `);
      expect(read.detail, name).toContain("at index 5");
      expect(firstUnsafeCharacter(read.detail), name).toBeNull();
    }
    const both = refused(
      parsePolicy(generatorPolicy({ nowMs: NOW, version: "1.0\u0000\u202Eevil" }), NOW),
    );
    expect(both.detail).toBe(
      `${POLICY_KEY}.policy_version holds U+0000 (a control or bidirectional/invisible format character) at index 3: "1.0\\u0000\\u202eevil"`,
    );
  });

  it("ordinary non-ASCII text is not refused (only the listed characters are)", () => {
    expect(parsePolicy(generatorPolicy({ nowMs: NOW, version: "ünïcode-β" }), NOW).ok).toBe(true);
  });

  it("other echoed values are escaped too (theta values, universe symbols, bad JSON)", () => {
    const theta = refused(
      parsePolicy(generatorPolicy({ nowMs: NOW, harvest: { T1_R: "x\u202Ey" } }), NOW),
    );
    expect(theta.detail).toContain('"x\\u202ey"');
    const symbol = refused(
      parsePolicy(generatorPolicy({ nowMs: NOW, universe: ["BTC\u202EUSDT"] }), NOW),
    );
    expect(symbol.reason).toBe("bad_universe");
    const json = refused(
      parsePolicy({ ...generatorPolicy({ nowMs: NOW }), harvest_params: "{\u0085\u2066" }, NOW),
    );
    for (const read of [theta, symbol, json])
      expect(firstUnsafeCharacter(read.detail), read.detail).toBeNull();
    // Unused keys (logged once) keep their names, escaped when unsafe.
    const ok = parsePolicy(generatorPolicy({ nowMs: NOW, harvest: { "note\u202E": 1 } }), NOW);
    if (!ok.ok) throw new Error(ok.detail);
    expect(ok.policy.unusedKeys).toContain('harvest_params."note\\u202e"');
  });

  it("quoteForLog / escapeUnsafe: JSON escapes for every unsafe character, the rest untouched", () => {
    expect(quoteForLog('a\u0000b\u007Fc\u202Ed"e\\')).toBe('"a\\u0000b\\u007fc\\u202ed\\"e\\\\"');
    expect(escapeUnsafe("plain ünïcode")).toBe("plain ünïcode");
    for (const char of UNSAFE) expect(firstUnsafeCharacter(quoteForLog(char))).toBeNull();
  });
});

describe("maxSymbols bounds the universe", () => {
  it("more universe symbols than maxSymbols is too_large; the default is 2000", () => {
    const universe = Array.from({ length: 11 }, (_, i) => `S${i}USDT`);
    expect(
      parsePolicy(generatorPolicy({ nowMs: NOW, universe }), NOW, {}, { maxSymbols: 10 }),
    ).toMatchObject({
      ok: false,
      reason: "too_large",
      detail: expect.stringContaining("lists 11 symbols (at most 10: maxSymbols)"),
    });
    expect(
      parsePolicy(generatorPolicy({ nowMs: NOW, universe }), NOW, {}, { maxSymbols: 11 }).ok,
    ).toBe(true);
    expect(parsePolicy(generatorPolicy({ nowMs: NOW, universe }), NOW).ok).toBe(true);
  });
});

describe("through the service (redis-server, --once, the generator's layout)", () => {
  const fixture = useTestRedis();
  let redis: Redis;
  const S = "BTCUSDT";
  beforeAll(() => {
    ({ redis } = fixture);
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  it("a version with NUL and U+202E: refused and counted; the harvest hash, the log and the metrics hold nothing of it", async () => {
    const t0 = Date.now();
    const mark = await seedMarket(redis, S, t0);
    await openLong(redis, S, mark, t0);
    await writePolicy(redis, generatorPolicy({ nowMs: t0, version: "v1\u0000\u202Eevil" }));
    const r = await oncePass({ redisUrl: fixture.server.url, symbols: [S], now: () => t0 });
    expect(r.counts["harvest:published"]).toBe(1);
    const harvest = await redis.hgetall(harvestKey(S));
    expect(harvest.policy_version).toBe("");
    for (const value of Object.values(harvest)) expect(firstUnsafeCharacter(value)).toBeNull();
    // The version appears in the log only escaped, never raw.
    expect(firstUnsafeCharacter(r.logText.replaceAll("\n", ""))).toBeNull();
    const refusal = r.lines.find((l) => l.reason === "bad_value");
    expect(refusal, r.logText).toBeDefined();
    expect(JSON.stringify(refusal)).toContain("U+0000");
  });

  it('a policy valid for 30 days is refused (too_far_ahead): the configured theta computes, policy_version ""', async () => {
    const t0 = Date.now();
    const mark = await seedMarket(redis, S, t0);
    await openLong(redis, S, mark, t0);
    await writePolicy(redis, generatorPolicy({ nowMs: t0, validForSec: 30 * DAY }));
    const r = await oncePass({ redisUrl: fixture.server.url, symbols: [S], now: () => t0 });
    expect(r.counts["harvest:published"]).toBe(1);
    expect((await redis.hgetall(harvestKey(S))).policy_version).toBe("");
    expect(r.lines.some((l) => l.reason === "too_far_ahead")).toBe(true);
    // With a validity limit of 60 days the same policy is in force.
    await redis.del(harvestKey(S));
    const allowed = await oncePass({
      redisUrl: fixture.server.url,
      symbols: [S],
      now: () => t0,
      flags: { maxPolicyValidity: 60 * DAY },
    });
    expect(allowed.counts["harvest:published"]).toBe(1);
    expect((await redis.hgetall(harvestKey(S))).policy_version).toBe("1.0.0-ai-v1");
  });
});
