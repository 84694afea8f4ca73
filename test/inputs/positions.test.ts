// Position sources, run against both stores.
import { beforeEach, describe, expect, it } from "vitest";
import {
  DEFAULT_MAX_POSITION_AGE_SEC,
  EXECUTION_RESULT_STREAM,
  LEGACY_POSITIONS_KEY,
  createPositionSource,
  eventFields,
  kernelPosition,
  positionFromFields,
  snapshotFromFields,
  syntheticPositionFromCloses,
  syntheticSide,
  type PositionSnapshot,
  type PositionSourceOptions,
} from "../../src/inputs/positions.js";
import type { Read } from "../../src/inputs/types.js";
import type { Position } from "../../src/kernels/types.js";
import { HARNESSES, type Harness, useHarness } from "../store/storeHarness.js";

const FULL = {
  symbol: "BTCUSDT",
  side: "LONG",
  entry_price: "100",
  current_price: "110",
  peak_price: "112",
  trough_price: "98",
  age_sec: "3600",
  unrealized_pnl: "10",
  current_sl: "95",
  current_tp: "130",
};

const EXPECTED: Position = {
  symbol: "BTCUSDT",
  side: "LONG",
  entry_price: 100,
  current_price: 110,
  peak_price: 112,
  trough_price: 98,
  age_sec: 3600,
  unrealized_pnl: 10,
  current_sl: 95,
  current_tp: 130,
};

function snapshot(read: Read<PositionSnapshot>): PositionSnapshot {
  if (!read.ok) throw new Error(`expected a position, got skip ${read.reason}: ${read.detail}`);
  return read.value;
}

/**
 * The kernel's position from a source's snapshot with no position memory: peak/trough fall back
 * to the current price and the age to 0 where the snapshot has none (what positionFromFields does).
 */
function position(read: Read<PositionSnapshot>): Position {
  const s = snapshot(read);
  const kernel = kernelPosition(s, {
    peak_price: s.current_price,
    trough_price: s.current_price,
    age_sec: 0,
  });
  if (!kernel.ok)
    throw new Error(`expected a kernel position, got skip ${kernel.reason}: ${kernel.detail}`);
  return kernel.value;
}

describe("pure helpers", () => {
  it("eventFields merges a JSON payload under the flat fields", () => {
    expect(
      eventFields({
        event_type: "POSITION_OPENED",
        payload: '{"symbol":"X","entry_price":5,"event_type":"IGNORED"}',
      }),
    ).toEqual({
      event_type: "POSITION_OPENED",
      symbol: "X",
      entry_price: 5,
    });
    expect(eventFields({ symbol: "X", data: "not json" })).toEqual({ symbol: "X" });
  });

  it("syntheticSide is deterministic, mixing both sides", () => {
    expect(syntheticSide("BTCUSDT")).toBe("SHORT"); // code-unit sum 537 = 3·179
    expect(syntheticSide("ETHUSDT")).toBe("LONG"); // 545
    expect(syntheticSide("ETHUSDT")).toBe(syntheticSide("ETHUSDT"));
  });

  it("syntheticPositionFromCloses: entry 60 candles back, peak/trough since entry, per-side PnL", () => {
    const closes = Array.from({ length: 100 }, (_, i) => 100 + i); // 100 … 199
    const long = syntheticPositionFromCloses("ETHUSDT", closes);
    expect(long).toEqual({
      symbol: "ETHUSDT",
      side: "LONG",
      entry_price: 139,
      current_price: 199,
      peak_price: 199,
      trough_price: 139,
      age_sec: 3600,
      unrealized_pnl: 60,
      current_sl: null,
      current_tp: null,
    });
    const short = syntheticPositionFromCloses("BTCUSDT", [50, 40, 45]);
    expect(short).toMatchObject({
      side: "SHORT",
      entry_price: 50,
      current_price: 45,
      peak_price: 40,
      trough_price: 50,
      age_sec: 120,
      unrealized_pnl: 5,
    });
  });
});

