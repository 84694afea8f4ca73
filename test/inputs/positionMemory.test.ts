// Position memory (docs/specification.md §4.2): peak, trough and first-seen time of an open position, kept by this
// service in quantum:calc:position:{symbol}. Pure functions first, then the PositionBook over the
// memory store, then persistence across a "restart" (a new PositionBook) on a real redis-server.
// Snapshots are built from the producers' fixtures with an injected clock.
import { describe, expect, it, vi } from "vitest";
import { DEFAULT_CANDLE_PATTERNS, readCandleExtremes } from "../../src/candles/index.js";
import {
  POSITION_MEMORY_TTL_SEC,
  PositionBook,
  advanceMemory,
  candlesNeededFromMs,
  memoryFromFields,
  memoryToFields,
  positionMemoryKey,
  trackedFigures,
  type CandleExtremes,
  type ExtremesReader,
  type PositionMemory,
} from "../../src/inputs/positionMemory.js";
import { snapshotFromFields, type PositionSnapshot } from "../../src/inputs/positions.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { createRedisStore } from "../../src/store/redisStore.js";
import type { Store } from "../../src/store/types.js";
import {
  MINUTE_MS,
  applyLayerFields,
  brainFields,
  candlePayload,
  dataSinkKey,
  lastClosedOpenTime,
  positionKey,
} from "../helpers/producers.js";
import { useTestRedis } from "../helpers/redisFixture.js";

const SYMBOL = "BTCUSDT";
const NOW_MS = Math.floor(Date.now() / 1000) * 1000;
const NOW_S = NOW_MS / 1000;

interface Live {
  side?: "LONG" | "SHORT";
  entry?: number;
  mark: number;
  /** Apply layer's created_at (epoch s); absent = the brain alone. */
  createdAt?: number;
  planId?: string;
}

/** The canonical hash's fields for a position: the apply layer's (when createdAt is given), then the brain's. */
function liveFields(p: Live, nowMs = NOW_MS): Record<string, string> {
  const side = p.side ?? "LONG";
  const entry = p.entry ?? 100;
  const amount = side === "LONG" ? 0.5 : -0.5;
  const apply =
    p.createdAt === undefined
      ? {}
      : applyLayerFields({
          symbol: SYMBOL,
          side,
          quantity: 0.5,
          entry,
          planId: p.planId,
          createdAt: p.createdAt,
        });
  return {
    ...apply,
    ...brainFields(
      { symbol: SYMBOL, positionAmt: amount, entry, mark: p.mark, unrealizedPnl: 1 },
      nowMs,
    ),
  };
}

function snap(p: Live, nowMs = NOW_MS): PositionSnapshot {
  const read = snapshotFromFields(liveFields(p, nowMs), SYMBOL, positionKey(SYMBOL), {
    nowMs,
    maxPositionAgeSec: 300,
  });
  if (!read.ok) throw new Error(`fixture refused: ${read.reason} ${read.detail}`);
  return read.value;
}

/** Folds the prices in one after another (no candles); returns every memory. */
function fold(prices: number[], p: Omit<Live, "mark"> = {}): PositionMemory[] {
  const out: PositionMemory[] = [];
  let memory: PositionMemory | null = null;
  prices.forEach((mark, i) => {
    memory = advanceMemory(memory, snap({ ...p, mark }), null, NOW_MS + i * 10_000);
    out.push(memory);
  });
  return out;
}

