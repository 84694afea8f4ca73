// The klines stream (docs/specification.md §5): the market publisher's envelope → a closed 1m candle of a running
// symbol, or a counted skip; and the small buffer of live candles merged into the marketstate read.
// Envelopes come from the producers' fixtures (test/helpers/producers.ts), built from the clock.
import { describe, expect, it } from "vitest";
import {
  KLINE_SKIP_REASONS,
  LiveCandles,
  parseKlineEntry,
  type KlineRead,
  type LiveCandle,
} from "../../src/inputs/klines.js";
import type { StreamEntry } from "../../src/store/types.js";
import {
  MINUTE_MS,
  candlePayload,
  klinesEnvelope,
  lastClosedOpenTime,
  pyJson,
  type KlineCandle,
} from "../helpers/producers.js";

const RUNNING = new Set(["BTCUSDT", "ETHUSDT"]);
const isRunning = (symbol: string): boolean => RUNNING.has(symbol);

function entry(fields: Record<string, string>, id = `${Date.now()}-0`): StreamEntry {
  return { id, fields };
}

/** The envelope of `c` with its payload replaced by `payload` (undefined: no payload field). */
function withPayload(c: KlineCandle, payload: string | undefined): Record<string, string> {
  const { payload: _p, ...rest } = klinesEnvelope(c);
  return payload === undefined ? rest : { ...rest, payload };
}

/** The publisher's payload fields as a record (to break one field at a time). */
function payloadRecord(c: KlineCandle): Record<string, string | number | boolean> {
  return JSON.parse(candlePayload(c)) as Record<string, string | number | boolean>;
}

function skipOf(read: KlineRead): { reason: string; detail: string } {
  if (read.ok) throw new Error(`expected a skip, got a candle ${JSON.stringify(read.candle)}`);
  return { reason: read.reason, detail: read.detail };
}

