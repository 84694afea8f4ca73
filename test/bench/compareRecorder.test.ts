// bench/compareRecorder.ts: each pair's two runs differ only in the recording directory the "on"
// run is given — and with `control` in nothing (an A/A comparison, docs/performance.md). A stand-in
// bench script prints a figure that tells whether it was given --record-dir.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { compareRecorder, type CompareOptions } from "../../bench/compareRecorder.js";

let dir = "";
let script = "";

beforeAll(async () => {
  dir = await mkdtemp(join(os.tmpdir(), "qc-compare-test-"));
  script = join(dir, "standIn.mjs");
  // 100 without a recording directory, 150 with one (and the directory it was given must exist).
  await writeFile(
    script,
    [
      'import { existsSync } from "node:fs";',
      'const at = process.argv.indexOf("--record-dir");',
      "if (at >= 0 && !existsSync(process.argv[at + 1])) throw new Error('no such directory');",
      "console.log(`figure ${at >= 0 ? 150 : 100}`);",
    ].join("\n"),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What a comparison of two pairs side by side over the stand-in prints, with `options` on top. */
async function printed(options: Partial<CompareOptions>): Promise<string> {
  const lines: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => {
    lines.push(a.join(" "));
  });
  try {
    await compareRecorder({
      pairs: 2,
      script,
      args: [],
      figure: (stdout) => Number(/figure (\d+)/.exec(stdout)![1]),
      concurrent: true,
      where: "at the burst",
      setting: "stand-in",
      figureName: "figure",
      unit: "ms",
      ...options,
    });
  } finally {
    log.mockRestore();
  }
  return lines.join("\n");
}

it("the pair's on run alone is given a recording directory", async () => {
  const out = await printed({});
  expect(out).toContain("pair 1: recorder off 100 ms, on 150 ms (+50.0 %), figure");
  expect(out).toContain("pair 2: recorder off 100 ms, on 150 ms (+50.0 %), figure");
  expect(out).toMatch(/^recorder at the burst, stand-in, 2 pairs side by side: median \+50\.0 %/m);
  expect(out).toMatch(/^goal \(issue 19\) recorder CPU at the burst ≤ 5 %: NOT met/m);
}, 60_000);

it("--control: neither run is given one, and no verdict on the goal is printed", async () => {
  const out = await printed({ control: true });
  expect(out).toContain("pair 1: control, side A 100 ms, side B 100 ms (+0.0 %), figure");
  expect(out).toMatch(
    /^control \(both sides without the recorder\) at the burst, stand-in, 2 pairs side by side: median \+0\.0 %/m,
  );
  expect(out).toMatch(/^control: a pair's "off" and "on" runs both ran without the recorder/m);
  expect(out).not.toContain("goal (issue 19)");
}, 60_000);

it("every run gets the NODE_OPTIONS asked for (the shipped unit's by default in the benches), and they reach V8", async () => {
  const heapScript = join(dir, "heapLimit.mjs");
  // Its figure: V8's heap limit in MB, which --max-old-space-size sets.
  await writeFile(
    heapScript,
    [
      'import v8 from "node:v8";',
      "console.log(`figure ${Math.round(v8.getHeapStatistics().heap_size_limit / 2 ** 20)}`);",
    ].join("\n"),
  );
  const out = await printed({
    pairs: 1,
    script: heapScript,
    figureName: "heap limit",
    unit: "MB",
    nodeOptions: "--max-old-space-size=200",
    nodeOptionsFrom: "a test's",
  });
  expect(out).toContain('every run with NODE_OPTIONS="--max-old-space-size=200" (a test\'s)');
  const [, off, on] = /recorder off (\d+) MB, on (\d+) MB/.exec(out)!.map(Number);
  // 200 MB of old space and the young generation's few tens — far below V8's own default limit.
  for (const limit of [off, on]) {
    expect(limit).toBeGreaterThanOrEqual(200);
    expect(limit).toBeLessThan(400);
  }
}, 60_000);
