// Candle reading, run against both stores.
import { beforeEach, describe, expect, it } from "vitest";
import {
  DEFAULT_CANDLE_PATTERNS,
  candleTailCount,
  openTimeMs,
  parseCandleMember,
  readCandleExtremes,
  readCandles,
  type Candle,
  type CandleSeries,
} from "../../src/candles/index.js";
import { parseKlineEntry, type LiveCandle } from "../../src/inputs/klines.js";
import type { Read } from "../../src/inputs/types.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import {
  MINUTE_MS,
  candlePayload,
  dataSinkKey,
  klinesEnvelope,
  lastClosedOpenTime,
  type KlineCandle,
} from "../helpers/producers.js";
import { HARNESSES, type Harness, useHarness } from "../store/storeHarness.js";

const P = { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: 300 };

function value(read: Read<CandleSeries>): CandleSeries {
  if (!read.ok) throw new Error(`expected candles, got skip ${read.reason}: ${read.detail}`);
  return read.value;
}

/** A parsed candle: only close and open time unless more is given. */
const candle = (close: number, openTime: number | null, more: Partial<Candle> = {}): Candle => ({
  close,
  openTime,
  publishedAt: null,
  high: null,
  low: null,
  closeTime: null,
  ...more,
});

describe("parseCandleMember", () => {
  it("reads bare numbers and JSON with close/c and t/open_time", () => {
    expect(parseCandleMember("101.5")).toEqual(candle(101.5, null));
    expect(parseCandleMember('{"close": 101.5}')).toEqual(candle(101.5, null));
    expect(parseCandleMember('{"close": "101.5", "t": 60000}')).toEqual(candle(101.5, 60000));
    expect(parseCandleMember('{"c": 7, "open_time": "120"}')).toEqual(candle(7, 120));
    // Only `high`/`low` are read as the extremes; the short o/h/l names are ignored.
    expect(parseCandleMember('{"o":1,"h":2,"l":0.5,"c":1.5,"t":5,"v":10}')).toEqual(candle(1.5, 5));
  });

  it("reads the data sink's member (docs/specification.md §5) with timestamp, high, low and close_time", () => {
    const openTime = lastClosedOpenTime();
    const member = candlePayload({
      symbol: "BTCUSDT",
      open_time: openTime,
      close: 100,
      high: 101,
      low: 99,
      timestamp: openTime / 1000 + 60.5,
    });
    expect(parseCandleMember(member)).toEqual(
      candle(100, openTime, {
        publishedAt: openTime / 1000 + 60.5,
        high: 101,
        low: 99,
        closeTime: openTime + MINUTE_MS - 1,
      }),
    );
  });

  it("refuses malformed members", () => {
    for (const bad of [
      "",
      "abc",
      "{",
      "{}",
      "[]",
      "[1,2]",
      "null",
      '"101"',
      "0",
      "-5",
      "1e400",
      '{"close":"NaN"}',
      '{"close":-1}',
      '{"close":0}',
      '{"close":1e400}',
      '{"close":"1e400"}',
      '{"c":"abc"}',
      '{"close":null}',
      '{"close":1,"t":"soon"}',
      '{"close":true}',
      // an optional field that is present must be a number too (prices > 0)
      '{"close":1,"high":"x"}',
      '{"close":1,"low":0}',
      '{"close":1,"high":-1}',
      '{"close":1,"timestamp":"now"}',
      '{"close":1,"close_time":"later"}',
    ]) {
      expect(parseCandleMember(bad), bad).toBeNull();
    }
  });
});