describe("advanceMemory", () => {
  it("starts at the current price (never the entry), first seen = now", () => {
    const memory = advanceMemory(null, snap({ mark: 104, entry: 100 }), null, NOW_MS + 999);
    expect(memory).toEqual({
      identity: "LONG:100:-",
      side: "LONG",
      first_seen_epoch: NOW_S,
      peak_price: 104,
      trough_price: 104,
      candles_through_ms: null,
    });
  });

  it("LONG: peak only rises, trough only falls, across observations", () => {
    const prices = [100, 105, 103, 98, 104, 110, 99, 101];
    const memories = fold(prices);
    for (let i = 1; i < memories.length; i++) {
      expect(memories[i].peak_price).toBeGreaterThanOrEqual(memories[i - 1].peak_price);
      expect(memories[i].trough_price).toBeLessThanOrEqual(memories[i - 1].trough_price);
      expect(memories[i].peak_price).toBe(Math.max(...prices.slice(0, i + 1)));
      expect(memories[i].trough_price).toBe(Math.min(...prices.slice(0, i + 1)));
      expect(memories[i].first_seen_epoch).toBe(NOW_S);
    }
    expect(memories.at(-1)).toMatchObject({ peak_price: 110, trough_price: 98 });
  });

  it("SHORT mirrored: peak = the lowest price, trough = the highest", () => {
    const prices = [100, 95, 97, 103, 96, 90, 101];
    const memories = fold(prices, { side: "SHORT" });
    for (let i = 1; i < memories.length; i++) {
      expect(memories[i].peak_price).toBeLessThanOrEqual(memories[i - 1].peak_price);
      expect(memories[i].trough_price).toBeGreaterThanOrEqual(memories[i - 1].trough_price);
    }
    expect(memories.at(-1)).toMatchObject({ side: "SHORT", peak_price: 90, trough_price: 103 });
  });

  it("folds candle extremes: a LONG takes highs for the peak and lows for the trough, a SHORT the reverse", () => {
    const extremes: CandleExtremes = { high: 120, low: 90, throughMs: NOW_MS - MINUTE_MS };
    expect(
      advanceMemory(null, snap({ mark: 100, createdAt: NOW_S - 600 }), extremes, NOW_MS),
    ).toMatchObject({
      peak_price: 120,
      trough_price: 90,
      candles_through_ms: NOW_MS - MINUTE_MS,
    });
    expect(
      advanceMemory(
        null,
        snap({ side: "SHORT", mark: 100, createdAt: NOW_S - 600 }),
        extremes,
        NOW_MS,
      ),
    ).toMatchObject({
      peak_price: 90,
      trough_price: 120,
    });
    // Extremes inside the range already held change nothing but the candle mark.
    const held = advanceMemory(null, snap({ mark: 100, createdAt: NOW_S - 600 }), extremes, NOW_MS);
    const again = advanceMemory(
      held,
      snap({ mark: 101, createdAt: NOW_S - 600 }),
      { high: 110, low: 95, throughMs: NOW_MS },
      NOW_MS + 60_000,
    );
    expect(again).toMatchObject({
      peak_price: 120,
      trough_price: 90,
      candles_through_ms: NOW_MS,
      first_seen_epoch: NOW_S,
    });
  });

  it("a new identity resets: another plan_id, a side flip, another entry", () => {
    const opened = NOW_S - 600;
    let memory = advanceMemory(
      null,
      snap({ mark: 100, createdAt: opened, planId: "plan-a" }),
      null,
      NOW_MS,
    );
    memory = advanceMemory(
      memory,
      snap({ mark: 130, createdAt: opened, planId: "plan-a" }),
      null,
      NOW_MS + 10_000,
    );
    expect(memory).toMatchObject({
      identity: "plan:plan-a:LONG",
      peak_price: 130,
      trough_price: 100,
      first_seen_epoch: NOW_S,
    });

    const newPlan = advanceMemory(
      memory,
      snap({ mark: 105, createdAt: opened, planId: "plan-b" }),
      null,
      NOW_MS + 20_000,
    );
    expect(newPlan).toEqual({
      identity: "plan:plan-b:LONG",
      side: "LONG",
      first_seen_epoch: NOW_S + 20,
      peak_price: 105,
      trough_price: 105,
      candles_through_ms: null,
    });

    // The same plan id, but the side flipped: another position.
    const flipped = advanceMemory(
      memory,
      snap({ side: "SHORT", mark: 105, createdAt: opened, planId: "plan-a" }),
      null,
      NOW_MS + 20_000,
    );
    expect(flipped).toMatchObject({
      identity: "plan:plan-a:SHORT",
      side: "SHORT",
      peak_price: 105,
      trough_price: 105,
      first_seen_epoch: NOW_S + 20,
    });

    // Without a plan id the identity is side + entry + created_at.
    const brainOnly = advanceMemory(null, snap({ mark: 100 }), null, NOW_MS);
    const peaked = advanceMemory(brainOnly, snap({ mark: 120 }), null, NOW_MS + 10_000);
    expect(peaked.peak_price).toBe(120);
    expect(
      advanceMemory(peaked, snap({ side: "SHORT", mark: 110 }), null, NOW_MS + 20_000),
    ).toMatchObject({ identity: "SHORT:100:-", peak_price: 110, trough_price: 110 });
    expect(
      advanceMemory(peaked, snap({ entry: 101, mark: 110 }), null, NOW_MS + 20_000),
    ).toMatchObject({ identity: "LONG:101:-", peak_price: 110 });
  });
});

