// Closed segments, format version 2 (docs/recording.md, "Closed segments"): each symbol's lines in
// a gzip member of their own, with the order the lines were written in and an index of the
// members, so a replay of one symbol decompresses that symbol's member and no other (issue 19:
// one symbol of a 400-symbol day in seconds, where gunzipping the whole day took ~100 s).
//
// Why by symbol, not by position: one symbol is 1/400 of the lines, spread evenly over the day;
// blocks of consecutive lines small enough to miss it would lose most of gzip's compression. In a
// member of its own a symbol's lines compress as well as the whole (+~0.5 MB a segment for the
// members' own starts, measured on the recorder benchmark's run).
//
// Layout of a closed v2 segment `….jsonl.gz` — gzip members one after the other, which is still
// one valid gzip file (`zcat` prints every line, grouped as stored):
//   member 0   the header line, the order record {"k":"o","n":N,"g":[symbols],"ord":"…"} and every
//              line that is not a seed or cycle line (gaps, roles, a damaged line), in order;
//   member i   the seed and cycle lines of symbol g[i-1], in order (any phase);
//   index      {"k":"ix","n":N,"m":[[offset,bytes,crc32,size,lines]…],"s":[symbols],"p":[phases],
//              "t":[first,last]} — where each member is, its gzip trailer's CRC-32 and size; the
//              first and last seed/cycle time (null when a line's time is not where the
//              recorder writes it; a folded skip's line carries its first time, written late);
//   locator    a fixed-length line, stored uncompressed: where the index member is.
// `ord` gives, for each of the N lines after the header, which member it came from (two
// characters of ORDER_DIGITS, 0 for member 0), so the lines read back in the order written.
//
// A reader never trusts the index on its own: the members must tile the file exactly and each
// member's own gzip trailer (CRC-32, size) must match what the index says, the members read must
// inflate to the line counts the index and the order record give; otherwise the segment is read
// whole and put back in order by its order record (a scan), as a segment without an index is.
import { readFile, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { constants, createGunzip, gunzipSync, gzip, gzipSync } from "node:zlib";
import { RECORDING_FORMAT, RECORDING_VERSION } from "./format.js";

const gzipAsync = promisify(gzip);

/**
 * How a seed or cycle line begins, as the recorder writes it: kind, phase, symbol, and (a seed
 * or cycle) its time. A line that does not begin so, or is not complete (ending in `}`), is read
 * with every replay, whatever its filters.
 */
export const ACTOR_PREFIX =
  /^\{"k":"[cs]","p":"([a-z]+)","s":"([A-Za-z0-9._:-]+)",(?:"t":(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)[,}])?/;

/** The 64 characters the order record spells member numbers with, two per line. */
const ORDER_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
const DIGIT_VALUE = new Int16Array(128).fill(-1);
for (let i = 0; i < ORDER_DIGITS.length; i++) DIGIT_VALUE[ORDER_DIGITS.charCodeAt(i)] = i;
/** Member numbers fit two digits: symbols beyond (never at 400) go to member 0, read always. */
const MAX_MEMBERS = 64 * 64;

const LOCATOR = (at: number, len: number) =>
  `{"k":"ixat","at":"${String(at).padStart(15, "0")}","len":"${String(len).padStart(10, "0")}"}\n`;
const LOCATOR_PATTERN = /^\{"k":"ixat","at":"(\d{15})","len":"(\d{10})"\}\n$/;
/** Stored (level 0), the locator member's length is the same for every file: read from the end. */
const LOCATOR_BYTES = gzipSync(LOCATOR(0, 0), { level: 0 }).length;

/** The order record: member 0's second line. */
interface OrderRecord {
  k: "o";
  n: number;
  g: string[];
  ord: string;
  /** 1: the last line (in written order) was cut short by a crash. */
  cut?: 1;
}

/** The index record (second to last member). */
interface IndexRecord {
  k: "ix";
  n: number;
  /** Per member: offset, compressed bytes, CRC-32 and size from its trailer, lines. */
  m: [number, number, number, number, number][];
  s: string[];
  /** Per symbol member: the phases with lines in it, space-separated. */
  p: string[];
  /** First and last seed/cycle time (epoch ms), null when there is none. */
  t: [number, number] | null;
}

/** How the segment's lines were read: `numbers[i]` is lines[i]'s 1-based line as written. */
export interface SegmentLines {
  lines: string[];
  numbers: number[] | null;
  /** Lines known to be lost or cut short (a crash's last line, a damaged file). */
  bad: number;
  /** Whether the index chose what to decompress. */
  indexed: boolean;
}

/** Which symbols' members to decompress: a symbol and the phases that have lines in it. */
export type WantSymbol = (symbol: string, phases: readonly string[]) => boolean;

const isClusterable = (firstLine: string): boolean => {
  try {
    const h = JSON.parse(firstLine) as { k?: unknown; format?: unknown; v?: unknown };
    return h.k === "h" && h.format === RECORDING_FORMAT && h.v === RECORDING_VERSION;
  } catch {
    return false;
  }
};

/**
 * Compresses the plain segment `src` into `dest` (a v2 segment: members by symbol, order, index;
 * a segment whose header is not this version's is gzipped as one stream, as v1 was). The whole
 * plain file is held while it is compressed (a segment is at most 64 MiB, docs/recording.md);
 * deflate runs on libuv's pool, four members at a time, off the event loop.
 */
export async function writeClosedSegment(src: string, dest: string): Promise<void> {
  const buf = await readFile(src);
  const firstEnd = buf.indexOf(0x0a);
  if (firstEnd < 0 || !isClusterable(buf.toString("utf8", 0, firstEnd))) {
    await writeFile(dest, await gzipAsync(buf), { mode: 0o640 });
    return;
  }
  // Lines after the header: [start, end) with end at the newline (or the file's end: cut short).
  const groupOf = new Map<string, number>();
  const symbols: string[] = [];
  const phases: Set<string>[] = [];
  const members: number[][] = [[]]; // per member: start, end pairs
  // Each line's member, spelled at the end (one number a line, not one string a line).
  const ord: number[] = [];
  let tFirst = Number.POSITIVE_INFINITY;
  let tLast = Number.NEGATIVE_INFINITY;
  let timesKnown = true;
  let cut = false;
  let nextYield = YIELD_BYTES;
  for (let start = firstEnd + 1; start < buf.length;) {
    if (start >= nextYield) {
      // The service's cycles run on this thread: a 64 MiB segment is sorted in turns.
      nextYield = start + YIELD_BYTES;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    let end = buf.indexOf(0x0a, start);
    if (end === start) {
      start++; // an empty line: no record, and not a line a scan counts either
      continue;
    }
    if (end < 0) {
      end = buf.length;
      cut = true;
    }
    let member = 0;
    const m = cut
      ? null
      : ACTOR_PREFIX.exec(buf.toString("latin1", start, Math.min(end, start + 160)));
    if (m !== null && buf[end - 1] === 0x7d) {
      const symbol = m[2];
      let g = groupOf.get(symbol);
      if (g === undefined && members.length < MAX_MEMBERS) {
        g = members.length;
        groupOf.set(symbol, g);
        symbols.push(symbol);
        phases.push(new Set());
        members.push([]);
      }
      if (g !== undefined) {
        member = g;
        phases[g - 1].add(m[1]);
        if (m[3] === undefined) timesKnown = false;
        else {
          const t = Number(m[3]);
          if (t < tFirst) tFirst = t;
          if (t > tLast) tLast = t;
        }
      }
    }
    members[member].push(start, end);
    ord.push(member);
    start = end + 1;
  }
  const order: OrderRecord = {
    k: "o",
    n: ord.length,
    g: symbols,
    ord: spellOrder(ord),
    ...(cut ? { cut: 1 as const } : {}),
  };
  const memberText = (i: number, prefix: Buffer[]): Buffer => {
    const parts = [...prefix];
    const ranges = members[i];
    for (let j = 0; j < ranges.length; j += 2) {
      parts.push(buf.subarray(ranges[j], ranges[j + 1]), NEWLINE);
    }
    return Buffer.concat(parts);
  };
  const head = [buf.subarray(0, firstEnd + 1), Buffer.from(JSON.stringify(order) + "\n")];
  const compressed: Buffer[] = new Array<Buffer>(members.length);
  for (let i = 0; i < members.length; i += 4) {
    const batch = [];
    for (let j = i; j < Math.min(i + 4, members.length); j++) {
      batch.push(gzipAsync(memberText(j, j === 0 ? head : [])).then((z) => (compressed[j] = z)));
    }
    await Promise.all(batch);
  }
  const index: IndexRecord = { k: "ix", n: ord.length, m: [], s: symbols, p: [], t: null };
  let offset = 0;
  for (let i = 0; i < compressed.length; i++) {
    const z = compressed[i];
    const lines = members[i].length / 2 + (i === 0 ? 2 : 0);
    index.m.push([
      offset,
      z.length,
      z.readUInt32LE(z.length - 8),
      z.readUInt32LE(z.length - 4),
      lines,
    ]);
    offset += z.length;
  }
  index.p = phases.map((s) => [...s].sort().join(" "));
  index.t = timesKnown && tFirst <= tLast ? [tFirst, tLast] : null;
  const indexMember = await gzipAsync(JSON.stringify(index) + "\n");
  const locator = gzipSync(LOCATOR(offset, indexMember.length), { level: 0 });
  await writeFile(dest, Buffer.concat([...compressed, indexMember, locator]), { mode: 0o640 });
}

const NEWLINE = Buffer.from("\n");

/** Member numbers as the order record spells them: two ORDER_DIGITS each. */
function spellOrder(members: readonly number[]): string {
  const out = Buffer.allocUnsafe(members.length * 2);
  for (let i = 0; i < members.length; i++) {
    out[2 * i] = ORDER_DIGITS.charCodeAt(members[i] >> 6);
    out[2 * i + 1] = ORDER_DIGITS.charCodeAt(members[i] & 63);
  }
  return out.toString("latin1");
}
/** How much of the plain segment is sorted between two turns of the event loop. */
const YIELD_BYTES = 1 << 20;

/** The index of a v2 segment, checked against the file's bytes; null if absent or not matching. */
function readIndex(buf: Buffer): IndexRecord | null {
  if (buf.length < LOCATOR_BYTES) return null;
  let at: number;
  let len: number;
  let index: IndexRecord;
  try {
    const loc = LOCATOR_PATTERN.exec(
      gunzipSync(buf.subarray(buf.length - LOCATOR_BYTES)).toString(),
    );
    if (loc === null) return null;
    at = Number(loc[1]);
    len = Number(loc[2]);
    if (at + len + LOCATOR_BYTES !== buf.length) return null;
    index = JSON.parse(gunzipSync(buf.subarray(at, at + len)).toString()) as IndexRecord;
  } catch {
    return null;
  }
  if (index.k !== "ix" || !Array.isArray(index.m) || !Array.isArray(index.s)) return null;
  if (!Array.isArray(index.p) || index.m.length !== index.s.length + 1) return null;
  if (index.p.length !== index.s.length) return null;
  // The members tile the file up to the index, each a gzip member whose trailer says what the
  // index says: an index of another file, or of this one before a change, does not match.
  let offset = 0;
  for (const member of index.m) {
    if (!Array.isArray(member) || member.length !== 5) return null;
    const [o, bytes, crc, size] = member;
    if (o !== offset || !Number.isInteger(bytes) || bytes < 18 || o + bytes > at) return null;
    if (buf[o] !== 0x1f || buf[o + 1] !== 0x8b || buf[o + 2] !== 8) return null;
    if (buf.readUInt32LE(o + bytes - 8) !== crc || buf.readUInt32LE(o + bytes - 4) !== size)
      return null;
    offset += bytes;
  }
  return offset === at ? index : null;
}

const splitLines = (text: string): string[] => {
  const lines = text.split("\n");
  lines.pop();
  return lines;
};

/**
 * Reads a v2 segment through its index: member 0 (header, order, other lines) and the members of
 * the symbols `want` names. Null when the index is missing or disagrees with the file.
 */
function readIndexed(buf: Buffer, want: WantSymbol | undefined): SegmentLines | null {
  const index = readIndex(buf);
  if (index === null) return null;
  /** A member's lines; "damaged" when it does not inflate (its own CRC-32 fails, say). */
  const memberLines = (i: number): string[] | null | "damaged" => {
    const [o, bytes, , , lines] = index.m[i];
    let text: string;
    try {
      text = gunzipSync(buf.subarray(o, o + bytes)).toString("utf8");
    } catch {
      return "damaged";
    }
    if (!text.endsWith("\n")) return null;
    const out = splitLines(text);
    return out.length === lines ? out : null;
  };
  const first = memberLines(0);
  if (first === null || first === "damaged" || first.length < 2) return null;
  const order = parseOrder(first[1]);
  if (order === null || order.n !== index.n || !sameList(order.g, index.s)) return null;
  const counts = orderCounts(order, index.m.length);
  if (counts === null) return null;
  for (let i = 0; i < index.m.length; i++)
    if (counts[i] + (i === 0 ? 2 : 0) !== index.m[i][4]) return null;
  const read: (string[] | null)[] = [first.slice(2)];
  let lost = 0;
  for (let i = 1; i < index.m.length; i++) {
    if (want !== undefined && !want(index.s[i - 1], index.p[i - 1].split(" "))) {
      read.push(null);
      continue;
    }
    const lines = memberLines(i);
    if (lines === null) return null;
    if (lines === "damaged") {
      // The index is this file's (every trailer matched), the member's data is not: its lines are
      // lost and counted; the other members still read (a scan would stop at the damage).
      lost += index.m[i][4];
      read.push(null);
      continue;
    }
    read.push(lines);
  }
  const merged = merge(first[0], order, read);
  return { ...merged, bad: merged.bad + lost, indexed: true };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function parseOrder(line: string): OrderRecord | null {
  try {
    const o = JSON.parse(line) as OrderRecord;
    if (o.k !== "o" || typeof o.ord !== "string" || !Array.isArray(o.g)) return null;
    if (!Number.isInteger(o.n) || o.ord.length !== 2 * o.n) return null;
    return o;
  } catch {
    return null;
  }
}

/** Lines per member the order record gives; null when it names a member that is not there. */
function orderCounts(order: OrderRecord, members: number): number[] | null {
  const counts = new Array<number>(members).fill(0);
  const ord = order.ord;
  for (let i = 0; i < ord.length; i += 2) {
    const hi = DIGIT_VALUE[ord.charCodeAt(i)] ?? -1;
    const lo = DIGIT_VALUE[ord.charCodeAt(i + 1)] ?? -1;
    const member = hi * 64 + lo;
    if (hi < 0 || lo < 0 || member >= members) return null;
    counts[member]++;
  }
  return counts;
}

/**
 * The lines back in written order: the header, then per `ord` entry the next line of its member
 * (a member not read: its line is passed over). Lines a damaged file lost are counted as bad.
 */
function merge(
  header: string,
  order: OrderRecord,
  members: (string[] | null)[],
): Omit<SegmentLines, "indexed"> {
  const lines = [header];
  const numbers = [1];
  const next = new Array<number>(members.length).fill(0);
  const ord = order.ord;
  let bad = 0;
  for (let i = 0; i < order.n; i++) {
    const member = DIGIT_VALUE[ord.charCodeAt(2 * i)] * 64 + DIGIT_VALUE[ord.charCodeAt(2 * i + 1)];
    const list = members[member];
    if (list === null) continue;
    const line = list[next[member]++];
    if (line === undefined) {
      bad++;
      continue;
    }
    if (order.cut === 1 && i === order.n - 1) {
      bad++; // a crash's last line, cut short: as a plain segment's, counted, not read
      continue;
    }
    lines.push(line);
    numbers.push(i + 2);
  }
  return { lines, numbers, bad };
}

/**
 * The lines of one segment file in the order written. A v2 closed segment is read through its
 * index when it checks out, decompressing member 0 and the members `want` asks for (all when it is
 * undefined); otherwise the file is read whole — a plain segment up to its last complete line, a
 * gzip one up to where it breaks — and a v2 one's lines put back in order by its order record.
 */
export async function readSegmentFile(path: string, want?: WantSymbol): Promise<SegmentLines> {
  const raw = await readFile(path);
  if (path.endsWith(".gz")) {
    let indexed: SegmentLines | null;
    try {
      indexed = readIndexed(raw, want);
    } catch {
      indexed = null; // an index of the wrong shape (its trailers matching): not trusted either
    }
    if (indexed !== null) return indexed;
  }
  const { text, damaged } = path.endsWith(".gz")
    ? await gunzipWhatReads(raw)
    : { text: raw.toString("utf8"), damaged: false };
  const lines = text.split("\n");
  const last = lines.pop() ?? "";
  const truncated = last.length > 0 || damaged ? 1 : 0;
  const order = lines.length >= 2 && lines[1].startsWith('{"k":"o",') ? parseOrder(lines[1]) : null;
  if (order === null) {
    const kept = lines.filter((l) => l.length > 0);
    return { lines: kept, numbers: null, bad: truncated, indexed: false };
  }
  // A v2 segment read whole (its index missing or not matching): members one after the other.
  const counts = orderCounts(order, order.g.length + 1);
  if (counts === null) {
    // An order record that does not fit: the lines as stored, counted where they cannot be placed.
    const kept = lines.filter((l) => l.length > 0 && !/^\{"k":"(o|ix|ixat)",/.test(l));
    return { lines: kept, numbers: null, bad: truncated + 1, indexed: false };
  }
  const members: string[][] = [];
  let at = 2;
  for (const count of counts) {
    members.push(lines.slice(at, at + count));
    at += count;
  }
  const merged = merge(lines[0], order, members);
  return { ...merged, bad: merged.bad + truncated, indexed: false };
}

/**
 * The file gunzipped as far as it reads: a file cut short (a copy taken mid-write) or damaged
 * further on gives its lines up to there, `damaged` when the rest could not be read.
 */
async function gunzipWhatReads(raw: Buffer): Promise<{ text: string; damaged: boolean }> {
  const inflate = createGunzip({ finishFlush: constants.Z_SYNC_FLUSH });
  const chunks: Buffer[] = [];
  let damaged = false;
  inflate.on("data", (chunk: Buffer) => chunks.push(chunk));
  const failed = new Promise<void>((resolve) =>
    inflate.on("error", () => {
      damaged = true;
      resolve();
    }),
  );
  const ended = new Promise<void>((resolve) => inflate.on("end", resolve));
  // In pieces: the output of the pieces before a damaged one is kept (an error drops what the
  // stream holds of the piece it failed in).
  for (let at = 0; at < raw.length && !damaged; at += SCAN_PIECE) {
    const piece = raw.subarray(at, at + SCAN_PIECE);
    await Promise.race([
      new Promise<void>((resolve) => inflate.write(piece, () => resolve())),
      failed,
    ]);
  }
  if (!damaged) {
    inflate.end();
    await Promise.race([ended, failed]);
  }
  return { text: Buffer.concat(chunks).toString("utf8"), damaged };
}

const SCAN_PIECE = 4096;
