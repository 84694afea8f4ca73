// Position memory (docs/specification.md §4.2) across `--once` passes: every pass is its own startService (a
// restart), so whatever carries peak, trough and first-seen from one pass to the next is the
// service's own hash quantum:calc:position:{symbol}. Inputs are laid out as the live writers write
// them (test/helpers/producers.ts); each pass runs at an injected clock value, no sleeping.
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  MINUTE_MS,
  applyLayerFields,
  brainFields,
  hsetPosition,
  positionKey,
  seedDataSink,
} from "../helpers/producers.js";
import type { TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { prices } from "../helpers/seed.js";
import { oncePass } from "../helpers/serviceHarness.js";

const S = "ETHUSDT";
const MEMORY = `quantum:calc:position:${S}`;
const RISK = `quantum:risk:proposal:${S}`;
const ENTRY = 100;
const QTY = 0.5;

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;

beforeAll(() => {
  ({ server, redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});

/** One `run --once` pass in-process at the clock value `nowMs`; returns handle.stats.summary(). */
async function once(
  nowMs: number,
  flags: Record<string, unknown> = {},
): Promise<Record<string, number>> {
  const pass = await oncePass({ redisUrl: server.url, symbols: [S], flags, now: () => nowMs });
  expect(pass.exitCode).toBe(0);
  return pass.counts;
}

/** The position brain's snapshot of a position entered at ENTRY, now at `price`. */
async function brainAt(side: "LONG" | "SHORT", price: number, nowMs: number): Promise<void> {
  const sign = side === "LONG" ? 1 : -1;
  await hsetPosition(
    redis,
    brainFields(
      {
        symbol: S,
        positionAmt: sign * QTY,
        entry: ENTRY,
        mark: price,
        unrealizedPnl: sign * (price - ENTRY) * QTY,
        tsEpoch: Math.floor(nowMs / 1000),
      },
      nowMs,
    ),
  );
}

/** The pass's risk proposal and the memory, as numbers where they are numbers. */
async function read(): Promise<{ risk: Record<string, string>; memory: Record<string, string> }> {
  return { risk: await redis.hgetall(RISK), memory: await redis.hgetall(MEMORY) };
}

const n = (text: string | undefined): number => {
  expect(text, "a published number").toBeDefined();
  return Number(text);
};

/** Hash keys holding a `peak_price` field: the memory must live in our own hash only. */
async function keysWithPeak(): Promise<string[]> {
  const out: string[] = [];
  for (const key of (await redis.keys("*")).sort()) {
    if ((await redis.type(key)) === "hash" && (await redis.hexists(key, "peak_price")))
      out.push(key);
  }
  return out;
}

describe("peak and trough across restarts", () => {
  it("LONG 100 → 110 → 105: peak 110, trough 100; the pass-3 stop trails from 110", async () => {
    const t0 = Date.now();
    await seedDataSink(redis, S, prices("trend", 300, 100), { nowMs: t0 });
    const passes: Array<[number, number]> = [
      [t0, 100],
      [t0 + 10_000, 110],
      [t0 + 20_000, 105],
    ];
    let counts: Record<string, number> = {};
    for (const [at, price] of passes) {
      await brainAt("LONG", price, at);
      counts = await once(at);
      expect(counts["risk:published"], `risk published at ${price}`).toBe(1);
    }
    const { risk, memory } = await read();
    expect(memory.peak_price).toBe("110");
    expect(memory.trough_price).toBe("100");
    expect(memory.side).toBe("LONG");
    expect(memory.first_seen_epoch).toBe(String(Math.floor(t0 / 1000)));
    expect(await redis.ttl(MEMORY)).toBeGreaterThan(0);

    // The pass-3 proposal, recomputed from the numbers in the hashes (docs/specification.md §2 LONG).
    expect(risk.position_current_price).toBe("105");
    const stop = n(risk.stop_dist_pct);
    const gap = n(risk.trail_gap_pct);
    const rawSl = 105 * (1 - stop);
    const trailSl = n(memory.peak_price) * (1 - gap);
    expect(trailSl).toBeGreaterThan(rawSl); // so the trail is what decides
    expect(n(risk.proposed_sl)).toBe(Math.max(rawSl, trailSl));
    expect(risk.reason_codes.split(",")[0]).toBe("trail_active");
    // An age from first sight: 20 s.
    expect(risk.position_age_sec).toBe("20");

    // The memory is only in our own hash; the writers' hash is left alone.
    expect(await keysWithPeak()).toEqual([MEMORY]);
    const position = await redis.hgetall(positionKey(S));
    for (const field of ["peak_price", "trough_price", "first_seen_epoch", "identity"])
      expect(position[field], field).toBeUndefined();
    expect(position.source).toBe("position_state_brain");
  });

  it("SHORT 100 → 90 → 95 (mirrored): peak 90 (the lowest), trough 100 (the highest); default trail from the trough", async () => {
    const t0 = Date.now();
    await seedDataSink(redis, S, prices("trend", 300, 100), { nowMs: t0 });
    for (const [at, price] of [
      [t0, 100],
      [t0 + 10_000, 90],
      [t0 + 20_000, 95],
    ] as const) {
      await brainAt("SHORT", price, at);
      const counts = await once(at);
      expect(counts["risk:published"], `risk published at ${price}`).toBe(1);
    }
    const { risk, memory } = await read();
    expect(memory.side).toBe("SHORT");
    expect(memory.peak_price).toBe("90");
    expect(memory.trough_price).toBe("100");
    expect(risk.position_side).toBe("SHORT");
    const rawSl = 95 * (1 + n(risk.stop_dist_pct));
    const trailSl = n(memory.trough_price) * (1 + n(risk.trail_gap_pct));
    expect(n(risk.proposed_sl)).toBe(Math.min(rawSl, trailSl));
    expect(await keysWithPeak()).toEqual([MEMORY]);
  });
});

describe("candles since the opening", () => {
  /**
   * 300 candles; the apply layer opened the position at the open time of candle `k`. Candle k
   * itself (opened exactly then) has a high spike that counts; candle k-1, just before, a higher
   * one that must not; likewise for the lows.
   */
  async function seedAround(t0: number, side: "LONG" | "SHORT") {
    const closes = prices("trend", 300, 100);
    const top = Math.max(...closes);
    const bottom = Math.min(...closes);
    const k = 240;
    const countedHigh = Math.round(top * 1.1 * 100) / 100;
    const ignoredHigh = Math.round(top * 1.3 * 100) / 100;
    const countedLow = Math.round(bottom * 0.9 * 100) / 100;
    const ignoredLow = Math.round(bottom * 0.7 * 100) / 100;
    const { firstOpenTimeMs, lastOpenTimeMs } = await seedDataSink(redis, S, closes, {
      nowMs: t0,
      highLow: (close, i) => ({
        high: i === k ? countedHigh : i === k - 1 ? ignoredHigh : close * 1.001,
        low: i === k + 20 ? countedLow : i === k - 2 ? ignoredLow : close * 0.999,
      }),
    });
    const openedMs = firstOpenTimeMs + k * MINUTE_MS;
    const current = Math.round(closes[closes.length - 1] * 100) / 100;
    const sign = side === "LONG" ? 1 : -1;
    await hsetPosition(
      redis,
      applyLayerFields({
        symbol: S,
        side,
        quantity: QTY,
        entry: current,
        planId: "plan-candles",
        createdAt: openedMs / 1000,
      }),
    );
    await hsetPosition(
      redis,
      brainFields(
        {
          symbol: S,
          positionAmt: sign * QTY,
          entry: current,
          mark: current,
          unrealizedPnl: 0,
          tsEpoch: Math.floor(t0 / 1000),
        },
        t0,
      ),
    );
    return { countedHigh, countedLow, current, lastOpenTimeMs, openedMs };
  }

  it("LONG: peak = the highest high at or after created_at (an earlier, higher high does not count), trough = the lowest low", async () => {
    const t0 = Date.now();
    const s = await seedAround(t0, "LONG");
    expect(s.countedHigh).toBeGreaterThan(s.current);
    const counts = await once(t0);
    expect(counts["risk:published"]).toBe(1);
    const { risk, memory } = await read();
    expect(n(memory.peak_price)).toBe(s.countedHigh);
    expect(n(memory.trough_price)).toBe(s.countedLow);
    expect(n(memory.candles_through_ms)).toBe(s.lastOpenTimeMs);
    expect(memory.identity).toContain("plan-candles");
    // The stop trails from that peak.
    const expected = Math.max(
      s.current * (1 - n(risk.stop_dist_pct)),
      s.countedHigh * (1 - n(risk.trail_gap_pct)),
    );
    expect(n(risk.proposed_sl)).toBe(expected);
    // age from created_at
    expect(n(risk.position_age_sec)).toBe(Math.floor(t0 / 1000 - s.openedMs / 1000));
  });

  it("SHORT: peak = the lowest low since created_at, trough = the highest high", async () => {
    const t0 = Date.now();
    const s = await seedAround(t0, "SHORT");
    await once(t0);
    const { memory } = await read();
    expect(n(memory.peak_price)).toBe(s.countedLow);
    expect(n(memory.trough_price)).toBe(s.countedHigh);
  });
});

describe("identity and closing", () => {
  it("a new plan_id (a new position) resets peak and trough to the current price", async () => {
    const t0 = Date.now();
    await seedDataSink(redis, S, prices("trend", 300, 100), { nowMs: t0 });
    // created_at after the newest candle opened: no candle counts, only observed prices.
    const opened = Math.floor(t0 / 1000);
    await hsetPosition(
      redis,
      applyLayerFields({
        symbol: S,
        side: "LONG",
        quantity: QTY,
        entry: ENTRY,
        planId: "plan-A",
        createdAt: opened,
      }),
    );
    await brainAt("LONG", 100, t0);
    await once(t0);
    await brainAt("LONG", 110, t0 + 10_000);
    await once(t0 + 10_000);
    let { memory } = await read();
    expect([memory.peak_price, memory.trough_price]).toEqual(["110", "100"]);
    expect(memory.identity).toContain("plan-A");

    // The apply layer opens another position (HSET over the same hash), the brain snapshots it at 104.
    const t2 = t0 + 20_000;
    await hsetPosition(
      redis,
      applyLayerFields({
        symbol: S,
        side: "LONG",
        quantity: QTY,
        entry: ENTRY,
        planId: "plan-B",
        createdAt: opened + 15,
      }),
    );
    await brainAt("LONG", 104, t2);
    const counts = await once(t2);
    expect(counts["risk:published"]).toBe(1);
    const fresh = await read();
    memory = fresh.memory;
    const risk = fresh.risk;
    expect(memory.identity).toContain("plan-B");
    expect([memory.peak_price, memory.trough_price]).toEqual(["104", "104"]);
    expect(memory.first_seen_epoch).toBe(String(Math.floor(t2 / 1000)));
    // The stop no longer trails from plan A's 110.
    const expected = Math.max(104 * (1 - n(risk.stop_dist_pct)), 104 * (1 - n(risk.trail_gap_pct)));
    expect(n(risk.proposed_sl)).toBe(expected);
    expect(n(risk.position_age_sec)).toBe(5); // from plan B's created_at
  });

  it("side FLAT deletes the memory; so does the position hash going away", async () => {
    const t0 = Date.now();
    await seedDataSink(redis, S, prices("trend", 300, 100), { nowMs: t0 });
    await brainAt("LONG", 100, t0);
    await once(t0);
    expect(await redis.exists(MEMORY)).toBe(1);

    // The brain's FLAT snapshot, HSET over the open position's fields.
    const t1 = t0 + 10_000;
    await hsetPosition(redis, {
      ...brainFields(
        {
          symbol: S,
          positionAmt: 0,
          entry: 0,
          mark: 0,
          unrealizedPnl: 0,
          tsEpoch: Math.floor(t1 / 1000),
        },
        t1,
      ),
      entry_price: "0.0",
      mark_price: "0.0",
      current_price: "0.0",
      unrealized_pnl: "0.0",
    });
    const flat = await once(t1);
    expect(flat["skip:risk:no_position"]).toBe(1);
    expect(flat["skip:harvest:no_position"]).toBe(1);
    expect(await redis.exists(MEMORY)).toBe(0);

    // Reopened (a new snapshot at 120): the memory starts afresh, not from the old 100.
    const t2 = t0 + 20_000;
    await brainAt("LONG", 120, t2);
    await once(t2);
    const { memory } = await read();
    expect([memory.peak_price, memory.trough_price]).toEqual(["120", "120"]);
    expect(memory.first_seen_epoch).toBe(String(Math.floor(t2 / 1000)));

    // The key is deleted when the position goes flat (docs/specification.md §4.1): no position, no memory.
    await redis.del(positionKey(S));
    const gone = await once(t2 + 10_000);
    expect(gone["skip:risk:no_position"]).toBe(1);
    expect(await redis.exists(MEMORY)).toBe(0);
  });
});