describe("trackedFigures / candlesNeededFromMs", () => {
  it("age from created_at when known, else from first seen; never negative", () => {
    const withCreated = snap({ mark: 100, createdAt: NOW_S - 600 });
    const memory = advanceMemory(null, withCreated, null, NOW_MS);
    expect(trackedFigures(withCreated, memory, NOW_MS)).toEqual({
      peak_price: 100,
      trough_price: 100,
      age_sec: 600,
    });

    const brainOnly = snap({ mark: 100 });
    const firstSeen = advanceMemory(null, brainOnly, null, NOW_MS);
    expect(trackedFigures(brainOnly, firstSeen, NOW_MS).age_sec).toBe(0);
    expect(trackedFigures(brainOnly, firstSeen, NOW_MS + 90_500).age_sec).toBe(90);

    // Within maxClockSkew (further ahead is bad_position: test/inputs/positions.test.ts).
    const future = snap({ mark: 100, createdAt: NOW_S + 4 });
    expect(trackedFigures(future, advanceMemory(null, future, null, NOW_MS), NOW_MS).age_sec).toBe(
      0,
    );
    // A clock that stepped back behind first seen: still 0.
    expect(trackedFigures(brainOnly, firstSeen, NOW_MS - 60_000).age_sec).toBe(0);
  });

  it("candles are read from the opening, then after the newest already folded; none without created_at", () => {
    const s = snap({ mark: 100, createdAt: NOW_S - 600 });
    expect(candlesNeededFromMs(snap({ mark: 100 }), null)).toBeNull();
    expect(candlesNeededFromMs(s, null)).toBe((NOW_S - 600) * 1000);
    const memory = advanceMemory(
      null,
      s,
      { high: 101, low: 99, throughMs: NOW_MS - MINUTE_MS },
      NOW_MS,
    );
    expect(candlesNeededFromMs(s, memory)).toBe(NOW_MS - MINUTE_MS + 1);
    // A memory of another identity does not count.
    expect(
      candlesNeededFromMs(snap({ mark: 100, createdAt: NOW_S - 600, planId: "other" }), memory),
    ).toBe((NOW_S - 600) * 1000);
    // A memory that folded nothing yet: from the opening.
    expect(candlesNeededFromMs(s, advanceMemory(null, s, null, NOW_MS))).toBe((NOW_S - 600) * 1000);
  });
});

