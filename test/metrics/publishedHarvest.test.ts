// The exporter's harvest gauges seeded from the hashes already in Redis at start (issue 18, 4):
// the same numbers a publish would show, unparsable fields reported and left unset (never 0), a
// value set by this instance's own cycle never overwritten by the older hash, and Redis not
// answering yet retried until one pass has read every running symbol.
import { describe, expect, it } from "vitest";
import type { CycleDoneEvent } from "../../machines/publisher.js";
import { createServiceMetrics } from "../../src/metrics/serviceMetrics.js";
import { publishedHarvest, seedHarvestGauges } from "../../src/metrics/publishedHarvest.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { captureLogger } from "../helpers/serviceHarness.js";

const HASH = {
  harvest_action: "FULL_CLOSE_PROPOSED",
  new_sl_proposed: "101.5",
  R_net: "-0.5",
  kill_score: "0.9",
  k_regime_flip: "0.4",
  k_sigma_spike: "0.3",
  k_ts_drop: "0.2",
  k_age_penalty: "0.1",
  last_update_epoch: "1700000123",
};

function value(text: string, series: string): number | undefined {
  for (const line of text.split("\n"))
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return undefined;
}

function metricsFor(symbols: string[]) {
  return createServiceMetrics({
    phases: ["marketstate", "risk", "harvest"],
    symbols,
    now: () => 1_700_000_200_000,
    defaultMetrics: false,
  });
}

describe("publishedHarvest", () => {
  it("reads the exporter's figures from the hash; no stop proposed is new_sl 0", () => {
    expect(publishedHarvest(HASH)).toEqual({
      figures: {
        kill_score: 0.9,
        k_regime_flip: 0.4,
        k_sigma_spike: 0.3,
        k_ts_drop: 0.2,
        k_age_penalty: 0.1,
        R_net: -0.5,
        new_sl: 101.5,
      },
      action: "FULL_CLOSE_PROPOSED",
      lastUpdateEpoch: 1700000123,
      problems: [],
    });
    expect(publishedHarvest({ ...HASH, new_sl_proposed: "" })?.figures.new_sl).toBe(0);
    expect(publishedHarvest({})).toBeNull();
  });

  it("a field that does not parse is a problem and stays unset, never 0", () => {
    const read = publishedHarvest({ ...HASH, kill_score: "NaN", R_net: "" });
    expect(read?.figures.kill_score).toBeUndefined();
    expect(read?.figures.R_net).toBeUndefined();
    expect(read?.problems).toEqual([
      'kill_score="NaN" is not a number',
      'R_net="" is not a number',
    ]);
  });
});

describe("seedHarvestGauges", () => {
  it("sets the gauges of the running symbols from their hashes; a symbol without one stays absent", async () => {
    const store = new MemoryStore();
    await store.publish({
      hashes: [{ key: "quantum:harvest:proposal:BTCUSDT", fields: HASH }],
      streams: [],
    });
    const metrics = metricsFor(["BTCUSDT", "ETHUSDT"]);
    const log = captureLogger();
    await seedHarvestGauges({ store, target: metrics, logger: log.logger }).done;
    const body = (await metrics.render()).body;
    expect(value(body, 'quantum_harvest_kill_score{symbol="BTCUSDT"}')).toBe(0.9);
    expect(value(body, 'quantum_harvest_new_sl{symbol="BTCUSDT"}')).toBe(101.5);
    expect(value(body, 'quantum_harvest_r_net{symbol="BTCUSDT"}')).toBe(-0.5);
    expect(
      value(body, 'quantum_harvest_action{symbol="BTCUSDT",action="FULL_CLOSE_PROPOSED"}'),
    ).toBe(1);
    expect(value(body, 'quantum_harvest_last_update_epoch{symbol="BTCUSDT"}')).toBe(1700000123);
    expect(value(body, 'quantum_harvest_kill_score{symbol="ETHUSDT"}')).toBeUndefined();
  });

  it("never overwrites what a harvest cycle of this instance has set", async () => {
    const store = new MemoryStore();
    await store.publish({
      hashes: [{ key: "quantum:harvest:proposal:BTCUSDT", fields: HASH }],
      streams: [],
    });
    const metrics = metricsFor(["BTCUSDT"]);
    const published: CycleDoneEvent = {
      type: "CYCLE_DONE",
      phase: "harvest",
      symbol: "BTCUSDT",
      outcome: "published",
      reason: "first_publish",
      detail: null,
      summary: null,
      figures: { kill_score: 0.25, R_net: 2 },
      labels: { harvest_action: "NONE" },
      chainStartedAt: null,
      startedAtMs: null,
      consecutiveFailures: 0,
    };
    metrics.hooks.onCycle(published, 1_700_000_300_000);
    await seedHarvestGauges({ store, target: metrics, logger: captureLogger().logger }).done;
    const body = (await metrics.render()).body;
    expect(value(body, 'quantum_harvest_kill_score{symbol="BTCUSDT"}')).toBe(0.25);
    expect(value(body, 'quantum_harvest_action{symbol="BTCUSDT",action="NONE"}')).toBe(1);
    expect(value(body, 'quantum_harvest_last_update_epoch{symbol="BTCUSDT"}')).toBe(1700000300);
  });

  it("retries while the store cannot be asked, then seeds; unreadable fields are logged", async () => {
    const inner = new MemoryStore();
    await inner.publish({
      hashes: [{ key: "quantum:harvest:proposal:BTCUSDT", fields: { ...HASH, k_ts_drop: "x" } }],
      streams: [],
    });
    let failures = 2;
    const store = {
      hgetall: (key: string) =>
        failures-- > 0 ? Promise.reject(new Error("not connected")) : inner.hgetall(key),
    };
    const metrics = metricsFor(["BTCUSDT"]);
    const log = captureLogger();
    await seedHarvestGauges({
      store,
      target: metrics,
      logger: log.logger,
      retryBaseMs: 1,
      retryCapMs: 2,
    }).done;
    const body = (await metrics.render()).body;
    expect(value(body, 'quantum_harvest_kill_score{symbol="BTCUSDT"}')).toBe(0.9);
    expect(value(body, 'quantum_harvest_k_ts_drop{symbol="BTCUSDT"}')).toBeUndefined();
    expect(log.text()).toContain("could not be read yet; retrying");
    expect(log.lines().find((l) => l.msg.startsWith("metrics: quantum:harvest"))).toMatchObject({
      symbol: "BTCUSDT",
      problems: ['k_ts_drop="x" is not a number'],
    });
  });
});
