// The flight recorder's files: JSON lines appended to an open segment, which is closed and
// gzip-compressed when it reaches its size or age, old segments deleted by age (retention) and
// by total size, whichever bound is reached first.
//
// Why this shape: a publishing cycle must never wait for the disk. append() only puts the line in
// a bounded in-memory queue and returns; one background loop writes the queue out. The queue holds
// the lines already encoded (UTF-8, in chunks of CHUNK_BYTES outside the JS heap): a line's string
// dies young instead of surviving the collections between the cycle and the write, and the write
// is those bytes as they are, with no join and no second encoding. When the
// queue is full (slow I/O) or a write fails (a full disk), lines are dropped and counted — a
// warning (at most one a minute) and the `dropped` counter, which /metrics shows — and the next
// line written is a gap record saying how many are missing. Nothing in here throws into a caller.
//
// Crash safety: a segment is appended line by line, so a killed process leaves every line but
// possibly a truncated last one, which the reader skips. A closed segment is compressed to a
// temporary file, renamed into place, and only then is the plain file deleted: at every instant
// one complete copy exists. On start, plain segments left by a crash are compressed as closed.
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { SEGMENT_PATTERN, segmentName } from "./format.js";
import { writeClosedSegment } from "./segmentIndex.js";

/** The file operations the writer uses that a test may replace (a full disk, a stuck disk). */
export interface SegmentIo {
  /** `data` is lent: the writer fills it again once the returned promise has settled. */
  write(handle: FileHandle, data: Uint8Array): Promise<void>;
}

const nodeIo: SegmentIo = {
  async write(handle, data) {
    await handle.write(data);
  },
};

export interface SegmentWriterOptions {
  dir: string;
  /** Closed segments older than this (their last line) are deleted (ms). */
  retentionMs: number;
  /** All segments together stay below this (bytes, compressed for closed ones). */
  maxBytes: number;
  /** A segment is closed at this size (default maxBytes/16, within 64 KiB … 64 MiB). */
  segmentBytes?: number;
  /**
   * … or at this age (default min(6 h, retention/4), at least 1 s). Each segment begins with every
   * actor's inputs in full (~7 KB a symbol: the window's closes), so not much more often.
   */
  segmentMs?: number;
  /** Lines waiting for the disk, at most (bytes, default 8 MiB): beyond, lines are dropped. */
  queueBytes?: number;
  /** Lines below 256 KiB wait this long for their write (ms, default 200). */
  flushMs?: number;
  /** The first line of every segment. */
  header: (seq: number, openedMs: number) => string;
  now?: () => number;
  io?: SegmentIo;
  /** A warning (dropping, a file that could not be compressed or deleted). */
  warn?: (message: string, details: Record<string, unknown>) => void;
}

export interface SegmentWriterStats {
  linesWritten: number;
  bytesWritten: number;
  /** Lines dropped: queue full, write failed, or appended after close(). */
  linesDropped: number;
  segmentsClosed: number;
  segmentsDeleted: number;
  /** Lines (and their bytes) waiting for the disk now. */
  queuedLines: number;
  queuedBytes: number;
}

interface OpenSegment {
  path: string;
  handle: FileHandle;
  openedMs: number;
  bytes: number;
}

const WARN_EVERY_MS = 60_000;
/** The queue's encoding buffers: a minute burst's lines (~1 MB at 400 symbols) in a few. */
const CHUNK_BYTES = 256 * 1024;
const NEWLINE = 0x0a;
/**
 * Lines are written when this many bytes are queued, or flushMs (default 200) after the first of
 * them: a write per cycle's line (a thread-pool job, a wake-up and a syscall each) cost more CPU
 * than the recorder's encoding at the minute burst. A killed process loses at most this much —
 * lines the queue held anyway.
 */
const FLUSH_BYTES = 256 * 1024;
/**
 * Chunks whose lines are all written, kept for the lines to come: a minute burst fills four, and
 * a chunk made anew each time was fresh memory each time — its pages faulted in as the lines were
 * copied into it (docs/performance.md).
 */
const SPARE_CHUNKS = 4;
/**
 * A joined write up to this size is put together in a buffer kept for the next; a larger one (a
 * backlog written at once after a slow disk) in a buffer of its own, not kept for the process's life.
 */