describe("memoryToFields / memoryFromFields", () => {
  const memory: PositionMemory = {
    identity: "plan:p1:LONG",
    side: "LONG",
    first_seen_epoch: NOW_S,
    peak_price: 110.25,
    trough_price: 97.5,
    candles_through_ms: NOW_MS - MINUTE_MS,
  };

  it("round-trips, with and without a candle mark", () => {
    const fields = memoryToFields(memory, NOW_MS + 1500);
    expect(fields).toEqual({
      identity: "plan:p1:LONG",
      side: "LONG",
      first_seen_epoch: String(NOW_S),
      peak_price: "110.25",
      trough_price: "97.5",
      candles_through_ms: String(NOW_MS - MINUTE_MS),
      updated_epoch: String(NOW_S + 1),
    });
    expect(memoryFromFields(fields)).toEqual(memory);
    const none = { ...memory, candles_through_ms: null };
    expect(memoryToFields(none, NOW_MS).candles_through_ms).toBe("");
    expect(memoryFromFields(memoryToFields(none, NOW_MS))).toEqual(none);
  });

  it("anything not in our format is no memory (it starts afresh)", () => {
    const good = memoryToFields(memory, NOW_MS);
    expect(memoryFromFields({})).toBeNull();
    const brokenOnes: Array<Record<string, string>> = [
      { identity: "" },
      { side: "FLAT" },
      { first_seen_epoch: "soon" },
      { peak_price: "0" },
      { trough_price: "-1" },
      { peak_price: "NaN" },
      { candles_through_ms: "x" },
    ];
    for (const broken of brokenOnes) {
      expect(memoryFromFields({ ...good, ...broken }), JSON.stringify(broken)).toBeNull();
    }
  });
});

/** The extremes reader the service wires in: readCandleExtremes over the store's candle keys. */
const extremesFrom =
  (store: Store): ExtremesReader =>
  (symbol, fromMs) =>
    readCandleExtremes(store, symbol, DEFAULT_CANDLE_PATTERNS, fromMs);

