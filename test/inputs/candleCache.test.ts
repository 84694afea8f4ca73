// The parse cache must never change what a read returns: same series with and without it, and a
// changed candle (same open time, new close) is seen at once.
import { describe, expect, it } from "vitest";
import { CandleParseCache, readCandles } from "../../src/candles/index.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { MINUTE_MS, candlePayload, dataSinkKey, lastClosedOpenTime } from "../helpers/producers.js";

const options = { patterns: ["candles:{symbol}:1m"], windowSize: 50 };

describe("CandleParseCache", () => {
  it("gives the same series as an uncached read, read after read", async () => {
    const store = new MemoryStore();
    const cache = new CandleParseCache();
    for (let i = 0; i < 80; i++) {
      store.zadd("candles:X:1m", i * 60_000, JSON.stringify({ t: i * 60_000, close: 100 + i }));
      if (i % 7 === 0) store.zadd("candles:X:1m", i * 60_000 + 1, "not json");
      const cached = await readCandles(store, "X", { ...options, cache });
      const plain = await readCandles(store, "X", options);
      expect(cached).toEqual(plain);
    }
  });

  it("sees a corrected close at the same open time, and the fingerprint changes", async () => {
    const store = new MemoryStore();
    const cache = new CandleParseCache();
    for (let i = 0; i < 60; i++)
      store.zadd("candles:X:1m", i * 60_000, JSON.stringify({ t: i * 60_000, close: 100 + i }));
    const before = await readCandles(store, "X", { ...options, cache });
    store.del("candles:X:1m");
    for (let i = 0; i < 60; i++) {
      store.zadd(
        "candles:X:1m",
        i * 60_000,
        JSON.stringify({ t: i * 60_000, close: i === 30 ? 555 : 100 + i }),
      );
    }
    const after = await readCandles(store, "X", { ...options, cache });
    if (!before.ok || !after.ok) throw new Error("expected both reads to succeed");
    expect(after.value.closes).toContain(555);
    expect(after.value.fingerprint).not.toBe(before.value.fingerprint);
    expect(after.value.lastOpenTime).toBe(before.value.lastOpenTime);
  });

  it("the data sink layout: a republished member (newer timestamp) is seen at once, as without the cache", async () => {
    const nowMs = Date.now();
    const store = new MemoryStore({ now: () => nowMs });
    const cache = new CandleParseCache();
    const last = lastClosedOpenTime(nowMs);
    const sinkOptions = { patterns: ["quantum:history:ohlcv:{symbol}:1m"], windowSize: 50 };
    for (let i = 0; i < 40; i++) {
      const open_time = last - (39 - i) * MINUTE_MS;
      store.zadd(
        dataSinkKey("X"),
        open_time,
        candlePayload({ symbol: "X", open_time, close: 100 + i }),
      );
    }
    const before = await readCandles(store, "X", { ...sinkOptions, cache });
    expect(before).toEqual(await readCandles(store, "X", sinkOptions));
    // The newest candle republished later with a corrected close (it sorts first by member bytes).
    store.zadd(
      dataSinkKey("X"),
      last,
      candlePayload({ symbol: "X", open_time: last, close: 100.5, timestamp: last / 1000 + 600 }),
    );
    const after = await readCandles(store, "X", { ...sinkOptions, cache });
    expect(after).toEqual(await readCandles(store, "X", sinkOptions));
    if (!before.ok || !after.ok) throw new Error("expected both reads to succeed");
    expect(before.value.closes.at(-1)).toBe(139);
    expect(after.value.closes.at(-1)).toBe(100.5);
    expect(after.value.duplicates).toBe(1);
    expect(after.value.fingerprint).not.toBe(before.value.fingerprint);
  });
});
