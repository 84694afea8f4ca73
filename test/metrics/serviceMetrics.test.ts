import { describe, expect, it } from "vitest";
import { register as globalRegistry } from "prom-client";
import type { CycleDoneEvent } from "../../machines/publisher.js";
import { createServiceMetrics } from "../../src/metrics/serviceMetrics.js";

function cycle(over: Partial<CycleDoneEvent>): CycleDoneEvent {
  return {
    type: "CYCLE_DONE",
    phase: "harvest",
    symbol: "BTCUSDT",
    outcome: "published",
    reason: "first",
    detail: null,
    summary: null,
    figures: null,
    labels: null,
    chainStartedAt: null,
    startedAtMs: null,
    consecutiveFailures: 0,
    ...over,
  };
}

/** The value of one series in the exposition text, or undefined when absent. */
function value(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

function setup(defaultMetrics = false) {
  let t = 1_000_000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const metrics = createServiceMetrics({
    phases: ["marketstate", "risk", "harvest"],
    symbols: ["BTCUSDT", "ETHUSDT"],
    now: clock.now,
    defaultMetrics,
  });
  return { metrics, clock };
}

describe("service metrics", () => {
  it("exposes every series at zero before the first cycle, on a private registry", async () => {
    const { metrics } = setup(true);
    const { body, contentType } = await metrics.render();
    expect(contentType).toMatch(/^text\/plain/);
    expect(value(body, 'quantum_calc_cycles_total{phase="risk",outcome="error"}')).toBe(0);
    expect(
      value(body, 'quantum_calc_skips_total{phase="harvest",reason="stale_marketstate"}'),
    ).toBe(0);
    expect(value(body, 'quantum_calc_publishes_total{phase="marketstate"}')).toBe(0);
    expect(value(body, 'quantum_calc_errors_total{phase="risk"}')).toBe(0);
    expect(value(body, 'quantum_calc_actor_restarts_total{phase="harvest"}')).toBe(0);
    expect(body).toContain("process_cpu_user_seconds_total");
    expect(body).toContain("nodejs_eventloop_lag_seconds");
    // Without a probe there is no Redis gauge at all (not a guessed 0 or 1).
    expect(body).not.toContain("quantum_calc_redis_up");
    expect(globalRegistry.getSingleMetric("quantum_calc_cycles_total")).toBeUndefined();
    // A second instance does not collide with the first.
    expect(() => setup(true)).not.toThrow();
  });

  it("counts outcomes, publishes, skips by reason, errors and restarts", async () => {
    const { metrics } = setup();
    const h = metrics.hooks;
    h.onCycle(cycle({ phase: "marketstate", outcome: "published" }), 1);
    h.onCycle(cycle({ phase: "marketstate", outcome: "heartbeat" }), 2);
    h.onCycle(cycle({ phase: "risk", outcome: "skipped", reason: "no_position" }), 3);
    h.onCycle(cycle({ phase: "risk", outcome: "skipped", reason: "no_position" }), 4);
    h.onCycle(
      cycle({ phase: "risk", outcome: "error", reason: "error", consecutiveFailures: 1 }),
      5,
    );
    h.onRestart({
      key: "risk:BTCUSDT",
      oldId: "risk:BTCUSDT",
      newId: "risk:BTCUSDT#1",
      error: "x",
      restartsInWindow: 1,
    });
    const { body } = await metrics.render();
    expect(value(body, 'quantum_calc_cycles_total{phase="marketstate",outcome="published"}')).toBe(
      1,
    );
    expect(value(body, 'quantum_calc_cycles_total{phase="marketstate",outcome="heartbeat"}')).toBe(
      1,
    );
    expect(value(body, 'quantum_calc_publishes_total{phase="marketstate"}')).toBe(1);
    expect(value(body, 'quantum_calc_skips_total{phase="risk",reason="no_position"}')).toBe(2);
    expect(value(body, 'quantum_calc_cycles_total{phase="risk",outcome="skipped"}')).toBe(2);
    expect(value(body, 'quantum_calc_errors_total{phase="risk"}')).toBe(1);
    expect(value(body, 'quantum_calc_actor_restarts_total{phase="risk"}')).toBe(1);
    expect(value(body, 'quantum_calc_actor_restarts_total{phase="harvest"}')).toBe(0);
  });

  it("observes cycle duration and chain latency in seconds, harvest figures and input age", async () => {
    const { metrics } = setup();
    metrics.hooks.onCycle(
      cycle({
        phase: "harvest",
        outcome: "published",
        startedAtMs: 10_000,
        chainStartedAt: 9_996,
        figures: {
          kill_score: 0.734,
          k_regime_flip: 0.5,
          k_sigma_spike: 0.1,
          k_ts_drop: 0.2,
          k_age_penalty: 0.05,
          R_net: -1.25,
          marketstate_age_sec: 3.5,
        },
      }),
      10_003,
    );
    // Negative durations (clock stepped back) are left out, not recorded.
    metrics.hooks.onCycle(
      cycle({ phase: "risk", outcome: "heartbeat", startedAtMs: 20_000 }),
      19_000,
    );
    const { body } = await metrics.render();
    expect(value(body, 'quantum_calc_cycle_duration_seconds_count{phase="harvest"}')).toBe(1);
    expect(value(body, 'quantum_calc_cycle_duration_seconds_sum{phase="harvest"}')).toBeCloseTo(
      0.003,
      9,
    );
    expect(value(body, 'quantum_calc_cycle_duration_seconds_count{phase="risk"}')).toBeUndefined();
    expect(value(body, "quantum_calc_chain_latency_seconds_count")).toBe(1);
    expect(value(body, "quantum_calc_chain_latency_seconds_sum")).toBeCloseTo(0.007, 9);
    // 7 ms lands in the 7.5 ms bucket, not the 5 ms one: the buckets are fine-grained there.
    expect(value(body, 'quantum_calc_chain_latency_seconds_bucket{le="0.005"}')).toBe(0);
    expect(value(body, 'quantum_calc_chain_latency_seconds_bucket{le="0.0075"}')).toBe(1);
    expect(value(body, 'quantum_harvest_kill_score{symbol="BTCUSDT"}')).toBe(0.734);
    expect(value(body, 'quantum_harvest_k_regime_flip{symbol="BTCUSDT"}')).toBe(0.5);
    expect(value(body, 'quantum_harvest_k_sigma_spike{symbol="BTCUSDT"}')).toBe(0.1);
    expect(value(body, 'quantum_harvest_k_ts_drop{symbol="BTCUSDT"}')).toBe(0.2);
    expect(value(body, 'quantum_harvest_k_age_penalty{symbol="BTCUSDT"}')).toBe(0.05);
    expect(value(body, 'quantum_harvest_r_net{symbol="BTCUSDT"}')).toBe(-1.25);
    expect(value(body, 'quantum_calc_input_age_seconds{phase="harvest",symbol="BTCUSDT"}')).toBe(
      3.5,
    );
  });

  it("keeps the last harvest figures on heartbeats and ignores non-finite figures", async () => {
    const { metrics } = setup();
    metrics.hooks.onCycle(
      cycle({ outcome: "published", figures: { kill_score: 0.5, R_net: 1 } }),
      1,
    );
    metrics.hooks.onCycle(cycle({ outcome: "heartbeat", figures: null }), 2);
    metrics.hooks.onCycle(
      cycle({ outcome: "published", figures: { kill_score: Number.NaN, R_net: 2 } }),
      3,
    );
    const { body } = await metrics.render();
    expect(value(body, 'quantum_harvest_kill_score{symbol="BTCUSDT"}')).toBe(0.5);
    expect(value(body, 'quantum_harvest_r_net{symbol="BTCUSDT"}')).toBe(2);
    expect(body).not.toMatch(/NaN/);
  });

  it("computes staleness at scrape time: from start until the first publish or heartbeat, then from it", async () => {
    const { metrics, clock } = setup();
    clock.advance(5_000);
    let { body } = await metrics.render();
    expect(value(body, 'quantum_calc_staleness_seconds{phase="risk",symbol="ETHUSDT"}')).toBe(5);
    metrics.hooks.onCycle(
      cycle({ phase: "risk", symbol: "ETHUSDT", outcome: "heartbeat" }),
      clock.now(),
    );
    metrics.hooks.onCycle(
      cycle({ phase: "harvest", symbol: "ETHUSDT", outcome: "skipped", reason: "no_position" }),
      clock.now(),
    );
    clock.advance(2_500);
    ({ body } = await metrics.render());
    expect(value(body, 'quantum_calc_staleness_seconds{phase="risk",symbol="ETHUSDT"}')).toBe(2.5);
    // A skip is not a sign of life for the output hash: staleness keeps growing.
    expect(value(body, 'quantum_calc_staleness_seconds{phase="harvest",symbol="ETHUSDT"}')).toBe(
      7.5,
    );
    expect(
      value(body, 'quantum_calc_staleness_seconds{phase="marketstate",symbol="BTCUSDT"}'),
    ).toBe(7.5);
  });

  it("reports the Redis probe at scrape time", async () => {
    const { metrics } = setup();
    let up = true;
    metrics.setRedisProbe(async () => up);
    expect(value((await metrics.render()).body, "quantum_calc_redis_up")).toBe(1);
    up = false;
    expect(value((await metrics.render()).body, "quantum_calc_redis_up")).toBe(0);
    expect(() => metrics.setRedisProbe(async () => true)).toThrow(/already set/);
  });
});
