// A replay of a few actors (--symbols, --only) has the reader leave the other actors' seed and
// cycle lines out without parsing them; everything else — headers, gaps, lines of another shape,
// a cut-short line — is read and counted as before.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { readRecording, type ReadReport } from "../../src/recorder/reader.js";
import { RECORDING_FORMAT, RECORDING_VERSION, segmentName } from "../../src/recorder/format.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it("skipActor leaves unwanted actors' lines out unparsed; others, gaps and damage are read", async () => {
  const dir = await mkdtemp(join(tmpdir(), "qc-reader-skip-"));
  dirs.push(dir);
  const lines = [
    JSON.stringify({ k: "h", format: RECORDING_FORMAT, v: RECORDING_VERSION, config: {} }),
    JSON.stringify({ k: "s", p: "risk", s: "BTCUSDT", t: 1, m: null }),
    JSON.stringify({ k: "s", p: "risk", s: "ETHUSDT", t: 1, m: null }),
    JSON.stringify({ k: "c", p: "harvest", s: "ETHUSDT", t: 2 }),
    JSON.stringify({ k: "g", n: 3, t: 3 }),
    JSON.stringify({ k: "c", p: "risk", s: "BTCUSDT", t: 4 }),
    // Damaged in the middle: not a complete line, so parsed (and counted), even for ETHUSDT.
    '{"k":"c","p":"risk","s":"ETHUSDT","t":5,',
  ];
  await writeFile(join(dir, segmentName(1, 0, false)), `${lines.join("\n")}\n`);
  const report: ReadReport = { segments: 0, badLines: 0 };
  const seen: string[] = [];
  for await (const { record } of readRecording(dir, report, (_p, s) => s !== "BTCUSDT")) {
    seen.push("s" in record ? `${record.k} ${record.s}` : record.k);
  }
  expect(seen).toEqual(["h", "s BTCUSDT", "g", "c BTCUSDT"]);
  expect(report).toEqual({ segments: 1, badLines: 1 });

  const all: string[] = [];
  for await (const { record } of readRecording(dir)) all.push(record.k);
  expect(all).toEqual(["h", "s", "s", "c", "g", "c"]);
});
