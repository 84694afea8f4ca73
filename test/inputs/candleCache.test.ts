// The parse cache must never change what a read returns: same series with and without it, and a
// changed candle (same open time, new close) is seen at once.
import { describe, expect, it } from 'vitest';
import { CandleParseCache, readCandles } from '../../src/inputs/candles.js';
import { MemoryStore } from '../../src/store/memoryStore.js';

const options = { patterns: ['candles:{symbol}:1m'], windowSize: 50 };

describe('CandleParseCache', () => {
  it('gives the same series as an uncached read, read after read', async () => {
    const store = new MemoryStore();
    const cache = new CandleParseCache();
    for (let i = 0; i < 80; i++) {
      store.zadd('candles:X:1m', i * 60_000, JSON.stringify({ t: i * 60_000, close: 100 + i }));
      if (i % 7 === 0) store.zadd('candles:X:1m', i * 60_000 + 1, 'not json');
      const cached = await readCandles(store, 'X', { ...options, cache });
      const plain = await readCandles(store, 'X', options);
      expect(cached).toEqual(plain);
    }
  });

  it('sees a corrected close at the same open time, and the fingerprint changes', async () => {
    const store = new MemoryStore();
    const cache = new CandleParseCache();
    for (let i = 0; i < 60; i++) store.zadd('candles:X:1m', i * 60_000, JSON.stringify({ t: i * 60_000, close: 100 + i }));
    const before = await readCandles(store, 'X', { ...options, cache });
    store.del('candles:X:1m');
    for (let i = 0; i < 60; i++) {
      store.zadd('candles:X:1m', i * 60_000, JSON.stringify({ t: i * 60_000, close: i === 30 ? 555 : 100 + i }));
    }
    const after = await readCandles(store, 'X', { ...options, cache });
    if (!before.ok || !after.ok) throw new Error('expected both reads to succeed');
    expect(after.value.closes).toContain(555);
    expect(after.value.fingerprint).not.toBe(before.value.fingerprint);
    expect(after.value.lastOpenTime).toBe(before.value.lastOpenTime);
  });
});
