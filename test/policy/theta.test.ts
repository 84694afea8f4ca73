// The harvest theta per source (docs/specification.md §9), end to end against a real redis-server: `run --once`
// (in-process, the clock injected) with the policy hash exactly as the universe generator writes
// it. The harvest proposals must equal the kernel run on the published inputs with the theta in
// force; every refusal falls back to the configured theta, logged and counted.
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MAX_POLICY_FIELD_CHARS, POLICY_KEY } from "../../src/policy/policy.js";
import type { HarvestTheta } from "../../src/kernels/harvest.js";
import { createServiceMetrics } from "../../src/metrics/serviceMetrics.js";
import { startService } from "../../src/service/service.js";
import {
  GENERATOR_HARVEST_PARAMS,
  GENERATOR_KILL_PARAMS,
  generatorPolicy,
} from "../helpers/producers.js";
import type { TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { captureLogger, serviceConfig, type LogLine } from "../helpers/serviceHarness.js";
import {
  generatorTheta,
  harvestKey,
  hashFields,
  kernelOnPublished,
  openLong,
  parseScrape,
  published,
  resultFields,
  sampleValue,
  seedMarket,
  thetaOf,
  type Sample,
} from "./harness.js";

const S = "BTCUSDT";
/** theta.harvest of the config file: T1_R and sigma_spike_cap are also policy keys, softmax_temp is not. */
const CONFIG_THETA = { T1_R: 1.1, sigma_spike_cap: 1.5, softmax_temp: 2 };
const FALLBACK = 0.025;

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;
beforeAll(() => {
  ({ server, redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});

interface OnceRun {
  exitCode: number;
  lines: LogLine[];
  samples: Sample[];
  counts: Record<string, number>;
}

/** One `run --once` pass in-process at `nowMs`, with the exporter's metrics fed by its hooks. */
async function once(nowMs: number, flags: Record<string, unknown> = {}): Promise<OnceRun> {
  const log = captureLogger("debug");
  const config = serviceConfig({
    redisUrl: server.url,
    symbols: [S],
    theta: { harvest: CONFIG_THETA },
    fallbackStopPct: FALLBACK,
    ...flags,
  });
  const metrics = createServiceMetrics({
    phases: config.phases,
    symbols: config.symbols,
    now: () => nowMs,
    defaultMetrics: false,
  });
  const handle = await startService({
    config,
    logger: log.logger,
    once: true,
    now: () => nowMs,
    hooks: metrics.hooks,
  });
  metrics.setPolicyProbe(() => handle.policy.describe(nowMs));
  const output = await handle.done;
  const samples = parseScrape((await metrics.render()).body);
  await handle.close();
  return { exitCode: output.exitCode, lines: log.lines(), samples, counts: handle.stats.summary() };
}

/** Candles and an open LONG for S at `nowMs`. */
async function inputs(nowMs: number, profit = 0.03): Promise<void> {
  const mark = await seedMarket(redis, S, nowMs);
  await openLong(redis, S, mark, nowMs, { profit, ageSec: 20_000 });
}

const CONFIGURED: Partial<HarvestTheta> = { ...CONFIG_THETA, fallback_stop_pct: FALLBACK };

describe("harvestThetaSource policy (the default)", () => {
  it("publishes exactly the kernel's proposal under the policy's theta (defaults <- theta.harvest <- harvest_params + kill_params), with policy_version", async () => {
    const t0 = Date.now();
    await inputs(t0);
    await redis.hset(POLICY_KEY, generatorPolicy({ nowMs: t0, version: "1.0.0-ai-v7" }));
    const r = await once(t0);
    expect(r.exitCode).toBe(0);
    expect(r.counts["harvest:published"]).toBe(1);

    const out = await published(redis, S);
    expect(out.harvest.policy_version).toBe("1.0.0-ai-v7");
    const theta = thetaOf(CONFIGURED, generatorTheta());
    // The precedence itself: the policy beats theta.harvest, theta.harvest beats the defaults.
    expect(theta).toMatchObject({
      T1_R: 1.8,
      sigma_spike_cap: 1.8,
      softmax_temp: 2,
      fallback_stop_pct: FALLBACK,
      kill_threshold: 0.55,
      trend_min: 0.25,
    });
    const expected = kernelOnPublished(out, theta);
    expect(hashFields(out.harvest)).toEqual(resultFields(expected));
    // …and it is not what the configured theta gives: the policy made a difference.
    expect(hashFields(out.harvest)).not.toEqual(
      resultFields(kernelOnPublished(out, thetaOf(CONFIGURED, null))),
    );

    // Logged once: what is in force, and the key that is no harvest theta key.
    const applied = r.lines.filter((l) => /^policy 1\.0\.0-ai-v7 in force/.test(l.msg));
    expect(applied).toHaveLength(1);
    expect(
      r.lines.filter((l) =>
        /not harvest theta keys, ignored: kill_params\.k_close_threshold$/.test(l.msg),
      ),
    ).toHaveLength(1);
    expect(r.lines.find((l) => /^quantum-calc started/.test(l.msg))?.msg).toMatch(
      /harvest theta from policy 1\.0\.0-ai-v7/,
    );
    expect(
      sampleValue(r.samples, "quantum_calc_policy_in_force", {
        source: "policy",
        version: "1.0.0-ai-v7",
      }),
    ).toBe(1);
    expect(sampleValue(r.samples, "quantum_calc_policy_applied_total")).toBe(1);
    expect(
      r.samples
        .filter((s) => s.name === "quantum_calc_policy_refusals_total")
        .every((s) => s.value === 0),
    ).toBe(true);
  });

  it("a policy key missing from the policy comes from theta.harvest, then the defaults; the policy's fallback_stop_pct is ignored (no risk proposal: the fallback is used)", async () => {
    const t0 = Date.now();
    await inputs(t0);
    // As the generator writes it, but without sigma_spike_cap (theta.harvest has one) and
    // ts_drop_cap (only the default), and a fallback_stop_pct the service must not take.
    const policy = generatorPolicy({ nowMs: t0, harvest: { fallback_stop_pct: 0.5 } });
    const { sigma_spike_cap: _a, ts_drop_cap: _b, ...kill } = GENERATOR_KILL_PARAMS;
    policy.kill_params = JSON.stringify(kill).replace(/,/g, ", ").replace(/:/g, ": ");
    await redis.hset(POLICY_KEY, policy);
    const r = await once(t0, { phases: ["marketstate", "harvest"] });
    expect(r.exitCode).toBe(0);
    const out = await published(redis, S);
    expect(out.risk).toEqual({});
    expect(out.harvest.policy_version).toBe("1.0.0-ai-v1");
    const { sigma_spike_cap: _c, ts_drop_cap: _d, ...policyTheta } = generatorTheta();
    const theta = thetaOf(CONFIGURED, { ...policyTheta, fallback_stop_pct: 0.5 });
    expect(theta).toMatchObject({
      sigma_spike_cap: 1.5,
      ts_drop_cap: 0.5,
      fallback_stop_pct: FALLBACK,
    });
    const expected = kernelOnPublished(out, theta, false);
    expect(Number(out.harvest.risk_unit)).toBe(Number(out.harvest.position_entry_price) * FALLBACK);
    expect(hashFields(out.harvest)).toEqual(resultFields(expected));
    expect(
      r.lines.some((l) =>
        /ignored: harvest_params\.fallback_stop_pct, kill_params\.k_close_threshold$/.test(l.msg),
      ),
    ).toBe(true);
  });

  it('without a policy hash: the configured theta, policy_version ""', async () => {
    const t0 = Date.now();
    await inputs(t0);
    const r = await once(t0);
    const out = await published(redis, S);
    expect(out.harvest.policy_version).toBe("");
    expect(hashFields(out.harvest)).toEqual(
      resultFields(kernelOnPublished(out, thetaOf(CONFIGURED, null))),
    );
    expect(
      sampleValue(r.samples, "quantum_calc_policy_in_force", { source: "config", version: "" }),
    ).toBe(1);
    expect(
      sampleValue(r.samples, "quantum_calc_policy_refusals_total", { reason: "missing" }),
    ).toBe(1);
  });
});

describe("harvestThetaSource config", () => {
  it('never applies the policy: the configured theta, policy_version "", and the policy is not even read', async () => {
    const t0 = Date.now();
    await inputs(t0);
    await redis.hset(POLICY_KEY, generatorPolicy({ nowMs: t0 }));
    const r = await once(t0, { harvestThetaSource: "config" });
    expect(r.exitCode).toBe(0);
    const out = await published(redis, S);
    expect(out.harvest.policy_version).toBe("");
    expect(hashFields(out.harvest)).toEqual(
      resultFields(kernelOnPublished(out, thetaOf(CONFIGURED, null))),
    );
    expect(r.lines.some((l) => /^policy .* in force/.test(l.msg))).toBe(false);
    expect(r.lines.find((l) => /^quantum-calc started/.test(l.msg))?.msg).toMatch(
      /harvest theta configured \(harvestThetaSource is config\)/,
    );
    expect(
      sampleValue(r.samples, "quantum_calc_policy_in_force", { source: "config", version: "" }),
    ).toBe(1);
  });
});

describe("a policy that cannot be used is refused whole: the configured theta, a warning naming the reason, a counted refusal", () => {
  const huge = "x".repeat(1024 * 1024);
  const cases: Array<{
    name: string;
    reason: string;
    detail: RegExp;
    write: (t0: number) => Promise<void>;
  }> = [
    {
      name: "harvest_params not valid JSON",
      reason: "bad_json",
      detail: /harvest_params is not valid JSON/,
      write: async (t0) =>
        void (await redis.hset(POLICY_KEY, {
          ...generatorPolicy({ nowMs: t0 }),
          harvest_params: '{"T1_R": 1.8, "T2_R": 3.5',
        })),
    },
    {
      name: "a value out of its range (kill_threshold 1.5)",
      reason: "bad_value",
      detail: /harvest_params\.kill_threshold must be a kill-score threshold/,
      write: async (t0) =>
        void (await redis.hset(
          POLICY_KEY,
          generatorPolicy({ nowMs: t0, harvest: { kill_threshold: 1.5 } }),
        )),
    },
    {
      name: 'a value that is not a number (sigma_ref "0.01")',
      reason: "bad_value",
      detail: /kill_params\.sigma_ref must be a volatility > 0 \(a divisor\) \(got "0\.01"\)/,
      write: async (t0) =>
        void (await redis.hset(
          POLICY_KEY,
          generatorPolicy({ nowMs: t0, kill: { sigma_ref: "0.01" } }),
        )),
    },
    {
      // K = sigmoid(a sum >= 0) >= 0.5: this threshold would propose a full close of every position.
      name: "a kill_threshold of 0.5 (at the lowest kill score there is)",
      reason: "bad_value",
      detail:
        /kill_threshold 0\.5 is at or below 0\.5, the lowest kill score there is: every position would get FULL_CLOSE_PROPOSED/,
      write: async (t0) =>
        void (await redis.hset(
          POLICY_KEY,
          generatorPolicy({ nowMs: t0, harvest: { kill_threshold: 0.5 } }),
        )),
    },
    {
      // Stamped in milliseconds, it would never expire.
      name: "valid_until_epoch in milliseconds",
      reason: "bad_value",
      detail: /valid_until_epoch must be epoch seconds \(got \d+: milliseconds\?\)/,
      write: async (t0) =>
        void (await redis.hset(POLICY_KEY, {
          ...generatorPolicy({ nowMs: t0 }),
          valid_until_epoch: String(t0 + 300_000),
        })),
    },
    {
      name: "R thresholds not ascending (T2_R above T3_R)",
      reason: "bad_value",
      detail: /the R thresholds must ascend, T1_R < T2_R < T3_R \(got 1\.8, 6\.5, 5\.8\)/,
      write: async (t0) =>
        void (await redis.hset(POLICY_KEY, generatorPolicy({ nowMs: t0, harvest: { T2_R: 6.5 } }))),
    },
    {
      name: "expired (valid_until_epoch 10 s ago)",
      reason: "expired",
      detail: /policy 1\.0\.0-ai-v1 expired 10 s ago/,
      write: async (t0) =>
        void (await redis.hset(POLICY_KEY, generatorPolicy({ nowMs: t0 - 310_000 }))),
    },
    {
      name: "the key of the wrong type (a string)",
      reason: "wrong_type",
      detail: /quantum:policy:current/,
      write: async () => void (await redis.set(POLICY_KEY, JSON.stringify(generatorPolicy()))),
    },
    {
      name: "the key of the wrong type (a list)",
      reason: "wrong_type",
      detail: /quantum:policy:current/,
      write: async () => void (await redis.rpush(POLICY_KEY, "universe_symbols", '["BTCUSDT"]')),
    },
    {
      name: "a 1 MB field (harvest_params)",
      reason: "too_large",
      detail: new RegExp(
        `harvest_params is \\d+ characters \\(at most ${MAX_POLICY_FIELD_CHARS}\\)`,
      ),
      write: async (t0) =>
        void (await redis.hset(POLICY_KEY, {
          ...generatorPolicy({ nowMs: t0 }),
          harvest_params: JSON.stringify({ ...GENERATOR_HARVEST_PARAMS, note: huge }),
        })),
    },
    {
      name: "a 1 MB field (universe_symbols)",
      reason: "too_large",
      detail: /universe_symbols is \d+ characters/,
      write: async (t0) =>
        void (await redis.hset(POLICY_KEY, {
          ...generatorPolicy({ nowMs: t0 }),
          universe_symbols: `["${huge}"]`,
        })),
    },
    {
      name: "a universe symbol that is not [A-Z0-9]{2,30}",
      reason: "bad_universe",
      detail:
        /universe_symbols\[1\] is not a symbol of 2-30 capital letters and digits \(got "eth-usdt"\)/,
      write: async (t0) =>
        void (await redis.hset(
          POLICY_KEY,
          generatorPolicy({ nowMs: t0, universe: ["BTCUSDT", "eth-usdt"] }),
        )),
    },
    {
      name: "10,000 universe symbols",
      reason: "too_large",
      detail: /universe_symbols lists 10000 symbols \(at most 2000: maxSymbols\)/,
      write: async (t0) =>
        void (await redis.hset(
          POLICY_KEY,
          generatorPolicy({
            nowMs: t0,
            universe: Array.from(
              { length: 10_000 },
              (_, i) => `S${String(i).padStart(5, "0")}USDT`,
            ),
          }),
        )),
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.reason}`, async () => {
      const t0 = Date.now();
      await inputs(t0);
      await c.write(t0);
      const r = await once(t0);
      expect(r.exitCode).toBe(0);
      expect(r.counts["harvest:published"]).toBe(1);
      const out = await published(redis, S);
      expect(out.harvest.policy_version).toBe("");
      expect(hashFields(out.harvest)).toEqual(
        resultFields(kernelOnPublished(out, thetaOf(CONFIGURED, null))),
      );

      const warnings = r.lines.filter(
        (l) => l.level === 40 && l.msg.startsWith(`policy refused (${c.reason}): `),
      );
      expect(warnings, r.lines.map((l) => l.msg).join("\n")).toHaveLength(1);
      expect(warnings[0].msg).toMatch(c.detail);
      expect(warnings[0].msg).toMatch(/the configured theta is used$/);
      expect(warnings[0].msg.length).toBeLessThan(1000); // a 1 MB field is not echoed
      expect(r.lines.find((l) => /^quantum-calc started/.test(l.msg))?.msg).toContain(
        `harvest theta configured (policy refused (${c.reason})`,
      );
      expect(
        sampleValue(r.samples, "quantum_calc_policy_refusals_total", { reason: c.reason }),
      ).toBe(1);
      const others = r.samples.filter(
        (s) => s.name === "quantum_calc_policy_refusals_total" && s.labels.reason !== c.reason,
      );
      expect(others.every((s) => s.value === 0)).toBe(true);
      expect(
        sampleValue(r.samples, "quantum_calc_policy_in_force", { source: "config", version: "" }),
      ).toBe(1);
      expect(await redis.exists(harvestKey(S))).toBe(1);
    });
  }
});
