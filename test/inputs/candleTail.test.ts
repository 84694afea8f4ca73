// The reader first reads the window plus a small margin; when duplicates or malformed members
// leave the window short, it reads the full margin, so a dirty tail never shrinks the window.
import { describe, expect, it } from 'vitest';
import { candleFirstTailCount, readCandles } from '../../src/inputs/candles.js';
import { MemoryStore } from '../../src/store/memoryStore.js';

describe('candle tail reads', () => {
  it('a clean key needs only the first, short read', async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 200; i++) store.zadd('candles:X:1m', i * 60_000, JSON.stringify({ t: i * 60_000, close: 100 + i }));
    const r = await readCandles(store, 'X', { patterns: ['candles:{symbol}:1m'], windowSize: 50 });
    expect(r.ok && r.value.closes).toEqual(Array.from({ length: 50 }, (_, i) => 250 + i));
    expect(candleFirstTailCount(50)).toBeLessThan(100);
  });

  it('re-reads with the full margin when duplicates leave the window short', async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 60; i++) store.zadd('candles:X:1m', i * 60_000, JSON.stringify({ t: i * 60_000, close: 100 + i }));
    // 40 re-written members for the newest 40 open times (another member string, same time)
    for (let i = 20; i < 60; i++) store.zadd('candles:X:1m', i * 60_000, JSON.stringify({ close: 100 + i, t: i * 60_000 }));
    const r = await readCandles(store, 'X', { patterns: ['candles:{symbol}:1m'], windowSize: 50 });
    if (!r.ok) throw new Error(r.detail);
    expect(r.value.closes).toHaveLength(50);
    expect(r.value.closes[49]).toBe(159);
    expect(r.value.closes[0]).toBe(110);
  });
});
