// The same behavioural contract, run against the memory store and a real redis-server.
import { beforeEach, describe, expect, it } from 'vitest';
import {
  HARVEST_PROPOSAL_STREAM,
  MARKETSTATE_STREAM,
  calcKey,
  harvestProposalKey,
  marketStateKey,
  riskProposalKey,
} from '../../src/store/keyGuard.js';
import { WrongTypeError, type PublishBatch } from '../../src/store/types.js';
import { HARNESSES, type Harness, useHarness } from './storeHarness.js';

describe.each(HARNESSES)('Store contract: $name', ({ create }) => {
  const harness = useHarness(create);
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  describe('publish', () => {
    it('HSETs only the given fields and keeps fields other services own', async () => {
      const key = harvestProposalKey('BTCUSDT');
      await h.seed.hset(key, { action: 'HOLD', calibrated: '1', harvest_action: 'OLD' });
      await h.store.publish({ hashes: [{ key, fields: { harvest_action: 'NONE', R_net: '0.5' } }], streams: [] });
      expect(await h.seed.hgetall(key)).toEqual({ action: 'HOLD', calibrated: '1', harvest_action: 'NONE', R_net: '0.5' });
    });

    it('sets EXPIRE when ttlSec is given, and only then', async () => {
      const withTtl = marketStateKey('BTCUSDT');
      const withoutTtl = riskProposalKey('BTCUSDT');
      await h.store.publish({
        hashes: [
          { key: withTtl, fields: { sigma: '0.01' }, ttlSec: 600 },
          { key: withoutTtl, fields: { proposed_sl: '99' } },
        ],
        streams: [],
      });
      const ttl = await h.seed.ttl(withTtl);
      expect(ttl).toBeGreaterThan(590);
      expect(ttl).toBeLessThanOrEqual(600);
      expect(await h.seed.ttl(withoutTtl)).toBe(-1);
    });

    it('XADDs stream entries with the given fields, newest first in xrevrange', async () => {
      for (const sigma of ['1', '2', '3']) {
        await h.store.publish({ hashes: [], streams: [{ key: MARKETSTATE_STREAM, fields: { symbol: 'BTCUSDT', sigma }, maxLen: 100 }] });
      }
      const entries = await h.store.xrevrange(MARKETSTATE_STREAM, 2);
      expect(entries.map((e) => e.fields.sigma)).toEqual(['3', '2']);
      expect(entries[0].fields).toEqual({ symbol: 'BTCUSDT', sigma: '3' });
      expect(entries[0].id).toMatch(/^\d+-\d+$/);
      expect(compareIds(entries[0].id, entries[1].id)).toBeGreaterThan(0);
    });

    it('trims a stream with MAXLEN ~ (at least maxLen kept, far fewer than written)', async () => {
      const written = 1000;
      for (let i = 0; i < written; i += 1) {
        await h.store.publish({ hashes: [], streams: [{ key: HARVEST_PROPOSAL_STREAM, fields: { i: String(i) }, maxLen: 10 }] });
      }
      const length = await h.seed.xlen(HARVEST_PROPOSAL_STREAM);
      expect(length).toBeGreaterThanOrEqual(10);
      // Redis trims whole macro nodes (100 entries by default), so "approximately" means ≤ ~110.
      expect(length).toBeLessThanOrEqual(250);
      const newest = await h.store.xrevrange(HARVEST_PROPOSAL_STREAM, 1);
      expect(newest[0].fields.i).toBe(String(written - 1));
    });

    it('writes hashes and streams of one batch together', async () => {
      await h.store.publish({
        hashes: [{ key: marketStateKey('ETHUSDT'), fields: { sigma: '0.02', mu: '0.00000001' }, ttlSec: 600 }],
        streams: [{ key: MARKETSTATE_STREAM, fields: { symbol: 'ETHUSDT', sigma: '0.02' }, maxLen: 10000 }],
      });
      expect(await h.seed.hgetall(marketStateKey('ETHUSDT'))).toEqual({ sigma: '0.02', mu: '0.00000001' });
      expect(await h.seed.xlen(MARKETSTATE_STREAM)).toBe(1);
    });

    it('allows our own bookkeeping keys under quantum:calc:', async () => {
      await h.store.publish({ hashes: [{ key: calcKey('heartbeat', 'BTCUSDT'), fields: { at: '1' } }], streams: [] });
      expect(await h.seed.hgetall('quantum:calc:heartbeat:BTCUSDT')).toEqual({ at: '1' });
    });

    it('refuses a batch with a forbidden key and writes nothing of it', async () => {
      const batch: PublishBatch = {
        hashes: [
          { key: marketStateKey('BTCUSDT'), fields: { sigma: '0.01' } },
          { key: 'quantum:state:positions:BTCUSDT', fields: { side: 'LONG' } },
        ],
        streams: [{ key: MARKETSTATE_STREAM, fields: { symbol: 'BTCUSDT' }, maxLen: 10 }],
      };
      await expect(h.store.publish(batch)).rejects.toThrow(/quantum:state:positions:BTCUSDT.*allow-list/);
      expect(await h.seed.keys('*')).toEqual([]);
    });

    it('refuses an HSET to a stream name and an XADD to a hash prefix', async () => {
      await expect(h.store.publish({ hashes: [{ key: MARKETSTATE_STREAM, fields: { a: '1' } }], streams: [] })).rejects.toThrow(/allow-list/);
      await expect(
        h.store.publish({ hashes: [], streams: [{ key: marketStateKey('BTCUSDT'), fields: { a: '1' }, maxLen: 10 }] }),
      ).rejects.toThrow(/allow-list/);
      expect(await h.seed.keys('*')).toEqual([]);
    });

    it('refuses NaN/Infinity/None values, empty field sets and bad TTLs before writing', async () => {
      const key = riskProposalKey('BTCUSDT');
      for (const bad of ['NaN', 'Infinity', '-Infinity', 'None', 'nan']) {
        await expect(h.store.publish({ hashes: [{ key, fields: { proposed_sl: bad } }], streams: [] })).rejects.toThrow(/forbidden value/);
      }
      await expect(h.store.publish({ hashes: [{ key, fields: {} }], streams: [] })).rejects.toThrow(/no fields/);
      await expect(h.store.publish({ hashes: [{ key, fields: { a: '1' }, ttlSec: 0 }], streams: [] })).rejects.toThrow(/ttlSec/);
      await expect(h.store.publish({ hashes: [{ key, fields: { a: '1' }, ttlSec: 1.5 }], streams: [] })).rejects.toThrow(/ttlSec/);
      await expect(
        h.store.publish({ hashes: [], streams: [{ key: MARKETSTATE_STREAM, fields: { a: '1' }, maxLen: 0 }] }),
      ).rejects.toThrow(/maxLen/);
      expect(await h.seed.keys('*')).toEqual([]);
    });

    it('rejects a batch with one WRONGTYPE target and writes none of it', async () => {
      await h.seed.set(marketStateKey('BTCUSDT'), 'not a hash');
      const batch: PublishBatch = {
        hashes: [
          { key: riskProposalKey('BTCUSDT'), fields: { proposed_sl: '99' } },
          { key: marketStateKey('BTCUSDT'), fields: { sigma: '0.01' } },
        ],
        streams: [{ key: MARKETSTATE_STREAM, fields: { symbol: 'BTCUSDT' }, maxLen: 10 }],
      };
      await expect(h.store.publish(batch)).rejects.toThrow(WrongTypeError);
      expect(await h.seed.keys('*')).toEqual([marketStateKey('BTCUSDT')]);
    });

    it('a single-hash publish (the heartbeat path) onto a WRONGTYPE key rejects and writes nothing', async () => {
      await h.seed.set(riskProposalKey('BTCUSDT'), 'not a hash');
      await expect(
        h.store.publish({ hashes: [{ key: riskProposalKey('BTCUSDT'), fields: { last_update_epoch: '1' } }], streams: [] }),
      ).rejects.toThrow(WrongTypeError);
      expect(await h.seed.keys('*')).toEqual([riskProposalKey('BTCUSDT')]);
    });

    it('rejects a WRONGTYPE stream target', async () => {
      await h.seed.hset(MARKETSTATE_STREAM, { oops: '1' });
      await expect(
        h.store.publish({ hashes: [], streams: [{ key: MARKETSTATE_STREAM, fields: { symbol: 'X' }, maxLen: 10 }] }),
      ).rejects.toThrow(/quantum:stream:marketstate is not a stream/);
    });
  });

  describe('reads', () => {
    it('keyKind maps TYPE, none for a missing key', async () => {
      await h.seed.hset('h', { a: '1' });
      await h.seed.zadd('z', 1, 'a');
      await h.seed.rpush('l', 'a');
      await h.seed.set('s', 'a');
      await h.seed.xadd('x', { a: '1' });
      expect(await h.store.keyKind('h')).toBe('hash');
      expect(await h.store.keyKind('z')).toBe('zset');
      expect(await h.store.keyKind('l')).toBe('list');
      expect(await h.store.keyKind('s')).toBe('string');
      expect(await h.store.keyKind('x')).toBe('stream');
      expect(await h.store.keyKind('missing')).toBe('none');
    });

    it('hgetall/hget: {} and null for a missing key', async () => {
      await h.seed.hset('h', { a: '1', b: '' });
      expect(await h.store.hgetall('h')).toEqual({ a: '1', b: '' });
      expect(await h.store.hget('h', 'a')).toBe('1');
      expect(await h.store.hget('h', 'zz')).toBeNull();
      expect(await h.store.hgetall('missing')).toEqual({});
      expect(await h.store.hget('missing', 'a')).toBeNull();
    });

    it('zrangeTail: the highest-scored members in ascending order, ties by member bytes', async () => {
      await h.seed.zadd('z', 3, 'c', 1, 'a', 2, 'b', 2, 'a2', 5, 'e');
      expect(await h.store.zrangeTail('z', 3)).toEqual(['b', 'c', 'e']);
      expect(await h.store.zrangeTail('z', 10)).toEqual(['a', 'a2', 'b', 'c', 'e']);
      expect(await h.store.zrangeTailWithScores('z', 2)).toEqual([
        { member: 'c', score: 3 },
        { member: 'e', score: 5 },
      ]);
      expect(await h.store.zrangeTail('missing', 3)).toEqual([]);
      expect(await h.store.zrangeTail('z', 0)).toEqual([]);
    });

    it('lrangeTail: the last elements in list order', async () => {
      await h.seed.rpush('l', 'a', 'b', 'c', 'd');
      expect(await h.store.lrangeTail('l', 2)).toEqual(['c', 'd']);
      expect(await h.store.lrangeTail('l', 10)).toEqual(['a', 'b', 'c', 'd']);
      expect(await h.store.lrangeTail('missing', 2)).toEqual([]);
    });

    it('xrevrange: newest first, bounded by count', async () => {
      for (let i = 0; i < 5; i += 1) await h.seed.xadd('x', { i: String(i) });
      const entries = await h.store.xrevrange('x', 3);
      expect(entries.map((e) => e.fields.i)).toEqual(['4', '3', '2']);
      expect(await h.store.xrevrange('missing', 3)).toEqual([]);
    });

    it('reads of the wrong type reject with WrongTypeError naming the key', async () => {
      await h.seed.set('s', 'x');
      await h.seed.hset('h', { a: '1' });
      await expect(h.store.hgetall('s')).rejects.toThrow(WrongTypeError);
      await expect(h.store.hget('s', 'a')).rejects.toThrow(WrongTypeError);
      await expect(h.store.zrangeTail('h', 3)).rejects.toThrow(WrongTypeError);
      await expect(h.store.zrangeTailWithScores('h', 3)).rejects.toThrow(WrongTypeError);
      await expect(h.store.lrangeTail('h', 3)).rejects.toThrow(WrongTypeError);
      await expect(h.store.xrevrange('h', 3)).rejects.toThrow(/key h is not a stream \(it is a hash\)/);
    });

    it('ping resolves', async () => {
      await expect(h.store.ping()).resolves.toBeUndefined();
    });
  });
});

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  return am === bm ? Number(as - bs) : Number(am - bm);
}