describe.each(HARNESSES)("readCandles: $name", ({ create }) => {
  const harness = useHarness(create);
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  it("reads a sorted set (score = open time), oldest first", async () => {
    await h.seed.zadd(
      "candles:BTCUSDT:1m",
      180,
      '{"close":103}',
      60,
      '{"close":101}',
      120,
      '{"close":102}',
    );
    const series = value(await readCandles(h.store, "BTCUSDT", P));
    expect(series).toMatchObject({
      key: "candles:BTCUSDT:1m",
      closes: [101, 102, 103],
      lastOpenTime: 180,
      malformed: 0,
      duplicates: 0,
    });
  });

  it("reads a list of bare numbers in list order", async () => {
    await h.seed.rpush("candles:BTCUSDT:1m", "100", "100.5", 99.25);
    const series = value(await readCandles(h.store, "BTCUSDT", P));
    expect(series.closes).toEqual([100, 100.5, 99.25]);
    expect(series.lastOpenTime).toBeNull();
  });

  it("reads JSON with c/t and orders out-of-order members by open time", async () => {
    await h.seed.rpush(
      "klines:ETHUSDT:1m",
      '{"c":3,"t":3000}',
      '{"c":1,"t":1000}',
      '{"c":2,"t":2000}',
    );
    const series = value(await readCandles(h.store, "ETHUSDT", P));
    expect(series.closes).toEqual([1, 2, 3]);
    expect(series.lastOpenTime).toBe(3000);
  });

  it("keeps list order when some members have no open time", async () => {
    await h.seed.rpush("candles:X:1m", '{"c":3,"t":3000}', "5", '{"c":1,"t":1000}');
    expect(value(await readCandles(h.store, "X", P)).closes).toEqual([3, 5, 1]);
  });

  it("skips and counts malformed members", async () => {
    await h.seed.rpush(
      "candles:BTCUSDT:1m",
      '{"close":100,"t":1}',
      "not json",
      '{"close":"NaN","t":2}',
      '{"close":-5,"t":3}',
      '{"close":0,"t":4}',
      "1e400",
      "{}",
      '{"close":101,"t":5}',
    );
    const series = value(await readCandles(h.store, "BTCUSDT", P));
    expect(series.closes).toEqual([100, 101]);
    expect(series.malformed).toBe(6);
  });

  it("deduplicates by open time keeping the newest occurrence; reading twice gives the same series", async () => {
    await h.seed.rpush(
      "candles:BTCUSDT:1m",
      '{"close":100,"t":60}',
      '{"close":101,"t":120}',
      '{"close":100,"t":60}',
      '{"close":101.5,"t":120}',
      '{"close":102,"t":180}',
    );
    const first = value(await readCandles(h.store, "BTCUSDT", P));
    expect(first.closes).toEqual([100, 101.5, 102]);
    expect(first.duplicates).toBe(2);
    const second = value(await readCandles(h.store, "BTCUSDT", P));
    expect(second).toEqual(first);
  });

  it("deduplicates zset members by score when they carry no open time", async () => {
    await h.seed.zadd("candles:BTCUSDT:1m", 60, "100", 60, "100.5", 120, "101");
    const series = value(await readCandles(h.store, "BTCUSDT", P));
    // Equal scores: Redis orders by member bytes ("100" < "100.5"), the last one is kept.
    expect(series.closes).toEqual([100.5, 101]);
    expect(series.duplicates).toBe(1);
  });

  it("keeps the newest windowSize closes and reads only a bounded tail", async () => {
    const members: Array<number | string> = [];
    for (let t = 1; t <= 1000; t += 1) members.push(t, JSON.stringify({ close: t, t }));
    await h.seed.zadd("candles:BTCUSDT:1m", ...members);
    const series = value(
      await readCandles(h.store, "BTCUSDT", { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: 50 }),
    );
    expect(series.closes).toHaveLength(50);
    expect(series.closes[0]).toBe(951);
    expect(series.closes[49]).toBe(1000);
    expect(candleTailCount(50)).toBe(114);
    // 30 malformed members at the very end: the margin still fills the window of 10.
    for (let i = 0; i < 30; i += 1)
      await h.seed.zadd("candles:BTCUSDT:1m", 2000 + i, `garbage-${i}`);
    const withGarbage = value(
      await readCandles(h.store, "BTCUSDT", { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: 10 }),
    );
    expect(withGarbage.closes).toEqual([991, 992, 993, 994, 995, 996, 997, 998, 999, 1000]);
    expect(withGarbage.malformed).toBe(30);
  });

  it("uses the first existing pattern key", async () => {
    await h.seed.rpush("klines:BTCUSDT:1m", "1");
    await h.seed.rpush("quantum:candles:BTCUSDT", "2");
    expect(value(await readCandles(h.store, "BTCUSDT", P)).key).toBe("quantum:candles:BTCUSDT");
    await h.seed.rpush("candles:BTCUSDT:1m", "3");
    expect(value(await readCandles(h.store, "BTCUSDT", P))).toMatchObject({
      key: "candles:BTCUSDT:1m",
      closes: [3],
    });
    // The data sink's key (the live stack's, docs/specification.md §5) comes first.
    const openTime = lastClosedOpenTime();
    await h.seed.zadd(
      dataSinkKey("BTCUSDT"),
      openTime,
      candlePayload({ symbol: "BTCUSDT", open_time: openTime, close: 4 }),
    );
    expect(value(await readCandles(h.store, "BTCUSDT", P))).toMatchObject({
      key: "quantum:history:ohlcv:BTCUSDT:1m",
      closes: [4],
    });
    expect(
      value(
        await readCandles(h.store, "BTCUSDT", { patterns: ["klines:{symbol}:1m"], windowSize: 5 }),
      ).closes,
    ).toEqual([1]);
  });

  it("no key at all → insufficient_data naming the keys tried", async () => {
    const read = await readCandles(h.store, "DOGEUSDT", P);
    expect(read).toEqual({
      ok: false,
      reason: "insufficient_data",
      detail:
        "no candle key for DOGEUSDT (tried quantum:history:ohlcv:DOGEUSDT:1m, candles:DOGEUSDT:1m, quantum:candles:DOGEUSDT, klines:DOGEUSDT:1m)",
    });
  });

  it("a key of an unusable type → bad_input, without falling through to the next pattern", async () => {
    await h.seed.hset("candles:BTCUSDT:1m", { close: "1" });
    await h.seed.rpush("quantum:candles:BTCUSDT", "2");
    expect(await readCandles(h.store, "BTCUSDT", P)).toMatchObject({
      ok: false,
      reason: "bad_input",
      detail: expect.stringContaining("is a hash"),
    });
    await h.reset();
    await h.seed.set("candles:BTCUSDT:1m", "101");
    expect(await readCandles(h.store, "BTCUSDT", P)).toMatchObject({
      ok: false,
      reason: "bad_input",
      detail: expect.stringContaining("is a string"),
    });
  });

  it("only malformed members → bad_input", async () => {
    await h.seed.rpush("candles:BTCUSDT:1m", "x", "{}");
    expect(await readCandles(h.store, "BTCUSDT", P)).toMatchObject({
      ok: false,
      reason: "bad_input",
      detail: expect.stringContaining("all 2 members"),
    });
  });

  it("the fingerprint changes exactly when the series changes", async () => {
    const key = "candles:BTCUSDT:1m";
    await h.seed.zadd(key, 60, '{"close":100,"t":60}', 120, '{"close":101,"t":120}');
    const a = value(await readCandles(h.store, "BTCUSDT", P)).fingerprint;
    expect(value(await readCandles(h.store, "BTCUSDT", P)).fingerprint).toBe(a);
    expect(a).toMatch(/^120:101:2:[0-9a-f]{16}$/);
    // A duplicate of an existing candle (same open time, same close) changes nothing.
    await h.seed.zadd(key, 120, '{"t":120,"close":101}');
    expect(value(await readCandles(h.store, "BTCUSDT", P)).fingerprint).toBe(a);
    // A new candle with the same close as the last one still changes it.
    await h.seed.zadd(key, 180, '{"close":101,"t":180}');
    const b = value(await readCandles(h.store, "BTCUSDT", P)).fingerprint;
    expect(b).not.toBe(a);
    // A corrected close inside the window changes it too.
    await h.seed.zadd(key, 60, '{"close":100.5,"t":60,"v":2}');
    const c = value(await readCandles(h.store, "BTCUSDT", P)).fingerprint;
    expect(c).not.toBe(b);
  });
});

