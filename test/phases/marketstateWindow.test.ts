// The marketstate read step with its incremental candle window: each read gives the series a
// fresh read gives (a new step instance has no window), and a failed read (Redis gone, as before a
// klines RESYNC) makes the next read of every symbol a full one — so even a rewrite far back in
// the window, which an incremental read does not look at, is seen right after an outage.
import { describe, expect, it } from "vitest";
import { computeMarketState } from "../../src/kernels/marketState.js";
import { marketStateFields } from "../../src/contracts/marketstateOutput.js";
import { loadConfig } from "../../src/config/load.js";
import { LiveCandles } from "../../src/inputs/klines.js";
import { marketStateSteps } from "../../src/phases/marketstate.js";
import type { PhaseDeps } from "../../src/phases/steps.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import type { Store } from "../../src/store/types.js";
import { candlePayload, dataSinkKey, lastClosedOpenTime, MINUTE_MS } from "../helpers/producers.js";

const SYMBOL = "BTCUSDT";
const OTHER = "ETHUSDT";

function setup() {
  let nowMs = lastClosedOpenTime(Date.now()) + 2 * MINUTE_MS;
  const memory = new MemoryStore({ now: () => nowMs });
  let failing = false;
  const store = new Proxy(memory, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (failing) return Promise.reject(new Error("connection lost"));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Store;
  const config = loadConfig({ env: {} }).config;
  const deps = (): PhaseDeps =>
    ({ store, config, live: new LiveCandles(), now: () => nowMs }) as unknown as PhaseDeps;
  let newest = lastClosedOpenTime(nowMs) - 320 * MINUTE_MS;
  const append = () => {
    newest += MINUTE_MS;
    for (const symbol of [SYMBOL, OTHER]) {
      memory.zadd(
        dataSinkKey(symbol),
        newest,
        candlePayload({ symbol, open_time: newest, close: 100 + ((newest / MINUTE_MS) % 37) }),
      );
    }
  };
  for (let i = 0; i < 320; i++) append();
  return {
    memory,
    deps,
    append,
    newest: () => newest,
    tick: () => (nowMs += MINUTE_MS),
    fail: (on: boolean) => (failing = on),
  };
}

async function seriesOf(steps: ReturnType<typeof marketStateSteps>, symbol = SYMBOL) {
  const { read } = await steps.read(symbol);
  if (!read.ok) throw new Error(`${read.reason}: ${read.detail}`);
  return read.value.series;
}

describe("marketstate read step with the incremental candle window", () => {
  it("gives the series a fresh read gives, cycle after cycle", async () => {
    const s = setup();
    const steps = marketStateSteps(s.deps());
    for (let cycle = 0; cycle < 25; cycle++) {
      s.append();
      s.tick();
      expect(await seriesOf(steps)).toEqual(await seriesOf(marketStateSteps(s.deps())));
    }
  });

  it("after a failed read, the next read of every symbol is a full one: a rewrite far back is seen at once", async () => {
    const s = setup();
    const steps = marketStateSteps(s.deps());
    for (let i = 0; i < 3; i++) {
      await seriesOf(steps);
      await seriesOf(steps, OTHER);
    }
    // Corrections 100 minutes back, far below the re-read band.
    const t = s.newest() - 100 * MINUTE_MS;
    for (const symbol of [SYMBOL, OTHER]) {
      s.memory.zadd(
        dataSinkKey(symbol),
        t,
        candlePayload({ symbol, open_time: t, close: 4321, timestamp: t / 1000 + 7200 }),
      );
    }
    // Without a failure an incremental read does not see it (unless it is that key's full turn).
    const before = await seriesOf(steps, SYMBOL);
    const fresh = await seriesOf(marketStateSteps(s.deps()), SYMBOL);
    expect(fresh.closes).toContain(4321);
    if (!before.closes.includes(4321)) expect(before).not.toEqual(fresh);
    // The read of SYMBOL fails; OTHER's next read is full.
    s.fail(true);
    await expect(steps.read(SYMBOL)).rejects.toThrow("connection lost");
    s.fail(false);
    const other = await seriesOf(steps, OTHER);
    expect(other.closes).toContain(4321);
    expect(other).toEqual(await seriesOf(marketStateSteps(s.deps()), OTHER));
    expect(await seriesOf(steps)).toEqual(await seriesOf(marketStateSteps(s.deps())));
  });

  it("compute: the same closes as the previous cycle give the kernel result again (a copy), other closes a new one", async () => {
    const s = setup();
    const steps = marketStateSteps(s.deps());
    const series = await seriesOf(steps);
    const inputs = { series, outputPresent: true };
    const first = steps.compute(SYMBOL, inputs);
    const again = steps.compute(SYMBOL, {
      series: { ...series, closes: [...series.closes] },
      outputPresent: true,
    });
    // The result with its fields spelled once, as the publish will write them.
    const spelled = (closes: readonly number[]) => {
      const result = computeMarketState(closes)!;
      return { result, fields: marketStateFields(result, closes.length) };
    };
    expect(first).toEqual({ ok: true, value: spelled(series.closes) });
    expect(again).toEqual(first);
    if (!first.ok || !again.ok) throw new Error("expected results");
    expect(again.value.result).not.toBe(first.value.result);
    again.value.result.regime_probs.trend = -1;
    expect(steps.compute(SYMBOL, inputs)).toEqual({ ok: true, value: spelled(series.closes) });
    const changed = [...series.closes];
    changed[17] *= 1.001;
    expect(
      steps.compute(SYMBOL, { series: { ...series, closes: changed }, outputPresent: true }),
    ).toEqual({ ok: true, value: spelled(changed) });
  });
});
