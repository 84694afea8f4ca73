// Candle input (SPEC §5): the closes of one symbol, oldest first, read from the first existing
// key of a configurable list of patterns. The key is written by other services in a few shapes,
// so the reader is lenient about shape and strict about values: every member is parsed on its
// own, a bad one is skipped and counted, and nothing is ever defaulted.
//
// Each read re-reads a bounded tail of the key and rebuilds the series from it, deduplicated by
// open time. There is no buffer that new reads append to, so reading the same candles again can
// never duplicate them (the Python service appended every poll to a deque).
import { WrongTypeError, type Store } from '../store/types.js';
import { parseFiniteNumber, parsePositiveNumber } from './parse.js';
import { ok, skip, type Read } from './types.js';

export const DEFAULT_CANDLE_PATTERNS: readonly string[] = ['candles:{symbol}:1m', 'quantum:candles:{symbol}', 'klines:{symbol}:1m'];
export const DEFAULT_CANDLE_WINDOW = 300;

export interface CandleSeries {
  /** The key the candles were read from. */
  key: string;
  /** Closes, oldest first, at most windowSize of them. */
  closes: number[];
  /** Open time of the newest candle, in the key's own unit (ms or s); null when unknown. */
  lastOpenTime: number | null;
  /**
   * Changes exactly when the series changes (a new candle, a corrected close, a different key):
   * the marketstate publisher compares it to decide "new candle data since the last publish".
   * Format `${lastOpenTime|none}:${lastClose}:${count}:${64-bit hash of every open time and close}`.
   */
  fingerprint: string;
  /** Members of the tail that were read and skipped as malformed. */
  malformed: number;
  /** Members of the tail dropped because a newer member had the same open time. */
  duplicates: number;
}

export interface ReadCandlesOptions {
  /** Key patterns with `{symbol}`; the first key that exists is used. */
  patterns: readonly string[];
  /** Keep the newest this-many closes. */
  windowSize: number;
  /** Parsed members of the previous read, reused when a member string is read again. */
  cache?: CandleParseCache;
}

/**
 * Members are immutable strings and a poll re-reads almost the same tail every time, so the
 * parse of each member is remembered from one read of a key to the next (only the members of
 * the latest read are kept). This takes JSON.parse — most of a read's CPU — off the hot path
 * without changing what is parsed: a member string always parses to the same candle.
 */
export class CandleParseCache {
  private readonly byKey = new Map<string, Map<string, Candle | null>>();

  parseAll(key: string, members: readonly string[]): Array<Candle | null> {
    const previous = this.byKey.get(key);
    const current = new Map<string, Candle | null>();
    const out = members.map((member) => {
      let candle = previous?.get(member);
      if (candle === undefined) candle = parseCandleMember(member);
      current.set(member, candle);
      return candle;
    });
    this.byKey.set(key, current);
    return out;
  }
}

/** The keys tried for `symbol`, in order. */
export function candleKeys(symbol: string, patterns: readonly string[]): string[] {
  return patterns.map((pattern) => pattern.split('{symbol}').join(symbol));
}

/**
 * How many members to read from the end of the key at most: the window plus a margin for
 * duplicates and malformed members (as many again, at least 64), so bad members do not shrink
 * the window, while a huge key is never read whole.
 */
export function candleTailCount(windowSize: number): number {
  return windowSize + Math.max(64, windowSize);
}

/**
 * The first, cheaper read: the window plus a small margin. Clean keys (the normal case) need no
 * more; only when duplicates or malformed members leave the window short is the full
 * candleTailCount read. Halves what a poll transfers and parses.
 */
export function candleFirstTailCount(windowSize: number): number {
  return windowSize + Math.max(16, Math.ceil(windowSize / 16));
}

interface Candle {
  close: number;
  /** null when neither the member nor the key (zset score) gives one. */
  openTime: number | null;
}

/**
 * One member: a bare number ("101.5"), or JSON — a number, or an object with `close` (or `c`)
 * and optionally `t` (or `open_time`). Returns null for anything else, including closes that
 * are not finite and > 0 and open times that are present but not numbers.
 */