/** `closes` as data sink candles (oldest first), the newest opening at `lastOpenTimeMs`. */
function sinkCandles(
  closes: number[],
  lastOpenTimeMs: number,
  more: (i: number) => Partial<KlineCandle> = () => ({}),
): KlineCandle[] {
  return closes.map((close, i) => ({
    symbol: "BTCUSDT",
    open_time: lastOpenTimeMs - (closes.length - 1 - i) * MINUTE_MS,
    close,
    ...more(i),
  }));
}

/** A live candle exactly as the klines follower gets it: the publisher's envelope through parseKlineEntry. */
function liveCandle(c: KlineCandle): LiveCandle {
  const read = parseKlineEntry(
    { id: `${c.open_time + MINUTE_MS}-0`, fields: klinesEnvelope(c) },
    () => true,
  );
  if (!read.ok) throw new Error(`fixture envelope refused: ${read.reason} ${read.detail}`);
  return read.candle;
}

describe.each(HARNESSES)(
  "the live stack's layout (docs/specification.md §5): $name",
  ({ create }) => {
    const harness = useHarness(create);
    let h: Harness;
    beforeEach(() => {
      h = harness();
    });
    const SINK = { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: 300 };
    const sink = async (candles: KlineCandle[]): Promise<void> => {
      for (const c of candles)
        await h.seed.zadd(dataSinkKey(c.symbol), c.open_time, candlePayload(c));
    };

    describe("a republished candle (same score, another timestamp)", () => {
      it("the newest timestamp wins, even when it sorts first by member bytes", async () => {
        const last = lastClosedOpenTime();
        await sink(sinkCandles([100, 101], last - MINUTE_MS));
        // The first publish (close 101.0) and a later, corrected one (close 100.5): the later member
        // sorts first ("open": 100.5 < "open": 101.0), so "last in read order" would pick the older.
        const older: KlineCandle = {
          symbol: "BTCUSDT",
          open_time: last,
          close: 101,
          timestamp: last / 1000 + 60.1,
        };
        const newer: KlineCandle = {
          symbol: "BTCUSDT",
          open_time: last,
          close: 100.5,
          timestamp: last / 1000 + 95.7,
        };
        expect(
          Buffer.compare(Buffer.from(candlePayload(newer)), Buffer.from(candlePayload(older))),
        ).toBeLessThan(0);
        await sink([older, newer]);
        const members = await h.store.zrangeTailWithScores(dataSinkKey("BTCUSDT"), 2);
        expect(members.map((m) => m.member)).toEqual([candlePayload(newer), candlePayload(older)]);
        const series = value(await readCandles(h.store, "BTCUSDT", SINK));
        expect(series).toMatchObject({
          closes: [100, 101, 100.5],
          duplicates: 1,
          lastOpenTime: last,
          lastOpenTimeMs: last,
          malformed: 0,
        });
      });

      it("the newest timestamp wins when it sorts last too; reading again gives the same series", async () => {
        const last = lastClosedOpenTime();
        const older: KlineCandle = {
          symbol: "BTCUSDT",
          open_time: last,
          close: 100.5,
          timestamp: last / 1000 + 60.1,
        };
        const newer: KlineCandle = {
          symbol: "BTCUSDT",
          open_time: last,
          close: 101,
          timestamp: last / 1000 + 95.7,
        };
        await sink([...sinkCandles([99], last - MINUTE_MS), older, newer]);
        const first = value(await readCandles(h.store, "BTCUSDT", SINK));
        expect(first).toMatchObject({ closes: [99, 101], duplicates: 1 });
        expect(value(await readCandles(h.store, "BTCUSDT", SINK))).toEqual(first);
      });

      it("equal timestamps: the last in read order (member bytes) wins", async () => {
        const last = lastClosedOpenTime();
        const ts = last / 1000 + 61;
        await sink([
          { symbol: "BTCUSDT", open_time: last, close: 101, timestamp: ts },
          { symbol: "BTCUSDT", open_time: last, close: 100.5, timestamp: ts },
        ]);
        // "open": 100.5 sorts before "open": 101.0, so 101 is read last.
        expect(value(await readCandles(h.store, "BTCUSDT", SINK))).toMatchObject({
          closes: [101],
          duplicates: 1,
        });
      });
    });

    describe("live candles from the klines stream", () => {
      it("a live candle newer than the set's newest is in the window (and in the fingerprint)", async () => {
        const last = lastClosedOpenTime();
        await sink(sinkCandles([100, 101, 102], last - MINUTE_MS));
        const without = value(await readCandles(h.store, "BTCUSDT", SINK));
        expect(without).toMatchObject({
          closes: [100, 101, 102],
          liveOnly: 0,
          lastOpenTimeMs: last - MINUTE_MS,
        });
        const live = liveCandle({ symbol: "BTCUSDT", open_time: last, close: 103 });
        const withLive = value(await readCandles(h.store, "BTCUSDT", { ...SINK, live: [live] }));
        expect(withLive).toMatchObject({
          key: "quantum:history:ohlcv:BTCUSDT:1m",
          closes: [100, 101, 102, 103],
          liveOnly: 1,
          duplicates: 0,
          lastOpenTime: last,
          lastOpenTimeMs: last,
          lastCloseTimeMs: last + MINUTE_MS - 1,
        });
        expect(withLive.fingerprint).not.toBe(without.fingerprint);
        // The window stays windowSize long: the live candle pushes the oldest out.
        expect(
          value(await readCandles(h.store, "BTCUSDT", { ...SINK, windowSize: 3, live: [live] }))
            .closes,
        ).toEqual([101, 102, 103]);
      });

      it("a live candle the set already holds is not counted twice", async () => {
        const last = lastClosedOpenTime();
        const candles = sinkCandles([100, 101, 102], last);
        await sink(candles);
        const plain = value(await readCandles(h.store, "BTCUSDT", SINK));
        // The sink wrote the same candle from the same stream entry (same timestamp).
        const same = value(
          await readCandles(h.store, "BTCUSDT", { ...SINK, live: [liveCandle(candles[2])] }),
        );
        expect(same).toEqual(plain);
        expect(same).toMatchObject({ closes: [100, 101, 102], liveOnly: 0, duplicates: 0 });
        // An older publish of a held candle adds nothing either.
        const stale = liveCandle({
          ...candles[1],
          close: 555,
          timestamp: (candles[1].open_time + MINUTE_MS) / 1000 - 30,
        });
        expect(value(await readCandles(h.store, "BTCUSDT", { ...SINK, live: [stale] }))).toEqual(
          plain,
        );
      });

      it("a live republish newer than the held member replaces it (newest timestamp wins)", async () => {
        const last = lastClosedOpenTime();
        const candles = sinkCandles([100, 101, 102], last);
        await sink(candles);
        const republished = liveCandle({
          ...candles[2],
          close: 102.5,
          timestamp: (last + MINUTE_MS) / 1000 + 30,
        });
        expect(
          value(await readCandles(h.store, "BTCUSDT", { ...SINK, live: [republished] })),
        ).toMatchObject({
          closes: [100, 101, 102.5],
          liveOnly: 1,
          // the stored member dropped for the newer live version
          duplicates: 1,
        });
      });

      it("is not merged into a key whose open times are seconds, nor into one without open times", async () => {
        const last = lastClosedOpenTime();
        const lastSec = last / 1000;
        await h.seed.zadd(
          "candles:BTCUSDT:1m",
          lastSec - 60,
          JSON.stringify({ t: lastSec - 60, close: 100 }),
          lastSec,
          JSON.stringify({ t: lastSec, close: 101 }),
        );
        const live = [liveCandle({ symbol: "BTCUSDT", open_time: last + MINUTE_MS, close: 999 })];
        const seconds = value(await readCandles(h.store, "BTCUSDT", { ...SINK, live }));
        expect(seconds).toMatchObject({
          key: "candles:BTCUSDT:1m",
          closes: [100, 101],
          liveOnly: 0,
          lastOpenTime: lastSec,
          lastOpenTimeMs: last,
        });
        await h.seed.rpush("quantum:candles:ETHUSDT", "10", "11");
        const liveEth = [
          liveCandle({ symbol: "ETHUSDT", open_time: last + MINUTE_MS, close: 999 }),
        ];
        const bare = value(await readCandles(h.store, "ETHUSDT", { ...SINK, live: liveEth }));
        expect(bare).toMatchObject({
          closes: [10, 11],
          liveOnly: 0,
          lastOpenTime: null,
          lastOpenTimeMs: null,
        });
      });
    });

    describe("series freshness fields", () => {
      it("lastOpenTimeMs / lastCloseTimeMs tell a frozen set from a fresh one", async () => {
        const nowMs = Date.now();
        const frozen = lastClosedOpenTime(nowMs) - 10 * MINUTE_MS;
        await sink(sinkCandles([100, 101, 102], frozen));
        const series = value(await readCandles(h.store, "BTCUSDT", SINK));
        expect(series).toMatchObject({
          lastOpenTime: frozen,
          lastOpenTimeMs: frozen,
          lastCloseTimeMs: frozen + MINUTE_MS - 1,
          liveOnly: 0,
        });
        // The newest candle opened more than max_candle_age (3 × 60 s) ago: the marketstate phase skips it as stale_candles.
        expect(nowMs - (series.lastOpenTimeMs as number)).toBeGreaterThan(3 * MINUTE_MS);
        // A live candle for the current minute makes it fresh again.
        const live = liveCandle({
          symbol: "BTCUSDT",
          open_time: lastClosedOpenTime(nowMs),
          close: 103,
        });
        const fresh = value(await readCandles(h.store, "BTCUSDT", { ...SINK, live: [live] }));
        expect(nowMs - (fresh.lastOpenTimeMs as number)).toBeLessThanOrEqual(2 * MINUTE_MS);
      });

      it("lastCloseTimeMs is null when the members carry no close_time; open times in seconds are converted", async () => {
        const lastSec = lastClosedOpenTime() / 1000;
        await h.seed.rpush("klines:BTCUSDT:1m", JSON.stringify({ t: lastSec, c: 5 }));
        expect(value(await readCandles(h.store, "BTCUSDT", SINK))).toMatchObject({
          lastOpenTime: lastSec,
          lastOpenTimeMs: lastSec * 1000,
          lastCloseTimeMs: null,
        });
        expect(openTimeMs(lastSec)).toBe(lastSec * 1000);
        expect(openTimeMs(lastSec * 1000)).toBe(lastSec * 1000);
      });
    });

    describe("readCandleExtremes (the position memory's input, docs/specification.md §4.2)", () => {
      it("highest high and lowest low of the candles opened at or after fromMs", async () => {
        const last = lastClosedOpenTime();
        // candle 2 has a spike both ways; high/low are close ± i
        const candles = sinkCandles([100, 101, 102, 103, 104, 105], last, (i) =>
          i === 2 ? { high: 500, low: 1 } : { high: 100 + i + 2, low: 100 + i - 2 },
        );
        await sink(candles);
        const open = (i: number): number => candles[i].open_time;
        expect(
          await readCandleExtremes(h.store, "BTCUSDT", DEFAULT_CANDLE_PATTERNS, open(3)),
        ).toEqual({ high: 107, low: 101, throughMs: last });
        expect(
          await readCandleExtremes(h.store, "BTCUSDT", DEFAULT_CANDLE_PATTERNS, open(2)),
        ).toEqual({ high: 500, low: 1, throughMs: last });
        // A fromMs inside candle 2 (after its open): candle 2 is not folded.
        expect(
          await readCandleExtremes(h.store, "BTCUSDT", DEFAULT_CANDLE_PATTERNS, open(2) + 1),
        ).toEqual({ high: 107, low: 101, throughMs: last });
        expect(
          await readCandleExtremes(h.store, "BTCUSDT", DEFAULT_CANDLE_PATTERNS, last + 1),
        ).toBeNull();
      });

      it("members without high/low count with their close; malformed ones are ignored", async () => {
        const last = lastClosedOpenTime();
        await h.seed.zadd(
          dataSinkKey("BTCUSDT"),
          last - MINUTE_MS,
          JSON.stringify({ open_time: last - MINUTE_MS, close: 90 }),
          last,
          "garbage",
          last,
          JSON.stringify({ open_time: last, close: 95 }),
        );
        expect(await readCandleExtremes(h.store, "BTCUSDT", DEFAULT_CANDLE_PATTERNS, 0)).toEqual({
          high: 95,
          low: 90,
          throughMs: last,
        });
      });

      it("a list with open times in seconds is compared in ms", async () => {
        const lastSec = lastClosedOpenTime() / 1000;
        await h.seed.rpush(
          "candles:BTCUSDT:1m",
          ...[0, 1, 2].map((i) =>
            JSON.stringify({ t: lastSec - 120 + 60 * i, close: 10 + i, high: 20 + i, low: 5 - i }),
          ),
        );
        expect(
          await readCandleExtremes(
            h.store,
            "BTCUSDT",
            DEFAULT_CANDLE_PATTERNS,
            (lastSec - 60) * 1000,
          ),
        ).toEqual({ high: 22, low: 3, throughMs: lastSec * 1000 });
      });

      it("no key, an empty match or an unusable key → null", async () => {
        expect(await readCandleExtremes(h.store, "BTCUSDT", DEFAULT_CANDLE_PATTERNS, 0)).toBeNull();
        await h.seed.hset(dataSinkKey("BTCUSDT"), { close: "1" });
        expect(await readCandleExtremes(h.store, "BTCUSDT", DEFAULT_CANDLE_PATTERNS, 0)).toBeNull();
      });
    });
  },
);

describe("readCandles on the memory store with an injected clock", () => {
  it("builds from nowMs: the newest candle is the last closed minute of that clock", async () => {
    const nowMs = Date.now();
    const store = new MemoryStore({ now: () => nowMs });
    const last = lastClosedOpenTime(nowMs);
    for (const c of sinkCandles([1, 2, 3], last))
      store.zadd(dataSinkKey("BTCUSDT"), c.open_time, candlePayload(c));
    const series = value(
      await readCandles(store, "BTCUSDT", { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: 300 }),
    );
    expect(series.lastOpenTimeMs).toBe(last);
    expect(nowMs - last).toBeGreaterThanOrEqual(MINUTE_MS);
    expect(nowMs - last).toBeLessThan(2 * MINUTE_MS);
  });
});
