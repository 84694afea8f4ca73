// MemoryStore specifics: the injectable clock (TTL, stream ids), glob KEYS, seeding helpers.
import { describe, expect, it } from 'vitest';
import { marketStateKey } from '../../src/store/keyGuard.js';
import { MemoryStore } from '../../src/store/memoryStore.js';
import { WrongTypeError } from '../../src/store/types.js';

function clock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}

describe('MemoryStore', () => {
  it('honours TTLs against the injected clock', async () => {
    const c = clock();
    const store = new MemoryStore({ now: c.now });
    const key = marketStateKey('BTCUSDT');
    await store.publish({ hashes: [{ key, fields: { sigma: '0.1' }, ttlSec: 600 }], streams: [] });
    expect(store.ttl(key)).toBe(600);
    c.advance(599_000);
    expect(store.ttl(key)).toBe(1);
    expect(await store.hgetall(key)).toEqual({ sigma: '0.1' });
    c.advance(1_000);
    expect(store.ttl(key)).toBe(-2);
    expect(await store.hgetall(key)).toEqual({});
    expect(await store.keyKind(key)).toBe('none');
    expect(store.keys('*')).toEqual([]);
  });

  it('a later publish with a TTL refreshes it; HSET without one keeps it (like Redis)', async () => {
    const c = clock();
    const store = new MemoryStore({ now: c.now });
    const key = marketStateKey('ETHUSDT');
    await store.publish({ hashes: [{ key, fields: { a: '1' }, ttlSec: 10 }], streams: [] });
    c.advance(8_000);
    await store.publish({ hashes: [{ key, fields: { a: '2' }, ttlSec: 10 }], streams: [] });
    c.advance(8_000);
    expect(await store.hget(key, 'a')).toBe('2');
    store.hset(key, { b: '3' });
    expect(store.ttl(key)).toBe(2);
  });

  it('XADD ids are ms-seq and strictly increasing, even when the clock stalls or steps back', () => {
    const c = clock(1000);
    const store = new MemoryStore({ now: c.now });
    const ids = [store.xadd('s', { a: 1 }), store.xadd('s', { a: 2 })];
    c.set(500); // the clock stepped back
    ids.push(store.xadd('s', { a: 3 }));
    c.set(2000);
    ids.push(store.xadd('s', { a: 4 }));
    expect(ids).toEqual(['1000-0', '1000-1', '1000-2', '2000-0']);
  });

  it('trims streams to maxLen on xadd', async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 20; i += 1) store.xadd('s', { i }, { maxLen: 5 });
    expect(store.xlen('s')).toBe(5);
    expect((await store.xrevrange('s', 10)).map((e) => e.fields.i)).toEqual(['19', '18', '17', '16', '15']);
  });

  it('KEYS glob patterns, DEL, TTL of a persistent key', () => {
    const store = new MemoryStore();
    store.hset('quantum:marketstate:BTCUSDT', { a: 1 });
    store.hset('quantum:marketstate:ETHUSDT', { a: 1 });
    store.rpush('candles:BTCUSDT:1m', 1);
    expect(store.keys('quantum:marketstate:*')).toEqual(['quantum:marketstate:BTCUSDT', 'quantum:marketstate:ETHUSDT']);
    expect(store.keys('quantum:marketstate:?THUSDT')).toEqual(['quantum:marketstate:ETHUSDT']);
    expect(store.keys('quantum:marketstate:[B]*')).toEqual(['quantum:marketstate:BTCUSDT']);
    expect(store.keys('quantum:marketstate:[^B]*')).toEqual(['quantum:marketstate:ETHUSDT']);
    expect(store.keys('candles:*:1m')).toEqual(['candles:BTCUSDT:1m']);
    expect(store.keys()).toHaveLength(3);
    expect(store.ttl('candles:BTCUSDT:1m')).toBe(-1);
    expect(store.del('candles:BTCUSDT:1m', 'missing')).toBe(1);
    expect(store.ttl('candles:BTCUSDT:1m')).toBe(-2);
  });

  it('seeding helpers refuse the wrong type like Redis', () => {
    const store = new MemoryStore();
    store.set('k', 'v');
    expect(() => store.hset('k', { a: 1 })).toThrow(WrongTypeError);
    expect(() => store.zadd('k', 1, 'a')).toThrow(WrongTypeError);
    expect(() => store.rpush('k', 'a')).toThrow(WrongTypeError);
    expect(() => store.xadd('k', { a: 1 })).toThrow(WrongTypeError);
    expect(() => store.zadd('z', 1)).toThrow(/pairs/);
  });

  it('returns copies: mutating a read result does not change the store', async () => {
    const store = new MemoryStore();
    store.hset('h', { a: '1' });
    store.xadd('s', { a: '1' });
    (await store.hgetall('h')).a = 'changed';
    (await store.xrevrange('s', 1))[0].fields.a = 'changed';
    expect(await store.hget('h', 'a')).toBe('1');
    expect((await store.xrevrange('s', 1))[0].fields.a).toBe('1');
  });

  it('refuses use after close', async () => {
    const store = new MemoryStore();
    await store.close();
    await expect(store.ping()).rejects.toThrow(/closed/);
    await expect(store.hgetall('h')).rejects.toThrow(/closed/);
  });
});
