// The flight recorder's files: rotation, gzip on close, retention and size bounds, a crash's
// truncated last line, a full disk and a stuck disk (records dropped and counted, never thrown).
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SegmentWriter, type SegmentIo } from "../../src/recorder/segmentWriter.js";
import { readSegmentLines, listSegments } from "../../src/recorder/reader.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-rec-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const header = (seq: number, t: number): string => JSON.stringify({ k: "h", seg: seq, t });
const line = (i: number): string => JSON.stringify({ k: "c", i, pad: "x".repeat(100) });

function writer(over: Partial<ConstructorParameters<typeof SegmentWriter>[0]> = {}) {
  const warnings: string[] = [];
  const w = new SegmentWriter({
    dir,
    retentionMs: 3_600_000,
    maxBytes: 100 * 1024 * 1024,
    header,
    warn: (m) => warnings.push(m),
    ...over,
  });
  return { w, warnings };
}

/** Appends n lines, letting the writer rotate where due (as the recorder does). */
function appendLines(w: SegmentWriter, from: number, n: number): void {
  for (let i = from; i < from + n; i++) {
    w.rotateIfDue();
    w.append(line(i));
  }
}

/** A disk whose writes wait until release() is called. */
function stuckDisk(): { io: SegmentIo; release: () => void } {
  let release: () => void = () => undefined;
  const stuck = new Promise<void>((r) => (release = r));
  const io: SegmentIo = {
    async write(handle, data) {
      await stuck;
      await handle.write(data);
    },
  };
  return { io, release };
}

async function allLines(): Promise<string[]> {
  const out: string[] = [];
  for (const seg of await listSegments(dir)) out.push(...(await readSegmentLines(seg.path)).lines);
  return out;
}