describe("PositionBook over the memory store", () => {
  /** Data sink candles: `rows` of [open time ms, high, low]. */
  const seedCandles = (store: MemoryStore, rows: Array<[number, number, number]>): void => {
    for (const [open_time, high, low] of rows) {
      store.zadd(
        dataSinkKey(SYMBOL),
        open_time,
        candlePayload({ symbol: SYMBOL, open_time, close: (high + low) / 2, high, low }),
      );
    }
  };

  async function observe(book: PositionBook, s: PositionSnapshot, nowMs: number) {
    const read = await book.observe(s, nowMs);
    if (!read.ok) throw new Error(`observe refused: ${read.reason} ${read.detail}`);
    return read.value;
  }

  it("folds the highs/lows of candles opened at or after created_at, not older ones", async () => {
    const nowMs = Date.now();
    const store = new MemoryStore({ now: () => nowMs });
    const last = lastClosedOpenTime(nowMs);
    const createdAt = Math.floor((last - 3 * MINUTE_MS) / 1000); // the opening candle's open time exactly
    seedCandles(store, [
      [last - 5 * MINUTE_MS, 500, 1], // before the opening: a spike that must not count
      [last - 4 * MINUTE_MS, 400, 2],
      [last - 3 * MINUTE_MS, 104, 99], // opened at created_at: counts
      [last - 2 * MINUTE_MS, 112, 101],
      [last - MINUTE_MS, 108, 97.5],
      [last, 106, 100],
    ]);
    const book = new PositionBook(store, extremesFrom(store));
    const tracked = await observe(book, snap({ mark: 103, createdAt }, nowMs), nowMs);
    expect(tracked.memory).toMatchObject({
      peak_price: 112,
      trough_price: 97.5,
      candles_through_ms: last,
    });
    expect(tracked.position).toMatchObject({
      side: "LONG",
      current_price: 103,
      peak_price: 112,
      trough_price: 97.5,
      age_sec: Math.floor(nowMs / 1000) - createdAt,
    });
    // A SHORT opened at the same time: peak = the lowest low, trough = the highest high, of the same candles.
    const shortBook = new PositionBook(store, extremesFrom(store));
    const short = await observe(
      shortBook,
      snap({ side: "SHORT", mark: 103, createdAt }, nowMs),
      nowMs,
    );
    expect(short.memory).toMatchObject({ peak_price: 97.5, trough_price: 112 });
  });

  it("reads only candles after the newest already folded; without created_at none at all", async () => {
    const store = new MemoryStore({ now: () => NOW_MS });
    const calls: number[] = [];
    const reader: ExtremesReader = async (_symbol, fromMs) => {
      calls.push(fromMs);
      return { high: 101, low: 99, throughMs: NOW_MS - MINUTE_MS };
    };
    const book = new PositionBook(store, reader);
    const s = snap({ mark: 100, createdAt: NOW_S - 600 });
    await observe(book, s, NOW_MS);
    await observe(book, s, NOW_MS + 10_000);
    expect(calls).toEqual([(NOW_S - 600) * 1000, NOW_MS - MINUTE_MS + 1]);
    const other = new PositionBook(new MemoryStore(), reader);
    calls.length = 0;
    await observe(other, snap({ mark: 100 }), NOW_MS);
    expect(calls).toEqual([]);
  });

  it("first_seen and the age without created_at; a restart of the clock never makes it negative", async () => {
    const store = new MemoryStore({ now: () => NOW_MS });
    const book = new PositionBook(store, extremesFrom(store));
    const first = await observe(book, snap({ mark: 100 }), NOW_MS);
    expect(first.memory.first_seen_epoch).toBe(NOW_S);
    expect(first.position.age_sec).toBe(0);
    expect((await observe(book, snap({ mark: 100 }), NOW_MS + 95_000)).position.age_sec).toBe(95);
    expect((await observe(book, snap({ mark: 100 }), NOW_MS - 30_000)).position.age_sec).toBe(0);
    const future = await observe(
      new PositionBook(store, extremesFrom(store)),
      snap({ mark: 100, createdAt: NOW_S + 4 }),
      NOW_MS,
    ); // within maxClockSkew
    expect(future.position.age_sec).toBe(0);
  });

  it("peak only rises and trough only falls through the book; a new plan resets it", async () => {
    const store = new MemoryStore({ now: () => NOW_MS });
    const book = new PositionBook(store, async () => null);
    const marks = [100, 107, 102, 95, 104];
    for (const [i, mark] of marks.entries())
      await observe(book, snap({ mark, planId: "p1", createdAt: NOW_S - 60 }), NOW_MS + i * 10_000);
    expect(book.peek(SYMBOL)).toMatchObject({
      identity: "plan:p1:LONG",
      peak_price: 107,
      trough_price: 95,
    });
    const reset = await observe(
      book,
      snap({ mark: 101, planId: "p2", createdAt: NOW_S - 5 }),
      NOW_MS + 60_000,
    );
    expect(reset.memory).toMatchObject({
      identity: "plan:p2:LONG",
      peak_price: 101,
      trough_price: 101,
      first_seen_epoch: NOW_S + 60,
    });
    expect(reset.position).toMatchObject({ peak_price: 101, trough_price: 101, age_sec: 65 });
  });

  it("pendingWrite: pending after a change, nothing after commit, pending again after the next change", async () => {
    const store = new MemoryStore({ now: () => NOW_MS });
    const book = new PositionBook(store, async () => null);
    expect(book.pendingWrite(SYMBOL, NOW_MS)).toBeNull(); // nothing observed yet
    await observe(book, snap({ mark: 100 }), NOW_MS);
    const pending = book.pendingWrite(SYMBOL, NOW_MS);
    expect(pending?.write).toEqual({
      key: positionMemoryKey(SYMBOL),
      fields: memoryToFields(book.peek(SYMBOL) as PositionMemory, NOW_MS),
      ttlSec: POSITION_MEMORY_TTL_SEC,
    });
    expect(pending?.write.key).toBe("quantum:calc:position:BTCUSDT");
    // Not committed (the publish failed): still pending.
    expect(book.pendingWrite(SYMBOL, NOW_MS + 1000)).not.toBeNull();
    await store.publish({ hashes: [pending!.write], streams: [] });
    pending!.commit();
    expect(book.pendingWrite(SYMBOL, NOW_MS + 1000)).toBeNull();
    // The same price again changes nothing: still nothing pending.
    await observe(book, snap({ mark: 100 }), NOW_MS + 10_000);
    expect(book.pendingWrite(SYMBOL, NOW_MS + 10_000)).toBeNull();
    // A new peak: pending again, with the new figures.
    await observe(book, snap({ mark: 104 }), NOW_MS + 20_000);
    const next = book.pendingWrite(SYMBOL, NOW_MS + 20_000);
    expect(next?.write.fields).toMatchObject({ peak_price: "104", trough_price: "100" });
    // A commit of an older write does not hide the newer change.
    pending!.commit();
    expect(book.pendingWrite(SYMBOL, NOW_MS + 20_000)).not.toBeNull();
    next!.commit();
    expect(book.pendingWrite(SYMBOL, NOW_MS + 20_000)).toBeNull();
    // An unchanged memory is rewritten after an hour (its TTL refreshed).
    expect(book.pendingWrite(SYMBOL, NOW_MS + 20_000 + 3_600_000)).not.toBeNull();
  });

  it("loads a stored memory on first use; one of another identity starts afresh", async () => {
    const store = new MemoryStore({ now: () => NOW_MS });
    const stored: PositionMemory = {
      identity: "LONG:100:-",
      side: "LONG",
      first_seen_epoch: NOW_S - 3600,
      peak_price: 130,
      trough_price: 90,
      candles_through_ms: null,
    };
    store.hset(positionMemoryKey(SYMBOL), memoryToFields(stored, NOW_MS - 60_000));
    const tracked = await observe(
      new PositionBook(store, async () => null),
      snap({ mark: 110 }),
      NOW_MS,
    );
    expect(tracked.memory).toEqual(stored);
    expect(tracked.position).toMatchObject({ peak_price: 130, trough_price: 90, age_sec: 3600 });
    const other = await observe(
      new PositionBook(store, async () => null),
      snap({ mark: 110, entry: 105 }),
      NOW_MS,
    );
    expect(other.memory).toMatchObject({
      identity: "LONG:105:-",
      peak_price: 110,
      trough_price: 110,
      first_seen_epoch: NOW_S,
    });
  });

  it("flat() deletes the stored memory once and forgets it; a later position starts afresh", async () => {
    const store = new MemoryStore({ now: () => NOW_MS });
    const book = new PositionBook(store, async () => null);
    await observe(book, snap({ mark: 120 }), NOW_MS);
    const pending = book.pendingWrite(SYMBOL, NOW_MS);
    await store.publish({ hashes: [pending!.write], streams: [] });
    pending!.commit();
    expect(store.keys("quantum:calc:position:*")).toEqual(["quantum:calc:position:BTCUSDT"]);

    const deletes = vi.spyOn(store, "deleteOwn");
    await book.flat(SYMBOL);
    expect(store.keys("quantum:calc:position:*")).toEqual([]);
    expect(book.peek(SYMBOL)).toBeNull();
    expect(book.pendingWrite(SYMBOL, NOW_MS)).toBeNull();
    await book.flat(SYMBOL);
    await book.flat(SYMBOL);
    expect(deletes).toHaveBeenCalledTimes(1);
    expect(deletes).toHaveBeenCalledWith(["quantum:calc:position:BTCUSDT"]);

    const reopened = await observe(book, snap({ mark: 101 }), NOW_MS + 60_000);
    expect(reopened.memory).toMatchObject({
      peak_price: 101,
      trough_price: 101,
      first_seen_epoch: NOW_S + 60,
    });
    expect(book.pendingWrite(SYMBOL, NOW_MS + 60_000)).not.toBeNull();
    // Flat again after a position: deleted again (once).
    await book.flat(SYMBOL);
    expect(deletes).toHaveBeenCalledTimes(2);
  });

  it("a fresh book (restart) deletes a stored memory left over when it finds no position", async () => {
    const store = new MemoryStore({ now: () => NOW_MS });
    store.hset(
      positionMemoryKey(SYMBOL),
      memoryToFields(
        {
          identity: "x",
          side: "LONG",
          first_seen_epoch: 1,
          peak_price: 2,
          trough_price: 1,
          candles_through_ms: null,
        },
        NOW_MS,
      ),
    );
    await new PositionBook(store, async () => null).flat(SYMBOL);
    expect(store.keys("quantum:calc:*")).toEqual([]);
  });
});

