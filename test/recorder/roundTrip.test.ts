// Record → replay on the embedded store: a run of the real machines and steps with the flight
// recorder, then the replay of its recording reproduces every cycle (outcome, decision, every
// written field); a what-if theta changes exactly the harvest proposals the kernel says it does.
import { appendFile, cp, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { divergence, replayRecording } from "../../src/recorder/replay.js";
import { listSegments, readSegmentLines } from "../../src/recorder/reader.js";
import { computeHarvest } from "../../src/kernels/harvest.js";
import { serviceConfig } from "../helpers/serviceHarness.js";
import { recordRun } from "./liveRun.js";
import { configuredHarvestTheta, type HarvestInputs } from "../../src/phases/harvest.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-rt-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("record → replay (memory store, real machines)", () => {
  it("replays every recorded cycle exactly", async () => {
    expect((await recordRun(dir, 10)).stats()).toMatchObject({ linesDropped: 0, faults: 0 });
    const result = await replayRecording({ dir });
    const published = result.cycles.filter((c) => c.recorded.outcome === "published");
    expect(published.length).toBeGreaterThan(10);
    expect(published.some((c) => c.phase === "harvest")).toBe(true);
    expect(result.cycles.some((c) => c.recorded.why === "no_position")).toBe(true);
    const diverged = result.cycles
      .map((c) => [c, divergence(c)] as const)
      .filter(([, d]) => d !== null);
    expect(
      diverged.map(([c, d]) => `${c.phase} ${c.symbol} #${c.cycle}: ${JSON.stringify(d)}`),
    ).toEqual([]);
    expect(result.unreplayable).toBe(0);
  });

  it("replays exactly across segment boundaries (each segment self-contained)", async () => {
    await recordRun(dir, 10, 8 * 1024);
    const result = await replayRecording({ dir });
    expect(result.report.segments).toBeGreaterThan(2);
    expect(result.cycles.filter((c) => divergence(c) !== null)).toEqual([]);
  });

  it("each segment is self-contained: an actor's first inputs in it are in full, wherever it began", async () => {
    // Segments of a few cycles each: they begin at any point of an actor's cycle, between its
    // read (its line begun, as a delta) and its end (the line written).
    await recordRun(dir, 14, 20 * 1024);
    const segments = await listSegments(dir);
    expect(segments.length).toBeGreaterThan(2);
    let deltas = 0;
    for (const segment of segments) {
      const seen = new Set<string>();
      for (const text of (await readSegmentLines(segment.path)).lines) {
        const line = JSON.parse(text) as {
          k: string;
          p?: string;
          s?: string;
          f?: unknown;
          i?: unknown;
        };
        if (line.k !== "c" || (line.f === undefined && line.i === undefined)) continue;
        const actor = `${line.p}:${line.s}`;
        if (!seen.has(actor)) expect(line.f, `${segment.name} ${actor}`).toBeDefined();
        else if (line.i !== undefined) deltas++;
        seen.add(actor);
      }
    }
    expect(deltas).toBeGreaterThan(0);
    const result = await replayRecording({ dir });
    expect(result.cycles.filter((c) => divergence(c) !== null)).toEqual([]);
  });

  it("I/O failures (a read, a publish) replay exactly: the same backoff, retry and re-seed", async () => {
    await recordRun(dir, 10, undefined, undefined, { read: 3, publish: 5 });
    const result = await replayRecording({ dir });
    const errors = result.cycles.filter((c) => c.recorded.outcome === "error");
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(result.cycles.some((c) => c.trigger === "retry")).toBe(true);
    expect(result.cycles.filter((c) => divergence(c) !== null)).toEqual([]);
  });

  it("a killed writer: closed segments and the open one up to its last full line replay exactly", async () => {
    const crashed = await mkdtemp(join(tmpdir(), "qc-rt-crash-"));
    try {
      // A snapshot of the directory mid-run, as a SIGKILL would leave it: segments already
      // closed, the open one plain, its last line cut short.
      await recordRun(dir, 8, 8 * 1024, async (pass, recorder) => {
        if (pass !== 5) return;
        await recorder.flushed();
        await cp(dir, crashed, { recursive: true });
      });
      const names = await readdir(crashed);
      const open = names.find((n) => n.endsWith(".jsonl"));
      expect(open).toBeDefined();
      expect(names.some((n) => n.endsWith(".jsonl.gz"))).toBe(true);
      await appendFile(join(crashed, open ?? ""), '{"k":"c","p":"risk","s":"ETHUSDT","t":17');
      const result = await replayRecording({ dir: crashed });
      expect(result.report.badLines).toBe(1);
      expect(result.cycles.length).toBeGreaterThan(10);
      expect(result.cycles.filter((c) => divergence(c) !== null)).toEqual([]);
    } finally {
      await rm(crashed, { recursive: true, force: true });
    }
  });

  it("what-if: a harvest theta changes exactly the proposals the kernel says", async () => {
    expect((await recordRun(dir, 10)).stats()).toMatchObject({ linesDropped: 0, faults: 0 });
    const over = { T1_R: 0.5, T2_R: 1, T3_R: 1.5, kill_threshold: 0.95 };
    const whatIf = await replayRecording({ dir, theta: { harvest: over } });
    const harvest = whatIf.cycles.filter((c) => c.phase === "harvest" && c.inputs !== null);
    expect(harvest.length).toBeGreaterThan(3);
    // The kernel run directly on each cycle's recorded inputs, with the theta in force and with
    // the what-if theta: the proposals that differ are exactly those the replay reports changed.
    const kernel = (c: (typeof harvest)[number], theta: Record<string, unknown>) => {
      const i = c.inputs as unknown as HarvestInputs;
      return computeHarvest({
        position: i.tracked.position,
        market_state: {
          sigma: i.market.sigma,
          ts: i.market.ts,
          p_trend: i.market.p_trend,
          p_mr: i.market.p_mr,
          p_chop: i.market.p_chop,
        },
        p1_proposal: i.risk.proposal,
        theta,
      });
    };
    let changedByKernel = 0;
    for (const c of harvest) {
      const i = c.inputs as unknown as HarvestInputs;
      // c.inputs already carries the what-if theta over the one in force
      const now = kernel(c, i.theta.theta);
      const fields = c.replayed.written?.h[0][1];
      if (c.replayed.outcome === "published") {
        expect(fields?.harvest_action).toBe(now.harvest_action);
        expect(Number(fields?.kill_score)).toBe(now.kill_score);
      }
      const inForce = { ...(i.theta.theta as Record<string, unknown>) };
      for (const k of Object.keys(over)) delete inForce[k];
      const before = kernel(c, {
        ...configuredHarvestTheta(serviceConfig({ store: "memory" })),
        ...inForce,
      });
      const differs =
        before.harvest_action !== now.harvest_action ||
        before.new_sl_proposed !== now.new_sl_proposed;
      if (differs) changedByKernel++;
      const reported = c.recorded.written?.h[0][1]?.harvest_action !== fields?.harvest_action;
      if (c.recorded.outcome === "published" && c.replayed.outcome === "published")
        expect(reported).toBe(before.harvest_action !== now.harvest_action);
    }
    expect(changedByKernel).toBeGreaterThan(0);
    // nothing but harvest changes
    expect(whatIf.cycles.filter((c) => c.phase !== "harvest" && divergence(c) !== null)).toEqual(
      [],
    );
  });
});