export function parseCandleMember(member: string): Candle | null {
  const bare = parseFiniteNumber(member);
  if (bare !== null) return bare > 0 ? { close: bare, openTime: null } : null;
  let value: unknown;
  try {
    value = JSON.parse(member);
  } catch {
    return null;
  }
  if (typeof value === 'number') {
    const close = parsePositiveNumber(value);
    return close === null ? null : { close, openTime: null };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  const close = parsePositiveNumber(record.close !== undefined ? record.close : record.c);
  if (close === null) return null;
  const rawTime = record.t !== undefined ? record.t : record.open_time;
  if (rawTime === undefined || rawTime === null) return { close, openTime: null };
  const openTime = parseFiniteNumber(rawTime);
  return openTime === null ? null : { close, openTime };
}

export async function readCandles(store: Store, symbol: string, options: ReadCandlesOptions): Promise<Read<CandleSeries>> {
  const { patterns, windowSize } = options;
  if (!Number.isSafeInteger(windowSize) || windowSize <= 0) {
    throw new Error(`readCandles: windowSize must be a positive integer (got ${String(windowSize)})`);
  }
  if (patterns.length === 0) throw new Error('readCandles: no candle key patterns configured');

  const keys = candleKeys(symbol, patterns);
  for (const key of keys) {
    const kind = await store.keyKind(key);
    if (kind === 'none') continue;
    if (kind !== 'zset' && kind !== 'list') {
      // The first existing key decides, even when unusable: silently falling through to another
      // pattern would compute from a source nobody configured for this symbol.
      return skip('bad_input', `candle key ${key} is a ${kind}; expected a sorted set or a list`);
    }
    try {
      const first = await readSeries(store, key, kind, windowSize, candleFirstTailCount(windowSize), options.cache);
      const short = !first.result.ok || first.result.value.closes.length < windowSize;
      if (!short || first.rawCount < candleFirstTailCount(windowSize)) return first.result;
      // The key holds more than we read and the window came out short: read the full margin.
      return (await readSeries(store, key, kind, windowSize, candleTailCount(windowSize), options.cache)).result;
    } catch (error) {
      // The key changed type between TYPE and the read.
      if (error instanceof WrongTypeError) return skip('bad_input', `candle key ${key}: ${error.message}`);
      throw error;
    }
  }
  return skip('insufficient_data', `no candle key for ${symbol} (tried ${keys.join(', ')})`);
}

async function readSeries(
  store: Store,
  key: string,
  kind: 'zset' | 'list',
  windowSize: number,
  tail: number,
  cache: CandleParseCache | undefined,
): Promise<{ result: Read<CandleSeries>; rawCount: number }> {
  const raw: Array<{ member: string; score: number | null }> =
    kind === 'zset'
      ? (await store.zrangeTailWithScores(key, tail)).map(({ member, score }) => ({ member, score: Number.isFinite(score) ? score : null }))
      : (await store.lrangeTail(key, tail)).map((member) => ({ member, score: null }));

  const done = (result: Read<CandleSeries>) => ({ result, rawCount: raw.length });
  if (raw.length === 0) return done(skip('insufficient_data', `candle key ${key} is empty`));

  let malformed = 0;
  const parsed: Candle[] = [];
  const candles = cache ? cache.parseAll(key, raw.map((r) => r.member)) : raw.map((r) => parseCandleMember(r.member));
  for (let i = 0; i < raw.length; i++) {
    const candle = candles[i];
    const score = raw[i].score;
    if (candle === null) {
      malformed += 1;
      continue;
    }
    // The member's own open time wins; a sorted set's score is the open time otherwise.
    parsed.push({ close: candle.close, openTime: candle.openTime ?? score });
  }
  if (parsed.length === 0) {
    return done(skip('bad_input', `all ${raw.length} members read from candle key ${key} are malformed`));
  }

  // The common case — strictly increasing open times — has nothing to dedupe or sort.
  let increasing = true;
  for (let i = 1; i < parsed.length && increasing; i++) {
    const a = parsed[i - 1].openTime;
    const b = parsed[i].openTime;
    increasing = a !== null && b !== null && b > a;
  }
  if (parsed[0].openTime === null) increasing = false;

  // Deduplicate by open time, keeping the newest occurrence: the last one in read order (list
  // order, or score order for a sorted set, where Redis orders equal scores by member bytes).
  const lastIndexByTime = new Map<number, number>();
  if (!increasing) {
    parsed.forEach((candle, i) => {
      if (candle.openTime !== null) lastIndexByTime.set(candle.openTime, i);
    });
  }
  let unique = increasing
    ? parsed
    : parsed.filter((candle, i) => candle.openTime === null || lastIndexByTime.get(candle.openTime) === i);
  const duplicates = parsed.length - unique.length;

  // Out-of-order members (a list pushed out of order) are put in time order — but only when every
  // candle has an open time; otherwise the list order is the only order there is.
  if (!increasing && unique.every((candle) => candle.openTime !== null)) {
    unique = unique
      .map((candle, i) => ({ candle, i }))
      .sort((a, b) => (a.candle.openTime as number) - (b.candle.openTime as number) || a.i - b.i)
      .map(({ candle }) => candle);
  }

  const window = unique.slice(-windowSize);
  const closes = window.map((candle) => candle.close);
  const last = window[window.length - 1];
  const fingerprint = `${last.openTime ?? 'none'}:${last.close}:${closes.length}:${seriesHash(key, window)}`;

  return done(ok({ key, closes, lastOpenTime: last.openTime, fingerprint, malformed, duplicates }));
}

const hashBits = new Float64Array(1);
const hashWords = new Uint32Array(hashBits.buffer);

/**
 * Two independent 32-bit FNV-1a-style hashes over the key and the exact bits of every open time
 * and close (64 bits in all): any changed candle changes it, at a fraction of a crypto digest's
 * cost. It is a change detector, not a security measure.
 */
function seriesHash(key: string, window: readonly Candle[]): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ key.length;
  const mix = (word: number): void => {
    h1 = Math.imul(h1 ^ word, 0x01000193);
    h2 = Math.imul(h2 ^ word, 0x5bd1e995) ^ (h2 >>> 15);
  };
  for (let i = 0; i < key.length; i++) mix(key.charCodeAt(i));
  for (const candle of window) {
    hashBits[0] = candle.openTime ?? Number.NaN;
    mix(hashWords[0]);
    mix(hashWords[1]);
    hashBits[0] = candle.close;
    mix(hashWords[0]);
    mix(hashWords[1]);
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}
