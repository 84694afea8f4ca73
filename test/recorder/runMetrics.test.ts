// `run --record-dir --http-port` (the BUILT CLI; `npm run build` first when running this file
// alone): the flight recorder's counters are on /metrics — its drops are what its warning points
// to — and without --record-dir there are none (no recorder, nothing to count).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { getText, startCli, until } from "../helpers/serviceHarness.js";

const MEMORY_RUN = [
  "run",
  "--store",
  "memory",
  "--symbols",
  "BTCUSDT",
  "--marketstate-interval",
  "0.2",
  "--risk-interval",
  "0.2",
  "--harvest-interval",
  "0.2",
  "--http-port",
  "0",
];

const RECORDER_METRICS = [
  "quantum_calc_recorder_lines_total",
  "quantum_calc_recorder_dropped_total",
  "quantum_calc_recorder_bytes_total",
  "quantum_calc_recorder_segments_deleted_total",
  "quantum_calc_recorder_queued_bytes",
];

/** The port from the "http server listening" JSON log line. */
function listeningPort(output: string): number | null {
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as { msg?: string; port?: number };
    if (entry.msg === "http server listening" && typeof entry.port === "number") return entry.port;
  }
  return null;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-runmet-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** /metrics of a started run, once the service is up (the recorder's are registered then). */
async function scrape(args: string[]): Promise<string> {
  const run = startCli(
    [...MEMORY_RUN, ...args],
    { QUANTUM_CALC_WATCHDOG_SEC: "0" },
    { cleanEnv: true },
  );
  try {
    const port = await until("the HTTP server", () => listeningPort(run.output()));
    await until("the service to start", () => run.output().includes("quantum-calc started"));
    const metrics = await getText(port, "/metrics");
    expect(metrics.status).toBe(200);
    run.child.kill("SIGTERM");
    expect((await run.exit).code).toBe(0);
    return metrics.body;
  } finally {
    run.child.kill("SIGKILL");
  }
}

describe("run --record-dir: the recorder's metrics", () => {
  it("are served on /metrics with --record-dir", async () => {
    const body = await scrape(["--record-dir", dir]);
    for (const name of RECORDER_METRICS) expect(body).toMatch(new RegExp(`^${name} \\d+$`, "m"));
  });

  it("are absent without --record-dir", async () => {
    const body = await scrape([]);
    expect(body).toContain("quantum_calc_redis_up");
    expect(body).not.toContain("quantum_calc_recorder_");
  });
});
