// Candle reading, run against both stores.
import { beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_CANDLE_PATTERNS,
  candleTailCount,
  openTimeMs,
  parseCandleMember,
  readCandleExtremes,
  readCandles,
  type Candle,
  type CandleSeries,
} from '../../src/inputs/candles.js';
import { parseKlineEntry, type LiveCandle } from '../../src/inputs/klines.js';
import type { Read } from '../../src/inputs/types.js';
import { MemoryStore } from '../../src/store/memoryStore.js';
import { MINUTE_MS, candlePayload, dataSinkKey, klinesEnvelope, lastClosedOpenTime, type KlineCandle } from '../helpers/producers.js';
import { HARNESSES, type Harness, useHarness } from '../store/storeHarness.js';

const P = { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: 300 };

function value(read: Read<CandleSeries>): CandleSeries {
  if (!read.ok) throw new Error(`expected candles, got skip ${read.reason}: ${read.detail}`);
  return read.value;
}

/** A parsed candle: only close and open time unless more is given. */
const candle = (close: number, openTime: number | null, more: Partial<Candle> = {}): Candle => ({
  close, openTime, publishedAt: null, high: null, low: null, closeTime: null, ...more,
});

describe('parseCandleMember', () => {
  it('reads bare numbers and JSON with close/c and t/open_time', () => {
    expect(parseCandleMember('101.5')).toEqual(candle(101.5, null));
    expect(parseCandleMember('{"close": 101.5}')).toEqual(candle(101.5, null));
    expect(parseCandleMember('{"close": "101.5", "t": 60000}')).toEqual(candle(101.5, 60000));
    expect(parseCandleMember('{"c": 7, "open_time": "120"}')).toEqual(candle(7, 120));
    // Only `high`/`low` are read as the extremes; the short o/h/l names are ignored.
    expect(parseCandleMember('{"o":1,"h":2,"l":0.5,"c":1.5,"t":5,"v":10}')).toEqual(candle(1.5, 5));
  });

  it('reads the data sink\'s member (SPEC §5) with timestamp, high, low and close_time', () => {
    const openTime = lastClosedOpenTime();
    const member = candlePayload({ symbol: 'BTCUSDT', open_time: openTime, close: 100, high: 101, low: 99, timestamp: openTime / 1000 + 60.5 });
    expect(parseCandleMember(member)).toEqual(
      candle(100, openTime, { publishedAt: openTime / 1000 + 60.5, high: 101, low: 99, closeTime: openTime + MINUTE_MS - 1 }),
    );
  });

  it('refuses malformed members', () => {
    for (const bad of ['', 'abc', '{', '{}', '[]', '[1,2]', 'null', '"101"', '0', '-5', '1e400', '{"close":"NaN"}', '{"close":-1}',
      '{"close":0}', '{"close":1e400}', '{"close":"1e400"}', '{"c":"abc"}', '{"close":null}', '{"close":1,"t":"soon"}', '{"close":true}',
      // an optional field that is present must be a number too (prices > 0)
      '{"close":1,"high":"x"}', '{"close":1,"low":0}', '{"close":1,"high":-1}', '{"close":1,"timestamp":"now"}', '{"close":1,"close_time":"later"}']) {
      expect(parseCandleMember(bad), bad).toBeNull();
    }
  });
});

