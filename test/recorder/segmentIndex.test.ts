// Closed segments by symbol with an index (format v2, docs/recording.md "Closed segments"): a
// filtered read decompresses only the wanted symbols' members and yields exactly the records a
// full scan yields; a segment without an index (v1, or its index gone) and one whose index does
// not match the file are read whole, in the order written; a real recording replays exactly from
// the index, from a v1 copy of it, and one symbol alone.
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RECORDING_FORMAT, RECORDING_VERSION, segmentName } from "../../src/recorder/format.js";
import { readRecording, type ReadReport } from "../../src/recorder/reader.js";
import { readSegmentFile, writeClosedSegment } from "../../src/recorder/segmentIndex.js";
import { divergence, replayRecording } from "../../src/recorder/replay.js";
import { SegmentWriter } from "../../src/recorder/segmentWriter.js";
import { recordRun } from "./liveRun.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-segidx-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const header = (v: number = RECORDING_VERSION) =>
  JSON.stringify({ k: "h", format: RECORDING_FORMAT, v, seg: 0, t: 1, by: "test", config: {} });

/** A segment's lines: three symbols in two phases interleaved, a gap, a role, a damaged line. */
function segmentLines(): string[] {
  const lines = [header()];
  const symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
  let t = 1000;
  for (const s of symbols) lines.push(JSON.stringify({ k: "s", p: "risk", s, t, m: null }));
  for (let i = 0; i < 30; i++) {
    for (const s of symbols) {
      for (const p of ["risk", "harvest"]) {
        t += 7.25; // times need not be whole (the clock reading as the steps saw it)
        lines.push(JSON.stringify({ k: "c", p, s, t, tr: "interval", i: { n: { "=": i } } }));
      }
    }
    if (i === 10) lines.push(JSON.stringify({ k: "g", t, n: 4 }));
    if (i === 12) lines.push(JSON.stringify({ k: "r", t, role: "leader" }));
    // Damaged mid-file (not a complete line): read with every filter, counted as bad.
    if (i === 20) lines.push('{"k":"c","p":"risk","s":"ETHUSDT","t":1,');
    if (i === 25) lines.push(""); // an empty line: skipped, not counted, by every reader
  }
  return lines;
}

/** `lines` as the open segment and, compressed the way the writer closes it, as a closed one. */
async function writeBoth(lines: string[], tail = "\n"): Promise<{ plain: string; closed: string }> {
  const plainDir = join(dir, "plain");
  const closedDir = join(dir, "closed");
  for (const d of [plainDir, closedDir]) await rm(d, { recursive: true, force: true });
  await import("node:fs/promises").then(async (fs) => {
    await fs.mkdir(plainDir);
    await fs.mkdir(closedDir);
  });
  const plain = join(plainDir, segmentName(1, 0, false));
  await writeFile(plain, lines.join("\n") + tail);
  const closed = join(closedDir, segmentName(1, 0, true));
  await writeClosedSegment(plain, closed);
  return { plain, closed };
}

type Skip = ((phase: string, symbol: string) => boolean) | undefined;

async function records(d: string, skip: Skip): Promise<{ out: string[]; report: ReadReport }> {
  const report: ReadReport = { segments: 0, badLines: 0 };
  const out: string[] = [];
  for await (const r of readRecording(d, report, skip))
    out.push(`${r.line} ${JSON.stringify(r.record)}`);
  return { out, report };
}

const FILTERS: [string, Skip][] = [
  ["no filter", undefined],
  ["--symbols BTCUSDT", (_p, s) => s !== "BTCUSDT"],
  ["--symbols ETHUSDT,SOLUSDT", (_p, s) => s === "BTCUSDT"],
  ["--only harvest", (p) => p !== "harvest"],
  ["--symbols SOLUSDT --only risk", (p, s) => p !== "risk" || s !== "SOLUSDT"],
  ["a symbol not recorded", (_p, s) => s !== "XRPUSDT"],
];