const JOIN_KEPT_BYTES = 2 * CHUNK_BYTES;
const UTF8 = new TextEncoder();
const ROTATE = Symbol("rotate");
/** Where lines were lost: written as a gap record in their place. */
interface GapMarker {
  n: number;
  t: number;
}
/** Consecutive lines queued, as bytes: chunk[start, end), each line ending in a newline. */
interface Piece {
  chunk: Buffer;
  start: number;
  end: number;
  lines: number;
}
type QueueItem = Piece | typeof ROTATE | GapMarker;
const isPiece = (item: QueueItem): item is Piece => typeof item === "object" && "chunk" in item;

export class SegmentWriter {
  private readonly opts: Required<Omit<SegmentWriterOptions, "warn">> & {
    warn: SegmentWriterOptions["warn"];
  };
  /** Lines, and ROTATE where a segment ends (decided when the line is queued, see rotateIfDue). */
  private queue: QueueItem[] = [];
  /** The buffer lines are encoded into, and how much of it is used. */
  private chunk: Buffer = Buffer.allocUnsafe(0);
  private chunkUsed = 0;
  /** Chunks written out, for the next ones (SPARE_CHUNKS at most). */
  private readonly spareChunks: Buffer[] = [];
  /**
   * Where a write of several pieces (the end of one chunk and the start of the next, a gap record)
   * is put together: kept from one write to the next, as the chunks are, not made for each.
   */
  private joined: Buffer = Buffer.allocUnsafe(0);
  /** The queue's last piece while the next line may extend it (null: the next line starts one). */
  private tail: Piece | null = null;
  private queuedLines = 0;
  /** The gap marker at the queue's end while lines are being dropped; null once a line follows. */
  private gap: GapMarker | null = null;
  /** Lines lost in failed writes, told by a gap record before the next lines written. */
  private failedGap: GapMarker | null = null;
  /** The segment the queued lines go to: bytes queued for it and when its first line came. */
  private segmentQueuedBytes = 0;
  private segmentFirstMs: number | null = null;
  private queuedBytes = 0;
  private open: OpenSegment | null = null;
  private seq = 0;
  private loop: Promise<void> | null = null;
  /** The write of lines below FLUSH_BYTES, FLUSH_MS after the first of them. */
  private timer: NodeJS.Timeout | null = null;
  /** flushed() or close() waiting: the loop writes everything queued, however little. */
  private forced = 0;
  private ready: Promise<void>;
  private closing = false;
  private lastWarnMs = Number.NEGATIVE_INFINITY;
  private readonly counts = {
    linesWritten: 0,
    bytesWritten: 0,
    linesDropped: 0,
    segmentsClosed: 0,
    segmentsDeleted: 0,
  };
  /**
   * Called (synchronously) when lines were lost — dropped from a full queue or in a failed
   * write: the recorder restarts its deltas, since the lines they refer to are gone.
   */
  onLoss: () => void = () => undefined;

  constructor(options: SegmentWriterOptions) {
    const segmentBytes =
      options.segmentBytes ??
      Math.min(64 * 1024 * 1024, Math.max(64 * 1024, Math.floor(options.maxBytes / 16)));
    this.opts = {
      dir: options.dir,
      retentionMs: options.retentionMs,
      maxBytes: options.maxBytes,
      header: options.header,
      warn: options.warn,
      segmentBytes,
      segmentMs:
        options.segmentMs ?? Math.max(1000, Math.min(6 * 3_600_000, options.retentionMs / 4)),
      queueBytes: options.queueBytes ?? 8 * 1024 * 1024,
      flushMs: options.flushMs ?? 200,
      now: options.now ?? Date.now,
      io: options.io ?? nodeIo,
    };

    this.ready = this.recover().catch((err: unknown) =>
      this.warnNow("recording directory could not be prepared", { error: String(err) }),
    );
  }

  /** Queues one line (no newline); never blocks, never throws. False when it was dropped. */
  append(line: string): boolean {
    // A UTF-16 unit is at most 3 UTF-8 bytes: with that much room the line cannot be cut short.
    const start = this.roomFor(line.length * 3 + 1);
    if (start < 0) return false;
    // encodeInto: several times cheaper a line than Buffer#write's argument handling.
    return this.queued(start, UTF8.encodeInto(line, this.chunk.subarray(start)).written);
  }

