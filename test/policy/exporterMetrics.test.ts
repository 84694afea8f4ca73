// The retired harvest metrics exporter's metrics (docs/specification.md §10) on our /metrics: the built CLI
// `run --http-port` against a real redis-server, scraped. Then the stack's alert rules
// (deploy/prometheus/quantum-harvest-alerts.yml) are loaded by `promtool check rules` and
// unit-tested by `promtool test rules` on series named and labelled exactly as the scrape is
// (plus the job/instance labels Prometheus attaches).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HARVEST_ACTIONS } from "../../src/metrics/serviceMetrics.js";
import { generatorPolicy } from "../helpers/producers.js";
import { freePort, type TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { repoRoot } from "../helpers/runCli.js";
import { getText, startCli, until, type CliProcess } from "../helpers/serviceHarness.js";
import {
  harvestKey,
  openLong,
  parseScrape,
  sampleValue,
  seedMarket,
  writePolicy,
  type Sample,
} from "./harness.js";

const SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
const RULES = join(repoRoot, "deploy/prometheus/quantum-harvest-alerts.yml");
/** The labels Prometheus attaches to every scraped series of the job (the rules file's scrape job). */
const TARGET = { job: "quantum-harvest-exporter", instance: "127.0.0.1:9108" };
const EXPORTER_GAUGES = [
  ["quantum_harvest_kill_score", "kill_score"],
  ["quantum_harvest_k_regime_flip", "k_regime_flip"],
  ["quantum_harvest_k_sigma_spike", "k_sigma_spike"],
  ["quantum_harvest_k_ts_drop", "k_ts_drop"],
  ["quantum_harvest_k_age_penalty", "k_age_penalty"],
  ["quantum_harvest_r_net", "R_net"],
  ["quantum_harvest_new_sl", "new_sl_proposed"],
] as const;

const promtool =
  [
    "/usr/bin/promtool",
    ...(process.env.PATH ?? "").split(":").map((dir) => join(dir, "promtool")),
  ].find((p) => existsSync(p)) ?? null;

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;
let run: CliProcess | undefined;
let port: number;
/** The first full scrape (every symbol published). */
let scrape: Sample[];
let work: string;

beforeAll(async () => {
  ({ server, redis } = fixture);
  work = mkdtempSync(join(tmpdir(), "qc-promtool-"));
  const t0 = Date.now();
  // BTCUSDT: a trend, well in profit (a partial); ETHUSDT: mean reversion, a regime flip (K high: a full close); SOLUSDT: a trend, flat PnL.
  const regimes = { BTCUSDT: "trend", ETHUSDT: "mr", SOLUSDT: "trend" } as const;
  const profits = { BTCUSDT: 0.03, ETHUSDT: 0.01, SOLUSDT: 0 } as const;
  for (const [i, symbol] of SYMBOLS.entries()) {
    const regime = regimes[symbol as keyof typeof regimes];
    const mark = await seedMarket(redis, symbol, t0, 30 + i, 100 * (i + 1), regime);
    await openLong(redis, symbol, mark, t0, {
      profit: profits[symbol as keyof typeof profits],
      ageSec: 3600,
    });
  }
  await writePolicy(redis, generatorPolicy({ nowMs: t0, universe: SYMBOLS }));
  port = await freePort();
  run = startCli([
    "run",
    "--redis-url",
    server.url,
    "--symbols",
    SYMBOLS.join(","),
    "--http-port",
    String(port),
    "--marketstate-interval",
    "0.5",
    "--risk-interval",
    "0.2",
    "--harvest-interval",
    "0.2",
    "--max-input-age",
    "600",
    "--no-follow-klines",
    "--log-level",
    "warn",
  ]);
  const cli = run;
  scrape = await until(
    "a scrape with every symbol published",
    async () => {
      if (cli.child.exitCode !== null)
        throw new Error(`run exited ${cli.child.exitCode}: ${cli.output()}`);
      const samples = parseScrape((await getText(port, "/metrics")).body);
      return SYMBOLS.every(
        (symbol) => sampleValue(samples, "quantum_harvest_kill_score", { symbol }) !== undefined,
      )
        ? samples
        : null;
    },
    20_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${cli.output()}`);
  });
}, 30_000);

afterAll(async () => {
  if (run && run.child.exitCode === null) {
    run.child.kill("SIGTERM");
    await run.exit;
  }
  rmSync(work, { recursive: true, force: true });
});

/** Where a scrape and the harvest hashes read right after it disagree (empty: they agree). */
async function disagreements(samples: Sample[]): Promise<string[]> {
  const out: string[] = [];
  for (const symbol of SYMBOLS) {
    const hash = await redis.hgetall(harvestKey(symbol));
    for (const [name, field] of EXPORTER_GAUGES) {
      const value = sampleValue(samples, name, { symbol });
      // The exporter wrote 0 for "no new stop".
      const want = field === "new_sl_proposed" && hash[field] === "" ? 0 : Number(hash[field]);
      if (value !== want)
        out.push(`${name}{symbol="${symbol}"} ${String(value)} but ${field} ${hash[field]}`);
    }
    const hot = samples.filter(
      (s) => s.name === "quantum_harvest_action" && s.labels.symbol === symbol && s.value === 1,
    );
    if (hot.length !== 1 || hot[0].labels.action !== hash.harvest_action)
      out.push(
        `quantum_harvest_action{symbol="${symbol}"} hot ${hot.map((s) => s.labels.action).join("+")} but harvest_action ${hash.harvest_action}`,
      );
  }
  return out;
}

/**
 * A scrape that agrees with the hashes (a publish may land between the scrape and the reads: the
 * first cycles can run before the first risk proposal, on the fallback stop, and publish again).
 */
async function agreeingScrape(): Promise<Sample[]> {
  let last: string[] = [];
  return await until(
    "a scrape that agrees with the harvest hashes",
    async () => {
      const samples = parseScrape((await getText(port, "/metrics")).body);
      last = await disagreements(samples);
      return last.length === 0 ? samples : null;
    },
    10_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${last.join("; ")}`);
  });
}