describe("closed segments by symbol with an index", () => {
  it("every filter yields exactly the records, line numbers and damage a full scan yields", async () => {
    const { plain, closed } = await writeBoth(segmentLines());
    const stored = gunzipSync(await readFile(closed)).toString();
    // Still one gzip file; the lines stored by symbol after the header and the order record.
    expect(stored.split("\n")[0]).toBe(header());
    expect(stored.split("\n")[1]).toMatch(/^\{"k":"o",/);
    const index = JSON.parse(stored.split("\n").slice(-3)[0]) as { k: string; t: number[] };
    const times = segmentLines()
      .map((l) => /"t":([\d.]+)[,}]/.exec(l))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]));
    expect(index).toMatchObject({ k: "ix" });
    expect(index.t).toEqual([1000, Math.max(...times)]);
    for (const [name, skip] of FILTERS) {
      const scan = await records(join(plain, ".."), skip);
      const indexed = await records(join(closed, ".."), skip);
      expect(indexed.out, name).toEqual(scan.out);
      expect(indexed.report, name).toEqual({ ...scan.report, indexed: 1 });
      expect(scan.report.badLines, name).toBe(1);
    }
  });

  it("reads only the wanted symbols' members: damage inside another symbol's is not seen", async () => {
    const { plain, closed } = await writeBoth(segmentLines());
    const whole = await readSegmentFile(closed);
    expect(whole).toMatchObject({ indexed: true, bad: 0 });
    expect(whole.lines).toEqual(
      (await readFile(plain, "utf8")).split("\n").filter((l) => l.length > 0),
    );
    // Scramble the middle of ETHUSDT's member (its trailer, which the index is checked
    // against, is left as it is): a read of BTCUSDT never inflates it.
    const buf = await readFile(closed);
    const index = JSON.parse(gunzipSync(buf).toString().split("\n").slice(-3)[0]) as {
      s: string[];
      m: [number, number][];
    };
    const [o, bytes] = index.m[index.s.indexOf("ETHUSDT") + 1];
    buf.fill(0x55, o + 12, o + bytes - 10);
    await writeFile(closed, buf);
    const btc = await records(join(closed, ".."), (_p, s) => s !== "BTCUSDT");
    const btcPlain = await records(join(plain, ".."), (_p, s) => s !== "BTCUSDT");
    expect(btc.out).toEqual(btcPlain.out);
    expect(btc.report.indexed).toBe(1);
    // Asked for, the damaged member fails to inflate: its lines are lost and counted, the other
    // members still read, no record is made up.
    const eth = await records(join(closed, ".."), (_p, s) => s !== "BTCUSDT" && s !== "ETHUSDT");
    expect(eth.report.indexed).toBe(1);
    const ethLines = (await readFile(plain, "utf8"))
      .split("\n")
      .filter((l) => /"s":"ETHUSDT","t":[\d.]+,"/.test(l));
    expect(eth.report.badLines).toBe(1 + ethLines.length);
    expect(eth.out).toEqual(btcPlain.out);
  });

  it("without an index (v1: one gzip stream) a segment is scanned as before", async () => {
    const lines = segmentLines();
    lines[0] = header(1);
    const { plain, closed } = await writeBoth(lines);
    // The writer leaves a segment of another version one gzip stream, as v1 wrote it.
    expect(gunzipSync(await readFile(closed)).toString()).toBe(await readFile(plain, "utf8"));
    for (const [name, skip] of FILTERS) {
      const scan = await records(join(plain, ".."), skip);
      const v1 = await records(join(closed, ".."), skip);
      expect(v1.out, name).toEqual(scan.out);
      expect(v1.report, name).toEqual(scan.report);
    }
  });

  it("a torn or missing index is not trusted: the segment is read whole, in the order written", async () => {
    const { plain, closed } = await writeBoth(segmentLines());
    const good = await readFile(closed);
    const members = JSON.parse(gunzipSync(good).toString().split("\n").slice(-3)[0]) as {
      m: [number, number, number, number, number][];
    };
    const indexAt = members.m.reduce((end, [o, b]) => Math.max(end, o + b), 0);
    const broken: [string, Buffer][] = [
      ["no index (cut after the members)", good.subarray(0, indexAt)],
      ["the locator cut short", good.subarray(0, good.length - 5)],
      ["the file torn inside the index", good.subarray(0, indexAt + 20)],
    ];
    // An index that tells a wrong CRC for a member (as one of another file would).
    const lying = JSON.parse(gunzipSync(good.subarray(indexAt)).toString().split("\n")[0]) as {
      m: [number, number, number, number, number][];
    };
    lying.m[1][2] = (lying.m[1][2] + 1) >>> 0;
    const lyingIndex = gzipSync(JSON.stringify(lying) + "\n");
    const locator = gzipSync(
      `{"k":"ixat","at":"${String(indexAt).padStart(15, "0")}","len":"${String(lyingIndex.length).padStart(10, "0")}"}\n`,
      { level: 0 },
    );
    broken.push([
      "an index whose CRC does not match",
      Buffer.concat([good.subarray(0, indexAt), lyingIndex, locator]),
    ]);
    for (const [name, bytes] of broken) {
      await writeFile(closed, bytes);
      for (const [filter, skip] of FILTERS) {
        const scan = await records(join(plain, ".."), skip);
        const read = await records(join(closed, ".."), skip);
        expect(read.out, `${name}, ${filter}`).toEqual(scan.out);
        expect(read.report.indexed, `${name}, ${filter}`).toBeUndefined();
      }
    }
  });

  it("a crash's cut-short last line, closed on restart, is counted and left out as before", async () => {
    const lines = segmentLines();
    const { plain, closed } = await writeBoth(lines, '\n{"k":"c","p":"risk","s":"BTCUSDT","t":17');
    for (const [name, skip] of FILTERS) {
      const scan = await records(join(plain, ".."), skip);
      const read = await records(join(closed, ".."), skip);
      expect(read.out, name).toEqual(scan.out);
      expect(read.report, name).toEqual({ ...scan.report, indexed: 1 });
      expect(scan.report.badLines, name).toBe(2);
    }
  });

  it("the segment writer closes segments this way; the bounds count the one file each", async () => {
    const w = new SegmentWriter({
      dir,
      retentionMs: 3_600_000,
      maxBytes: 1e9,
      segmentBytes: 4000,
      header: () => header(),
    });
    const lines = segmentLines().slice(1);
    for (const l of lines) {
      w.rotateIfDue();
      w.append(l);
    }
    await w.close();
    const names = (await readdir(dir)).sort();
    expect(names.length).toBeGreaterThan(2);
    expect(names.every((n) => n.endsWith(".jsonl.gz"))).toBe(true);
    const back: string[] = [];
    for (const n of names) {
      const seg = await readSegmentFile(join(dir, n));
      expect(seg.indexed).toBe(true);
      back.push(...seg.lines.slice(1));
    }
    expect(back).toEqual(lines.filter((l) => l.length > 0));
  });
});