describe.each(HARNESSES)("position sources: $name", ({ create }) => {
  const harness = useHarness(create);
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  const read = (
    kind: "auto" | "redis_hash" | "redis_stream" | "synthetic",
    symbol = "BTCUSDT",
    options: PositionSourceOptions = {},
    nowMs = Date.now(),
  ) => createPositionSource(kind, h.store, options).read(symbol, nowMs);

  describe("redis_hash", () => {
    it("reads the canonical hash (v1 flat fields with explicit age_sec/peak_price/trough_price)", async () => {
      await h.seed.hset("quantum:state:positions:BTCUSDT", FULL);
      expect(position(await read("redis_hash"))).toEqual(EXPECTED);
      expect(snapshot(await read("redis_hash"))).toEqual({
        ...EXPECTED,
        quantity: null,
        created_at: null,
        ts_epoch: null,
        identity: "LONG:100:-",
        origin: "quantum:state:positions:BTCUSDT",
      });
    });

    it("falls back to the legacy hash with a JSON value (numbers or strings)", async () => {
      await h.seed.hset(LEGACY_POSITIONS_KEY, {
        BTCUSDT: JSON.stringify({ ...EXPECTED, entry_price: "100" }),
        ETHUSDT: JSON.stringify({
          side: "SHORT",
          entry_price: 10,
          current_price: 9,
          age_sec: 5,
          unrealized_pnl: 1,
        }),
      });
      expect(position(await read("redis_hash"))).toEqual(EXPECTED);
      expect(position(await read("redis_hash", "ETHUSDT"))).toEqual({
        symbol: "ETHUSDT",
        side: "SHORT",
        entry_price: 10,
        current_price: 9,
        peak_price: 9,
        trough_price: 9,
        age_sec: 5,
        unrealized_pnl: 1,
        current_sl: null,
        current_tp: null,
      });
    });

    it("prefers the canonical hash over the legacy one", async () => {
      await h.seed.hset("quantum:state:positions:BTCUSDT", FULL);
      await h.seed.hset(LEGACY_POSITIONS_KEY, {
        BTCUSDT: JSON.stringify({ ...EXPECTED, entry_price: 1 }),
      });
      expect(position(await read("redis_hash")).entry_price).toBe(100);
    });

    it("missing peak/trough are left to the memory (null); empty/absent current_sl/current_tp are unset", async () => {
      const { peak_price: _p, trough_price: _t, current_tp: _tp, ...rest } = FULL;
      await h.seed.hset("quantum:state:positions:BTCUSDT", { ...rest, current_sl: "" });
      expect(snapshot(await read("redis_hash"))).toMatchObject({
        peak_price: null,
        trough_price: null,
        current_sl: null,
        current_tp: null,
      });
      expect(position(await read("redis_hash"))).toMatchObject({
        peak_price: 110,
        trough_price: 110,
        current_sl: null,
        current_tp: null,
      });
    });

    // docs/specification.md §4.1: for the optional stop/target, "0", "None" and "null" mean unset (the old rule
    // refused "None" as bad_position; the apply layer writes "0" for "no stop").
    it.each(["0", "0.0", "None", "null", ""])(
      "a stop or target spelled %j is unset",
      async (spelling) => {
        await h.seed.hset("quantum:state:positions:BTCUSDT", {
          ...FULL,
          current_sl: spelling,
          current_tp: spelling,
        });
        expect(snapshot(await read("redis_hash"))).toMatchObject({
          current_sl: null,
          current_tp: null,
        });
      },
    );

    it("a missing symbol field is the key symbol; a different one is refused", async () => {
      const { symbol: _s, ...noSymbol } = FULL;
      await h.seed.hset("quantum:state:positions:BTCUSDT", noSymbol);
      expect(position(await read("redis_hash")).symbol).toBe("BTCUSDT");
      await h.seed.hset("quantum:state:positions:BTCUSDT", { symbol: "ETHUSDT" });
      expect(await read("redis_hash")).toMatchObject({
        ok: false,
        reason: "bad_position",
        detail:
          'quantum:state:positions:BTCUSDT: symbol "ETHUSDT" does not match the requested symbol "BTCUSDT"',
      });
    });

    // The detail names the key, the field and the value (docs/specification.md §4.1 mapping: every number parsed strictly).
    const badCases: Array<[string, Record<string, string>, RegExp]> = [
      ["a bad side", { side: "long" }, /: side must be LONG, SHORT or FLAT \(got "long"\)/],
      ["a NaN price", { current_price: "NaN" }, /: current_price must be a number \(got "NaN"\)/],
      [
        "an Infinity price",
        { entry_price: "Infinity" },
        /: entry_price must be a number \(got "Infinity"\)/,
      ],
      ["a zero price", { entry_price: "0" }, /: entry_price must be > 0 \(got 0\)/],
      ["a missing entry", { entry_price: "" }, /: entry_price missing/],
      ["a negative age", { age_sec: "-1" }, /: age_sec must be >= 0 \(got -1\)/],
      [
        "a garbage pnl",
        { unrealized_pnl: "12abc" },
        /: unrealized_pnl must be a number \(got "12abc"\)/,
      ],
      ["a negative stop", { current_sl: "-5" }, /: current_sl must be > 0 \(got -5\)/],
      ["a garbage target", { current_tp: "13O" }, /: current_tp must be a number \(got "13O"\)/],
      ["a garbage peak", { peak_price: "high" }, /: peak_price must be a number \(got "high"\)/],
      // docs/specification.md §4.1: "a required field spelled None is still bad_position".
      [
        "the Python None for a required price",
        { current_price: "None" },
        /: current_price must be a number \(got "None"\)/,
      ],
    ];
    it.each(badCases)(
      "%s → bad_position naming field and value",
      async (_name, override, pattern) => {
        await h.seed.hset("quantum:state:positions:BTCUSDT", { ...FULL, ...override });
        const result = await read("redis_hash");
        expect(result).toMatchObject({ ok: false, reason: "bad_position" });
        if (!result.ok) {
          expect(result.detail).toMatch(pattern);
          expect(result.detail.startsWith("quantum:state:positions:BTCUSDT: ")).toBe(true);
        }
      },
    );

    it("a missing required field in legacy JSON → bad_position", async () => {
      await h.seed.hset(LEGACY_POSITIONS_KEY, {
        BTCUSDT: JSON.stringify({ side: "LONG", current_price: 1, age_sec: 1, unrealized_pnl: 0 }),
      });
      expect(await read("redis_hash")).toMatchObject({
        ok: false,
        reason: "bad_position",
        detail: "quantum:state:positions[BTCUSDT]: entry_price missing",
      });
    });

    it("legacy JSON that is not an object → bad_position; empty/null value → no_position", async () => {
      await h.seed.hset(LEGACY_POSITIONS_KEY, {
        BTCUSDT: "{oops",
        ETHUSDT: "[1]",
        SOLUSDT: "",
        XRPUSDT: "null",
      });
      expect(await read("redis_hash")).toMatchObject({
        ok: false,
        reason: "bad_position",
        detail: expect.stringContaining("not valid JSON"),
      });
      expect(await read("redis_hash", "ETHUSDT")).toMatchObject({
        ok: false,
        reason: "bad_position",
      });
      expect(await read("redis_hash", "SOLUSDT")).toMatchObject({
        ok: false,
        reason: "no_position",
      });
      expect(await read("redis_hash", "XRPUSDT")).toMatchObject({
        ok: false,
        reason: "no_position",
      });
    });

    it("a position key of the wrong type → bad_position", async () => {
      await h.seed.set("quantum:state:positions:BTCUSDT", "{}");
      expect(await read("redis_hash")).toMatchObject({
        ok: false,
        reason: "bad_position",
        detail: expect.stringContaining("is not a hash"),
      });
    });

    it("nothing anywhere → no_position", async () => {
      expect(await read("redis_hash")).toMatchObject({ ok: false, reason: "no_position" });
    });
  });

  describe("redis_stream", () => {
    const event = (fields: Record<string, string>) => h.seed.xadd(EXECUTION_RESULT_STREAM, fields);

    it("the newest OPENED/UPDATED event for the symbol wins", async () => {
      await event({ ...FULL, event_type: "POSITION_OPENED", current_price: "101" });
      await event({ ...FULL, symbol: "ETHUSDT", event_type: "POSITION_OPENED" });
      await event({ ...FULL, event_type: "POSITION_UPDATED", current_price: "111" });
      await event({ symbol: "BTCUSDT", event_type: "ORDER_FILLED" });
      expect(position(await read("redis_stream")).current_price).toBe(111);
      expect(position(await read("redis_stream", "ETHUSDT")).symbol).toBe("ETHUSDT");
    });

    it("a newer POSITION_CLOSED means no position; a newer OPENED after it means a position again", async () => {
      await event({ ...FULL, event_type: "POSITION_OPENED" });
      await event({ symbol: "BTCUSDT", event_type: "POSITION_CLOSED" });
      expect(await read("redis_stream")).toMatchObject({
        ok: false,
        reason: "no_position",
        detail: expect.stringContaining("POSITION_CLOSED"),
      });
      await event({ ...FULL, event_type: "POSITION_OPENED", entry_price: "105" });
      expect(position(await read("redis_stream")).entry_price).toBe(105);
    });

    it("a stale ts_epoch in the newest event → stale_position", async () => {
      const nowMs = Date.now();
      await event({
        ...FULL,
        event_type: "POSITION_UPDATED",
        ts_epoch: String(Math.floor(nowMs / 1000) - 1000),
      });
      expect(await read("redis_stream", "BTCUSDT", {}, nowMs)).toMatchObject({
        ok: false,
        reason: "stale_position",
      });
      expect(
        position(await read("redis_stream", "BTCUSDT", { maxPositionAgeSec: null }, nowMs))
          .entry_price,
      ).toBe(100);
    });

    it("reads events whose fields are in a JSON payload", async () => {
      await event({
        event_type: "POSITION_OPENED",
        payload: JSON.stringify({ ...EXPECTED, current_sl: null, current_tp: null }),
      });
      expect(position(await read("redis_stream"))).toEqual({
        ...EXPECTED,
        current_sl: null,
        current_tp: null,
      });
    });

    it("looks only at the newest streamScanCount entries", async () => {
      await event({ ...FULL, event_type: "POSITION_OPENED" });
      for (let i = 0; i < 5; i += 1) await event({ symbol: "ETHUSDT", event_type: "ORDER_FILLED" });
      expect(await read("redis_stream", "BTCUSDT", { streamScanCount: 5 })).toMatchObject({
        ok: false,
        reason: "no_position",
      });
      expect(position(await read("redis_stream", "BTCUSDT", { streamScanCount: 6 })).symbol).toBe(
        "BTCUSDT",
      );
    });

    it("a bad event → bad_position naming the entry", async () => {
      const id = await event({ ...FULL, event_type: "POSITION_UPDATED", side: "BUY" });
      expect(await read("redis_stream")).toMatchObject({
        ok: false,
        reason: "bad_position",
        detail: expect.stringContaining(id),
      });
    });
  });

  describe("auto", () => {
    it("hash first, then stream", async () => {
      await h.seed.xadd(EXECUTION_RESULT_STREAM, {
        ...FULL,
        event_type: "POSITION_OPENED",
        entry_price: "50",
      });
      expect(position(await read("auto")).entry_price).toBe(50);
      await h.seed.hset("quantum:state:positions:BTCUSDT", FULL);
      expect(position(await read("auto")).entry_price).toBe(100);
    });

    it("a bad hash position is not replaced by a stream event", async () => {
      await h.seed.xadd(EXECUTION_RESULT_STREAM, { ...FULL, event_type: "POSITION_OPENED" });
      await h.seed.hset("quantum:state:positions:BTCUSDT", { ...FULL, side: "BUY" });
      expect(await read("auto")).toMatchObject({
        ok: false,
        reason: "bad_position",
        detail: expect.stringContaining("quantum:state:positions:BTCUSDT"),
      });
    });

    // docs/specification.md §4.1: FLAT is now no position (it used to be a bad side) — and a closed hash still
    // decides: the older stream event does not bring the position back.
    it("a FLAT or stale hash is not replaced by a stream event either", async () => {
      const nowMs = Date.now();
      await h.seed.xadd(EXECUTION_RESULT_STREAM, { ...FULL, event_type: "POSITION_OPENED" });
      await h.seed.hset("quantum:state:positions:BTCUSDT", { ...FULL, side: "FLAT" });
      expect(await read("auto", "BTCUSDT", {}, nowMs)).toMatchObject({
        ok: false,
        reason: "no_position",
        detail: "quantum:state:positions:BTCUSDT: side FLAT",
      });
      await h.seed.hset("quantum:state:positions:BTCUSDT", {
        ...FULL,
        ts_epoch: String(Math.floor(nowMs / 1000) - DEFAULT_MAX_POSITION_AGE_SEC - 60),
      });
      expect(await read("auto", "BTCUSDT", {}, nowMs)).toMatchObject({
        ok: false,
        reason: "stale_position",
      });
    });

    it("never synthetic: candles but no position anywhere → no_position", async () => {
      await h.seed.rpush(
        "candles:BTCUSDT:1m",
        ...Array.from({ length: 100 }, (_, i) => String(100 + i)),
      );
      const result = await read("auto");
      expect(result).toMatchObject({ ok: false, reason: "no_position" });
      if (!result.ok) expect(result.detail).toContain(EXECUTION_RESULT_STREAM);
    });
  });

  describe("synthetic", () => {
    it("is deterministic and follows the candles", async () => {
      await h.seed.rpush(
        "candles:ETHUSDT:1m",
        ...Array.from({ length: 100 }, (_, i) => String(100 + i)),
      );
      const first = position(await read("synthetic", "ETHUSDT"));
      expect(first).toEqual(
        syntheticPositionFromCloses(
          "ETHUSDT",
          Array.from({ length: 100 }, (_, i) => 100 + i),
        ),
      );
      expect(position(await read("synthetic", "ETHUSDT"))).toEqual(first);
      await h.seed.rpush("candles:ETHUSDT:1m", "250");
      const next = position(await read("synthetic", "ETHUSDT"));
      expect(next).toMatchObject({
        entry_price: 140,
        current_price: 250,
        peak_price: 250,
        unrealized_pnl: 110,
        age_sec: 3600,
      });
    });

    it("uses the configured candle patterns; no candles → insufficient_data", async () => {
      await h.seed.rpush("my:ETHUSDT", "10", "12");
      expect(
        position(await read("synthetic", "ETHUSDT", { candlePatterns: ["my:{symbol}"] })),
      ).toMatchObject({ entry_price: 10, current_price: 12, age_sec: 60 });
      expect(await read("synthetic", "ETHUSDT")).toMatchObject({
        ok: false,
        reason: "insufficient_data",
      });
    });
  });
});

