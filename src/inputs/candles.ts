// Candle input (SPEC §5): the closes of one symbol, oldest first, read from the first existing
// key of a configurable list of patterns. The key is written by other services in a few shapes,
// so the reader is lenient about shape and strict about values: every member is parsed on its
// own, a bad one is skipped and counted, and nothing is ever defaulted.
//
// Each read rebuilds the series from a bounded tail of the key, deduplicated by open time, so
// reading the same candles again can never duplicate them (the Python service appended every poll
// to a deque). The marketstate publisher keeps that tail between reads (CandleWindowCache) and
// re-reads only its newest open times and what is new; the series is built by the same rules.
//
// The live stack's layout (SPEC §5) is the data sink's sorted set quantum:history:ohlcv:{S}:1m:
// score = open time in ms, each member `json.dumps` of a closed candle
//   {"symbol", "interval", "open", "high", "low", "close", "volume", "open_time", "close_time",
//    "is_closed", "timestamp"}
// where `timestamp` is the market publisher's time.time() when it published the candle. A candle
// published twice is two members with the same score: the newest `timestamp` wins.
import { WrongTypeError, type ScoredMember, type Store } from '../store/types.js';
import { parseFiniteNumber, parsePositiveNumber } from './parse.js';
import { ok, skip, type Read } from './types.js';
import type { Config } from '../config/schema.js';

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
  /**
   * Members of the tail skipped because their score, open_time or close_time is later than now +
   * maxClockSkew (future_candle): they count neither in the window nor toward freshness.
   */
  future: number;
  /**
   * Minutes missing between consecutive candles of the window (open times more than a minute
   * apart), reported, not refused, unless maxCandleGap says so; null when the window's candles
   * have no open times (bare closes), where a gap cannot be seen.
   */
  gapMinutes: number | null;
}

/**
 * The plausibility and clock rules of a candle read (CONTRACT.md, "Plausibility"). Every field is
 * optional: the defaults are the configuration's, and without `nowMs` no candle is taken to be in
 * the future (a reader without a clock of its own, e.g. a one-off synthetic entry price).
 */
export interface CandleGuards {
  /** The reader's clock, epoch ms: a candle dated later than nowMs + maxClockSkewMs is skipped. */
  nowMs?: number;
  maxClockSkewMs?: number;
  /** A price (close, high, low) outside [minPrice, maxPrice] makes its candle malformed. */
  minPrice?: number;
  maxPrice?: number;
  /** A candle key larger than this (MEMORY USAGE) is not read: the symbol skips as bad_input. */
  maxKeyBytes?: number;
}

/** The configuration's defaults (src/config/schema.ts). */
export const DEFAULT_CANDLE_GUARDS = {
  maxClockSkewMs: 5_000,
  minPrice: 1e-12,
  maxPrice: 1e12,
  maxKeyBytes: 8_388_608,
} as const satisfies Required<Omit<CandleGuards, 'nowMs'>>;

/** The guards of a read at `nowMs` with the configured limits. */
export function candleGuardsFromConfig(
  config: Pick<Config, 'maxClockSkew' | 'minCandlePrice' | 'maxCandlePrice' | 'maxCandleKeyBytes'>,
  nowMs: number,
): Required<CandleGuards> {
  return {
    nowMs,
    maxClockSkewMs: config.maxClockSkew * 1000,
    minPrice: config.minCandlePrice,
    maxPrice: config.maxCandlePrice,
    maxKeyBytes: config.maxCandleKeyBytes,
  };
}

/** The guards with the defaults filled in; `futureAfterMs` is +Infinity without a clock. */
interface ResolvedGuards {
  futureAfterMs: number;
  minPrice: number;
  maxPrice: number;
  maxKeyBytes: number;
}

function resolveGuards(guards: CandleGuards): ResolvedGuards {
  const skew = guards.maxClockSkewMs ?? DEFAULT_CANDLE_GUARDS.maxClockSkewMs;
  return {
    futureAfterMs: guards.nowMs === undefined ? Infinity : guards.nowMs + skew,
    minPrice: guards.minPrice ?? DEFAULT_CANDLE_GUARDS.minPrice,
    maxPrice: guards.maxPrice ?? DEFAULT_CANDLE_GUARDS.maxPrice,
    maxKeyBytes: guards.maxKeyBytes ?? DEFAULT_CANDLE_GUARDS.maxKeyBytes,
  };
}

/**
 * The first price of the candle (close, high, low) outside [minPrice, maxPrice], named, or null.
 * The open is not kept; where the layout has high and low it lies between them (parse checks it),
 * so it is in range with them.
 */
export function priceOutOfRange(candle: Pick<Candle, 'close' | 'high' | 'low'>, minPrice: number, maxPrice: number): string | null {
  const out = (x: number): boolean => !(x >= minPrice && x <= maxPrice);
  if (out(candle.close)) return `close ${candle.close}`;
  if (candle.high !== null && out(candle.high)) return `high ${candle.high}`;
  if (candle.low !== null && out(candle.low)) return `low ${candle.low}`;
  return null;
}

/**
 * Whether a member is dated later than `afterMs` by its score (the open time of a sorted set's
 * member; NaN for a list element), its open time or its close time (each in the key's unit). A
 * closed 1m candle's close_time cannot be after now: such a member is a clock or writer fault.
 */
