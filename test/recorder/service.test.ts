// The flight recorder end to end on a private redis-server with the producers' layouts: the
// service runs with recordDir while candles arrive on the klines stream, a position opens, moves
// and closes, and the AI policy changes; then the recording replays every cycle identically
// (in-process and as `replay recording DIR --check`), and a what-if harvest theta gives exactly
// the kernel's answers on the recorded inputs.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type ServiceHandle } from "../../src/service/service.js";
import { computeHarvest } from "../../src/kernels/harvest.js";
import type { HarvestInputs } from "../../src/phases/harvest.js";
import { divergence, replayRecording } from "../../src/recorder/replay.js";
import { expectCheckCommandIdentical, expectReplayIdentical } from "./replayCheck.js";
import type { CycleDoneEvent } from "../../machines/publisher.js";
import {
  brainFields,
  generatorPolicy,
  hsetPosition,
  lastClosedOpenTime,
  MINUTE_MS,
  seedDataSink,
  xaddKline,
} from "../helpers/producers.js";
import { prices } from "../helpers/seed.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import {
  captureLogger,
  explainWith,
  fastFlags,
  serviceConfig,
  stopService,
  until,
} from "../helpers/serviceHarness.js";
import { writePolicy } from "../policy/harness.js";

const SYMBOLS = ["BTCUSDT", "ETHUSDT"];
const fixture = useTestRedis();
let redis: Redis;
let dir: string;
let service: ServiceHandle | undefined;
const cycles: CycleDoneEvent[] = [];

beforeAll(async () => {
  redis = fixture.redis;
  dir = await mkdtemp(join(tmpdir(), "qc-e2e-rec-"));
});
afterAll(async () => {
  await stopService(service);
  await rm(dir, { recursive: true, force: true });
});

const published = (phase: string, symbol: string, from = 0) =>
  cycles
    .slice(from)
    .filter((c) => c.phase === phase && c.symbol === symbol && c.outcome === "published");

describe("flight recorder on redis-server", () => {
  it("records a live run; the replay reproduces every write; a what-if is the kernel's answer", async () => {
    const nowMs = Date.now();
    const lastOpen = lastClosedOpenTime(nowMs) - 4 * MINUTE_MS; // room for 3 new closed candles
    const series = {
      BTCUSDT: prices("trend", 310, 80_000, 3),
      ETHUSDT: prices("mr", 310, 3_000, 5),
    };
    for (const s of SYMBOLS)
      await seedDataSink(redis, s, series[s as keyof typeof series].slice(0, 300), {
        lastOpenTimeMs: lastOpen,
      });
    await writePolicy(redis, generatorPolicy({ nowMs, universe: SYMBOLS, version: "v1" }));
    service = await startService({
      config: serviceConfig(
        fastFlags(fixture.server.url, SYMBOLS, {
          recordDir: dir,
          marketstateInterval: 0.3,
          riskInterval: 0.2,
          harvestInterval: 0.2,
          maxCandleAge: 600,
        }),
      ),
      logger: captureLogger("warn").logger,
      hooks: { onCycle: (e) => void cycles.push(e) },
    });
    const explain = explainWith(service);
    await until(
      "marketstate published",
      () => published("marketstate", "ETHUSDT").length > 0,
    ).catch(explain);

    // A position opens (the brain's hash), then moves with a new candle on the klines stream.
    const eth = series.ETHUSDT;
    const entry = eth[299] * 0.99;
    const brain = (mark: number, amt = 1.5) =>
      brainFields(
        { symbol: "ETHUSDT", positionAmt: amt, entry, mark, unrealizedPnl: (mark - entry) * amt },
        Date.now(),
      );
    await hsetPosition(redis, brain(eth[299]));
    let mark = cycles.length;
    await until(
      "harvest ETHUSDT published",
      () => published("harvest", "ETHUSDT", mark).length > 0,
    ).catch(explain);
    for (let i = 300; i < 303; i++) {
      mark = cycles.length;
      await xaddKline(redis, {
        symbol: "ETHUSDT",
        open_time: lastOpen + (i - 299) * MINUTE_MS,
        close: eth[i],
      });
      await hsetPosition(redis, brain(eth[i]));
      await until(`marketstate ETHUSDT after candle ${i}`, () =>
        cycles
          .slice(mark)
          .some(
            (c) => c.phase === "harvest" && c.symbol === "ETHUSDT" && c.chainStartedAt !== null,
          ),
      ).catch(explain);
    }
    // The policy changes: harvest publishes under the new version.
    mark = cycles.length;
    await writePolicy(
      redis,
      generatorPolicy({
        nowMs: Date.now(),
        universe: SYMBOLS,
        version: "v2",
        harvest: { kill_threshold: 0.9 },
      }),
    );
    await until("harvest under policy v2", () =>
      published("harvest", "ETHUSDT", mark).some((c) => c.labels?.policy_version === "v2"),
    ).catch(explain);
    // The position closes.
    mark = cycles.length;
    await hsetPosition(redis, brain(eth[302], 0));
    await until("risk ETHUSDT skips no_position", () =>
      cycles
        .slice(mark)
        .some((c) => c.phase === "risk" && c.symbol === "ETHUSDT" && c.reason === "no_position"),
    ).catch(explain);
    expect(service.recorder).not.toBeNull();
    expect(service.recorder?.stats()).toMatchObject({ linesDropped: 0, faults: 0 });
    await stopService(service);
    service = undefined;

    const result = await expectReplayIdentical(dir);
    const writes = result.cycles.filter((c) => c.recorded.written !== null);
    expect(writes.length).toBeGreaterThan(10);
    const versions = new Set(
      result.cycles
        .filter((c) => c.phase === "harvest" && c.recorded.outcome === "published")
        .map((c) => c.recorded.written?.h[0][1].policy_version),
    );
    expect([...versions]).toEqual(expect.arrayContaining(["v1", "v2"]));
    expect(result.cycles.some((c) => c.phase === "risk" && c.recorded.why === "no_position")).toBe(
      true,
    );
    expect(result.cycles.some((c) => c.trigger === "run")).toBe(true);

    // The command: --check exits 0.
    await expectCheckCommandIdentical(dir);

    // What-if: every replayed harvest publish is the kernel run directly on the recorded inputs
    // with the theta in force plus the override.
    const whatIf = await replayRecording({ dir, theta: { harvest: { kill_threshold: 0.99 } } });
    let checked = 0;
    for (const c of whatIf.cycles) {
      if (c.phase !== "harvest" || c.replayed.outcome !== "published" || c.inputs === null)
        continue;
      const i = c.inputs as unknown as HarvestInputs;
      expect(i.theta.theta).toMatchObject({ kill_threshold: 0.99 });
      const k = computeHarvest({
        position: i.tracked.position,
        market_state: {
          sigma: i.market.sigma,
          ts: i.market.ts,
          p_trend: i.market.p_trend,
          p_mr: i.market.p_mr,
          p_chop: i.market.p_chop,
        },
        p1_proposal: i.risk.proposal,
        theta: i.theta.theta,
      });
      expect(c.replayed.written?.h[0][1].harvest_action).toBe(k.harvest_action);
      expect(Number(c.replayed.written?.h[0][1].kill_score)).toBe(k.kill_score);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
    expect(whatIf.cycles.filter((c) => c.phase !== "harvest" && divergence(c) !== null)).toEqual(
      [],
    );
  });
});