describe("parseKlineEntry", () => {
  const openTime = lastClosedOpenTime();
  const good: KlineCandle = {
    symbol: "BTCUSDT",
    open_time: openTime,
    close: 101.5,
    open: 100,
    high: 102,
    low: 99.5,
    volume: 3.25,
  };

  it("a closed 1m candle of a running symbol, exactly as the publisher wrote it", () => {
    const id = `${openTime + MINUTE_MS}-0`;
    const read = parseKlineEntry(entry(klinesEnvelope(good), id), isRunning);
    const expected: LiveCandle = {
      symbol: "BTCUSDT",
      close: 101.5,
      openTime,
      // candlePayload's default: published 0.123 s after the candle closed
      publishedAt: (openTime + MINUTE_MS) / 1000 + 0.123,
      high: 102,
      low: 99.5,
      closeTime: openTime + MINUTE_MS - 1,
    };
    expect(read).toEqual({ ok: true, candle: expected });
  });

  it('reads Python float spellings (100.0) and an explicit interval "1m"', () => {
    const c: KlineCandle = {
      symbol: "ETHUSDT",
      open_time: openTime,
      close: 2000,
      interval: "1m",
      timestamp: openTime / 1000 + 60,
    };
    expect(candlePayload(c)).toContain('"close": 2000.0');
    expect(parseKlineEntry(entry(klinesEnvelope(c)), isRunning)).toMatchObject({
      ok: true,
      candle: {
        symbol: "ETHUSDT",
        close: 2000,
        high: 2000,
        low: 2000,
        openTime,
        publishedAt: openTime / 1000 + 60,
      },
    });
  });

  const cases: Array<
    [(typeof KLINE_SKIP_REASONS)[number], string, () => Record<string, string>, RegExp]
  > = [
    ["no_payload", "no payload field", () => withPayload(good, undefined), /no payload field/],
    ["no_payload", "an empty payload", () => withPayload(good, ""), /no payload field/],
    [
      "bad_json",
      "a payload that is not JSON",
      () => withPayload(good, candlePayload(good).slice(0, -1)),
      /payload is not JSON/,
    ],
    [
      "bad_json",
      "a payload that is JSON but not an object",
      () => withPayload(good, "[1, 2]"),
      /not a JSON object/,
    ],
    ["bad_json", "a JSON null payload", () => withPayload(good, "null"), /not a JSON object/],
    [
      "bad_candle",
      "a payload without symbol",
      () => {
        const { symbol: _s, ...rest } = payloadRecord(good);
        return withPayload(good, pyJson(rest));
      },
      /payload has no symbol/,
    ],
    [
      "bad_candle",
      "a zero close",
      () => withPayload(good, pyJson({ ...payloadRecord(good), close: 0 })),
      /BTCUSDT: close must be a number > 0/,
    ],
    [
      "bad_candle",
      "a non-numeric high",
      () => withPayload(good, pyJson({ ...payloadRecord(good), high: "n/a" })),
      /BTCUSDT: close must be/,
    ],
    [
      "bad_candle",
      "a NaN-spelled timestamp",
      () => withPayload(good, pyJson({ ...payloadRecord(good), timestamp: "NaN" })),
      /BTCUSDT: close must be/,
    ],
    [
      "bad_candle",
      "no open_time",
      () => {
        const { open_time: _o, ...rest } = payloadRecord(good);
        return withPayload(good, pyJson(rest));
      },
      /BTCUSDT: no open_time/,
    ],
    [
      "not_closed",
      "a candle still open",
      () => klinesEnvelope({ ...good, is_closed: false }),
      /BTCUSDT: is_closed is false/,
    ],
    [
      "not_closed",
      "is_closed absent",
      () => {
        const { is_closed: _c, ...rest } = payloadRecord(good);
        return withPayload(good, pyJson(rest));
      },
      /BTCUSDT: is_closed is null/,
    ],
    [
      "not_1m",
      "a 5m candle",
      () => klinesEnvelope({ ...good, interval: "5m" }),
      /BTCUSDT: interval "5m"/,
    ],
    [
      "unknown_symbol",
      "a symbol this service does not run",
      () => klinesEnvelope({ ...good, symbol: "DOGEUSDT" }),
      /DOGEUSDT is not a running symbol/,
    ],
    // Plausibility (CONTRACT.md): prices in order and in range, no time after now + maxClockSkew.
    [
      "bad_candle",
      "a low above the close",
      () => withPayload(good, pyJson({ ...payloadRecord(good), low: 103 })),
      /BTCUSDT: close must be/,
    ],
    [
      "bad_candle",
      "an open above the high",
      () => withPayload(good, pyJson({ ...payloadRecord(good), open: 102.5 })),
      /BTCUSDT: close must be/,
    ],
    [
      "bad_candle",
      "a high of 1e308",
      () => withPayload(good, pyJson({ ...payloadRecord(good), high: 1e308 })),
      /BTCUSDT: high 1e\+308 outside \[minCandlePrice 1e-12, maxCandlePrice 1000000000000\]/,
    ],
    [
      "future_candle",
      "a candle opened a day ahead",
      () => klinesEnvelope({ ...good, open_time: openTime + 1440 * MINUTE_MS }),
      /BTCUSDT: close_time \d+ is 864\d\d s after now \(maxClockSkew 5 s\)/,
    ],
    [
      "future_candle",
      "a close_time 10 s ahead",
      () =>
        withPayload(
          good,
          pyJson({ ...payloadRecord(good), close_time: openTime + MINUTE_MS + 10_000 }),
        ),
      /BTCUSDT: close_time \d+ is 10 s after now/,
    ],
  ];

  it.each(cases)("%s: %s", (reason, _name, fields, pattern) => {
    const id = `${openTime + MINUTE_MS}-7`;
    // Read the moment the candle closed (the publisher's pace).
    const skipped = skipOf(
      parseKlineEntry(entry(fields(), id), isRunning, { nowMs: openTime + MINUTE_MS }),
    );
    expect(skipped.reason).toBe(reason);
    expect(skipped.detail).toMatch(pattern);
    expect(skipped.detail.startsWith(`klines entry ${id}: `)).toBe(true);
  });

  it("every skip reason is covered above", () => {
    expect(new Set(cases.map(([reason]) => reason))).toEqual(new Set(KLINE_SKIP_REASONS));
  });

  it("ignores the envelope's own fields (event_type, timestamp, trace_id): only the payload counts", () => {
    const fields = {
      ...klinesEnvelope(good),
      event_type: "something.else",
      timestamp: "garbage",
      trace_id: "x",
    };
    expect(parseKlineEntry(entry(fields), isRunning)).toMatchObject({
      ok: true,
      candle: { symbol: "BTCUSDT", close: 101.5 },
    });
  });
});