function datedAfter(afterMs: number, score: number, openTime: number | null, closeTime: number | null): boolean {
  if (afterMs === Infinity) return false;
  return (
    (!Number.isNaN(score) && openTimeMs(score) > afterMs) ||
    (openTime !== null && openTimeMs(openTime) > afterMs) ||
    (closeTime !== null && openTimeMs(closeTime) > afterMs)
  );
}

const MINUTE_MS = 60_000;

/** Minutes missing between two consecutive candles opened at these epoch-ms times. */
function missingMinutes(previousMs: number, nextMs: number): number {
  const gap = Math.ceil((nextMs - previousMs) / MINUTE_MS) - 1;
  return gap > 0 ? gap : 0;
}

/** A skip for a key too large to read, or null. */
function oversizedKey(key: string, bytes: number | null, maxKeyBytes: number): Read<never> | null {
  if (bytes === null || bytes <= maxKeyBytes) return null;
  return skip('bad_input', `candle key ${key} holds ${bytes} bytes (MEMORY USAGE), above maxCandleKeyBytes ${maxKeyBytes}: not read`);
}

export interface ReadCandlesOptions extends CandleGuards {
  /** Key patterns with `{symbol}`; the first key that exists is used. */
  patterns: readonly string[];
  /** Keep the newest this-many closes. */
  windowSize: number;
  /** Parsed members of the previous read, reused when a member string is read again. */
  cache?: CandleParseCache;
  /**
   * The parsed tail of each sorted set from the previous read: with it, a read fetches only the
   * newest few scores (see CandleWindowCache) instead of the whole tail. The series is the same.
   */
  window?: CandleWindowCache;
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
 * One candle from a JSON object: `close` (or `c`) required, `open`, `open_time` (or `t`),
 * `high`/`low`, `close_time` and `timestamp` optional — but each present one must be a number
 * (prices > 0), and the prices present must be in order, low ≤ min(open, close) ≤ max(open, close)
 * ≤ high (CONTRACT.md, "Plausibility"), else the whole candle is refused (null). Used for set
 * members and for klines stream payloads. The price range is the reader's (priceOutOfRange): it is
 * configuration, and a parse is remembered per member string.
 */
export function candleFromRecord(record: Record<string, unknown>): Candle | null {
  const close = parsePositiveNumber(record.close !== undefined ? record.close : record.c);
  if (close === null) return null;
  const openTime = optionalNumber(record.t !== undefined ? record.t : record.open_time, false);
  const publishedAt = optionalNumber(record.timestamp, false);
  const open = optionalNumber(record.open, true);
  const high = optionalNumber(record.high, true);
  const low = optionalNumber(record.low, true);
  const closeTime = optionalNumber(record.close_time, false);
  if (openTime === undefined || publishedAt === undefined || open === undefined || high === undefined || low === undefined || closeTime === undefined) return null;
  if (!pricesInOrder(open, high, low, close)) return null;
  return { close, openTime, publishedAt, high, low, closeTime };
}

/** low ≤ min(open, close) ≤ max(open, close) ≤ high, for the prices the candle has. */
function pricesInOrder(open: number | null, high: number | null, low: number | null, close: number): boolean {
  const top = high ?? Infinity;
  const bottom = low ?? -Infinity;
  if (!(bottom <= close && close <= top)) return false;
  return open === null || (bottom <= open && open <= top);
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
  const guards = resolveGuards(options);
  const window = options.window;
  if (window !== undefined) {
    // The window of the first pattern's key (the data sink's, on the live stack) is read
    // incrementally: no earlier key can appear that the full read would prefer.
    const incremental = await window.readIncremental(store, keys[0], windowSize, options.live, guards);
    if (incremental !== null) return incremental;
  }
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    // The key's size in the same round trip as its type (auto-pipelined): a key grown huge (a
    // writer gone wrong) is refused before its members are asked for, so its reply never holds up
    // — or, past the command timeout, drops — the connection every symbol shares.
    const [kind, bytes] = await Promise.all([store.keyKind(key), store.memoryUsage(key)]);
    if (kind === 'none') continue;
    if (kind !== 'zset' && kind !== 'list') {
      // The first existing key decides, even when unusable: silently falling through to another
      // pattern would compute from a source nobody configured for this symbol.
      return skip('bad_input', `candle key ${key} is a ${kind}; expected a sorted set or a list`);
    }
    const oversized = oversizedKey(key, bytes, guards.maxKeyBytes);
    if (oversized !== null) return oversized;
    try {
      // The window keeps the rows of its key itself: the parse cache would hold them twice.
      const windowed = window !== undefined && k === 0 && kind === 'zset';
      const readOptions = windowed ? { ...options, cache: undefined } : options;
      const firstTail = candleFirstTailCount(windowSize);
      const first = await readSeries(store, key, kind, windowSize, firstTail, readOptions, guards);
      const short = !first.result.ok || first.result.value.closes.length < windowSize;
      if (!short || first.rows.length < firstTail) {
        if (windowed) window.remember(key, first.rows, firstTail, guards);
        return first.result;
      }
      // The key holds more than we read and the window came out short: read the full margin.
      const full = await readSeries(store, key, kind, windowSize, candleTailCount(windowSize), readOptions, guards);
      if (windowed) window.remember(key, full.rows, candleTailCount(windowSize), guards);
      return full.result;
    } catch (error) {
      // The key changed type between TYPE and the read.
      if (error instanceof WrongTypeError) return skip('bad_input', `candle key ${key}: ${error.message}`);
      throw error;
    }
  }
  return skip('insufficient_data', `no candle key for ${symbol} (tried ${keys.join(', ')})`);
}