describe("createPositionSource", () => {
  it("refuses unknown kinds and bad scan counts", async () => {
    const { MemoryStore } = await import("../../src/store/memoryStore.js");
    const store = new MemoryStore();
    expect(() => createPositionSource("magic" as "auto", store)).toThrow(
      /unknown position source "magic"/,
    );
    expect(() => createPositionSource("redis_stream", store, { streamScanCount: 0 })).toThrow(
      /streamScanCount/,
    );
    expect(createPositionSource("auto", store).kind).toBe("auto");
  });
});

describe("snapshotFromFields / kernelPosition / positionFromFields (no memory)", () => {
  const NOW_MS = Date.now();
  const NOW_S = Math.floor(NOW_MS / 1000);
  const at = { nowMs: NOW_MS, maxPositionAgeSec: DEFAULT_MAX_POSITION_AGE_SEC };
  const LIVE = {
    symbol: "BTCUSDT",
    side: "SHORT",
    entry_price: "100",
    mark_price: "95",
    unrealized_pnl: "2.5",
    position_amt: "-0.5",
  };

  it("positionFromFields: peak/trough = current price; age = age_sec, else now − created_at, else 0", () => {
    expect(positionFromFields(LIVE, "BTCUSDT", "test", NOW_MS)).toEqual({
      ok: true,
      value: {
        symbol: "BTCUSDT",
        side: "SHORT",
        entry_price: 100,
        current_price: 95,
        peak_price: 95,
        trough_price: 95,
        age_sec: 0,
        unrealized_pnl: 2.5,
        current_sl: null,
        current_tp: null,
      },
    });
    expect(
      positionFromFields(
        { ...LIVE, created_at: String(NOW_S - 120) },
        "BTCUSDT",
        "test",
        NOW_S * 1000,
      ),
    ).toMatchObject({ ok: true, value: { age_sec: 120 } });
    expect(
      positionFromFields(
        { ...LIVE, created_at: String(NOW_S - 120), age_sec: "7" },
        "BTCUSDT",
        "test",
        NOW_MS,
      ),
    ).toMatchObject({ ok: true, value: { age_sec: 7 } });
    // A created_at in the future (clock skew) is age 0, never negative (docs/specification.md §4.1).
    expect(
      positionFromFields({ ...LIVE, created_at: String(NOW_S + 600) }, "BTCUSDT", "test", NOW_MS),
    ).toMatchObject({ ok: true, value: { age_sec: 0 } });
    // Without nowMs there is no freshness check and no derived age.
    expect(positionFromFields({ ...LIVE, ts_epoch: "1" }, "BTCUSDT", "test")).toMatchObject({
      ok: true,
      value: { age_sec: 0 },
    });
  });

  it("quantity is `quantity`, else |position_amt|, else null; a negative quantity is bad", () => {
    expect(snapshot(snapshotFromFields(LIVE, "BTCUSDT", "test", at)).quantity).toBe(0.5);
    expect(
      snapshot(snapshotFromFields({ ...LIVE, quantity: "0.75" }, "BTCUSDT", "test", at)).quantity,
    ).toBe(0.75);
    const { position_amt: _a, ...noAmount } = LIVE;
    expect(snapshot(snapshotFromFields(noAmount, "BTCUSDT", "test", at)).quantity).toBeNull();
    expect(snapshotFromFields({ ...noAmount, quantity: "-1" }, "BTCUSDT", "test", at)).toEqual({
      ok: false,
      reason: "bad_position",
      detail: "test: quantity must be >= 0 (got -1)",
    });
  });

  it("kernelPosition: the snapshot's own peak/trough/age win over the tracked ones", () => {
    const s = snapshot(snapshotFromFields(LIVE, "BTCUSDT", "test", at));
    expect(kernelPosition(s, { peak_price: 90, trough_price: 101, age_sec: 30 })).toMatchObject({
      ok: true,
      value: { peak_price: 90, trough_price: 101, age_sec: 30 },
    });
    const explicit = snapshot(
      snapshotFromFields(
        { ...LIVE, peak_price: "92", trough_price: "103", age_sec: "5" },
        "BTCUSDT",
        "test",
        at,
      ),
    );
    expect(
      kernelPosition(explicit, { peak_price: 90, trough_price: 101, age_sec: 30 }),
    ).toMatchObject({ ok: true, value: { peak_price: 92, trough_price: 103, age_sec: 5 } });
    // A tracked figure the kernel refuses is a bad_position naming the snapshot's origin.
    expect(kernelPosition(s, { peak_price: 0, trough_price: 101, age_sec: 30 })).toMatchObject({
      ok: false,
      reason: "bad_position",
      detail: expect.stringMatching(/^test: position\.peak_price: must be > 0/),
    });
  });
});