describe("PositionBook on a real redis-server: the memory survives a restart", () => {
  const fixture = useTestRedis();

  it("a new PositionBook on a new connection continues from the stored peak/trough and first seen", async () => {
    const nowMs = Date.now();
    const last = lastClosedOpenTime(nowMs);
    const createdAt = Math.floor((last - 2 * MINUTE_MS) / 1000);
    const redis = fixture.redis;
    await redis.flushall();
    for (const [i, [high, low]] of [
      [103, 99],
      [118, 100],
      [105, 98],
    ].entries()) {
      const open_time = last - (2 - i) * MINUTE_MS;
      await redis.zadd(
        dataSinkKey(SYMBOL),
        open_time,
        candlePayload({ symbol: SYMBOL, open_time, close: (high + low) / 2, high, low }),
      );
    }

    const first = createRedisStore({ url: fixture.server.url, reconnect: false });
    let second: Store | undefined;
    try {
      await first.waitReady(5000);
      const book = new PositionBook(first, extremesFrom(first));
      const read = await book.observe(
        snap({ mark: 104, createdAt, planId: "plan-r" }, nowMs),
        nowMs,
      );
      expect(read).toMatchObject({
        ok: true,
        value: { memory: { peak_price: 118, trough_price: 98, candles_through_ms: last } },
      });
      const pending = book.pendingWrite(SYMBOL, nowMs);
      expect(pending).not.toBeNull();
      await first.publish({ hashes: [pending!.write], streams: [] });
      pending!.commit();
      expect(await redis.hgetall("quantum:calc:position:BTCUSDT")).toMatchObject({
        identity: "plan:plan-r:LONG",
        peak_price: "118",
        trough_price: "98",
      });
      const ttl = await redis.ttl("quantum:calc:position:BTCUSDT");
      expect(ttl).toBeGreaterThan(POSITION_MEMORY_TTL_SEC - 60);
      expect(ttl).toBeLessThanOrEqual(POSITION_MEMORY_TTL_SEC);
      await first.close();

      // "Restart": a new store and a new book. The price has fallen back; the peak stays.
      const store = createRedisStore({ url: fixture.server.url, reconnect: false });
      second = store;
      await store.waitReady(5000);
      const calls: number[] = [];
      const restarted = new PositionBook(store, async (symbol, fromMs) => {
        calls.push(fromMs);
        return readCandleExtremes(store, symbol, DEFAULT_CANDLE_PATTERNS, fromMs);
      });
      const later = nowMs + 30_000;
      const after = await restarted.observe(
        snap({ mark: 101, createdAt, planId: "plan-r" }, later),
        later,
      );
      expect(after).toMatchObject({
        ok: true,
        value: {
          memory: {
            identity: "plan:plan-r:LONG",
            peak_price: 118,
            trough_price: 98,
            first_seen_epoch: Math.floor(nowMs / 1000),
          },
          position: { current_price: 101, peak_price: 118, trough_price: 98 },
        },
      });
      // It continued after the candles already folded, not from the opening again.
      expect(calls).toEqual([last + 1]);

      // The position closes: the memory is deleted on Redis.
      await restarted.flat(SYMBOL);
      expect(await redis.exists("quantum:calc:position:BTCUSDT")).toBe(0);
    } finally {
      await first.close().catch(() => undefined);
      await second?.close();
    }
  });
});