describe("LiveCandles", () => {
  const last = lastClosedOpenTime();
  const live = (
    openTime: number,
    close: number,
    publishedAt: number | null = (openTime + MINUTE_MS) / 1000,
    symbol = "BTCUSDT",
  ): LiveCandle => ({
    symbol,
    openTime,
    close,
    publishedAt,
    high: close,
    low: close,
    closeTime: openTime + MINUTE_MS - 1,
  });

  it("keeps the newest publish per open time", () => {
    const book = new LiveCandles();
    book.add(live(last, 100, 10));
    book.add(live(last, 101, 20));
    expect(book.get("BTCUSDT").map((c) => c.close)).toEqual([101]);
    // An older publish arriving late does not replace the newer one.
    book.add(live(last, 99, 15));
    expect(book.get("BTCUSDT").map((c) => c.close)).toEqual([101]);
    // A tie goes to the later arrival; a candle without a timestamp never replaces a timestamped one.
    book.add(live(last, 102, 20));
    expect(book.get("BTCUSDT").map((c) => c.close)).toEqual([102]);
    book.add(live(last, 103, null));
    expect(book.get("BTCUSDT").map((c) => c.close)).toEqual([102]);
  });

  it("keeps at most N per symbol, the newest open times, in time order", () => {
    const book = new LiveCandles(3);
    for (const i of [0, 4, 2, 1, 3]) book.add(live(last - (4 - i) * MINUTE_MS, 100 + i));
    expect(book.get("BTCUSDT").map((c) => c.close)).toEqual([102, 103, 104]);
    // An older candle arriving when the buffer is full is not kept.
    book.add(live(last - 10 * MINUTE_MS, 90));
    expect(book.get("BTCUSDT").map((c) => c.close)).toEqual([102, 103, 104]);
    expect(book.get("BTCUSDT").map((c) => c.openTime)).toEqual([
      last - 2 * MINUTE_MS,
      last - MINUTE_MS,
      last,
    ]);
  });

  it("per symbol: another symbol is separate; forget drops one symbol", () => {
    const book = new LiveCandles(2);
    book.add(live(last, 1));
    book.add(live(last, 2, null, "ETHUSDT"));
    expect(book.get("BTCUSDT").map((c) => c.close)).toEqual([1]);
    expect(book.get("ETHUSDT").map((c) => c.close)).toEqual([2]);
    book.forget("BTCUSDT");
    expect(book.get("BTCUSDT")).toEqual([]);
    expect(book.get("ETHUSDT")).toHaveLength(1);
    expect(book.get("SOLUSDT")).toEqual([]);
  });

  it("fed from parseKlineEntry, a republished envelope replaces the first publish", () => {
    const book = new LiveCandles();
    const c: KlineCandle = { symbol: "BTCUSDT", open_time: last, close: 100 };
    for (const fields of [
      klinesEnvelope(c),
      klinesEnvelope({ ...c, close: 100.25, timestamp: (last + MINUTE_MS) / 1000 + 45 }),
    ]) {
      const read = parseKlineEntry(entry(fields), isRunning);
      if (read.ok) book.add(read.candle);
    }
    expect(book.get("BTCUSDT")).toHaveLength(1);
    expect(book.get("BTCUSDT")[0]).toMatchObject({ close: 100.25, openTime: last });
  });
});
