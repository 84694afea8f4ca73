// The reader first reads the window plus a small margin; when duplicates or malformed members
// leave the window short, it reads the full margin, so a dirty tail never shrinks the window.
import { describe, expect, it } from "vitest";
import { candleFirstTailCount, readCandles } from "../../src/candles/index.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { MINUTE_MS, candlePayload, dataSinkKey, lastClosedOpenTime } from "../helpers/producers.js";

describe("candle tail reads", () => {
  it("a clean key needs only the first, short read", async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 200; i++)
      store.zadd("candles:X:1m", i * 60_000, JSON.stringify({ t: i * 60_000, close: 100 + i }));
    const r = await readCandles(store, "X", { patterns: ["candles:{symbol}:1m"], windowSize: 50 });
    expect(r.ok && r.value.closes).toEqual(Array.from({ length: 50 }, (_, i) => 250 + i));
    expect(candleFirstTailCount(50)).toBeLessThan(100);
  });

  it("re-reads with the full margin when duplicates leave the window short", async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 60; i++)
      store.zadd("candles:X:1m", i * 60_000, JSON.stringify({ t: i * 60_000, close: 100 + i }));
    // 40 re-written members for the newest 40 open times (another member string, same time)
    for (let i = 20; i < 60; i++)
      store.zadd("candles:X:1m", i * 60_000, JSON.stringify({ close: 100 + i, t: i * 60_000 }));
    const r = await readCandles(store, "X", { patterns: ["candles:{symbol}:1m"], windowSize: 50 });
    if (!r.ok) throw new Error(r.detail);
    expect(r.value.closes).toHaveLength(50);
    expect(r.value.closes[49]).toBe(159);
    expect(r.value.closes[0]).toBe(110);
  });

  it("the data sink layout: republished candles (same score, newer timestamp) fill the window from the full margin", async () => {
    const nowMs = Date.now();
    const store = new MemoryStore({ now: () => nowMs });
    const last = lastClosedOpenTime(nowMs);
    const open = (i: number): number => last - (59 - i) * MINUTE_MS;
    for (let i = 0; i < 60; i++)
      store.zadd(
        dataSinkKey("X"),
        open(i),
        candlePayload({ symbol: "X", open_time: open(i), close: 100 + i }),
      );
    // The newest 40 republished a minute later with a corrected close: two members per score.
    for (let i = 20; i < 60; i++) {
      store.zadd(
        dataSinkKey("X"),
        open(i),
        candlePayload({
          symbol: "X",
          open_time: open(i),
          close: 200 + i,
          timestamp: open(i) / 1000 + 120,
        }),
      );
    }
    const r = await readCandles(store, "X", {
      patterns: ["quantum:history:ohlcv:{symbol}:1m"],
      windowSize: 50,
    });
    if (!r.ok) throw new Error(r.detail);
    expect(r.value.closes).toHaveLength(50);
    expect(r.value.closes.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => 110 + i));
    expect(r.value.closes.slice(10)).toEqual(Array.from({ length: 40 }, (_, i) => 220 + i));
    expect(r.value.duplicates).toBe(40);
    expect(r.value.lastOpenTimeMs).toBe(last);
  });
});