describe.each(HARNESSES)('readCandles: $name', ({ create }) => {
  const harness = useHarness(create);
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  it('reads a sorted set (score = open time), oldest first', async () => {
    await h.seed.zadd('candles:BTCUSDT:1m', 180, '{"close":103}', 60, '{"close":101}', 120, '{"close":102}');
    const series = value(await readCandles(h.store, 'BTCUSDT', P));
    expect(series).toMatchObject({ key: 'candles:BTCUSDT:1m', closes: [101, 102, 103], lastOpenTime: 180, malformed: 0, duplicates: 0 });
  });

  it('reads a list of bare numbers in list order', async () => {
    await h.seed.rpush('candles:BTCUSDT:1m', '100', '100.5', 99.25);
    const series = value(await readCandles(h.store, 'BTCUSDT', P));
    expect(series.closes).toEqual([100, 100.5, 99.25]);
    expect(series.lastOpenTime).toBeNull();
  });

  it('reads JSON with c/t and orders out-of-order members by open time', async () => {
    await h.seed.rpush('klines:ETHUSDT:1m', '{"c":3,"t":3000}', '{"c":1,"t":1000}', '{"c":2,"t":2000}');
    const series = value(await readCandles(h.store, 'ETHUSDT', P));
    expect(series.closes).toEqual([1, 2, 3]);
    expect(series.lastOpenTime).toBe(3000);
  });

  it('keeps list order when some members have no open time', async () => {
    await h.seed.rpush('candles:X:1m', '{"c":3,"t":3000}', '5', '{"c":1,"t":1000}');
    expect(value(await readCandles(h.store, 'X', P)).closes).toEqual([3, 5, 1]);
  });

  it('skips and counts malformed members', async () => {
    await h.seed.rpush(
      'candles:BTCUSDT:1m',
      '{"close":100,"t":1}', 'not json', '{"close":"NaN","t":2}', '{"close":-5,"t":3}', '{"close":0,"t":4}',
      '1e400', '{}', '{"close":101,"t":5}',
    );
    const series = value(await readCandles(h.store, 'BTCUSDT', P));
    expect(series.closes).toEqual([100, 101]);
    expect(series.malformed).toBe(6);
  });

  it('deduplicates by open time keeping the newest occurrence; reading twice gives the same series', async () => {
    await h.seed.rpush(
      'candles:BTCUSDT:1m',
      '{"close":100,"t":60}', '{"close":101,"t":120}', '{"close":100,"t":60}', '{"close":101.5,"t":120}', '{"close":102,"t":180}',
    );
    const first = value(await readCandles(h.store, 'BTCUSDT', P));
    expect(first.closes).toEqual([100, 101.5, 102]);
    expect(first.duplicates).toBe(2);
    const second = value(await readCandles(h.store, 'BTCUSDT', P));
    expect(second).toEqual(first);
  });

  it('deduplicates zset members by score when they carry no open time', async () => {
    await h.seed.zadd('candles:BTCUSDT:1m', 60, '100', 60, '100.5', 120, '101');
    const series = value(await readCandles(h.store, 'BTCUSDT', P));
    // Equal scores: Redis orders by member bytes ("100" < "100.5"), the last one is kept.
    expect(series.closes).toEqual([100.5, 101]);
    expect(series.duplicates).toBe(1);
  });

  it('keeps the newest windowSize closes and reads only a bounded tail', async () => {
    const members: Array<number | string> = [];
    for (let t = 1; t <= 1000; t += 1) members.push(t, JSON.stringify({ close: t, t }));
    await h.seed.zadd('candles:BTCUSDT:1m', ...members);
    const series = value(await readCandles(h.store, 'BTCUSDT', { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: 50 }));
    expect(series.closes).toHaveLength(50);
    expect(series.closes[0]).toBe(951);
    expect(series.closes[49]).toBe(1000);
    expect(candleTailCount(50)).toBe(114);
    // 30 malformed members at the very end: the margin still fills the window of 10.
    for (let i = 0; i < 30; i += 1) await h.seed.zadd('candles:BTCUSDT:1m', 2000 + i, `garbage-${i}`);
    const withGarbage = value(await readCandles(h.store, 'BTCUSDT', { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: 10 }));
    expect(withGarbage.closes).toEqual([991, 992, 993, 994, 995, 996, 997, 998, 999, 1000]);
    expect(withGarbage.malformed).toBe(30);
  });

  it('uses the first existing pattern key', async () => {
    await h.seed.rpush('klines:BTCUSDT:1m', '1');
    await h.seed.rpush('quantum:candles:BTCUSDT', '2');
    expect(value(await readCandles(h.store, 'BTCUSDT', P)).key).toBe('quantum:candles:BTCUSDT');
    await h.seed.rpush('candles:BTCUSDT:1m', '3');
    expect(value(await readCandles(h.store, 'BTCUSDT', P))).toMatchObject({ key: 'candles:BTCUSDT:1m', closes: [3] });
    expect(value(await readCandles(h.store, 'BTCUSDT', { patterns: ['klines:{symbol}:1m'], windowSize: 5 })).closes).toEqual([1]);
  });

  it('no key at all → insufficient_data naming the keys tried', async () => {
    const read = await readCandles(h.store, 'DOGEUSDT', P);
    expect(read).toEqual({
      ok: false,
      reason: 'insufficient_data',
      detail: 'no candle key for DOGEUSDT (tried quantum:history:ohlcv:DOGEUSDT:1m, candles:DOGEUSDT:1m, quantum:candles:DOGEUSDT, klines:DOGEUSDT:1m)',
    });
  });

  it('a key of an unusable type → bad_input, without falling through to the next pattern', async () => {
    await h.seed.hset('candles:BTCUSDT:1m', { close: '1' });
    await h.seed.rpush('quantum:candles:BTCUSDT', '2');
    expect(await readCandles(h.store, 'BTCUSDT', P)).toMatchObject({ ok: false, reason: 'bad_input', detail: expect.stringContaining('is a hash') });
    await h.reset();
    await h.seed.set('candles:BTCUSDT:1m', '101');
    expect(await readCandles(h.store, 'BTCUSDT', P)).toMatchObject({ ok: false, reason: 'bad_input', detail: expect.stringContaining('is a string') });
  });

  it('only malformed members → bad_input', async () => {
    await h.seed.rpush('candles:BTCUSDT:1m', 'x', '{}');
    expect(await readCandles(h.store, 'BTCUSDT', P)).toMatchObject({ ok: false, reason: 'bad_input', detail: expect.stringContaining('all 2 members') });
  });

  it('the fingerprint changes exactly when the series changes', async () => {
    const key = 'candles:BTCUSDT:1m';
    await h.seed.zadd(key, 60, '{"close":100,"t":60}', 120, '{"close":101,"t":120}');
    const a = value(await readCandles(h.store, 'BTCUSDT', P)).fingerprint;
    expect(value(await readCandles(h.store, 'BTCUSDT', P)).fingerprint).toBe(a);
    expect(a).toMatch(/^120:101:2:[0-9a-f]{16}$/);
    // A duplicate of an existing candle (same open time, same close) changes nothing.
    await h.seed.zadd(key, 120, '{"t":120,"close":101}');
    expect(value(await readCandles(h.store, 'BTCUSDT', P)).fingerprint).toBe(a);
    // A new candle with the same close as the last one still changes it.
    await h.seed.zadd(key, 180, '{"close":101,"t":180}');
    const b = value(await readCandles(h.store, 'BTCUSDT', P)).fingerprint;
    expect(b).not.toBe(a);
    // A corrected close inside the window changes it too.
    await h.seed.zadd(key, 60, '{"close":100.5,"t":60,"v":2}');
    const c = value(await readCandles(h.store, 'BTCUSDT', P)).fingerprint;
    expect(c).not.toBe(b);
  });
});