  /**
   * Queues one line given as UTF-8 bytes, bytes[0, length) (no newline): how the recorder hands
   * over the lines it spells as bytes (jsonBytes.ts). Never blocks, never throws; false when the
   * line was dropped.
   */
  appendBytes(bytes: Uint8Array, length: number): boolean {
    const start = this.roomFor(length + 1);
    if (start < 0) return false;
    this.chunk.set(bytes.subarray(0, length), start);
    return this.queued(start, length);
  }

  /** Where in the chunk a line of at most `room` bytes goes (a new chunk if need be); -1: closed. */
  private roomFor(room: number): number {
    if (this.closing) {
      this.drop(1, "the recorder is closed");
      return -1;
    }
    if (this.chunk.length - this.chunkUsed < room) {
      this.chunk =
        (room <= CHUNK_BYTES ? this.spareChunks.pop() : undefined) ??
        Buffer.allocUnsafe(Math.max(CHUNK_BYTES, room));
      this.chunkUsed = 0;
      this.tail = null;
    }
    return this.chunkUsed;
  }

  /** The line of `length` bytes at chunk[start…] is queued, its newline added (or dropped: full). */
  private queued(start: number, length: number): boolean {
    const bytes = length + 1;
    if (this.queuedBytes + bytes > this.opts.queueBytes) {
      this.drop(1, "the write queue is full");
      return false;
    }
    this.chunk[start + length] = NEWLINE;
    this.chunkUsed = start + bytes;
    const tail = this.tail;
    if (tail !== null && tail.chunk === this.chunk && tail.end === start) {
      tail.end += bytes;
      tail.lines++;
    } else {
      this.tail = { chunk: this.chunk, start, end: start + bytes, lines: 1 };
      this.queue.push(this.tail);
    }
    this.queuedLines++;
    this.gap = null;
    this.queuedBytes += bytes;
    this.segmentQueuedBytes += bytes;
    this.segmentFirstMs ??= this.opts.now();
    this.kick();
    return true;
  }

  /**
   * Ends the segment here when it is due (size or age), so that the next line queued is the first
   * of a new segment. The recorder asks before it encodes a line: a segment's first line for an
   * actor must carry full inputs, and which segment a line lands in is decided here, not later
   * when the loop writes it. True when a new segment begins.
   */
  rotateIfDue(): boolean {
    if (this.segmentFirstMs === null) return false;
    const due =
      this.segmentQueuedBytes >= this.opts.segmentBytes ||
      this.opts.now() - this.segmentFirstMs >= this.opts.segmentMs;
    if (!due) return false;
    this.queue.push(ROTATE);
    this.tail = null;
    this.segmentQueuedBytes = 0;
    this.segmentFirstMs = null;
    this.kick();
    return true;
  }

  /** The bytes its buffers hold: the chunk being filled, the spare ones and the join's (tests). */
  bufferBytes(): number {
    let bytes = this.chunk.length + this.joined.length;
    for (const chunk of this.spareChunks) bytes += chunk.length;
    return bytes;
  }

  stats(): SegmentWriterStats {
    return { ...this.counts, queuedLines: this.queuedLines, queuedBytes: this.queuedBytes };
  }

  /** Writes what is queued, closes and compresses the open segment, applies the bounds. */
  async close(): Promise<void> {
    this.closing = true;
    await this.flushed();
    await this.ready;
    await this.closeSegment();
    await this.enforceBounds();
  }

  /** Resolves when everything queued so far is written (close, tests, the benchmark). */
  async flushed(): Promise<void> {
    this.forced++;
    try {
      this.clearTimer();
      while (this.loop !== null || this.queue.length > 0) {
        this.loop ??= this.drain();
        await this.loop;
      }
    } finally {
      this.forced--;
    }
  }