describe("the exporter metrics on /metrics (docs/specification.md §10)", () => {
  it("every gauge per symbol, with the harvest hash's values", async () => {
    const samples = await agreeingScrape();
    for (const symbol of SYMBOLS) {
      for (const [name] of EXPORTER_GAUGES)
        expect(sampleValue(samples, name, { symbol }), `${name}{symbol="${symbol}"}`).toBeDefined();
      // The exporter's labels, exactly: symbol only.
      for (const [name] of EXPORTER_GAUGES) {
        expect(
          samples
            .filter((s) => s.name === name && s.labels.symbol === symbol)
            .map((s) => Object.keys(s.labels)),
        ).toEqual([["symbol"]]);
      }
    }
  });

  it("quantum_harvest_action{symbol,action} is one-hot over the five actions: exactly one 1 per symbol, the published action", async () => {
    const samples = await agreeingScrape();
    const seen = new Set<string>();
    for (const symbol of SYMBOLS) {
      const series = samples.filter(
        (s) => s.name === "quantum_harvest_action" && s.labels.symbol === symbol,
      );
      expect(series.map((s) => s.labels.action).sort()).toEqual([...HARVEST_ACTIONS].sort());
      expect(series.every((s) => Object.keys(s.labels).sort().join() === "action,symbol")).toBe(
        true,
      );
      const hot = series.filter((s) => s.value === 1);
      expect(hot).toHaveLength(1);
      expect(series.filter((s) => s.value !== 1).every((s) => s.value === 0)).toBe(true);
      const action = await redis.hget(harvestKey(symbol), "harvest_action");
      expect(hot[0].labels.action).toBe(action);
      seen.add(action!);
    }
    expect(seen.size, "the symbols were seeded to differ in action").toBeGreaterThan(1);
  });

  it("quantum_harvest_last_update_epoch follows the hash and advances with heartbeats (no new publish needed)", async () => {
    const symbol = "SOLUSDT";
    const first = sampleValue(scrape, "quantum_harvest_last_update_epoch", { symbol })!;
    expect(Math.abs(first - Date.now() / 1000)).toBeLessThan(30);
    const publishedAt = await redis.hget(harvestKey(symbol), "computed_at_utc");
    const later = await until(
      "a later last_update_epoch",
      async () => {
        const v = sampleValue(
          parseScrape((await getText(port, "/metrics")).body),
          "quantum_harvest_last_update_epoch",
          { symbol },
        )!;
        return v > first ? v : null;
      },
      10_000,
    );
    expect(later).toBeGreaterThan(first);
    // Nothing changed for SOLUSDT: that was a heartbeat, the proposal itself was not republished.
    expect(await redis.hget(harvestKey(symbol), "computed_at_utc")).toBe(publishedAt);
    expect(
      Math.abs(Number(await redis.hget(harvestKey(symbol), "last_update_epoch")) - later),
    ).toBeLessThanOrEqual(1);
  });

  it("/health (the exporter path) and /healthz answer 200", async () => {
    for (const path of ["/health", "/healthz"]) {
      const r = await getText(port, path);
      expect(r.status, path).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ status: "ok" });
    }
  });
});