/** One member as read: its raw score, and its candle with the open time resolved (null: malformed). */
interface CandleRow {
  member: string;
  /** The sorted-set score as Redis gives it (NaN for a list element). */
  score: number;
  candle: WindowCandle | null;
}

type WindowCandle = Candle & { live: boolean };

/**
 * The row of a member: parsed once; the member's own open time wins, else the zset score. A
 * candle with a price outside the configured range is malformed like one that does not parse.
 */
function candleRow(member: string, score: number, parsed: Candle | null, guards: ResolvedGuards): CandleRow {
  const openFromScore = Number.isFinite(score) ? score : null;
  const plausible = parsed !== null && priceOutOfRange(parsed, guards.minPrice, guards.maxPrice) === null;
  return { member, score, candle: plausible ? { ...parsed, openTime: parsed.openTime ?? openFromScore, live: false } : null };
}

async function readSeries(
  store: Store,
  key: string,
  kind: 'zset' | 'list',
  windowSize: number,
  tail: number,
  options: ReadCandlesOptions,
  guards: ResolvedGuards,
): Promise<{ result: Read<CandleSeries>; rows: CandleRow[] }> {
  const raw: ScoredMember[] =
    kind === 'zset'
      ? await store.zrangeTailWithScores(key, tail)
      : (await store.lrangeTail(key, tail)).map((member) => ({ member, score: Number.NaN }));
  const cache = options.cache;
  const candles = cache ? cache.parseAll(key, raw.map((r) => r.member)) : raw.map((r) => parseCandleMember(r.member));
  const rows = raw.map((r, i) => candleRow(r.member, r.score, candles[i], guards));
  return { result: seriesFromRows(key, rows, windowSize, options.live, guards.futureAfterMs), rows };
}

/**
 * The series from the rows of one read (a key's tail, oldest first) — the one definition both the
 * full read and the incremental window use.
 */
function seriesFromRows(
  key: string,
  rows: readonly CandleRow[],
  windowSize: number,
  live: readonly Candle[] | undefined,
  futureAfterMs: number,
): Read<CandleSeries> {
  if (rows.length === 0) return skip('insufficient_data', `candle key ${key} is empty`);

  let malformed = 0;
  let future = 0;
  const parsed: WindowCandle[] = [];
  for (const row of rows) {
    const candle = row.candle;
    if (candle === null) malformed += 1;
    else if (datedAfter(futureAfterMs, row.score, candle.openTime, candle.closeTime)) future += 1;
    else parsed.push(candle);
  }
  if (parsed.length === 0) {
    if (future === 0) return skip('bad_input', `all ${rows.length} members read from candle key ${key} are malformed`);
    return skip(
      'bad_input',
      `all ${rows.length} members read from candle key ${key} are malformed (${malformed}) or dated after now + maxClockSkew (${future} future_candle)`,
    );
  }
  mergeLive(parsed, live);

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
  const duplicates = unique === parsed ? 0 : countStored(parsed) - countStored(unique);

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
  let gapMinutes: number | null = 0;
  for (let i = 0; i < window.length && gapMinutes !== null; i++) {
    const t = window[i].openTime;
    if (t === null) gapMinutes = null;
    else if (i > 0) gapMinutes += missingMinutes(openTimeMs(window[i - 1].openTime as number), openTimeMs(t));
  }

  return ok({
    key,
    closes,
    lastOpenTime: last.openTime,
    lastOpenTimeMs: last.openTime === null ? null : openTimeMs(last.openTime),
    lastCloseTimeMs: last.closeTime === null ? null : openTimeMs(last.closeTime),
    liveOnly: window.length - countStored(window),
    fingerprint,
    malformed,
    duplicates,
    future,
    gapMinutes,
  });
}


/** Re-read on every incremental read: the members of the window's newest this-many open times, and every newer one. */
export const CANDLE_REREAD_BAND = 16;
/** Rows of room above a window's rows (a read with more new members than fit reads in full). */
const WINDOW_ROOM = 64;
/** Every this-many reads of a key the window is read whole again (see CandleWindowCache). */
export const CANDLE_FULL_READ_EVERY = 10;

/**
 * The remembered tail of one key, column by column: walking ~320 candle objects scattered over
 * the heap once per pass cost more than everything else in a read (a cache miss per candle, for
 * every symbol, every cycle); these arrays are read front to back. NaN stands for null.
 */
class WindowColumns {
  /** The rows are [lo, hi): the oldest are dropped by moving lo, and the rest moved down only now and then. */
  lo = 0;
  hi = 0;
  score: Float64Array;
  open: Float64Array;
  close: Float64Array;
  published: Float64Array;
  closeTime: Float64Array;
  /** 1: a candle, 0: a malformed member. */
  valid: Uint8Array;
  /** Member strings of the rows that can be re-read; null below the band (let go of: ~230 bytes each). */
  members: Array<string | null>;

