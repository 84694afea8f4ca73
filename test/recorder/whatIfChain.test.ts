// What-if replays follow the chain (docs/recording.md, "What-if along the chain"), on a recording
// of a live run on a private redis-server: a marketstate theta reaches risk and harvest, a stops
// theta reaches harvest — each exactly as the kernels run directly on the chained values
// (computeMarketState → the marketstate hash → computeStops → the risk proposal hash →
// computeHarvest), the hashes spelled and read back by their output declarations. Without an
// override nothing changes, and an override equal to the configured theta changes nothing either.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  divergence,
  replayRecording,
  type ReplayedCycle,
  type ThetaOverride,
} from "../../src/recorder/replay.js";
import { createRedisStore, type RedisStore } from "../../src/store/redisStore.js";
import { computeMarketState } from "../../src/kernels/marketState.js";
import { computeStops } from "../../src/kernels/stops.js";
import { computeHarvest } from "../../src/kernels/harvest.js";
import {
  MARKETSTATE_OUTPUT,
  marketStateFields,
  PUBLISHED_MARKET_FIELDS,
  type PublishedMarketState,
} from "../../src/contracts/marketstateOutput.js";
import {
  RISK_PROPOSAL_OUTPUT,
  riskProposalFields,
} from "../../src/contracts/riskProposalOutput.js";
import {
  HARVEST_PROPOSAL_OUTPUT,
  harvestProposalFields,
} from "../../src/contracts/harvestProposalOutput.js";
import { parseFields, stamped, type Fields } from "../../src/contracts/output.js";
import { kernelPositionFor, type HarvestInputs } from "../../src/phases/harvest.js";
import type { RiskInputs } from "../../src/phases/risk.js";
import type { MarketStateInputs } from "../../src/phases/marketstate.js";
import { runCaptured } from "./replayCheck.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { redisClient } from "../helpers/seed.js";
import { serviceConfig } from "../helpers/serviceHarness.js";
import { recordRun } from "./liveRun.js";

let server: TestRedis;
let client: Redis;
let store: RedisStore;
let dir: string;

