// Two input-layer edge cases found in review, pinned.
import { describe, expect, it } from "vitest";
import { readCandleExtremes, readCandles } from "../../src/candles/index.js";
import { snapshotFromFields } from "../../src/inputs/positions.js";
import { MemoryStore } from "../../src/store/memoryStore.js";

describe("candle edge cases", () => {
  it("readCandleExtremes reads an older sorted set whose scores are epoch seconds", async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 5; i++) {
      const t = 1_700_000_000 + 60 * i;
      store.zadd("candles:Y:1m", t, JSON.stringify({ t, close: 100 + i, high: 200 + i, low: 50 }));
    }
    expect(
      await readCandleExtremes(store, "Y", ["candles:{symbol}:1m"], 1_700_000_060_000),
    ).toEqual({ high: 204, low: 50, throughMs: 1_700_000_240_000 });
  });

  it("a live candle the key already holds (republished, the newer member sorting first) is not counted as live or duplicate", async () => {
    const store = new MemoryStore();
    const base = Date.now() - (Date.now() % 60_000) - 60_000 * 300;
    for (let i = 0; i < 299; i++)
      store.zadd(
        "quantum:history:ohlcv:Y:1m",
        base + i * 60_000,
        JSON.stringify({ open_time: base + i * 60_000, close: 100 + (i % 7), timestamp: 1 }),
      );
    const T = base + 299 * 60_000;
    // The newer publish (timestamp 200) sorts first by member bytes ("open":1… < "open":2…).
    store.zadd(
      "quantum:history:ohlcv:Y:1m",
      T,
      JSON.stringify({ open: 100, open_time: T, close: 100, timestamp: 200 }),
    );
    store.zadd(
      "quantum:history:ohlcv:Y:1m",
      T,
      JSON.stringify({ open: 200, open_time: T, close: 100, timestamp: 100 }),
    );
    const live = [
      { close: 100, openTime: T, publishedAt: 200, high: null, low: null, closeTime: null },
    ];
    const read = await readCandles(store, "Y", {
      patterns: ["quantum:history:ohlcv:{symbol}:1m"],
      windowSize: 300,
      live,
    });
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.value).toMatchObject({ liveOnly: 0, duplicates: 1 });
    expect(read.value.closes).toHaveLength(300);
  });
});

describe("position field precedence (docs/specification.md §4.1: the first present, non-empty source wins)", () => {
  it('current_sl "0" is unset even beside a stop_loss', () => {
    const read = snapshotFromFields(
      {
        symbol: "Y",
        side: "LONG",
        entry_price: "100",
        current_price: "101",
        unrealized_pnl: "1",
        current_sl: "0",
        stop_loss: "95",
      },
      "Y",
      "test",
      { nowMs: 0, maxPositionAgeSec: null },
    );
    expect(read.ok && read.value.current_sl).toBeNull();
  });

  it("without current_sl, stop_loss is the current stop", () => {
    const read = snapshotFromFields(
      {
        symbol: "Y",
        side: "LONG",
        entry_price: "100",
        current_price: "101",
        unrealized_pnl: "1",
        stop_loss: "95",
      },
      "Y",
      "test",
      { nowMs: 0, maxPositionAgeSec: null },
    );
    expect(read.ok && read.value.current_sl).toBe(95);
  });
});

describe("positions from a JSON layout with hostile values", () => {
  it("an object without a usable toString is a bad_position, never a throw (found by the property test)", () => {
    const hostile = { toString: false } as unknown;
    for (const field of ["symbol", "side", "entry_price", "plan_id", "stop_loss"]) {
      const fields: Record<string, unknown> = {
        symbol: "Y",
        side: "LONG",
        entry_price: "100",
        current_price: "101",
        unrealized_pnl: "1",
        [field]: hostile,
      };
      const read = snapshotFromFields(fields, "Y", "legacy", { nowMs: 0, maxPositionAgeSec: null });
      if (field === "plan_id") expect(read.ok).toBe(true);
      else expect(read, field).toMatchObject({ ok: false, reason: "bad_position" });
    }
  });
});
