// The output guard through the service (redis-server, `--once` in-process, the producers'
// layouts): an implausible result is the counted skip implausible_result naming the field and
// value, and — because the skip happens in compute — nothing of that cycle is written: the risk
// and harvest hashes (last_update_epoch included: no heartbeat either) and the position memory
// are byte for byte what they were. A control pass shows the same pass does write otherwise.
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  brainFields,
  hsetPosition,
  seedDataSink,
  type BrainSnapshot,
} from "../helpers/producers.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { prices } from "../helpers/seed.js";
import { oncePass } from "../helpers/serviceHarness.js";

const S = "BTCUSDT";
const RISK = `quantum:risk:proposal:${S}`;
const HARVEST = `quantum:harvest:proposal:${S}`;
const MEMORY = `quantum:calc:position:${S}`;

const fixture = useTestRedis();
let redis: Redis;
beforeAll(() => {
  ({ redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});

const once = (nowMs: number, flags: Record<string, unknown> = {}) =>
  oncePass({ redisUrl: fixture.server.url, symbols: [S], flags, now: () => nowMs });
const written = async () => ({
  risk: await redis.hgetall(RISK),
  harvest: await redis.hgetall(HARVEST),
  memory: await redis.hgetall(MEMORY),
});

/** Fresh data-sink candles and a LONG the position brain snapshotted at `nowMs`; returns the brain's snapshot. */
async function market(nowMs: number): Promise<BrainSnapshot> {
  const closes = prices("trend", 300, 100);
  await seedDataSink(redis, S, closes, { nowMs });
  const mark = Math.round(closes[closes.length - 1] * 100) / 100;
  const entry = Math.round(mark * 0.98 * 100) / 100;
  const b: BrainSnapshot = {
    symbol: S,
    positionAmt: 0.5,
    entry,
    mark,
    unrealizedPnl: (mark - entry) * 0.5,
    tsEpoch: Math.floor(nowMs / 1000),
  };
  await hsetPosition(redis, brainFields(b, nowMs));
  return b;
}

describe("implausible_result writes nothing of its cycle", () => {
  it("an entry price 1000x off (a unit glitch in the brain's snapshot): both phases skip naming it; hashes and memory unchanged", async () => {
    const t0 = Date.now();
    const b = await market(t0);
    const first = await once(t0);
    expect(first.counts["risk:published"]).toBe(1);
    expect(first.counts["harvest:published"]).toBe(1);
    const before = await written();
    expect(before.memory.peak_price).toBeDefined();

    // 5 s later the brain writes the entry in the wrong unit and a higher mark (a new peak that
    // would be remembered), stamped at t1: a plausible pass would heartbeat last_update_epoch.
    const t1 = t0 + 5000;
    const glitch = {
      ...b,
      entry: b.entry * 1000,
      mark: b.mark * 1.01,
      tsEpoch: Math.floor(t1 / 1000),
    };
    await hsetPosition(redis, brainFields(glitch, t1));
    const skipped = await once(t1);
    expect(skipped.exitCode).toBe(0);
    expect(skipped.counts["skip:risk:implausible_result"]).toBe(1);
    expect(skipped.counts["skip:harvest:implausible_result"]).toBe(1);
    expect(skipped.counts["risk:published"]).toBeUndefined();
    const entryText = Number(glitch.entry.toFixed(8));
    expect(skipped.skipDetail("risk")).toMatch(
      new RegExp(
        `^implausible_result: position_entry_price=${entryText} is more than maxPriceRatio 10 away from the current price `,
      ),
    );
    expect(skipped.skipDetail("harvest")).toMatch(/^implausible_result: position_entry_price=/);
    expect(await written()).toEqual(before);

    // Control: the brain's snapshot corrected, the same pass writes again (a heartbeat at least).
    await hsetPosition(
      redis,
      brainFields(
        {
          ...b,
          mark: glitch.mark,
          unrealizedPnl: (glitch.mark - b.entry) * 0.5,
          tsEpoch: Math.floor(t1 / 1000),
        },
        t1,
      ),
    );
    await once(t1);
    const after = await written();
    expect(after.risk.last_update_epoch).toBe(String(Math.floor(t1 / 1000)));
    expect(after.harvest.last_update_epoch).toBe(String(Math.floor(t1 / 1000)));
  });

  it("maxStopDistPct below the stop the kernel computes: risk skips naming stop_dist_pct, its hash unchanged; harvest goes on", async () => {
    const t0 = Date.now();
    await market(t0);
    // A floor far below the volatility-driven stop, so maxStopDistPct can be set between the two
    // (the config refuses a maxStopDistPct at or below sl_min_pct).
    const theta = { stops: { sl_min_pct: 1e-6 } };
    await once(t0, { theta });
    const before = await redis.hgetall(RISK);
    const stop = Number(before.stop_dist_pct);
    expect(stop).toBeGreaterThan(2e-6);
    const t1 = t0 + 5000;
    const limit = stop / 2;
    const r = await once(t1, { theta, maxStopDistPct: limit });
    expect(r.counts["skip:risk:implausible_result"]).toBe(1);
    expect(r.skipDetail("risk")).toBe(
      `implausible_result: stop_dist_pct=${before.stop_dist_pct} is not below maxStopDistPct ${limit}`,
    );
    expect(await redis.hgetall(RISK)).toEqual(before);
    expect(r.counts["skip:harvest:implausible_result"]).toBeUndefined();
    expect((await redis.hgetall(HARVEST)).last_update_epoch).toBe(String(Math.floor(t1 / 1000)));
  });
});