beforeAll(async () => {
  server = await startTestRedis();
  client = redisClient(server.url);
  store = createRedisStore({ url: server.url, reconnectBaseMs: 20, reconnectCapMs: 200 });
  dir = await mkdtemp(join(tmpdir(), "qc-whatif-chain-"));
  const recorder = await recordRun(dir, 10, undefined, undefined, {}, { store, client });
  expect(recorder.stats()).toMatchObject({ linesDropped: 0, faults: 0 });
});
afterAll(async () => {
  await store?.close();
  client?.disconnect();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

// recordRun's configuration (the recording's header has the same).
const config = serviceConfig({ store: "memory", symbols: ["BTCUSDT", "ETHUSDT"] });

const hashOf = (c: ReplayedCycle, which: "recorded" | "replayed"): Fields | undefined =>
  c[which].written?.h[0]?.[1];

const STAMPS = new Set(["computed_at_utc", "last_update_epoch", "ts_timestamp"]);
/** Whether the replayed publish wrote another value than the recorded one (stamps aside). */
const changedWrite = (c: ReplayedCycle): boolean => {
  const rec = hashOf(c, "recorded") ?? {};
  const rep = hashOf(c, "replayed") ?? {};
  return Object.keys({ ...rec, ...rep }).some((k) => !STAMPS.has(k) && rec[k] !== rep[k]);
};

/** The market state as risk and harvest read it from the hash (the declaration's codecs). */
function readMarket(fields: Fields): PublishedMarketState {
  const read = parseFields(MARKETSTATE_OUTPUT, fields, PUBLISHED_MARKET_FIELDS);
  if (!read.ok) throw new Error("unreadable marketstate hash");
  return read.values;
}

/**
 * Walks the replayed cycles in order and checks every one against the kernels run directly on
 * the chained values: each marketstate write is the kernel's result on the recorded closes with
 * the what-if theta; each risk and harvest cycle read the last replayed marketstate hash (and risk
 * proposal), and each publish is the kernel's result on them. Returns how many risk and harvest
 * publishes differ from the recorded ones.
 */
function checkChain(cycles: ReplayedCycle[], theta: ThetaOverride) {
  const msTheta = { ...(config.theta.marketstate ?? {}), ...(theta.marketstate ?? {}) };
  const stopsTheta = { ...(config.theta.stops ?? {}), ...(theta.stops ?? {}) };
  const market = new Map<string, Fields>();
  const risk = new Map<string, Fields>();
  const changed = { risk: 0, harvest: 0, checked: { risk: 0, harvest: 0 } };
  for (const c of cycles) {
    const written = hashOf(c, "replayed");
    if (c.phase === "marketstate") {
      if (c.inputs === null) continue;
      const closes = (c.inputs as unknown as MarketStateInputs).series.closes;
      const ms = computeMarketState(closes, msTheta);
      if (ms === null) throw new Error("the kernel had too few closes");
      if (c.replayed.outcome === "published") {
        expect(written).toEqual(
          stamped(MARKETSTATE_OUTPUT, marketStateFields(ms, closes.length), c.t),
        );
        market.set(c.symbol, written as Fields);
      }
      continue;
    }
    if (c.inputs === null) continue;
    const lastMarket = market.get(c.symbol);
    expect(lastMarket, `${c.phase} ${c.symbol} #${c.cycle}: a marketstate before it`).toBeDefined();
    const chainedMarket = readMarket(lastMarket as Fields);
    if (c.phase === "risk") {
      const inputs = c.inputs as unknown as RiskInputs;
      expect(inputs.market).toEqual(chainedMarket);
      const result = computeStops(
        {
          market_state: {
            sigma: chainedMarket.sigma,
            mu: chainedMarket.mu,
            ts: chainedMarket.ts,
            regime_probs: {
              trend: chainedMarket.p_trend,
              mr: chainedMarket.p_mr,
              chop: chainedMarket.p_chop,
            },
          },
          position: inputs.tracked.position,
          theta: stopsTheta,
        },
        c.symbol,
      );
      const previous = risk.get(c.symbol);
      if (c.replayed.outcome === "published") {
        changed.checked.risk++;
        expect(written).toEqual(
          stamped(
            RISK_PROPOSAL_OUTPUT,
            riskProposalFields(result, chainedMarket, inputs.tracked.position),
            c.t,
          ),
        );
        if (changedWrite(c)) changed.risk++;
        risk.set(c.symbol, written as Fields);
      } else if (c.replayed.outcome === "heartbeat" && previous !== undefined) {
        // A hold: the kernel's stop is the one published last (within the rate limit's epsilon).
        const held = Number(previous.proposed_sl);
        expect(Math.abs(result.proposed_sl - held) / held).toBeLessThan(0.01);
        risk.set(c.symbol, { ...previous, ...(written as Fields) });
      }
      continue;
    }
    const inputs = c.inputs as unknown as HarvestInputs;
    expect(inputs.market).toEqual(chainedMarket);
    const lastRisk = risk.get(c.symbol);
    expect(lastRisk, `harvest ${c.symbol} #${c.cycle}: a risk proposal before it`).toBeDefined();
    const stop = parseFields(RISK_PROPOSAL_OUTPUT, lastRisk as Fields, ["stop_dist_pct"]);
    if (!stop.ok) throw new Error("unreadable risk proposal");
    expect(inputs.risk.proposal).toEqual({ stop_dist_pct: stop.values.stop_dist_pct });
    const position = kernelPositionFor(inputs.tracked, config.rNetBasis);
    if (!position.ok) throw new Error(position.detail);
    const result = computeHarvest({
      position: position.value,
      market_state: {
        sigma: chainedMarket.sigma,
        ts: chainedMarket.ts,
        p_trend: chainedMarket.p_trend,
        p_mr: chainedMarket.p_mr,
        p_chop: chainedMarket.p_chop,
      },
      p1_proposal: { stop_dist_pct: stop.values.stop_dist_pct },
      theta: inputs.theta.theta,
    });
    if (c.replayed.outcome === "published") {
      changed.checked.harvest++;
      expect(written).toEqual(
        stamped(
          HARVEST_PROPOSAL_OUTPUT,
          harvestProposalFields(result, chainedMarket, position.value, inputs.theta.version),
          c.t,
        ),
      );
      if (changedWrite(c)) changed.harvest++;
    }
  }
  return changed;
}

describe("what-if along the chain (recording of a live run on redis-server)", () => {
  it("no override: identical, and the chain is not followed", async () => {
    const result = await replayRecording({ dir });
    expect(result.cycles.length).toBeGreaterThan(30);
    expect(result.cycles.filter((c) => divergence(c) !== null)).toEqual([]);
    expect(result.chain).toBeNull();
  });

  it("an override equal to the theta in force follows the chain and changes nothing", async () => {
    const same = { vol: { window: 256 } };
    const result = await replayRecording({ dir, theta: { marketstate: same } });
    expect(result.chain?.followed).toBeGreaterThan(10);
    expect(result.chain?.asRecorded).toBe(0);
    expect(result.cycles.filter((c) => divergence(c) !== null)).toEqual([]);
  });

  it("a marketstate theta changes risk and harvest exactly as the kernels do on the chained values", async () => {
    const theta: ThetaOverride = {
      marketstate: { vol: { ewma_lambda: 0.8 }, regime: { softmax_temp: 0.5 } },
    };
    const result = await replayRecording({ dir, theta });
    const changed = checkChain(result.cycles, theta);
    expect(changed.checked.risk).toBeGreaterThan(0);
    expect(changed.checked.harvest).toBeGreaterThan(0);
    expect(changed.risk).toBeGreaterThan(0);
    expect(changed.harvest).toBeGreaterThan(0);
    // the market state reached harvest's kill score, not only the echoed market fields
    expect(
      result.cycles.some(
        (c) =>
          c.phase === "harvest" &&
          c.replayed.outcome === "published" &&
          hashOf(c, "recorded")?.kill_score !== hashOf(c, "replayed")?.kill_score,
      ),
    ).toBe(true);
    expect(result.chain?.asRecorded).toBe(0);
  });

  it("a stops theta changes harvest through the replayed risk proposal", async () => {
    const theta: ThetaOverride = { stops: { k_sl: { trend: 3, mr: 2.5, chop: 3 } } };
    const result = await replayRecording({ dir, theta });
    // marketstate is as recorded: no theta of its own changed
    expect(
      result.cycles.filter((c) => c.phase === "marketstate" && divergence(c) !== null),
    ).toEqual([]);
    const changed = checkChain(result.cycles, theta);
    expect(changed.risk).toBeGreaterThan(0);
    expect(changed.harvest).toBeGreaterThan(0);
    // the stop distance reached harvest: its risk unit is the replayed one
    const harvest = result.cycles.filter(
      (c) => c.phase === "harvest" && c.replayed.outcome === "published",
    );
    expect(
      harvest.some((c) => hashOf(c, "recorded")?.risk_unit !== hashOf(c, "replayed")?.risk_unit),
    ).toBe(true);
  });

  it("the command: --only harvest with a stops theta still replays risk and shows harvest changed", async () => {
    const args = [
      "replay",
      "recording",
      dir,
      "--only",
      "harvest",
      "--set",
      "theta.stops.k_sl.mr=2.5",
    ];
    const json = await runCaptured([...args, "--json"]);
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.out) as { phase: string; changed: { field: string }[] }[];
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.phase === "harvest")).toBe(true);
    expect(rows.some((r) => r.changed.some((f) => f.field === "risk_unit"))).toBe(true);
    const { code: table, out } = await runCaptured(args);
    expect(table).toBe(0);
    expect(out).toMatch(
      /cycle\(s\) change with this theta; risk and harvest read the replayed marketstate and risk hashes \(\d+ input\(s\) followed\)/,
    );
  });
});
