// The series of one read (CONTRACT.md, "Candles"): the closes of a symbol,
// oldest first, built from the rows of a key's tail (columns.ts) and the live candles of the klines
// stream. The one definition both the full read (read.ts) and the incremental window (window.ts)
// use, so that reading the same candles either way gives the same series, fingerprint included.
//
// Each read rebuilds the series from a bounded tail of the key, deduplicated by open time, so
// reading the same candles again can never duplicate them (the Python service appended every poll
// to a deque).
import { ok, skip, type Read } from "../inputs/types.js";
import type { CandleColumns } from "./columns.js";
import type { Candle } from "./parse.js";
import { datedAfter, EPOCH_MS_THRESHOLD, missingMinutes, openTimeMs } from "./time.js";

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
 * The series from rows [from, to) of the columns (a key's tail, oldest first) and the live
 * candles. The candles are named by entries: a row index (≥ 0) for a stored candle, ~j (< 0)
 * for live[j]. In the common case — open times strictly increasing, live candles included —
 * nothing is deduplicated or sorted and the entries are walked once more for the window.
 */
export function buildSeries(
  key: string,
  c: CandleColumns,
  from: number,
  to: number,
  windowSize: number,
  live: readonly Candle[] | undefined,
  futureAfterMs: number,
): Read<CandleSeries> {
  const rowCount = to - from;
  if (rowCount === 0) return skip("insufficient_data", `candle key ${key} is empty`);
  const { open, close, published, closeTime, valid, score } = c;
  const liveCount = live === undefined ? 0 : live.length;
  const entries = scratchEntries(rowCount + liveCount);
  let n = 0;
  let malformed = 0;
  let future = 0;
  let increasing = true;
  let previous = -Infinity;
  for (let i = from; i < to; i++) {
    if (valid[i] === 0) {
      malformed += 1;
      continue;
    }
    // A NaN close time (none) is passed as it is: it compares false as datedAfter's null does,
    // and `NaN ? null : ct` would box every row's close time into a fresh heap number.
    if (datedAfter(futureAfterMs, score[i], open[i], closeTime[i])) {
      future += 1;
      continue;
    }
    // NaN (no open time) fails this test too.
    if (!(open[i] > previous)) increasing = false;
    previous = open[i];
    entries[n++] = i;
  }
  if (n === 0) {
    if (future === 0)
      return skip("bad_input", `all ${rowCount} members read from candle key ${key} are malformed`);
    return skip(
      "bad_input",
      `all ${rowCount} members read from candle key ${key} are malformed (${malformed}) or dated after now + maxClockSkew (${future} future_candle)`,
    );
  }
  const storedCount = n;
  if (live !== undefined && liveCount > 0) {
    n = mergeLive(c, entries, n, live);
    for (let p = storedCount; p < n && increasing; p++) {
      const t = live[~entries[p]].openTime as number;
      increasing = t > previous;
      previous = t;
    }
  }

  let kept: ArrayLike<number> = entries;
  let keptCount = n;
  let duplicates = 0;
  if (!increasing) {
    const openAt = (e: number): number => (e >= 0 ? open[e] : (live![~e].openTime as number));
    const deduplicated = deduplicateAndSort(Array.from(entries.subarray(0, n)), openAt, (e) =>
      e >= 0
        ? Number.isNaN(published[e])
          ? -Infinity
          : published[e]
        : (live![~e].publishedAt ?? -Infinity),
    );
    // Stored members dropped for a newer version of the same candle (live candles do not count).
    duplicates = storedCount - countStored(deduplicated);
    kept = deduplicated;
    keptCount = deduplicated.length;
  }

  // The window: the newest windowSize of the kept candles.
  const start = Math.max(0, keptCount - windowSize);
  const size = keptCount - start;
  const closes = new Array<number>(size);
  const hasher = new SeriesHash(key);
  // Minutes missing so far, while every candle of the window has an open time (else gapMinutes
  // is null). Stored rows are read straight from the columns and the previous open time is
  // carried along: an open time passed through a closure comes back boxed (a heap number per
  // candle, twice per candle, on every read).
  let gaps = 0;
  let timed = true;
  let previousMs = 0;
  let liveOnly = 0;
  for (let p = start; p < keptCount; p++) {
    const e = kept[p];
    let t: number;
    let price: number;
    if (e >= 0) {
      t = open[e];
      price = close[e];
    } else {
      const candle = live![~e];
      t = candle.openTime as number;
      price = candle.close;
      liveOnly += 1;
    }
    closes[p - start] = price;
    // NaN by one definition: a hash is of exact bits.
    hasher.add(Number.isNaN(t) ? Number.NaN : t, price);
    if (timed) {
      if (Number.isNaN(t)) timed = false;
      else {
        const ms = openTimeMs(t);
        if (p > start) gaps += missingMinutes(previousMs, ms);
        previousMs = ms;
      }
    }
  }
  const gapMinutes = timed ? gaps : null;
  const last = kept[keptCount - 1];
  const lastOpen = last >= 0 ? open[last] : (live![~last].openTime as number);
  const lastClose = closes[size - 1];
  const lastCloseTime =
    last >= 0 ? (Number.isNaN(closeTime[last]) ? null : closeTime[last]) : live![~last].closeTime;
  const lastOpenTime = Number.isNaN(lastOpen) ? null : lastOpen;
  return ok({
    key,
    closes,
    lastOpenTime,
    lastOpenTimeMs: lastOpenTime === null ? null : openTimeMs(lastOpenTime),
    lastCloseTimeMs: lastCloseTime === null ? null : openTimeMs(lastCloseTime),
    liveOnly,
    fingerprint: `${lastOpenTime ?? "none"}:${lastClose}:${size}:${hasher.digest()}`,
    malformed,
    duplicates,
    future,
    gapMinutes,
  });
}

/**
 * Appends (as ~j entries after the n stored ones) the live candles the key does not hold, or holds
 * in an older version. Only when the key's open times are epoch ms, as the stream's are: merging
 * them into a key kept in seconds, or without open times, would put them out of order. Returns
 * the new entry count.
 */
function mergeLive(
  c: CandleColumns,
  entries: Int32Array,
  n: number,
  live: readonly Candle[],
): number {
  const newest = c.open[entries[n - 1]];
  if (Number.isNaN(newest) || Math.abs(newest) < EPOCH_MS_THRESHOLD) return n;
  // The newest publish the key holds at each live candle's open time (a republished candle is two
  // members): one pass over the stored candles, comparing with the few live open times.
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
  for (let p = 0; p < n; p++) {
    const t = c.open[entries[p]];
    if (!(t >= minTime && t <= maxTime)) continue;
    const published = c.published[entries[p]];
    const at = Number.isNaN(published) ? -Infinity : published;
    for (let k = 0; k < count; k++) {
      if (live[k].openTime === t) {
        found[k] = true;
        if (at > heldAt[k]) heldAt[k] = at;
      }
    }
  }
  let total = n;
  for (let k = 0; k < count; k++) {
    const candle = live[k];
    if (candle.openTime === null) continue;
    // The key already has this candle, as new or newer: nothing to add.
    if (found[k] && (candle.publishedAt ?? -Infinity) <= heldAt[k]) continue;
    entries[total++] = ~k;
  }
  return total;
}

/**
 * Deduplicates by open time: a republished candle is a second member with the same open time: the
 * one with the newest `timestamp` wins; without timestamps (or on a tie) the last in read order
 * does (list order, or score order for a sorted set, where Redis orders equal scores by member
 * bytes). Then out-of-order members (a list pushed out of order) are put in time order — but only
 * when every candle has an open time; otherwise the list order is the only order there is.
 */
function deduplicateAndSort(
  entries: number[],
  openAt: (e: number) => number,
  publishedAt: (e: number) => number,
): number[] {
  const keptIndexByTime = new Map<number, number>();
  entries.forEach((e, i) => {
    const t = openAt(e);
    if (Number.isNaN(t)) return;
    const kept = keptIndexByTime.get(t);
    if (kept === undefined || publishedAt(e) >= publishedAt(entries[kept]))
      keptIndexByTime.set(t, i);
  });
  const unique = entries.filter((e, i) => {
    const t = openAt(e);
    return Number.isNaN(t) || keptIndexByTime.get(t) === i;
  });
  if (!unique.every((e) => !Number.isNaN(openAt(e)))) return unique;
  return unique
    .map((e, i) => ({ e, i }))
    .sort((a, b) => openAt(a.e) - openAt(b.e) || a.i - b.i)
    .map(({ e }) => e);
}

/** How many of the entries are stored candles (not live ones). */
function countStored(entries: readonly number[]): number {
  let stored = 0;
  for (const e of entries) if (e >= 0) stored++;
  return stored;
}

/**
 * The entries of a build, reused from one build to the next (a build runs to its end without
 * yielding, and what it returns holds none of them): a fresh typed array per read is a malloc'd
 * backing store the GC has to account for and free.
 */
let entryScratch = new Int32Array(512);

function scratchEntries(count: number): Int32Array {
  if (entryScratch.length < count)
    entryScratch = new Int32Array(Math.max(count, entryScratch.length * 2));
  return entryScratch;
}

const hashBits = new Float64Array(1);
const hashWords = new Uint32Array(hashBits.buffer);

/**
 * Two independent 32-bit FNV-1a-style hashes over the key and the exact bits of every open time
 * and close (64 bits in all): any changed candle changes it, at a fraction of a crypto digest's
 * cost. It is a change detector, not a security measure.
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
    return (
      (this.h1 >>> 0).toString(16).padStart(8, "0") + (this.h2 >>> 0).toString(16).padStart(8, "0")
    );
  }

  private mix(word: number): void {
    this.h1 = Math.imul(this.h1 ^ word, 0x01000193);
    this.h2 = Math.imul(this.h2 ^ word, 0x5bd1e995) ^ (this.h2 >>> 15);
  }
}
