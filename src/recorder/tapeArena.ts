// Where the mirrors' tapes (inputMirror.ts, "The tape") keep their numbers and strings: one
// Float64Array and one array shared by many tapes — a recorder's, one per actor — each tape at a
// range of its own in each.
//
// Why: held by each tape, its numbers were a Float64Array of its own (a typed array object, an
// ArrayBuffer, a block of memory outside the heap and the collector's record of it) and its
// strings an array of its own: four objects and a block per actor, 1,200 actors, every one of
// them alive as long as the service and marked by each full collection — a dozen in seven minute
// bursts under the unit's heap cap (docs/performance.md) — and one more object to reach, out of
// the CPU's caches, before a read's compare gets to the numbers. Here they are ranges of two
// arrays the recorder's every read uses.
//
// A range is reused while the tape's numbers (strings) fit in it; a tape that outgrows its range
// (its shape changed: a position opened, a window grew) takes a new one at the end, and the
// ranges left behind are reclaimed when the end is reached: every tape's range is copied, packed,
// into new arrays (compact()).

/** A tape's ranges in its arena: numbers at nums[numsAt, numsAt + numsRoom), strings likewise. */
export interface TapeRange {
  numsAt: number;
  numsRoom: number;
  strsAt: number;
  strsRoom: number;
}

/** The arrays' first size, and the least room a compaction leaves free (numbers, strings). */
const MIN_ROOM = 1024;

export class TapeArena {
  nums = new Float64Array(MIN_ROOM);
  strs: string[] = [];
  private numsUsed = 0;
  private strsUsed = 0;
  /** How far the strings may reach before ranges left behind are reclaimed (compact()). */
  private strsCap = MIN_ROOM;
  /**
   * Every range given room here (their tapes live as long as the arena: a recorder's actors). A
   * range with no room yet (rooms only grow) is not among them: a compaction has nothing of it to
   * move.
   */
  private readonly ranges: TapeRange[] = [];

  /**
   * Gives `range` room for n numbers and s strings: its own ranges when they are large enough,
   * else new ones. May move every range (compact()): arrays and offsets are to be read anew.
   */
  place(range: TapeRange, n: number, s: number): void {
    const needNums = n > range.numsRoom ? n : 0;
    const needStrs = s > range.strsRoom ? s : 0;
    if (needNums === 0 && needStrs === 0) return;
    if (range.numsRoom === 0 && range.strsRoom === 0) this.ranges.push(range);
    if (this.numsUsed + needNums > this.nums.length || this.strsUsed + needStrs > this.strsCap)
      this.compact(needNums, needStrs);
    if (needNums > 0) {
      range.numsAt = this.numsUsed;
      range.numsRoom = needNums;
      this.numsUsed += needNums;
    }
    if (needStrs > 0) {
      range.strsAt = this.strsUsed;
      range.strsRoom = needStrs;
      this.strsUsed += needStrs;
    }
  }

  /** Slots taken (live or left behind) and slots the ranges hold (tests). */
  usage(): { nums: number; strs: number; numsLive: number; strsLive: number } {
    const { nums, strs } = this.live();
    return { nums: this.numsUsed, strs: this.strsUsed, numsLive: nums, strsLive: strs };
  }

  private live(): { nums: number; strs: number } {
    let nums = 0;
    let strs = 0;
    for (const r of this.ranges) {
      nums += r.numsRoom;
      strs += r.strsRoom;
    }
    return { nums, strs };
  }

  /**
   * Every range copied, packed, into new arrays with room for `n` more numbers and `s` more
   * strings, and half as much again as is live: compactions are rare.
   */
  private compact(n: number, s: number): void {
    const live = this.live();
    const nums = new Float64Array(Math.max(MIN_ROOM, Math.ceil(1.5 * (live.nums + n))));
    const strs: string[] = [];
    let numsAt = 0;
    for (const r of this.ranges) {
      nums.set(this.nums.subarray(r.numsAt, r.numsAt + r.numsRoom), numsAt);
      r.numsAt = numsAt;
      numsAt += r.numsRoom;
      const strsAt = strs.length;
      for (let i = 0; i < r.strsRoom; i++) strs.push(this.strs[r.strsAt + i]);
      r.strsAt = strsAt;
    }
    this.nums = nums;
    this.strs = strs;
    this.numsUsed = numsAt;
    this.strsUsed = strs.length;
    this.strsCap = Math.max(MIN_ROOM, Math.ceil(1.5 * (live.strs + s)));
  }
}