describe("replay from the index", () => {
  it("one symbol replays exactly, the same cycles as in the whole replay; a v1 copy replays the same", async () => {
    await recordRun(dir, 8, 8 * 1024);
    const whole = await replayRecording({ dir });
    expect(whole.report.indexed).toBe(whole.report.segments);
    expect(whole.cycles.filter((c) => divergence(c) !== null)).toEqual([]);
    const one = await replayRecording({ dir, symbols: ["ETHUSDT"] });
    expect(one.report.indexed).toBe(one.report.segments);
    expect(one.cycles.length).toBeGreaterThan(5);
    expect(one.cycles.filter((c) => divergence(c) !== null)).toEqual([]);
    const strip = (cs: typeof whole.cycles) => cs.map((c) => ({ ...c, inputs: null }));
    expect(strip(one.cycles)).toEqual(strip(whole.cycles.filter((c) => c.symbol === "ETHUSDT")));

    // The same recording as v1 wrote it: each segment one gzip stream in the order written.
    const v1 = join(dir, "v1");
    await import("node:fs/promises").then((fs) => fs.mkdir(v1));
    for (const name of (await readdir(dir)).filter((n) => n.endsWith(".jsonl.gz"))) {
      const { lines } = await readSegmentFile(join(dir, name));
      const h = JSON.parse(lines[0]) as { v: number };
      h.v = 1;
      lines[0] = JSON.stringify(h);
      await writeFile(join(v1, name), gzipSync(lines.join("\n") + "\n"));
    }
    const old = await replayRecording({ dir: v1, symbols: ["ETHUSDT"] });
    expect(old.report.indexed).toBeUndefined();
    expect(strip(old.cycles)).toEqual(strip(one.cycles));
  });
});