  /** Starts the write loop when enough is queued (or a flush waits), else arms the flush timer. */
  private kick(): void {
    if (this.loop !== null || this.queue.length === 0) return;
    if (this.dueNow()) {
      this.clearTimer();
      this.loop = this.drain();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = null;
      if (this.loop === null && this.queue.length > 0) this.loop = this.drain();
    }, this.opts.flushMs).unref();
  }

  private dueNow(): boolean {
    return this.forced > 0 || this.closing || this.queuedBytes >= FLUSH_BYTES;
  }

  private clearTimer(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * n lines lost: at the queue's end (a full queue), or, `written`, in a failed write — then the
   * gap record goes before the next lines written.
   */
  private drop(n: number, why: string, written = false, alreadyCounted = 0): void {
    this.counts.linesDropped += n;
    const now = this.opts.now();
    if (written) {
      this.failedGap ??= { n: 0, t: now };
      this.failedGap.n += n + alreadyCounted;
      if (n === 0) return;
    } else if (this.gap !== null) this.gap.n += n;
    else if (!this.closing) {
      this.gap = { n, t: now };
      this.queue.push(this.gap);
      this.tail = null;
      this.kick();
    }
    this.lost();
    if (now - this.lastWarnMs >= WARN_EVERY_MS) {
      this.lastWarnMs = now;
      this.warnNow(`flight recorder dropping records: ${why}`, {
        dropped: this.counts.linesDropped,
        dir: this.opts.dir,
      });
    }
  }

  private lost(): void {
    try {
      this.onLoss();
    } catch {
      // never into the write loop
    }
  }

  private warnNow(message: string, details: Record<string, unknown>): void {
    try {
      this.opts.warn?.(message, details);
    } catch {
      // a logger that throws must not stop the recording either
    }
  }

  private async recover(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true, mode: 0o750 });
    for (const name of await readdir(this.opts.dir)) {
      const path = join(this.opts.dir, name);
      if (name.endsWith(".gz.tmp")) await unlink(path).catch(() => undefined);
      const m = SEGMENT_PATTERN.exec(name);
      if (m === null) continue;
      this.seq = Math.max(this.seq, Number(m[2]) + 1);
      // A plain segment on start was left open by a crash: close it as it is.
      if (m[3] === undefined) await this.compress(path);
    }
  }

  private async drain(): Promise<void> {
    try {
      await this.ready;
      while (this.queue.length > 0) {
        const end = this.queue.indexOf(ROTATE);
        if (end === 0) {
          this.queue.shift();
          await this.rotate();
          continue;
        }
        const items = end < 0 ? this.queue : this.queue.slice(0, end);
        this.queue = end < 0 ? [] : this.queue.slice(end);
        // The pieces taken are the loop's now: the next line starts a piece of its own.
        if (this.tail !== null && items.includes(this.tail)) this.tail = null;
        if (this.gap !== null && items.includes(this.gap)) this.gap = null;
        const parts: Uint8Array[] = [];
        let bytes = 0;
        let lines = 0;
        let gapped = 0;
        for (const item of items) {
          if (isPiece(item)) {
            bytes += item.end - item.start;
            lines += item.lines;
            parts.push(item.chunk.subarray(item.start, item.end));
          } else if (item !== ROTATE) {
            parts.push(Buffer.from(`${JSON.stringify({ k: "g", t: item.t, n: item.n })}\n`));
            gapped += item.n;
          }
        }
        this.queuedBytes -= bytes;
        this.queuedLines -= lines;
        if (lines > 0) await this.writeLines(parts, bytes, lines, gapped);
        else this.drop(0, "", true, gapped); // only gap records: told with the next lines
        this.spare(items);
        // What came in meanwhile waits for its own flush unless a segment ends or it is due.
        if (this.queue[0] !== ROTATE && !this.dueNow()) break;
      }
    } catch (err) {
      this.warnNow("flight recorder write loop failed", { error: String(err) });
    } finally {
      this.loop = null;
      this.kick();
    }
  }

  /** Writes `parts` (whole lines): `lines` lines of `bytes` bytes, and gap records of `gapped`. */
  private async writeLines(
    parts: Uint8Array[],
    bytes: number,
    lines: number,
    gapped: number,
  ): Promise<void> {
    const failed = this.failedGap;
    this.failedGap = null;
    try {
      const now = this.opts.now();
      const segment = this.open ?? (await this.openSegment(now));
      if (failed !== null)
        parts.unshift(Buffer.from(`${JSON.stringify({ k: "g", t: failed.t, n: failed.n })}\n`));
      const data = parts.length === 1 ? parts[0] : this.join(parts);
      await this.opts.io.write(segment.handle, data);
      segment.bytes += data.length;
      this.counts.linesWritten += lines;
      this.counts.bytesWritten += bytes;
    } catch (err) {
      if (failed !== null) this.drop(0, "", true, failed.n);
      const why = `write failed (${err instanceof Error ? err.message : String(err)})`;
      this.drop(lines, why, true, gapped);
      // The file may end in a partial line: it is closed here, the next line opens a new one.
      await this.closeSegment().catch(() => undefined);
    }
  }

  /**
   * `parts` one after the other: in the kept buffer (joined, valid until the next join) when they
   * fit JOIN_KEPT_BYTES, else in one of their own.
   */
  private join(parts: readonly Uint8Array[]): Uint8Array {
    let total = 0;
    for (const part of parts) total += part.length;
    if (total > JOIN_KEPT_BYTES) return Buffer.concat(parts, total);
    if (this.joined.length < total) this.joined = Buffer.allocUnsafe(JOIN_KEPT_BYTES);
    let at = 0;
    for (const part of parts) {
      this.joined.set(part, at);
      at += part.length;
    }
    return this.joined.subarray(0, total);
  }

  /**
   * The chunks of `written` (queue items whose write settled) that no line still queued and no
   * line to come is in — not the chunk being filled — are kept for the next lines.
   */
  private spare(written: readonly QueueItem[]): void {
    for (const item of written) {
      if (!isPiece(item)) continue;
      const { chunk } = item;
      if (
        chunk === this.chunk ||
        chunk.length !== CHUNK_BYTES ||
        this.spareChunks.length >= SPARE_CHUNKS ||
        this.spareChunks.includes(chunk) ||
        this.queue.some((queued) => isPiece(queued) && queued.chunk === chunk)
      )
        continue;
      this.spareChunks.push(chunk);
    }
  }

  private async openSegment(now: number): Promise<OpenSegment> {
    const seq = this.seq++;
    const path = join(this.opts.dir, segmentName(now, seq, false));
    const handle = await open(path, "a", 0o640);
    const segment: OpenSegment = { path, handle, openedMs: now, bytes: 0 };
    this.open = segment;
    const header = Buffer.from(`${this.opts.header(seq, now)}\n`);
    await this.opts.io.write(handle, header);
    segment.bytes += header.length;
    return segment;
  }

  private async rotate(): Promise<void> {
    await this.closeSegment();
    await this.enforceBounds();
  }

  private async closeSegment(): Promise<void> {
    const segment = this.open;
    if (segment === null) return;
    this.open = null;
    await segment.handle.close().catch(() => undefined);
    await this.compress(segment.path);
  }

  /**
   * plain → .gz.tmp → .gz, then the plain file goes: one complete copy at every instant. Stored
   * by symbol with an index (segmentIndex.ts), so one symbol's replay reads its part only.
   */
  private async compress(path: string): Promise<void> {
    const tmp = `${path}.gz.tmp`;
    try {
      await writeClosedSegment(path, tmp);
      await rename(tmp, `${path}.gz`);
      await unlink(path);
      this.counts.segmentsClosed++;
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      this.warnNow("flight recorder segment left uncompressed", { path, error: String(err) });
    }
  }

  /** Deletes closed segments past the retention, then the oldest until the total fits maxBytes. */
  private async enforceBounds(): Promise<void> {
    try {
      const names = (await readdir(this.opts.dir)).filter((n) => SEGMENT_PATTERN.test(n)).sort();
      const files: { path: string; name: string; bytes: number; endMs: number; closed: boolean }[] =
        [];
      for (const name of names) {
        const path = join(this.opts.dir, name);
        const info = await stat(path).catch(() => null);
        if (info === null) continue;
        files.push({
          path,
          name,
          bytes: info.size,
          endMs: info.mtimeMs,
          closed: name.endsWith(".gz"),
        });
      }
      const now = this.opts.now();
      let total = files.reduce((sum, f) => sum + f.bytes, 0);
      for (const f of files) {
        if (!f.closed || (this.open !== null && f.path === this.open.path)) continue;
        const expired = now - f.endMs > this.opts.retentionMs;
        if (!expired && total <= this.opts.maxBytes) continue;
        await unlink(f.path).then(
          () => {
            total -= f.bytes;
            this.counts.segmentsDeleted++;
          },
          (err: unknown) =>
            this.warnNow("flight recorder segment could not be deleted", {
              path: f.path,
              error: String(err),
            }),
        );
      }
    } catch (err) {
      this.warnNow("flight recorder bounds not applied", { error: String(err) });
    }
  }
}
