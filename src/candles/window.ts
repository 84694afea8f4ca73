// The incremental candle window (issue 12): per sorted-set key the rows of the last read, kept as
// columns (columns.ts), so that a read fetches only the newest few open times and what is new, and
// parses only members it has not seen. The series is built from the rows by the one builder
// (series.ts), as a full read (read.ts) builds it from its own.
import {
  WrongTypeError,
  type BoundedRange,
  type ScoredMember,
  type Store,
} from "../store/types.js";
import { rangeWithin } from "../store/rangeWithin.js";
import type { Read } from "../inputs/types.js";
import { CandleColumns } from "./columns.js";
import { oversizedKey, type ResolvedGuards } from "./guards.js";
import { candleFirstTailCount, candleTailCount } from "./keys.js";
import { parseCandleMember, type Candle } from "./parse.js";
import { buildSeries, type CandleSeries } from "./series.js";

/** Re-read on every incremental read: the members of the window's newest this-many open times, and every newer one. */
export const CANDLE_REREAD_BAND = 16;
/** Rows of room above a window's rows (a read with more new members than fit reads in full). */
const WINDOW_ROOM = 64;
/** Every this-many reads of a key the window is read whole again (see CandleWindowCache). */
export const CANDLE_FULL_READ_EVERY = 10;

/** The capacity of the columns a full read of `depth` members builds when the window will keep them. */
export function windowCapacity(depth: number): number {
  // Room above the rows for a few dozen reads' new members before the rows are moved down.
  return depth + WINDOW_ROOM;
}

/**
 * The index of the first row of the re-read band: the rows of the newest CANDLE_REREAD_BAND
 * scores (open times), however many members each has. lo when the rows hold no more scores.
 */
function bandStart(c: CandleColumns): number {
  let cut = c.hi;
  for (let distinct = 0; cut > c.lo && distinct < CANDLE_REREAD_BAND; distinct++) {
    const score = c.score[cut - 1];
    while (cut > c.lo && c.score[cut - 1] === score) cut--;
  }
  return cut;
}

/**
 * Only members that can be re-read are matched by their string: the rows below the band (and a
 * band's worth of members more, for the scores the next candles push down) let go of theirs. A
 * re-read that would need one of them finds no match and reads in full.
 */
function releaseMembersBelowBand(c: CandleColumns): void {
  const end = bandStart(c) - CANDLE_REREAD_BAND;
  for (let i = end - 1; i >= c.lo && c.members[i] !== null; i--) c.members[i] = null;
}

interface WindowState {
  /** The key's tail as of the last read, oldest first: `depth` members, or fewer when that was the whole key. */
  columns: CandleColumns;
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
 * Per sorted-set key the parsed tail of the last read, so that a read fetches only
 * `ZRANGEBYSCORE key <the window's 16th newest open time> +inf` — the members of the newest 16
 * open times, republished and corrected ones among them, and every new candle — instead of ~320
 * members, and parses only members it has not seen. The rows below that score are kept from the
 * previous read, the re-read ones replace the rest, and the series is built from those rows by
 * the builder a full read uses (buildSeries): so it is the same series whenever nothing below that
 * score changed — which is how the data sink writes (a new candle, a republish of a recent one,
 * the oldest trimmed off at 500 members). A rewrite further back is seen by the next full read:
 * one in CANDLE_FULL_READ_EVERY reads of a key is one (at a phase of its own, so the symbols take
 * turns), and so is every read after anything unexpected (the key gone, empty or of another type,
 * a re-read member missing, more new members than one call returns, a non-finite score, another
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

  /**
   * After a full read of a sorted set: its rows (built with windowCapacity(depth)), `depth` being
   * the tail count asked for. The window takes the columns over.
   */
  remember(key: string, columns: CandleColumns, depth: number, guards: ResolvedGuards): void {
    this.counts.full += 1;
    let finite = columns.hi > columns.lo;
    for (let i = columns.lo; i < columns.hi && finite; i++)
      finite = Number.isFinite(columns.score[i]);
    if (!finite) {
      this.byKey.delete(key);
      return;
    }
    releaseMembersBelowBand(columns);
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
    const cut = bandStart(columns);
    if (cut === lo && hi - lo >= depth) return null; // a tail of few scores: what lies below is unknown
    const fromScore = cut === lo ? -Infinity : columns.score[cut];
    // The key's size before its members, as on the full read (one huge new member is enough to
    // make the reply huge) — on Redis in the same round trip, by a script (rangeWithin). Gone:
    // the full read decides what now stands there.
    let bounded: BoundedRange;
    try {
      bounded = await rangeWithin(store, key, fromScore, depth, guards.maxKeyBytes);
    } catch (error) {
      if (error instanceof WrongTypeError) return null;
      throw error;
    }
    if (bounded.bytes === null) return null;
    const oversized = oversizedKey(key, bounded.bytes, guards.maxKeyBytes);
    if (oversized !== null) return oversized;
    const fresh: ScoredMember[] = bounded.members ?? [];
    // Empty: the key is gone or emptied. As long as one call returns: more may be waiting.
    if (fresh.length === 0 || fresh.length >= depth || cut + fresh.length > columns.capacity)
      return null;
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
        columns.setMember(cut + i, member, score, parseCandleMember(member), guards);
      }
    }
    columns.hi = cut + fresh.length;
    columns.lo = Math.max(lo, columns.hi - depth);
    // The same decision as the full read: the first tail unless its window came out short while
    // the key holds more, then the full margin (which only rows kept that deep can answer).
    const top = columns.hi;
    const firstFrom = Math.max(columns.lo, top - firstTail);
    const after = guards.futureAfterMs;
    const first = buildSeries(key, columns, firstFrom, top, windowSize, live, after);
    const short = !first.ok || first.value.closes.length < windowSize;
    let result = first;
    if (short && top - firstFrom >= firstTail) {
      if (depth < fullTail) return null;
      result = buildSeries(key, columns, columns.lo, top, windowSize, live, after);
    }
    this.counts.incremental += 1;
    releaseMembersBelowBand(columns);
    this.byKey.set(key, { columns, depth, priceRange: state.priceRange });
    return result;
  }
}
