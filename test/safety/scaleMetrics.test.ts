// Scale: a churning universe must not grow the metrics' per-symbol state. The staleness of a
// removed symbol leaves /metrics and its last-alive time is forgotten — also when its draining
// publisher reports one last cycle after the removal.
import { describe, expect, it } from "vitest";
import type { CycleDoneEvent } from "../../machines/publisher.js";
import { createServiceMetrics } from "../../src/metrics/serviceMetrics.js";

const cycle = (symbol: string, outcome: "published" | "heartbeat"): CycleDoneEvent =>
  ({
    type: "CYCLE_DONE",
    phase: "marketstate",
    symbol,
    outcome,
    reason: null,
    chainStartedAt: null,
    figures: null,
  }) as unknown as CycleDoneEvent;

const staleness = (body: string): string[] =>
  body
    .split("\n")
    .filter((l) => l.startsWith("quantum_calc_staleness_seconds{"))
    .map((l) => /symbol="([^"]+)"/.exec(l)![1]);

describe("staleness metrics under universe churn", () => {
  it("a removed symbol is forgotten (series and last-alive time), a re-added one counts from its return", async () => {
    let t = 1_000_000;
    const metrics = createServiceMetrics({
      phases: ["marketstate"],
      symbols: ["BTCUSDT"],
      now: () => t,
      defaultMetrics: false,
    });
    for (let round = 0; round < 50; round++) {
      const churned = Array.from({ length: 300 }, (_, i) => `C${round}X${i}USDT`);
      metrics.hooks.onSymbols({ running: ["BTCUSDT", ...churned], added: churned, removed: [] });
      for (const symbol of churned) metrics.hooks.onCycle(cycle(symbol, "published"), t);
      metrics.hooks.onSymbols({ running: ["BTCUSDT"], added: [], removed: churned });
      // The draining publisher's last cycle, after the removal.
      metrics.hooks.onCycle(cycle(churned[0], "heartbeat"), t);
      t += 1000;
    }
    expect(staleness((await metrics.render()).body)).toEqual(["BTCUSDT"]);
    // Back after a removal: it counts from its return, not from its last cycle before.
    metrics.hooks.onSymbols({ running: ["BTCUSDT", "C0X0USDT"], added: ["C0X0USDT"], removed: [] });
    t += 5000;
    const line = (await metrics.render()).body
      .split("\n")
      .find((l) => l.startsWith("quantum_calc_staleness_seconds{") && l.includes("C0X0USDT"));
    expect(line).toMatch(/ 5$/);
  });
});
