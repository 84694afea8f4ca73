// Reading a flight recording: its segments in order, each one's lines — a closed segment through
// gunzip, the open one (or one a crash left) as it is, up to its last complete line.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  RECORDING_FORMAT,
  RECORDING_VERSION,
  SEGMENT_PATTERN,
  type HeaderRecord,
  type RecordLine,
} from "./format.js";
import { ACTOR_PREFIX, readSegmentFile, type WantSymbol } from "./segmentIndex.js";

export interface SegmentFile {
  path: string;
  name: string;
  openedMs: number;
  seq: number;
  closed: boolean;
}

/** The segments of a recording directory, oldest first (by name: opening time, then sequence). */
export async function listSegments(dir: string): Promise<SegmentFile[]> {
  const names = await readdir(dir);
  const out: SegmentFile[] = [];
  for (const name of names) {
    const m = SEGMENT_PATTERN.exec(name);
    if (m === null) continue;
    out.push({
      path: join(dir, name),
      name,
      openedMs: Number(m[1]),
      seq: Number(m[2]),
      closed: m[3] !== undefined,
    });
  }
  // A crash between the compressed copy's rename and the plain file's deletion leaves both: one is enough.
  const closed = new Set(out.filter((s) => s.closed).map((s) => s.name.slice(0, -3)));
  return out
    .filter((s) => s.closed || !closed.has(s.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The complete lines of one segment in the order written; `truncated` when a line was cut short
 * or lost (a crash, a damaged file). A closed v2 segment is put back in order (segmentIndex.ts).
 */
export async function readSegmentLines(
  path: string,
): Promise<{ lines: string[]; truncated: boolean }> {
  const { lines, bad } = await readSegmentFile(path);
  return { lines, truncated: bad > 0 };
}

export class RecordingError extends Error {}

/** One parsed line and where it came from. */
export interface RecordedLine {
  record: RecordLine;
  segment: string;
  line: number;
}

export interface ReadReport {
  segments: number;
  /** Lines that were not JSON (a cut-short last line, or damage). */
  badLines: number;
  /** Segments read through their index (set once one is). */
  indexed?: number;
}

/**
 * Every record of the recording, in order. A segment of another format or version is an error
 * naming it; a line that is not JSON is counted and skipped (a crash's last line).
 * `skipActor(phase, symbol)`: a seed or cycle line of an actor the caller does not want is left
 * out unparsed (a complete line, ending in `}`; anything else is parsed, and counted if bad) —
 * at 400 symbols parsing is most of one symbol's replay — and a closed v2 segment's members of
 * symbols with no wanted actor are not even decompressed (segmentIndex.ts): the same lines either
 * way, in the same order.
 */
export async function* readRecording(
  dir: string,
  report: ReadReport = { segments: 0, badLines: 0 },
  skipActor?: (phase: string, symbol: string) => boolean,
): AsyncGenerator<RecordedLine> {
  let segments: SegmentFile[];
  try {
    segments = await listSegments(dir);
  } catch (err) {
    throw new RecordingError(
      `cannot read the recording directory ${dir}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (segments.length === 0) throw new RecordingError(`no recording segments in ${dir}`);
  const want: WantSymbol | undefined =
    skipActor === undefined
      ? undefined
      : (symbol, phases) => phases.some((phase) => !skipActor(phase, symbol));
  for (const segment of segments) {
    const { lines, numbers, bad, indexed } = await readSegmentFile(segment.path, want);
    report.segments++;
    report.badLines += bad;
    if (indexed) report.indexed = (report.indexed ?? 0) + 1;
    for (let i = 0; i < lines.length; i++) {
      if (skipActor !== undefined && lines[i].endsWith("}")) {
        const m = ACTOR_PREFIX.exec(lines[i]);
        if (m !== null && skipActor(m[1], m[2])) continue;
      }
      let record: RecordLine;
      try {
        record = JSON.parse(lines[i]) as RecordLine;
      } catch {
        report.badLines++;
        continue;
      }
      if (record.k === "h") checkHeader(record, segment.name);
      yield { record, segment: segment.name, line: numbers === null ? i + 1 : numbers[i] };
    }
  }
}

/** Version 1 differs only in how a closed segment is stored (one gzip stream, no index). */
const READABLE_VERSIONS: readonly number[] = [1, RECORDING_VERSION];

function checkHeader(header: HeaderRecord, segment: string): void {
  if (header.format !== RECORDING_FORMAT || !READABLE_VERSIONS.includes(header.v)) {
    throw new RecordingError(
      `${segment}: format ${JSON.stringify(header.format)} version ${JSON.stringify(header.v)}; this quantum-calc reads ${RECORDING_FORMAT} versions ${READABLE_VERSIONS.join(" and ")}`,
    );
  }
}
