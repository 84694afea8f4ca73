// The rows of one read of a candle key, column by column: what the series builder (series.ts)
// reads, and what the incremental window (window.ts) keeps between reads. Walking ~320 candle
// objects scattered over the heap once per pass cost more than everything else in a read (a cache
// miss per candle, for every symbol, every cycle); these arrays are read front to back.
import type { ScoredMember } from "../store/types.js";
import { priceOutOfRange, type ResolvedGuards } from "./guards.js";
import type { Candle } from "./parse.js";

/** NaN stands for null in every number column. */
export class CandleColumns {
  /** The rows are [lo, hi): the window drops the oldest by moving lo, and moves the rest down only now and then. */
  lo = 0;
  hi = 0;
  /** The sorted-set score as Redis gives it (NaN for a list element). */
  score: Float64Array;
  /** The open time: the member's own, else the (finite) score. */
  open: Float64Array;
  close: Float64Array;
  published: Float64Array;
  closeTime: Float64Array;
  /** 1: a candle, 0: a malformed member (it does not parse, or a price is out of range). */
  valid: Uint8Array;
  /** Member strings of the rows that can be re-read; the window lets go of the others (null: ~230 bytes each). */
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

  /** The rows of members read in order (`parsed[i]` is the parse of `read[i]`), with room for `capacity`. */
  static fromMembers(
    read: readonly ScoredMember[],
    parsed: ReadonlyArray<Candle | null>,
    capacity: number,
    guards: ResolvedGuards,
  ): CandleColumns {
    const columns = new CandleColumns(Math.max(capacity, read.length));
    for (let i = 0; i < read.length; i++)
      columns.setMember(i, read[i].member, read[i].score, parsed[i], guards);
    columns.hi = read.length;
    return columns;
  }

  /**
   * Row i from a member and its parse: the member's own open time wins, else the zset score. A
   * candle with a price outside the configured range is malformed like one that does not parse.
   */
  setMember(
    i: number,
    member: string,
    score: number,
    parsed: Candle | null,
    guards: ResolvedGuards,
  ): void {
    this.members[i] = member;
    this.score[i] = score;
    if (parsed === null || priceOutOfRange(parsed, guards.minPrice, guards.maxPrice) !== null) {
      this.valid[i] = 0;
      return;
    }
    this.valid[i] = 1;
    this.open[i] = parsed.openTime ?? (Number.isFinite(score) ? score : Number.NaN);
    this.close[i] = parsed.close;
    this.published[i] = parsed.publishedAt ?? Number.NaN;
    this.closeTime[i] = parsed.closeTime ?? Number.NaN;
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
}