  constructor(capacity: number) {
    this.score = new Float64Array(capacity);
    this.open = new Float64Array(capacity);
    this.close = new Float64Array(capacity);
    this.published = new Float64Array(capacity);
    this.closeTime = new Float64Array(capacity);
    this.valid = new Uint8Array(capacity);
    this.members = new Array<string | null>(capacity).fill(null);
  }

  get capacity(): number {
    return this.score.length;
  }

  static fromRows(rows: readonly CandleRow[], capacity: number): WindowColumns {
    const columns = new WindowColumns(Math.max(capacity, rows.length));
    for (let i = 0; i < rows.length; i++) columns.setRow(i, rows[i].member, rows[i].score, rows[i].candle);
    columns.hi = rows.length;
    return columns;
  }

  setRow(i: number, member: string, score: number, candle: WindowCandle | null): void {
    this.members[i] = member;
    this.score[i] = score;
    if (candle === null) {
      this.valid[i] = 0;
      return;
    }
    this.valid[i] = 1;
    this.open[i] = candle.openTime ?? Number.NaN;
    this.close[i] = candle.close;
    this.published[i] = candle.publishedAt ?? Number.NaN;
    this.closeTime[i] = candle.closeTime ?? Number.NaN;
  }

  /** Row `from` to row `to` (each column; the member too). */
  copyRow(from: number, to: number): void {
    this.members[to] = this.members[from];
    this.score[to] = this.score[from];
    this.valid[to] = this.valid[from];
    this.open[to] = this.open[from];
    this.close[to] = this.close[from];
    this.published[to] = this.published[from];
    this.closeTime[to] = this.closeTime[from];
  }

  /** Moves the rows down to index 0 when fewer than `room` free rows are left above them. */
  makeRoom(room: number): void {
    if (this.hi + room <= this.capacity || this.lo === 0) return;
    const { lo, hi } = this;
    this.score.copyWithin(0, lo, hi);
    this.open.copyWithin(0, lo, hi);
    this.close.copyWithin(0, lo, hi);
    this.published.copyWithin(0, lo, hi);
    this.closeTime.copyWithin(0, lo, hi);
    this.valid.copyWithin(0, lo, hi);
    this.members.copyWithin(0, lo, hi);
    this.members.fill(null, hi - lo, hi);
    this.lo = 0;
    this.hi = hi - lo;
  }

  /** The rows [from, to) as objects, for the general path (seriesFromRows). */
  rows(from: number, to: number): CandleRow[] {
    const rows: CandleRow[] = [];
    const orNull = (x: number): number | null => (Number.isNaN(x) ? null : x);
    for (let i = from; i < to; i++) {
      const candle: WindowCandle | null =
        this.valid[i] === 0
          ? null
          : { close: this.close[i], openTime: orNull(this.open[i]), publishedAt: orNull(this.published[i]), high: null, low: null, closeTime: orNull(this.closeTime[i]), live: false };
      rows.push({ member: this.members[i] ?? '', score: this.score[i], candle });
    }
    return rows;
  }

  /**
   * The index of the first row of the re-read band: the rows of the newest CANDLE_REREAD_BAND
   * scores (open times), however many members each has. lo when the rows hold no more scores.
   */
  bandStart(): number {
    let cut = this.hi;
    for (let distinct = 0; cut > this.lo && distinct < CANDLE_REREAD_BAND; distinct++) {
      const score = this.score[cut - 1];
      while (cut > this.lo && this.score[cut - 1] === score) cut--;
    }
    return cut;
  }

  /**
   * Only members that can be re-read are matched by their string: the rows below the band (and a
   * band's worth of members more, for the scores the next candles push down) let go of theirs. A
   * re-read that would need one of them finds no match and reads in full.
   */
  releaseMembersBelowBand(): void {
    const end = this.bandStart() - CANDLE_REREAD_BAND;
    for (let i = end - 1; i >= this.lo && this.members[i] !== null; i--) this.members[i] = null;
  }
}

/**
 * seriesFromRows for rows [from, to) of the columns, in the common case only: every candle with an
 * open time, strictly increasing (with the live candles merged), so nothing is deduplicated or
 * sorted — the case where seriesFromRows takes the same shortcut. null otherwise (the caller
 * then runs seriesFromRows itself). The result is the one seriesFromRows gives, field for field.
 */
