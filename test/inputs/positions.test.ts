// Position sources, run against both stores.
import { beforeEach, describe, expect, it } from 'vitest';
import {
  EXECUTION_RESULT_STREAM,
  LEGACY_POSITIONS_KEY,
  createPositionSource,
  eventFields,
  syntheticPositionFromCloses,
  syntheticSide,
} from '../../src/inputs/positions.js';
import type { Read } from '../../src/inputs/types.js';
import type { Position } from '../../src/kernels/types.js';
import { HARNESSES, type Harness, useHarness } from '../store/storeHarness.js';

const FULL = {
  symbol: 'BTCUSDT',
  side: 'LONG',
  entry_price: '100',
  current_price: '110',
  peak_price: '112',
  trough_price: '98',
  age_sec: '3600',
  unrealized_pnl: '10',
  current_sl: '95',
  current_tp: '130',
};

const EXPECTED: Position = {
  symbol: 'BTCUSDT',
  side: 'LONG',
  entry_price: 100,
  current_price: 110,
  peak_price: 112,
  trough_price: 98,
  age_sec: 3600,
  unrealized_pnl: 10,
  current_sl: 95,
  current_tp: 130,
};

function position(read: Read<Position>): Position {
  if (!read.ok) throw new Error(`expected a position, got skip ${read.reason}: ${read.detail}`);
  return read.value;
}

describe('pure helpers', () => {
  it('eventFields merges a JSON payload under the flat fields', () => {
    expect(eventFields({ event_type: 'POSITION_OPENED', payload: '{"symbol":"X","entry_price":5,"event_type":"IGNORED"}' })).toEqual({
      event_type: 'POSITION_OPENED',
      symbol: 'X',
      entry_price: 5,
    });
    expect(eventFields({ symbol: 'X', data: 'not json' })).toEqual({ symbol: 'X' });
  });

  it('syntheticSide is deterministic, mixing both sides', () => {
    expect(syntheticSide('BTCUSDT')).toBe('SHORT'); // code-unit sum 537 = 3·179
    expect(syntheticSide('ETHUSDT')).toBe('LONG'); // 545
    expect(syntheticSide('ETHUSDT')).toBe(syntheticSide('ETHUSDT'));
  });

  it('syntheticPositionFromCloses: entry 60 candles back, peak/trough since entry, per-side PnL', () => {
    const closes = Array.from({ length: 100 }, (_, i) => 100 + i); // 100 … 199
    const long = syntheticPositionFromCloses('ETHUSDT', closes);
    expect(long).toEqual({
      symbol: 'ETHUSDT', side: 'LONG', entry_price: 139, current_price: 199, peak_price: 199, trough_price: 139,
      age_sec: 3600, unrealized_pnl: 60, current_sl: null, current_tp: null,
    });
    const short = syntheticPositionFromCloses('BTCUSDT', [50, 40, 45]);
    expect(short).toMatchObject({ side: 'SHORT', entry_price: 50, current_price: 45, peak_price: 40, trough_price: 50, age_sec: 120, unrealized_pnl: 5 });
  });
});