/** The annotations of `alert` in the rules file, rendered for one alert as Prometheus templates them. */
function annotations(
  rules: string,
  alert: string,
  labels: Record<string, string>,
  value: number,
): Record<string, string> {
  const start = rules.indexOf(`- alert: ${alert}\n`);
  expect(start, alert).toBeGreaterThanOrEqual(0);
  const block = rules.slice(
    start,
    rules.indexOf("- alert:", start + 1) === -1 ? undefined : rules.indexOf("- alert:", start + 1),
  );
  const out: Record<string, string> = {};
  for (const m of block.matchAll(/^\s+(summary|description): "(.*)"$/gm)) {
    out[m[1]] = m[2]
      .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => labels[name] ?? "")
      .replace(/\{\{ \$value \}\}/g, String(value));
  }
  expect(Object.keys(out).sort(), `${alert} annotations`).toEqual(["description", "summary"]);
  return out;
}

/** The static labels of `alert` in the rules file. */
function ruleLabels(rules: string, alert: string): Record<string, string> {
  const start = rules.indexOf(`- alert: ${alert}\n`);
  const block = rules.slice(start, rules.indexOf("annotations:", start));
  return Object.fromEntries([...block.matchAll(/^\s{10}(\w+): (\S+)$/gm)].map((m) => [m[1], m[2]]));
}

const selector = (name: string, labels: Record<string, string>): string =>
  `${name}{${Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(",")}}`;