function seriesFromColumns(
  key: string,
  c: WindowColumns,
  from: number,
  to: number,
  windowSize: number,
  live: readonly Candle[] | undefined,
  futureAfterMs: number,
): Read<CandleSeries> | null {
  const { open, close, valid } = c;
  // Rows dated in the future are left out as seriesFromRows leaves them out: first of all.
  const isFuture = (i: number): boolean => {
    if (futureAfterMs === Infinity) return false;
    const closeTime = c.closeTime[i];
    return datedAfter(futureAfterMs, c.score[i], open[i], Number.isNaN(closeTime) ? null : closeTime);
  };
  let candles = 0;
  let future = 0;
  let previous = -Infinity;
  let lastRow = -1;
  for (let i = from; i < to; i++) {
    if (valid[i] === 0) continue;
    if (isFuture(i)) {
      future++;
      continue;
    }
    const t = open[i];
    // NaN (no open time) fails this test too.
    if (!(t > previous)) return null;
    previous = t;
    candles++;
    lastRow = i;
  }
  if (candles === 0) return null;
  const malformed = to - from - candles - future;

  // mergeLive: the live candles the key does not hold (or holds in an older version), in order.
  let accepted: Candle[] | null = null;
  if (live !== undefined && live.length > 0 && Math.abs(previous) >= EPOCH_MS_THRESHOLD) {
    for (const candle of live) {
      const t = candle.openTime;
      if (t === null) continue;
      let heldAt: number | undefined;
      // Open times strictly increase: at most one stored candle has t; live ones are recent.
      for (let i = lastRow; i >= from; i--) {
        if (valid[i] === 0 || isFuture(i)) continue;
        if (open[i] < t) break;
        if (open[i] === t) {
          const at = c.published[i];
          heldAt = Number.isNaN(at) ? -Infinity : at;
          break;
        }
      }
      if (heldAt !== undefined && (candle.publishedAt ?? -Infinity) <= heldAt) continue;
      (accepted ??= []).push(candle);
    }
  }
  const liveCount = accepted === null ? 0 : accepted.length;
  if (accepted !== null) {
    for (const candle of accepted) {
      const t = candle.openTime as number;
      if (!(t > previous)) return null; // out of order: seriesFromRows deduplicates and sorts
      previous = t;
    }
  }

  // The window: the newest windowSize of the stored candles, then the live ones.
  const total = candles + liveCount;
  const size = Math.min(total, windowSize);
  const closes = new Array<number>(size);
  let skipStored = total - size; // stored candles before the window
  let k = 0;
  // The same fingerprint as seriesFromRows' (seriesHash), folded in as the window is filled.
  const hasher = new SeriesHash(key);
  let gapMinutes = 0;
  let previousMs = Number.NaN;
  const add = (openTime: number, price: number): void => {
    closes[k++] = price;
    hasher.add(openTime, price);
    const ms = openTimeMs(openTime);
    if (!Number.isNaN(previousMs)) gapMinutes += missingMinutes(previousMs, ms);
    previousMs = ms;
  };
  for (let i = from; i < to; i++) {
    if (valid[i] === 0 || isFuture(i)) continue;
    if (skipStored > 0) {
      skipStored--;
      continue;
    }
    add(open[i], close[i]);
  }
  let lastOpen: number;
  let lastClose: number;
  let lastCloseTime: number | null;
  let liveInWindow = 0;
  if (accepted !== null && liveCount > 0) {
    // Live candles past the window's start (all of them unless the window is all live).
    const firstLive = Math.max(0, liveCount - size);
    for (let j = firstLive; j < liveCount; j++) add(accepted[j].openTime as number, accepted[j].close);
    liveInWindow = liveCount - firstLive;
    const last = accepted[liveCount - 1];
    lastOpen = last.openTime as number;
    lastClose = last.close;
    lastCloseTime = last.closeTime;
  } else {
    lastOpen = open[lastRow];
    lastClose = close[lastRow];
    lastCloseTime = Number.isNaN(c.closeTime[lastRow]) ? null : c.closeTime[lastRow];
  }
  const hash = hasher.digest();
  return ok({
    key,
    closes,
    lastOpenTime: lastOpen,
    lastOpenTimeMs: openTimeMs(lastOpen),
    lastCloseTimeMs: lastCloseTime === null ? null : openTimeMs(lastCloseTime),
    liveOnly: liveInWindow,
    fingerprint: `${lastOpen}:${lastClose}:${size}:${hash}`,
    malformed,
    duplicates: 0,
    future,
    gapMinutes,
  });
}

interface WindowState {
  /** The key's tail as of the last read, oldest first: `depth` members, or fewer when that was the whole key. */
  columns: WindowColumns;
  depth: number;
  /** The price range the rows were judged by (priceRangeOf). */
  priceRange: string;
}

function priceRangeOf(guards: ResolvedGuards): string {
  return `${guards.minPrice}:${guards.maxPrice}`;
}

/** A key's place in the full-read rotation, so that not every symbol reads in full in the same minute. */
function fullReadPhase(key: string): number {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return (h >>> 0) % CANDLE_FULL_READ_EVERY;
}

/**
 * The incremental candle window (issue 12): per sorted-set key the parsed tail of the last read,
 * so that a read fetches only `ZRANGEBYSCORE key <the window's 16th newest open time> +inf` — the
 * members of the newest 16 open times, republished and corrected ones among them, and every new
 * candle — instead of ~320 members, and parses only members it has not seen. The rows below that
 * score are kept from the previous read, the re-read ones replace the rest, and the series is
 * built from those rows as a full read builds it from its own (seriesFromColumns, else
 * seriesFromRows): so it is the same series whenever nothing below that score changed — which is
 * how the data sink writes (a new candle, a republish of a recent one, the oldest trimmed off at
 * 500 members). A rewrite further back is seen by the next full read: one in
 * CANDLE_FULL_READ_EVERY reads of a key is one (at a phase of its own, so the symbols take turns),
 * and so is every read after anything unexpected (the key gone, empty or of another type, a
 * re-read member missing, more new members than one call returns, a non-finite score, another
 * window size, a short window that needs the full margin). Keys of the older layouts, and lists,
 * are read in full as before.
 */
