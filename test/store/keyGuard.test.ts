import { describe, expect, it } from 'vitest';
import {
  ForbiddenKeyError,
  HARVEST_PROPOSAL_STREAM,
  MARKETSTATE_STREAM,
  RISK_PROPOSAL_STREAM,
  assertPublishable,
  assertWritable,
  calcKey,
  harvestProposalKey,
  isWritable,
  marketStateKey,
  riskProposalKey,
} from '../../src/store/keyGuard.js';

describe('keyGuard', () => {
  it('builds the SPEC §5 key names', () => {
    expect(marketStateKey('BTCUSDT')).toBe('quantum:marketstate:BTCUSDT');
    expect(riskProposalKey('BTCUSDT')).toBe('quantum:risk:proposal:BTCUSDT');
    expect(harvestProposalKey('BTCUSDT')).toBe('quantum:harvest:proposal:BTCUSDT');
    expect([MARKETSTATE_STREAM, RISK_PROPOSAL_STREAM, HARVEST_PROPOSAL_STREAM]).toEqual([
      'quantum:stream:marketstate',
      'quantum:stream:risk.proposal',
      'quantum:stream:harvest.proposal',
    ]);
    expect(calcKey('publisher', 'BTCUSDT')).toBe('quantum:calc:publisher:BTCUSDT');
  });

  it('refuses symbols that would make unfindable or empty keys', () => {
    for (const bad of ['', 'BTC USDT', 'BTC\nUSDT', 'x'.repeat(101)]) {
      expect(() => marketStateKey(bad)).toThrow(ForbiddenKeyError);
    }
  });

  it('allows exactly the allow-list', () => {
    const allowed = [
      'quantum:marketstate:BTCUSDT',
      'quantum:risk:proposal:BTCUSDT',
      'quantum:harvest:proposal:BTCUSDT',
      'quantum:stream:marketstate',
      'quantum:stream:risk.proposal',
      'quantum:stream:harvest.proposal',
      'quantum:calc:anything',
    ];
    for (const key of allowed) expect(isWritable(key), key).toBe(true);
    const forbidden = [
      'quantum:marketstate:',
      'quantum:calc:',
      'quantum:state:positions:BTCUSDT',
      'quantum:state:positions',
      'quantum:stream:execution.result',
      'quantum:stream:marketstate:extra',
      'quantum:stream:trade.intent',
      'candles:BTCUSDT:1m',
      'QUANTUM:marketstate:BTCUSDT',
      'xquantum:marketstate:BTCUSDT',
    ];
    for (const key of forbidden) expect(isWritable(key), key).toBe(false);
  });

  it('checks the kind of write', () => {
    expect(isWritable('quantum:stream:marketstate', 'hash')).toBe(false);
    expect(isWritable('quantum:marketstate:BTCUSDT', 'stream')).toBe(false);
    expect(isWritable('quantum:calc:x', 'stream')).toBe(true);
    expect(() => assertWritable('quantum:stream:trade.intent', 'stream')).toThrow(
      /refusing to write "quantum:stream:trade.intent": not on the calc-only write allow-list/,
    );
  });

  it('validates the whole batch', () => {
    expect(() =>
      assertPublishable({
        hashes: [{ key: marketStateKey('A'), fields: { sigma: '0.1', buffer_size: '300' }, ttlSec: 600 }],
        streams: [{ key: MARKETSTATE_STREAM, fields: { symbol: 'A' }, maxLen: 10_000 }],
      }),
    ).not.toThrow();
    expect(() => assertPublishable({ hashes: [{ key: marketStateKey('A'), fields: { sigma: 0.1 as unknown as string } }], streams: [] })).toThrow(
      /must be a string/,
    );
    expect(() => assertPublishable({ hashes: [{ key: marketStateKey('A'), fields: { '': '1' } }], streams: [] })).toThrow(/empty field/);
    expect(() => assertPublishable({ hashes: [{ key: marketStateKey('A'), fields: { a: '1' }, ttlSec: -5 }], streams: [] })).toThrow(/ttlSec/);
    expect(() => assertPublishable({ hashes: [], streams: [{ key: MARKETSTATE_STREAM, fields: { a: '1' }, maxLen: 1.5 }] })).toThrow(/maxLen/);
    // "" is a legitimate value (new_sl_proposed when unset).
    expect(() => assertPublishable({ hashes: [{ key: harvestProposalKey('A'), fields: { new_sl_proposed: '' } }], streams: [] })).not.toThrow();
  });
});