describe.skipIf(promtool === null)("the stack alert rules against our metrics (promtool)", () => {
  const tool = promtool ?? "promtool";
  const rules = readFileSync(RULES, "utf8");

  it("promtool check rules deploy/prometheus/quantum-harvest-alerts.yml passes", () => {
    const r = spawnSync(tool, ["check", "rules", RULES], { encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS: 4 rules found/);
  });

  it("promtool test rules: the alerts fire (and do not) on series named and labelled as the scrape is", () => {
    // Every series comes from the scrape: its name and its labels, plus the target's.
    const from = (name: string, symbol: string): Record<string, string> => {
      const sample = scrape.find((s) => s.name === name && s.labels.symbol === symbol);
      expect(sample, `${name}{symbol="${symbol}"} in the scrape`).toBeDefined();
      return { ...sample!.labels, ...TARGET };
    };
    const [warn, crit, calm] = SYMBOLS as [string, string, string];
    // interval 10s: '0+10x30' is the epoch seconds promtool's clock reads (time() = t): always fresh.
    const inputs: Array<[string, Record<string, string>, string]> = [
      ["quantum_harvest_kill_score", from("quantum_harvest_kill_score", warn), "0.65x30"],
      ["quantum_harvest_kill_score", from("quantum_harvest_kill_score", crit), "0.85x30"],
      ["quantum_harvest_kill_score", from("quantum_harvest_kill_score", calm), "0.5x30"],
      [
        "quantum_harvest_last_update_epoch",
        from("quantum_harvest_last_update_epoch", warn),
        "0x30",
      ],
      [
        "quantum_harvest_last_update_epoch",
        from("quantum_harvest_last_update_epoch", crit),
        "0+10x30",
      ],
      [
        "quantum_harvest_last_update_epoch",
        from("quantum_harvest_last_update_epoch", calm),
        "0+10x30",
      ],
      ["up", TARGET, "1x30"],
    ];
    const alert = (name: string, symbol: string, value: number) => {
      const labels = { ...from("quantum_harvest_kill_score", symbol), ...ruleLabels(rules, name) };
      return { exp_labels: labels, exp_annotations: annotations(rules, name, labels, value) };
    };
    const test = {
      rule_files: [RULES],
      evaluation_interval: "10s",
      tests: [
        {
          interval: "10s",
          input_series: inputs.map(([name, labels, values]) => ({
            series: selector(name, labels),
            values,
          })),
          alert_rule_test: [
            // for: 2m — pending at 1m, firing by 3m: 0.65 and 0.85 are high, 0.5 is not.
            { eval_time: "1m", alertname: "QuantumHarvestKillScoreHigh", exp_alerts: [] },
            {
              eval_time: "3m",
              alertname: "QuantumHarvestKillScoreHigh",
              exp_alerts: [
                alert("QuantumHarvestKillScoreHigh", warn, 0.65),
                alert("QuantumHarvestKillScoreHigh", crit, 0.85),
              ],
            },
            // for: 1m — only 0.85 is critical.
            { eval_time: "30s", alertname: "QuantumHarvestKillScoreCritical", exp_alerts: [] },
            {
              eval_time: "3m",
              alertname: "QuantumHarvestKillScoreCritical",
              exp_alerts: [alert("QuantumHarvestKillScoreCritical", crit, 0.85)],
            },
            // last_update_epoch 0: stale from t > 30 s, firing 2 m later; the fresh ones never.
            { eval_time: "2m", alertname: "QuantumHarvestMetricsStale", exp_alerts: [] },
            {
              eval_time: "3m",
              alertname: "QuantumHarvestMetricsStale",
              exp_alerts: [
                (() => {
                  const labels = {
                    ...from("quantum_harvest_last_update_epoch", warn),
                    ...ruleLabels(rules, "QuantumHarvestMetricsStale"),
                  };
                  return {
                    exp_labels: labels,
                    exp_annotations: annotations(rules, "QuantumHarvestMetricsStale", labels, 180),
                  };
                })(),
              ],
            },
            { eval_time: "3m", alertname: "QuantumHarvestExporterDown", exp_alerts: [] },
          ],
        },
      ],
    };
    const file = join(work, "synthetic.test.yml");
    // JSON is YAML: promtool reads it as is.
    writeFileSync(file, JSON.stringify(test, null, 2));
    const r = spawnSync(tool, ["test", "rules", file], { encoding: "utf8" });
    expect(r.status, `${r.stdout}${r.stderr}\n${JSON.stringify(test, null, 2)}`).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
  });

  it("promtool test rules on the scrape itself: the values /metrics served now fire exactly the alerts their thresholds say", () => {
    const kill = scrape.filter((s) => s.name === "quantum_harvest_kill_score");
    expect(kill).toHaveLength(SYMBOLS.length);
    expect(
      kill.some((s) => s.value >= 0.6),
      `a kill score >= 0.6 among ${kill.map((s) => s.value).join(", ")} (ETHUSDT: a regime flip)`,
    ).toBe(true);
    expect(kill.some((s) => s.value < 0.6)).toBe(true);
    const stamp = Math.max(
      ...scrape.filter((s) => s.name === "quantum_harvest_last_update_epoch").map((s) => s.value),
    );
    // promtool's clock starts at 0, so the epoch is shifted: the scrape taken `stamp` s ago is
    // "now" at t = 0, and every series keeps its offset from the freshest (heartbeats every 10 s).
    const inputs = scrape
      .filter(
        (s) =>
          s.name === "quantum_harvest_kill_score" || s.name === "quantum_harvest_last_update_epoch",
      )
      .map((s) => ({
        series: selector(s.name, { ...s.labels, ...TARGET }),
        values:
          s.name === "quantum_harvest_kill_score" ? `${s.value}x30` : `${s.value - stamp}+10x30`,
      }));
    const high = kill.filter((s) => s.value >= 0.6);
    const critical = kill.filter((s) => s.value >= 0.8);
    const expect_ = (name: string, which: Sample[]) =>
      which.map((s) => {
        const labels = { ...s.labels, ...TARGET, ...ruleLabels(rules, name) };
        return { exp_labels: labels, exp_annotations: annotations(rules, name, labels, s.value) };
      });
    const test = {
      rule_files: [RULES],
      evaluation_interval: "10s",
      tests: [
        {
          interval: "10s",
          input_series: [...inputs, { series: selector("up", TARGET), values: "1x30" }],
          alert_rule_test: [
            {
              eval_time: "3m",
              alertname: "QuantumHarvestKillScoreHigh",
              exp_alerts: expect_("QuantumHarvestKillScoreHigh", high),
            },
            {
              eval_time: "3m",
              alertname: "QuantumHarvestKillScoreCritical",
              exp_alerts: expect_("QuantumHarvestKillScoreCritical", critical),
            },
            { eval_time: "3m", alertname: "QuantumHarvestMetricsStale", exp_alerts: [] },
            { eval_time: "3m", alertname: "QuantumHarvestExporterDown", exp_alerts: [] },
          ],
        },
      ],
    };
    const file = join(work, "scrape.test.yml");
    writeFileSync(file, JSON.stringify(test, null, 2));
    const r = spawnSync(tool, ["test", "rules", file], { encoding: "utf8" });
    expect(r.status, `${r.stdout}${r.stderr}\n${JSON.stringify(test, null, 2)}`).toBe(0);
  });
});
