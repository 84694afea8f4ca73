// Candle input (SPEC §5): the closes of one symbol, oldest first, read from the first existing
// key of a configurable list of patterns. The key is written by other services in a few shapes,
// so the reader is lenient about shape and strict about values: every member is parsed on its
// own, a bad one is skipped and counted, and nothing is ever defaulted.
//
// Each read re-reads a bounded tail of the key and rebuilds the series from it, deduplicated by
// open time. There is no buffer that new reads append to, so reading the same candles again can
// never duplicate them (the Python service appended every poll to a deque).
//
// The live stack's layout (SPEC §5) is the data sink's sorted set quantum:history:ohlcv:{S}:1m:
// score = open time in ms, each member `json.dumps` of a closed candle
//   {"symbol", "interval", "open", "high", "low", "close", "volume", "open_time", "close_time",
//    "is_closed", "timestamp"}
// where `timestamp` is the market publisher's time.time() when it published the candle. A candle
// published twice is two members with the same score: the newest `timestamp` wins.
import { WrongTypeError, type Store } from '../store/types.js';
import { parseFiniteNumber, parsePositiveNumber } from './parse.js';
import { ok, skip, type Read } from './types.js';

/** The data sink's key first (the only one the live stack writes), then the older layouts. */
export const DEFAULT_CANDLE_PATTERNS: readonly string[] = [
  'quantum:history:ohlcv:{symbol}:1m',
  'candles:{symbol}:1m',
  'quantum:candles:{symbol}',
  'klines:{symbol}:1m',
];
export const DEFAULT_CANDLE_WINDOW = 300;

/**
 * Open times below this are taken to be epoch seconds, above it epoch milliseconds (1e11 ms is
 * 1973; 1e11 s is the year 5138): the older layouts wrote either.
 */
const EPOCH_MS_THRESHOLD = 1e11;

/** An open time in the key's own unit (s or ms) as epoch milliseconds. */
export function openTimeMs(openTime: number): number {
  return Math.abs(openTime) < EPOCH_MS_THRESHOLD ? openTime * 1000 : openTime;
}