export class CandleWindowCache {
  private readonly byKey = new Map<string, WindowState>();
  /** Reads of each key so far: every CANDLE_FULL_READ_EVERY-th (at the key's own phase) is full. */
  private readonly reads = new Map<string, number>();
  /** How many reads were full and how many incremental (tests and benchmarks read them). */
  readonly counts = { full: 0, incremental: 0 };

  /** Forgets every key (the next read of each is a full one). */
  clear(): void {
    this.byKey.clear();
    this.reads.clear();
  }

  forget(key: string): void {
    this.byKey.delete(key);
    this.reads.delete(key);
  }

  /** After a full read of a sorted set: its rows, `depth` being the tail count asked for. */
  remember(key: string, rows: CandleRow[], depth: number, guards: ResolvedGuards): void {
    this.counts.full += 1;
    if (rows.length === 0 || !rows.every((row) => Number.isFinite(row.score))) {
      this.byKey.delete(key);
      return;
    }
    // Room above the rows for a few dozen reads' new members before the rows are moved down.
    const columns = WindowColumns.fromRows(rows, depth + WINDOW_ROOM);
    columns.releaseMembersBelowBand();
    this.byKey.set(key, { columns, depth, priceRange: priceRangeOf(guards) });
  }

  /**
   * The series from the newest members and the remembered rows, or null when a full read is due
   * (nothing remembered, the periodic full read, or anything unexpected; the state is dropped).
   */
  async readIncremental(
    store: Store,
    key: string,
    windowSize: number,
    live: readonly Candle[] | undefined,
    guards: ResolvedGuards,
  ): Promise<Read<CandleSeries> | null> {
    const reads = (this.reads.get(key) ?? 0) + 1;
    this.reads.set(key, reads);
    const state = this.byKey.get(key);
    if (state === undefined) return null;
    // Dropped now: put back only when this read succeeds.
    this.byKey.delete(key);
    if (reads % CANDLE_FULL_READ_EVERY === fullReadPhase(key)) return null;
    const firstTail = candleFirstTailCount(windowSize);
    const fullTail = candleTailCount(windowSize);
    const { columns, depth } = state;
    if (depth !== firstTail && depth !== fullTail) return null; // another window size
    // The rows' plausibility was judged with this price range: another one reads in full.
    if (state.priceRange !== priceRangeOf(guards)) return null;
    columns.makeRoom(WINDOW_ROOM);
    // Every member from the band's oldest score on is read again; a key that is all band (fewer
    // open times than the band, held whole) is read whole.
    const { lo, hi } = columns;
    const cut = columns.bandStart();
    if (cut === lo && hi - lo >= depth) return null; // a tail of few scores: what lies below is unknown
    const fromScore = cut === lo ? -Infinity : columns.score[cut];
    // The key's size before its members, as on the full read (one huge new member is enough to
    // make the reply huge). Gone: the full read decides what now stands there.
    const bytes = await store.memoryUsage(key);
    if (bytes === null) return null;
    const oversized = oversizedKey(key, bytes, guards.maxKeyBytes);
    if (oversized !== null) return oversized;
    let fresh: ScoredMember[];
    try {
      fresh = await store.zrangeFromScore(key, fromScore, depth);
    } catch (error) {
      if (error instanceof WrongTypeError) return null;
      throw error;
    }
    // Empty: the key is gone or emptied. As long as one call returns: more may be waiting.
    if (fresh.length === 0 || fresh.length >= depth || cut + fresh.length > columns.capacity) return null;
    // The re-read members must all still be there (the writer only adds, and trims the oldest).
    const known = new Map<string, number>();
    for (let i = cut; i < hi; i++) {
      const member = columns.members[i];
      if (member === null) return null; // a run of one score longer than the band's margin
      known.set(member, i);
    }
    const reused = new Int32Array(fresh.length).fill(-1);
    let kept = 0;
    for (let i = 0; i < fresh.length; i++) {
      const { member, score } = fresh[i];
      if (!Number.isFinite(score)) return null;
      const at = known.get(member);
      if (at !== undefined && columns.score[at] === score) {
        kept++;
        reused[i] = at;
      }
    }
    if (kept !== hi - cut) return null;
    // The key's tail: the rows below the re-read score, then the re-read members (written from
    // the last: a kept row only ever moves up), cut to `depth`.
    for (let i = fresh.length - 1; i >= 0; i--) {
      if (reused[i] >= 0) columns.copyRow(reused[i], cut + i);
      else {
        const { member, score } = fresh[i];
        columns.setRow(cut + i, member, score, candleRow(member, score, parseCandleMember(member), guards).candle);
      }
    }
    columns.hi = cut + fresh.length;
    columns.lo = Math.max(lo, columns.hi - depth);
    // The same decision as the full read: the first tail unless its window came out short while
    // the key holds more, then the full margin (which only rows kept that deep can answer).
    const top = columns.hi;
    const firstFrom = Math.max(columns.lo, top - firstTail);
    const after = guards.futureAfterMs;
    const first =
      seriesFromColumns(key, columns, firstFrom, top, windowSize, live, after) ?? seriesFromRows(key, columns.rows(firstFrom, top), windowSize, live, after);
    const short = !first.ok || first.value.closes.length < windowSize;
    let result = first;
    if (short && top - firstFrom >= firstTail) {
      if (depth < fullTail) return null;
      result =
        seriesFromColumns(key, columns, columns.lo, top, windowSize, live, after) ??
        seriesFromRows(key, columns.rows(columns.lo, top), windowSize, live, after);
    }
    this.counts.incremental += 1;
    columns.releaseMembersBelowBand();
    this.byKey.set(key, { columns, depth, priceRange: state.priceRange });
    return result;
  }
}

