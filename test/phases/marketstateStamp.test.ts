// marketstate's hash and its bookkeeping, written in one publish, say the same second: the
// bookkeeping's published_at_ms is the clock reading floored, as the hash's ts_timestamp is — a
// reading of …999.6 ms once rounded it into the next second (seen by test/faults/atomicity.test.ts
// under load).
import { expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { LiveCandles } from "../../src/inputs/klines.js";
import { marketStateSteps } from "../../src/phases/marketstate.js";
import type { PhaseDeps } from "../../src/phases/steps.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { candlePayload, dataSinkKey, lastClosedOpenTime, MINUTE_MS } from "../helpers/producers.js";

it("published_at_ms is in the second of ts_timestamp, a clock reading just before the next one", async () => {
  const second = Math.floor(lastClosedOpenTime(Date.now()) / 1000) + 61;
  const nowMs = second * 1000 + 999.6;
  const store = new MemoryStore({ now: () => nowMs });
  let open = lastClosedOpenTime(nowMs) - 300 * MINUTE_MS;
  for (let i = 0; i < 300; i++) {
    open += MINUTE_MS;
    store.zadd(
      dataSinkKey("BTCUSDT"),
      open,
      candlePayload({ symbol: "BTCUSDT", open_time: open, close: 100 + (i % 7) }),
    );
  }
  const config = loadConfig({ env: {} }).config;
  const deps = { store, config, live: new LiveCandles(), now: () => nowMs } as unknown as PhaseDeps;
  const steps = marketStateSteps(deps);
  const { read } = await steps.read("BTCUSDT");
  if (!read.ok) throw new Error(`${read.reason}: ${read.detail}`);
  const computed = steps.compute("BTCUSDT", read.value);
  if (!computed.ok) throw new Error(`${computed.reason}: ${computed.detail}`);
  await steps.publish("BTCUSDT", read.value, computed.value, nowMs);
  const hash = await store.hgetall("quantum:marketstate:BTCUSDT");
  const bookkeeping = await store.hgetall("quantum:calc:marketstate:BTCUSDT");
  expect(hash.ts_timestamp).toBe(String(second));
  expect(bookkeeping.published_at_ms).toBe(String(second * 1000 + 999));
});