export interface CandleSeries {
  /** The key the candles were read from. */
  key: string;
  /** Closes, oldest first, at most windowSize of them. */
  closes: number[];
  /** Open time of the newest candle, in the key's own unit (ms or s); null when unknown. */
  lastOpenTime: number | null;
  /** The same as epoch milliseconds (the freshness check and the position memory use it). */
  lastOpenTimeMs: number | null;
  /** close_time of the newest candle in epoch ms, when its member carries one (lag metric). */
  lastCloseTimeMs: number | null;
  /** Live candles (from the klines stream) that are in the window but not (yet) in the key. */
  liveOnly: number;
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
  /**
   * Closed candles seen on the klines stream that the key may not hold yet (the data sink writes
   * it from the same stream, possibly later). They are merged in, deduplicated like members,
   * when the key's open times are epoch milliseconds like theirs.
   */
  live?: readonly Candle[];
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

export interface Candle {
  close: number;
  /** null when neither the member nor the key (zset score) gives one. */
  openTime: number | null;
  /**
   * When the producer published this candle (the member's `timestamp`, epoch seconds): of two
   * members with the same open time the newest wins. null when the member has none.
   */
  publishedAt: number | null;
  /** The candle's high and low, when the member carries them (position memory, SPEC §4.2). */
  high: number | null;
  low: number | null;
  /** close_time in the member's unit, when present. */
  closeTime: number | null;
}

const bareCandle = (close: number): Candle => ({ close, openTime: null, publishedAt: null, high: null, low: null, closeTime: null });

/** An optional field: absent/null → null; present → a number, or undefined when it is not one. */
function optionalNumber(raw: unknown, positive: boolean): number | null | undefined {
  if (raw === undefined || raw === null) return null;
  const value = positive ? parsePositiveNumber(raw) : parseFiniteNumber(raw);
  return value === null ? undefined : value;
}

/**
 * One candle from a JSON object: `close` (or `c`) required, `open_time` (or `t`), `high`/`low`,
 * `close_time` and `timestamp` optional — but each present one must be a number (prices > 0), else
 * the whole candle is refused (null). Used for set members and for klines stream payloads.
 */
export function candleFromRecord(record: Record<string, unknown>): Candle | null {
  const close = parsePositiveNumber(record.close !== undefined ? record.close : record.c);
  if (close === null) return null;
  const openTime = optionalNumber(record.t !== undefined ? record.t : record.open_time, false);
  const publishedAt = optionalNumber(record.timestamp, false);
  const high = optionalNumber(record.high, true);
  const low = optionalNumber(record.low, true);
  const closeTime = optionalNumber(record.close_time, false);
  if (openTime === undefined || publishedAt === undefined || high === undefined || low === undefined || closeTime === undefined) return null;
  return { close, openTime, publishedAt, high, low, closeTime };
}

/**
 * One member: a bare number ("101.5"), or JSON — a number, or an object (see candleFromRecord).
 * Returns null for anything else, including closes that are not finite and > 0 and optional
 * fields that are present but not numbers.
 */
export function parseCandleMember(member: string): Candle | null {
  const bare = parseFiniteNumber(member);
  if (bare !== null) return bare > 0 ? bareCandle(bare) : null;
  let value: unknown;
  try {
    value = JSON.parse(member);
  } catch {
    return null;
  }
  if (typeof value === 'number') {
    const close = parsePositiveNumber(value);
    return close === null ? null : bareCandle(close);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  return candleFromRecord(value as Record<string, unknown>);
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
      const first = await readSeries(store, key, kind, windowSize, candleFirstTailCount(windowSize), options);
      const short = !first.result.ok || first.result.value.closes.length < windowSize;
      if (!short || first.rawCount < candleFirstTailCount(windowSize)) return first.result;
      // The key holds more than we read and the window came out short: read the full margin.
      return (await readSeries(store, key, kind, windowSize, candleTailCount(windowSize), options)).result;
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
  options: ReadCandlesOptions,
): Promise<{ result: Read<CandleSeries>; rawCount: number }> {
  const raw: Array<{ member: string; score: number | null }> =
    kind === 'zset'
      ? (await store.zrangeTailWithScores(key, tail)).map(({ member, score }) => ({ member, score: Number.isFinite(score) ? score : null }))
      : (await store.lrangeTail(key, tail)).map((member) => ({ member, score: null }));

  const done = (result: Read<CandleSeries>) => ({ result, rawCount: raw.length });
  if (raw.length === 0) return done(skip('insufficient_data', `candle key ${key} is empty`));

  let malformed = 0;
  const parsed: Array<Candle & { live: boolean }> = [];
  const cache = options.cache;
  const candles = cache ? cache.parseAll(key, raw.map((r) => r.member)) : raw.map((r) => parseCandleMember(r.member));
  for (let i = 0; i < raw.length; i++) {
    const candle = candles[i];
    const score = raw[i].score;
    if (candle === null) {
      malformed += 1;
      continue;
    }
    // The member's own open time wins; a sorted set's score is the open time otherwise.
    parsed.push({ ...candle, openTime: candle.openTime ?? score, live: false });
  }
  if (parsed.length === 0) {
    return done(skip('bad_input', `all ${raw.length} members read from candle key ${key} are malformed`));
  }
  mergeLive(parsed, options.live);

  // The common case — strictly increasing open times — has nothing to dedupe or sort.
  let increasing = true;
  for (let i = 1; i < parsed.length && increasing; i++) {
    const a = parsed[i - 1].openTime;
    const b = parsed[i].openTime;
    increasing = a !== null && b !== null && b > a;
  }
  if (parsed[0].openTime === null) increasing = false;

  // Deduplicate by open time. A republished candle is a second member with the same open time:
  // the one with the newest `timestamp` wins; without timestamps (or on a tie) the last in read
  // order does (list order, or score order for a sorted set, where Redis orders equal scores by
  // member bytes).
  const keptIndexByTime = new Map<number, number>();
  if (!increasing) {
    parsed.forEach((candle, i) => {
      if (candle.openTime === null) return;
      const kept = keptIndexByTime.get(candle.openTime);
      if (kept === undefined || (candle.publishedAt ?? -Infinity) >= (parsed[kept].publishedAt ?? -Infinity)) {
        keptIndexByTime.set(candle.openTime, i);
      }
    });
  }
  let unique = increasing
    ? parsed
    : parsed.filter((candle, i) => candle.openTime === null || keptIndexByTime.get(candle.openTime) === i);
  // Stored members dropped for a newer version of the same candle (live candles do not count).
  const duplicates = parsed.filter((c) => !c.live).length - unique.filter((c) => !c.live).length;

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

  return done(
    ok({
      key,
      closes,
      lastOpenTime: last.openTime,
      lastOpenTimeMs: last.openTime === null ? null : openTimeMs(last.openTime),
      lastCloseTimeMs: last.closeTime === null ? null : openTimeMs(last.closeTime),
      liveOnly: window.filter((c) => c.live).length,
      fingerprint,
      malformed,
      duplicates,
    }),
  );
}

/**
 * Appends the live candles the key does not hold (or holds in an older version) after the read
 * members. Only when the key's open times are epoch ms, as the stream's are: merging them into a
 * key kept in seconds, or without open times, would put them out of order.
 */
function mergeLive(parsed: Array<Candle & { live: boolean }>, live: readonly Candle[] | undefined): void {
  if (live === undefined || live.length === 0) return;
  const newest = parsed[parsed.length - 1].openTime;
  if (newest === null || Math.abs(newest) < EPOCH_MS_THRESHOLD) return;
  // The newest publish the key holds per open time (a republished candle is two members).
  const held = new Map<number, number>();
  for (const candle of parsed) {
    if (candle.openTime === null) continue;
    held.set(candle.openTime, Math.max(held.get(candle.openTime) ?? -Infinity, candle.publishedAt ?? -Infinity));
  }
  for (const candle of live) {
    if (candle.openTime === null) continue;
    if (held.has(candle.openTime)) {
      const heldAt = held.get(candle.openTime) as number;
      // The key already has this candle, as new or newer: nothing to add.
      if ((candle.publishedAt ?? -Infinity) <= heldAt) continue;
    }
    parsed.push({ ...candle, live: true });
  }
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

/** At most this many candles are folded into a position memory per read (8 h of 1m candles). */
export const EXTREMES_READ_LIMIT = 500;

/**
 * The highest high and lowest low (the close where a member has none) of the candles that opened
 * at or after `fromMs`, from the first existing candle key — the position memory's input (SPEC
 * §4.2). null when there are none, or when the key is unusable (the marketstate publisher reports
 * that; the position falls back to the prices it observes).
 */
export async function readCandleExtremes(
  store: Store,
  symbol: string,
  patterns: readonly string[],
  fromMs: number,
): Promise<{ high: number; low: number; throughMs: number } | null> {
  for (const key of candleKeys(symbol, patterns)) {
    const kind = await store.keyKind(key);
    if (kind === 'none') continue;
    let rows: Array<{ candle: Candle | null; score: number | null }>;
    try {
      if (kind === 'zset') {
        // Scores are open times in the key's own unit: the data sink's are ms, older layouts
        // may use seconds — the newest member tells which.
        const [newest] = await store.zrangeTailWithScores(key, 1);
        const minScore = newest !== undefined && Math.abs(newest.score) < EPOCH_MS_THRESHOLD ? Math.floor(fromMs / 1000) : fromMs;
        rows = (await store.zrangeFromScore(key, minScore, EXTREMES_READ_LIMIT)).map(({ member, score }) => ({ candle: parseCandleMember(member), score }));
      } else if (kind === 'list') {
        rows = (await store.lrangeTail(key, EXTREMES_READ_LIMIT)).map((member) => ({ candle: parseCandleMember(member), score: null }));
      } else return null;
    } catch (error) {
      if (error instanceof WrongTypeError) return null;
      throw error;
    }
    let high = -Infinity;
    let low = Infinity;
    let through = -Infinity;
    for (const { candle, score } of rows) {
      if (candle === null) continue;
      const open = candle.openTime ?? score;
      if (open === null || openTimeMs(open) < fromMs) continue;
      high = Math.max(high, candle.high ?? candle.close);
      low = Math.min(low, candle.low ?? candle.close);
      through = Math.max(through, openTimeMs(open));
    }
    return Number.isFinite(through) ? { high, low, throughMs: through } : null;
  }
  return null;
}