/** How many of `candles` come from the key (not from the klines stream). */
function countStored(candles: readonly WindowCandle[]): number {
  let n = 0;
  for (const candle of candles) if (!candle.live) n++;
  return n;
}

/**
 * Appends the live candles the key does not hold (or holds in an older version) after the read
 * members. Only when the key's open times are epoch ms, as the stream's are: merging them into a
 * key kept in seconds, or without open times, would put them out of order.
 */
function mergeLive(parsed: WindowCandle[], live: readonly Candle[] | undefined): void {
  if (live === undefined || live.length === 0) return;
  const newest = parsed[parsed.length - 1].openTime;
  if (newest === null || Math.abs(newest) < EPOCH_MS_THRESHOLD) return;
  // The newest publish the key holds at each live candle's open time (a republished candle is two
  // members): one pass over the parsed candles, comparing with the few live open times.
  const count = live.length;
  const found = new Array<boolean>(count).fill(false);
  const heldAt = new Array<number>(count).fill(-Infinity);
  let minTime = Infinity;
  let maxTime = -Infinity;
  for (const candle of live) {
    if (candle.openTime === null) continue;
    minTime = Math.min(minTime, candle.openTime);
    maxTime = Math.max(maxTime, candle.openTime);
  }
  for (const candle of parsed) {
    const t = candle.openTime;
    if (t === null || t < minTime || t > maxTime) continue;
    const at = candle.publishedAt ?? -Infinity;
    for (let k = 0; k < count; k++) {
      if (live[k].openTime === t) {
        found[k] = true;
        if (at > heldAt[k]) heldAt[k] = at;
      }
    }
  }
  for (let k = 0; k < count; k++) {
    const candle = live[k];
    if (candle.openTime === null) continue;
    // The key already has this candle, as new or newer: nothing to add.
    if (found[k] && (candle.publishedAt ?? -Infinity) <= heldAt[k]) continue;
    parsed.push({ ...candle, live: true });
  }
}

const hashBits = new Float64Array(1);
const hashWords = new Uint32Array(hashBits.buffer);

/**
 * Two independent 32-bit FNV-1a-style hashes over the key and the exact bits of every open time
 * and close (64 bits in all): any changed candle changes it, at a fraction of a crypto digest's
 * cost. It is a change detector, not a security measure. One definition for both ways a series is
 * built (from rows, and the columnar fast path), so their fingerprints agree.
 */
class SeriesHash {
  private h1 = 0x811c9dc5;
  private h2: number;

  constructor(key: string) {
    this.h2 = 0x01000193 ^ key.length;
    for (let i = 0; i < key.length; i++) this.mix(key.charCodeAt(i));
  }

  /** Folds in one candle: its open time (NaN when it has none) and close, by their exact bits. */
  add(openTime: number, close: number): void {
    hashBits[0] = openTime;
    this.mix(hashWords[0]);
    this.mix(hashWords[1]);
    hashBits[0] = close;
    this.mix(hashWords[0]);
    this.mix(hashWords[1]);
  }

  digest(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }

  private mix(word: number): void {
    this.h1 = Math.imul(this.h1 ^ word, 0x01000193);
    this.h2 = Math.imul(this.h2 ^ word, 0x5bd1e995) ^ (this.h2 >>> 15);
  }
}

function seriesHash(key: string, window: readonly Candle[]): string {
  const hasher = new SeriesHash(key);
  for (const candle of window) hasher.add(candle.openTime ?? Number.NaN, candle.close);
  return hasher.digest();
}

/** At most this many candles are folded into a position memory per read (8 h of 1m candles). */
export const EXTREMES_READ_LIMIT = 500;

/**
 * The highest high and lowest low (the close where a member has none) of the candles that opened
 * at or after `fromMs`, from the first existing candle key — the position memory's input (SPEC
 * §4.2). null when there are none, or when the key is unusable (the marketstate publisher reports
 * that; the position falls back to the prices it observes).
 *
 * Every risk and harvest cycle asks, usually for the candles since the last one folded in — none
 * or one. After one full answer (TYPE, the newest member for the key's unit, ZRANGEBYSCORE from
 * fromMs) of a data-sink layout key (the first pattern's, scores in ms), the next ask is one
 * ZRANGEBYSCORE from the newest score seen then: its answer proves the key still exists as a
 * sorted set in ms (it holds at least that member), and holds every member from fromMs on, so the
 * same candles are folded as by the full answer. Anything else takes the full path.
 */