describe.each(HARNESSES)('position sources: $name', ({ create }) => {
  const harness = useHarness(create);
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  const read = (kind: 'auto' | 'redis_hash' | 'redis_stream' | 'synthetic', symbol = 'BTCUSDT', options = {}) =>
    createPositionSource(kind, h.store, options).read(symbol);

  describe('redis_hash', () => {
    it('reads the canonical hash', async () => {
      await h.seed.hset('quantum:state:positions:BTCUSDT', FULL);
      expect(position(await read('redis_hash'))).toEqual(EXPECTED);
    });

    it('falls back to the legacy hash with a JSON value (numbers or strings)', async () => {
      await h.seed.hset(LEGACY_POSITIONS_KEY, {
        BTCUSDT: JSON.stringify({ ...EXPECTED, entry_price: '100' }),
        ETHUSDT: JSON.stringify({ side: 'SHORT', entry_price: 10, current_price: 9, age_sec: 5, unrealized_pnl: 1 }),
      });
      expect(position(await read('redis_hash'))).toEqual(EXPECTED);
      expect(position(await read('redis_hash', 'ETHUSDT'))).toEqual({
        symbol: 'ETHUSDT', side: 'SHORT', entry_price: 10, current_price: 9, peak_price: 9, trough_price: 9,
        age_sec: 5, unrealized_pnl: 1, current_sl: null, current_tp: null,
      });
    });

    it('prefers the canonical hash over the legacy one', async () => {
      await h.seed.hset('quantum:state:positions:BTCUSDT', FULL);
      await h.seed.hset(LEGACY_POSITIONS_KEY, { BTCUSDT: JSON.stringify({ ...EXPECTED, entry_price: 1 }) });
      expect(position(await read('redis_hash')).entry_price).toBe(100);
    });

    it('missing peak/trough fall back to current_price; empty/absent current_sl/current_tp are unset', async () => {
      const { peak_price: _p, trough_price: _t, current_tp: _tp, ...rest } = FULL;
      await h.seed.hset('quantum:state:positions:BTCUSDT', { ...rest, current_sl: '' });
      expect(position(await read('redis_hash'))).toMatchObject({ peak_price: 110, trough_price: 110, current_sl: null, current_tp: null });
    });

    it('a missing symbol field is the key symbol; a different one is refused', async () => {
      const { symbol: _s, ...noSymbol } = FULL;
      await h.seed.hset('quantum:state:positions:BTCUSDT', noSymbol);
      expect(position(await read('redis_hash')).symbol).toBe('BTCUSDT');
      await h.seed.hset('quantum:state:positions:BTCUSDT', { symbol: 'ETHUSDT' });
      expect(await read('redis_hash')).toMatchObject({ ok: false, reason: 'bad_position', detail: expect.stringContaining('position.symbol') });
    });

    const badCases: Array<[string, Record<string, string>, RegExp]> = [
      ['a bad side', { side: 'long' }, /position\.side: must be LONG or SHORT \(got "long"\)/],
      ['a NaN price', { current_price: 'NaN' }, /position\.current_price: must be a number \(got "NaN"\)/],
      ['an Infinity price', { entry_price: 'Infinity' }, /position\.entry_price/],
      ['a zero price', { entry_price: '0' }, /position\.entry_price: must be > 0/],
      ['a missing entry', { entry_price: '' }, /position\.entry_price: missing required number/],
      ['a negative age', { age_sec: '-1' }, /position\.age_sec: must be >= 0/],
      ['a garbage pnl', { unrealized_pnl: '12abc' }, /position\.unrealized_pnl/],
      ['a negative stop', { current_sl: '-5' }, /position\.current_sl/],
      ['the Python None for a stop', { current_sl: 'None' }, /position\.current_sl/],
    ];
    it.each(badCases)('%s → bad_position naming field and value', async (_name, override, pattern) => {
      await h.seed.hset('quantum:state:positions:BTCUSDT', { ...FULL, ...override });
      const result = await read('redis_hash');
      expect(result).toMatchObject({ ok: false, reason: 'bad_position' });
      if (!result.ok) {
        expect(result.detail).toMatch(pattern);
        expect(result.detail).toContain('quantum:state:positions:BTCUSDT');
      }
    });

    it('a missing required field in legacy JSON → bad_position', async () => {
      await h.seed.hset(LEGACY_POSITIONS_KEY, { BTCUSDT: JSON.stringify({ side: 'LONG', current_price: 1, age_sec: 1, unrealized_pnl: 0 }) });
      expect(await read('redis_hash')).toMatchObject({
        ok: false,
        reason: 'bad_position',
        detail: expect.stringMatching(/quantum:state:positions\[BTCUSDT\]: position\.entry_price: missing required number/),
      });
    });

    it('legacy JSON that is not an object → bad_position; empty/null value → no_position', async () => {
      await h.seed.hset(LEGACY_POSITIONS_KEY, { BTCUSDT: '{oops', ETHUSDT: '[1]', SOLUSDT: '', XRPUSDT: 'null' });
      expect(await read('redis_hash')).toMatchObject({ ok: false, reason: 'bad_position', detail: expect.stringContaining('not valid JSON') });
      expect(await read('redis_hash', 'ETHUSDT')).toMatchObject({ ok: false, reason: 'bad_position' });
      expect(await read('redis_hash', 'SOLUSDT')).toMatchObject({ ok: false, reason: 'no_position' });
      expect(await read('redis_hash', 'XRPUSDT')).toMatchObject({ ok: false, reason: 'no_position' });
    });

    it('a position key of the wrong type → bad_position', async () => {
      await h.seed.set('quantum:state:positions:BTCUSDT', '{}');
      expect(await read('redis_hash')).toMatchObject({ ok: false, reason: 'bad_position', detail: expect.stringContaining('is not a hash') });
    });

    it('nothing anywhere → no_position', async () => {
      expect(await read('redis_hash')).toMatchObject({ ok: false, reason: 'no_position' });
    });
  });

  describe('redis_stream', () => {
    const event = (fields: Record<string, string>) => h.seed.xadd(EXECUTION_RESULT_STREAM, fields);

    it('the newest OPENED/UPDATED event for the symbol wins', async () => {
      await event({ ...FULL, event_type: 'POSITION_OPENED', current_price: '101' });
      await event({ ...FULL, symbol: 'ETHUSDT', event_type: 'POSITION_OPENED' });
      await event({ ...FULL, event_type: 'POSITION_UPDATED', current_price: '111' });
      await event({ symbol: 'BTCUSDT', event_type: 'ORDER_FILLED' });
      expect(position(await read('redis_stream')).current_price).toBe(111);
      expect(position(await read('redis_stream', 'ETHUSDT')).symbol).toBe('ETHUSDT');
    });

    it('a newer POSITION_CLOSED means no position; a newer OPENED after it means a position again', async () => {
      await event({ ...FULL, event_type: 'POSITION_OPENED' });
      await event({ symbol: 'BTCUSDT', event_type: 'POSITION_CLOSED' });
      expect(await read('redis_stream')).toMatchObject({ ok: false, reason: 'no_position', detail: expect.stringContaining('POSITION_CLOSED') });
      await event({ ...FULL, event_type: 'POSITION_OPENED', entry_price: '105' });
      expect(position(await read('redis_stream')).entry_price).toBe(105);
    });

    it('reads events whose fields are in a JSON payload', async () => {
      await event({ event_type: 'POSITION_OPENED', payload: JSON.stringify({ ...EXPECTED, current_sl: null, current_tp: null }) });
      expect(position(await read('redis_stream'))).toEqual({ ...EXPECTED, current_sl: null, current_tp: null });
    });

    it('looks only at the newest streamScanCount entries', async () => {
      await event({ ...FULL, event_type: 'POSITION_OPENED' });
      for (let i = 0; i < 5; i += 1) await event({ symbol: 'ETHUSDT', event_type: 'ORDER_FILLED' });
      expect(await read('redis_stream', 'BTCUSDT', { streamScanCount: 5 })).toMatchObject({ ok: false, reason: 'no_position' });
      expect(position(await read('redis_stream', 'BTCUSDT', { streamScanCount: 6 })).symbol).toBe('BTCUSDT');
    });

    it('a bad event → bad_position naming the entry', async () => {
      const id = await event({ ...FULL, event_type: 'POSITION_UPDATED', side: 'BUY' });
      expect(await read('redis_stream')).toMatchObject({ ok: false, reason: 'bad_position', detail: expect.stringContaining(id) });
    });
  });

  describe('auto', () => {
    it('hash first, then stream', async () => {
      await h.seed.xadd(EXECUTION_RESULT_STREAM, { ...FULL, event_type: 'POSITION_OPENED', entry_price: '50' });
      expect(position(await read('auto')).entry_price).toBe(50);
      await h.seed.hset('quantum:state:positions:BTCUSDT', FULL);
      expect(position(await read('auto')).entry_price).toBe(100);
    });

    it('a bad hash position is not replaced by a stream event', async () => {
      await h.seed.xadd(EXECUTION_RESULT_STREAM, { ...FULL, event_type: 'POSITION_OPENED' });
      await h.seed.hset('quantum:state:positions:BTCUSDT', { ...FULL, side: 'FLAT' });
      expect(await read('auto')).toMatchObject({ ok: false, reason: 'bad_position' });
    });

    it('never synthetic: candles but no position anywhere → no_position', async () => {
      await h.seed.rpush('candles:BTCUSDT:1m', ...Array.from({ length: 100 }, (_, i) => String(100 + i)));
      const result = await read('auto');
      expect(result).toMatchObject({ ok: false, reason: 'no_position' });
      if (!result.ok) expect(result.detail).toContain(EXECUTION_RESULT_STREAM);
    });
  });

  describe('synthetic', () => {
    it('is deterministic and follows the candles', async () => {
      await h.seed.rpush('candles:ETHUSDT:1m', ...Array.from({ length: 100 }, (_, i) => String(100 + i)));
      const first = position(await read('synthetic', 'ETHUSDT'));
      expect(first).toEqual(syntheticPositionFromCloses('ETHUSDT', Array.from({ length: 100 }, (_, i) => 100 + i)));
      expect(position(await read('synthetic', 'ETHUSDT'))).toEqual(first);
      await h.seed.rpush('candles:ETHUSDT:1m', '250');
      const next = position(await read('synthetic', 'ETHUSDT'));
      expect(next).toMatchObject({ entry_price: 140, current_price: 250, peak_price: 250, unrealized_pnl: 110, age_sec: 3600 });
    });

    it('uses the configured candle patterns; no candles → insufficient_data', async () => {
      await h.seed.rpush('my:ETHUSDT', '10', '12');
      expect(position(await read('synthetic', 'ETHUSDT', { candlePatterns: ['my:{symbol}'] }))).toMatchObject({ entry_price: 10, current_price: 12, age_sec: 60 });
      expect(await read('synthetic', 'ETHUSDT')).toMatchObject({ ok: false, reason: 'insufficient_data' });
    });
  });
});

describe('createPositionSource', () => {
  it('refuses unknown kinds and bad scan counts', async () => {
    const { MemoryStore } = await import('../../src/store/memoryStore.js');
    const store = new MemoryStore();
    expect(() => createPositionSource('magic' as 'auto', store)).toThrow(/unknown position source "magic"/);
    expect(() => createPositionSource('redis_stream', store, { streamScanCount: 0 })).toThrow(/streamScanCount/);
    expect(createPositionSource('auto', store).kind).toBe('auto');
  });
});