describe("SegmentWriter", () => {
  it("rotates by size, gzips every closed segment, and keeps every line in order", async () => {
    const { w } = writer({ segmentBytes: 2000 });
    appendLines(w, 0, 100);
    await w.close();
    const names = (await readdir(dir)).sort();
    expect(names.length).toBeGreaterThan(3);
    expect(names.every((n) => n.endsWith(".jsonl.gz"))).toBe(true);
    // each closed file is a gzip stream starting with its own header
    for (const n of names) {
      const text = gunzipSync(readFileSync(join(dir, n))).toString();
      expect(JSON.parse(text.split("\n")[0]).k).toBe("h");
    }
    const lines = (await allLines()).map((l) => JSON.parse(l) as { k: string; i?: number });
    expect(lines.filter((l) => l.k === "c").map((l) => l.i)).toEqual([...Array(100).keys()]);
    expect(w.stats()).toMatchObject({ linesWritten: 100, linesDropped: 0 });
  });

  it("rotates by age", async () => {
    let now = 1_000_000;
    const { w } = writer({ segmentMs: 1000, now: () => now });
    appendLines(w, 0, 3);
    now += 1500;
    appendLines(w, 3, 3);
    await w.close();
    expect((await readdir(dir)).length).toBe(2);
  });

  it("deletes closed segments past the retention", async () => {
    const first = writer({ segmentBytes: 1000, retentionMs: 60_000 }).w;
    appendLines(first, 0, 20);
    await first.close();
    // age every segment so far by two minutes
    const old = (Date.now() - 120_000) / 1000;
    for (const n of await readdir(dir)) await utimes(join(dir, n), old, old);
    const { w } = writer({ segmentBytes: 1000, retentionMs: 60_000 });
    appendLines(w, 20, 20);
    await w.close();
    const lines = (await allLines()).map((l) => JSON.parse(l) as { k: string; i?: number });
    const kept = lines.filter((l) => l.k === "c").map((l) => l.i ?? -1);
    expect(Math.min(...kept)).toBeGreaterThanOrEqual(20);
    expect(w.stats().segmentsDeleted).toBeGreaterThan(0);
  });

  it("keeps the total below maxBytes, deleting the oldest first", async () => {
    const maxBytes = 3000;
    const { w } = writer({ segmentBytes: 600, maxBytes });
    appendLines(w, 0, 400);
    await w.close();
    let total = 0;
    for (const n of await readdir(dir)) total += (await stat(join(dir, n))).size;
    expect(total).toBeLessThanOrEqual(maxBytes);
    const kept = (await allLines())
      .map((l) => JSON.parse(l) as { k: string; i?: number })
      .filter((l) => l.k === "c")
      .map((l) => l.i ?? -1);
    expect(kept[kept.length - 1]).toBe(399); // the newest survive
    expect(kept[0]).toBeGreaterThan(0);
  });

  it("a killed writer: the open segment is read up to its last full line and closed on restart", async () => {
    const name = "qc-1764576000000-000000.jsonl";
    await writeFile(join(dir, name), `${header(0, 1)}\n${line(0)}\n${line(1)}\n{"k":"c","i":2,"pa`);
    const read = await readSegmentLines(join(dir, name));
    expect(read.lines.map((l) => (JSON.parse(l) as { i?: number }).i)).toEqual([undefined, 0, 1]);
    expect(read.truncated).toBe(true);
    // a new writer closes (compresses) the leftover before writing its own segment
    const { w } = writer();
    appendLines(w, 10, 1);
    await w.close();
    const names = (await readdir(dir)).sort();
    expect(names).toEqual([`${name}.gz`, expect.stringMatching(/\.jsonl\.gz$/)]);
    const lines = (await allLines()).map((l) => JSON.parse(l) as { k: string; i?: number });
    expect(lines.filter((l) => l.k === "c").map((l) => l.i)).toEqual([0, 1, 10]);
  });

  it("a full disk drops records with a warning and a count, never throws, and recovers", async () => {
    let full = false;
    const io: SegmentIo = {
      async write(handle, data) {
        if (full)
          throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
        await handle.write(data);
      },
    };
    const { w, warnings } = writer({ io });
    appendLines(w, 0, 5);
    await w.flushed();
    full = true;
    expect(() => appendLines(w, 5, 5)).not.toThrow();
    await w.flushed();
    expect(w.stats().linesDropped).toBeGreaterThanOrEqual(5);
    expect(warnings.some((m) => m.includes("ENOSPC"))).toBe(true);
    full = false;
    appendLines(w, 10, 5);
    await w.close();
    const lines = (await allLines()).map(
      (l) => JSON.parse(l) as { k: string; i?: number; n?: number },
    );
    const seen = lines.filter((l) => l.k === "c").map((l) => l.i);
    expect(seen).toEqual([0, 1, 2, 3, 4, 10, 11, 12, 13, 14]);
    // where the lines went missing, a gap record says how many
    const gap = lines.find((l) => l.k === "g");
    expect(gap?.n).toBeGreaterThanOrEqual(5);
  });

  it("a stuck disk: append never waits; beyond the queue bound lines are dropped and counted", async () => {
    const { io, release } = stuckDisk();
    const { w, warnings } = writer({ io, queueBytes: 5000 });
    let accepted = 0;
    for (let i = 0; i < 200; i++) if (w.append(line(i))) accepted++;
    expect(accepted).toBeLessThan(200);
    expect(w.stats().linesDropped).toBe(200 - accepted);
    expect(warnings.some((m) => m.includes("queue is full"))).toBe(true);
    release();
    await w.close();
    const lines = (await allLines()).map((l) => JSON.parse(l) as { k: string; n?: number });
    expect(lines.filter((l) => l.k === "c").length).toBe(accepted);
    expect(lines.find((l) => l.k === "g")?.n).toBe(200 - accepted);
  });

  it("coalesces: lines wait for their write until 256 KiB are queued or the flush delay ends; flushed() writes them at once", async () => {
    const writes: number[] = [];
    let wrote: (bytes: number) => void = () => undefined;
    const io: SegmentIo = {
      async write(handle, data) {
        await handle.write(data);
        writes.push(data.length);
        wrote(data.length);
      },
    };
    const { w } = writer({ io, flushMs: 3_600_000 });
    // Lines a cycle at a time, the event loop turning between them: no write yet (no header
    // either: the segment opens with its first write).
    for (let i = 0; i < 50; i++) {
      w.append(line(i));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(writes).toEqual([]);
    expect(w.stats().queuedLines).toBe(50);
    await w.flushed();
    expect(writes).toHaveLength(2); // the header, then the 50 lines in one write
    expect(w.stats()).toMatchObject({ queuedLines: 0, linesWritten: 50 });
    // 256 KiB queued: written at once, the delay not waited for.
    const written = new Promise<number>((resolve) => (wrote = resolve));
    const big = JSON.stringify({ k: "c", pad: "y".repeat(1000) });
    for (let i = 0; i < 300; i++) w.append(big);
    expect(await written).toBeGreaterThanOrEqual(256 * 1024);
    await w.close();
    expect(w.stats()).toMatchObject({ linesWritten: 350, linesDropped: 0 });
    expect((await allLines()).length).toBe(1 + 350);
  });

  it("appendBytes: a line handed over as bytes[0, length) goes in order with string lines, past chunk ends and bigger than a chunk; the queue bound and close drop it", async () => {
    const { w } = writer();
    const encoder = new TextEncoder();
    // A reused buffer, as the recorder's: only bytes[0, length) is the line, the rest old text.
    const scratch = new Uint8Array(600_000).fill(0x7a);
    const asBytes = (text: string): number => {
      scratch.set(encoder.encode(text));
      return encoder.encode(text).length;
    };
    const expected: string[] = [];
    for (let i = 0; i < 700; i++) {
      // ~1 KB lines, every third as bytes (with a non-ASCII character): the 256 KiB chunks
      // fill and a line lands across a chunk's end at least twice.
      const text = JSON.stringify({ k: "c", i, pad: "é".repeat(500) });
      expected.push(text);
      if (i % 3 === 0) expect(w.appendBytes(scratch, asBytes(text))).toBe(true);
      else expect(w.append(text)).toBe(true);
    }
    const huge = JSON.stringify({ k: "c", pad: "h".repeat(300 * 1024) });
    expected.push(huge);
    expect(w.appendBytes(scratch, asBytes(huge))).toBe(true);
    await w.flushed();
    expect((await allLines()).slice(1)).toEqual(expected);

    const small = writer({ queueBytes: 3000, flushMs: 3_600_000 }).w;
    const n = asBytes(line(0));
    let accepted = 0;
    for (let i = 0; i < 40; i++) if (small.appendBytes(scratch, n)) accepted++;
    expect(accepted).toBe(Math.floor(3000 / (n + 1)));
    expect(small.stats().linesDropped).toBe(40 - accepted);
    await small.close();
    await w.close();
    expect(w.appendBytes(scratch, n)).toBe(false);
    expect(w.stats().linesDropped).toBe(1);
  });

  it("reuses the chunks of written lines, never one whose write has not settled", async () => {
    // A slow disk: each write waits some turns of the event loop, and the bytes it was handed
    // must be the same when it goes on.
    let changed = 0;
    const io: SegmentIo = {
      async write(handle, data) {
        const copy = Buffer.from(data);
        for (let k = 0; k < 5; k++) await new Promise((resolve) => setImmediate(resolve));
        if (!copy.equals(data)) changed++;
        await handle.write(data);
      },
    };
    const CHUNK = 256 * 1024;
    const allocs = vi.spyOn(Buffer, "allocUnsafe");
    // Segments of 200 KB: a burst's lines end one mid-chunk, so that a write may be one chunk's
    // piece alone — the chunk itself handed to the disk, not a copy.
    const { w } = writer({ io, segmentBytes: 200 * 1024 });
    const expected: string[] = [];
    const burst = (b: number): void => {
      for (let i = 0; i < 300; i++) {
        const text = JSON.stringify({ k: "c", b, i, pad: "p".repeat(1000) });
        expected.push(text);
        w.rotateIfDue();
        expect(w.append(text)).toBe(true);
      }
    };
    // Bursts of ~300 KB, each written before the next: ~3 MB through a dozen chunks' worth.
    for (let b = 0; b < 10; b++) {
      burst(b);
      await w.flushed();
    }
    const chunksMade = allocs.mock.calls.filter(([size]) => size === CHUNK).length;
    // Then bursts that come while the last one's write is under way.
    for (let b = 10; b < 20; b++) {
      burst(b);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await w.close();
    allocs.mockRestore();
    expect(chunksMade).toBeLessThanOrEqual(5);
    expect(changed).toBe(0);
    const lines = (await allLines()).filter((l) => (JSON.parse(l) as { k: string }).k === "c");
    expect(lines).toEqual(expected);
  });

  it("a backlog written at once after a stuck disk leaves no buffer of its size kept", async () => {
    const { io, release } = stuckDisk();
    const { w } = writer({ io });
    // ~3 MB queued behind the first write: written as one when the disk answers.
    for (let i = 0; i < 3000; i++) expect(w.append(line(i).padEnd(1000, " "))).toBe(true);
    release();
    await w.flushed();
    expect(w.stats()).toMatchObject({ linesWritten: 3000, linesDropped: 0 });
    // The chunk being filled, four spare ones and the kept join buffer (512 KiB) at most.
    expect(w.bufferBytes()).toBeLessThanOrEqual((1 + 4 + 2) * 256 * 1024);
    await w.close();
  });

  it("appends after close are dropped, not thrown", async () => {
    const { w } = writer();
    await w.close();
    expect(w.append(line(0))).toBe(false);
    expect(w.stats().linesDropped).toBe(1);
  });
});