export async function readCandleExtremes(
  store: Store,
  symbol: string,
  patterns: readonly string[],
  fromMs: number,
  candleGuards: CandleGuards = {},
): Promise<{ high: number; low: number; throughMs: number } | null> {
  const keys = candleKeys(symbol, patterns);
  const guards = resolveGuards(candleGuards);
  const seen = newestSeen(store);
  const newest = seen.get(keys[0]);
  if (newest !== undefined) {
    const quick = await extremesSinceSeen(store, keys[0], newest, fromMs, seen, guards);
    if (quick !== undefined) return quick;
  }
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    // As readCandles: the size with the type, and a key too large to read is not read.
    const [kind, bytes] = await Promise.all([store.keyKind(key), store.memoryUsage(key)]);
    if (kind === 'none') continue;
    if (oversizedKey(key, bytes, guards.maxKeyBytes) !== null) return null;
    let rows: ScoredMember[];
    try {
      if (kind === 'zset') {
        // Scores are open times in the key's own unit: the data sink's are ms, older layouts
        // may use seconds — the newest member tells which.
        const [newestMember] = await store.zrangeTailWithScores(key, 1);
        const inSeconds = newestMember !== undefined && Math.abs(newestMember.score) < EPOCH_MS_THRESHOLD;
        const minScore = inSeconds ? Math.floor(fromMs / 1000) : fromMs;
        rows = await store.zrangeFromScore(key, minScore, EXTREMES_READ_LIMIT);
        if (k === 0 && newestMember !== undefined && !inSeconds && Number.isFinite(newestMember.score)) seen.set(key, newestMember.score);
      } else if (kind === 'list') {
        rows = (await store.lrangeTail(key, EXTREMES_READ_LIMIT)).map((member) => ({ member, score: Number.NaN }));
      } else return null;
    } catch (error) {
      if (error instanceof WrongTypeError) return null;
      throw error;
    }
    return foldExtremes(rows, fromMs, guards);
  }
  return null;
}

/** Per store (tests run several side by side): each data-sink key's newest score at the last full answer. */
const newestSeenByStore = new WeakMap<Store, Map<string, number>>();

function newestSeen(store: Store): Map<string, number> {
  let seen = newestSeenByStore.get(store);
  if (seen === undefined) {
    seen = new Map();
    newestSeenByStore.set(store, seen);
  }
  return seen;
}

/** The quick path of readCandleExtremes; undefined when it cannot answer exactly as the full path would. */
async function extremesSinceSeen(
  store: Store,
  key: string,
  newest: number,
  fromMs: number,
  seen: Map<string, number>,
  guards: ResolvedGuards,
): Promise<{ high: number; low: number; throughMs: number } | null | undefined> {
  // Everything from the lower of the two: room for the members before fromMs that come along.
  const margin = 32;
  let rows: ScoredMember[];
  // The key's size first, as on every candle read: a huge member is not asked for. Gone or too
  // large: the full path answers (and refuses it there).
  const bytes = await store.memoryUsage(key);
  if (bytes === null || bytes > guards.maxKeyBytes) {
    seen.delete(key);
    return undefined;
  }
  try {
    rows = await store.zrangeFromScore(key, Math.min(newest, fromMs), EXTREMES_READ_LIMIT + margin);
  } catch (error) {
    if (error instanceof WrongTypeError) {
      seen.delete(key);
      return undefined;
    }
    throw error;
  }
  // Empty: the key is gone (or lost the member). As long as the limit: more may be waiting.
  const last = rows[rows.length - 1];
  if (last === undefined || rows.length >= EXTREMES_READ_LIMIT + margin || !(Math.abs(last.score) >= EPOCH_MS_THRESHOLD) || !Number.isFinite(last.score)) {
    seen.delete(key);
    return undefined;
  }
  seen.set(key, last.score);
  // The full path's rows: the first EXTREMES_READ_LIMIT members scored from fromMs on.
  let first = 0;
  while (first < rows.length && !(rows[first].score >= fromMs)) first++;
  return foldExtremes(rows.slice(first, first + EXTREMES_READ_LIMIT), fromMs, guards);
}

/**
 * The extremes of the rows' candles that opened at or after fromMs (see readCandleExtremes).
 * Implausible candles and candles dated in the future are left out as the marketstate window
 * leaves them out: a peak of 1e308, or a "through" time in the future that would hide every real
 * candle until then, must not reach the position memory.
 */
function foldExtremes(rows: readonly ScoredMember[], fromMs: number, guards: ResolvedGuards): { high: number; low: number; throughMs: number } | null {
  let high = -Infinity;
  let low = Infinity;
  let through = -Infinity;
  for (const { member, score } of rows) {
    const candle = parseCandleMember(member);
    if (candle === null || priceOutOfRange(candle, guards.minPrice, guards.maxPrice) !== null) continue;
    const open = candle.openTime ?? (Number.isNaN(score) ? null : score);
    if (datedAfter(guards.futureAfterMs, score, open, candle.closeTime)) continue;
    if (open === null || openTimeMs(open) < fromMs) continue;
    high = Math.max(high, candle.high ?? candle.close);
    low = Math.min(low, candle.low ?? candle.close);
    through = Math.max(through, openTimeMs(open));
  }
  return Number.isFinite(through) ? { high, low, throughMs: through } : null;
}
