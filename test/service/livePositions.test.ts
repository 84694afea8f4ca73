// The live stack's position hash (docs/specification.md §4.1) end to end: data-sink candles and the position hash
// exactly as its writers (position brain, apply layer, reconcile engine) lay it out, one
// `--once` pass in-process (startService({ once: true })) against a private redis-server, and
// the counted outcome plus the written hashes. Times come from one clock value per test, which is
// also injected as the service's `now`, so a "later" pass needs no sleep.
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { computeHarvest } from "../../src/kernels/harvest.js";
import {
  applyLayerFields,
  brainFields,
  hsetPosition,
  positionKey,
  reconcileFields,
  seedDataSink,
  type BrainSnapshot,
} from "../helpers/producers.js";
import type { TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { longPosition, prices, seedPosition } from "../helpers/seed.js";
import { oncePass } from "../helpers/serviceHarness.js";

const S = "BTCUSDT";
const RISK = `quantum:risk:proposal:${S}`;
const HARVEST = `quantum:harvest:proposal:${S}`;

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;

beforeAll(() => {
  ({ server, redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});

/** One `run --once` pass in-process at the clock value `nowMs`. */
const once = (nowMs: number, flags: Record<string, unknown> = {}) =>
  oncePass({ redisUrl: server.url, symbols: [S], flags, now: () => nowMs });

/** 300 fresh data-sink candles; returns the newest close rounded to a cent (the mark price used below). */
async function market(nowMs: number): Promise<number> {
  const closes = prices("trend", 300, 100);
  await seedDataSink(redis, S, closes, { nowMs });
  return Math.round(closes[closes.length - 1] * 100) / 100;
}

/** A LONG of 0.5 entered 2 % below the mark, as the position brain writes it at `nowMs`. */
function brain(mark: number, nowMs: number, overrides: Partial<BrainSnapshot> = {}): BrainSnapshot {
  const entry = Math.round(mark * 0.98 * 100) / 100;
  return {
    symbol: S,
    positionAmt: 0.5,
    entry,
    mark,
    unrealizedPnl: (mark - entry) * 0.5,
    tsEpoch: Math.floor(nowMs / 1000),
    ...overrides,
  };
}

const num = (value: string | undefined): number => {
  expect(value, "a published number").toBeDefined();
  return Number(value);
};

describe("position brain snapshot only", () => {
  it("publishes risk and harvest with the mark price; the age starts at 0 on first sight and grows from it", async () => {
    const t0 = Date.now();
    const mark = await market(t0);
    const b = brain(mark, t0);
    await hsetPosition(redis, brainFields(b, t0));
    // maxPublishAge 1: the second pass (5 s later) republishes even if nothing moved.
    const first = await once(t0, { maxPublishAge: 1 });
    expect(first.exitCode).toBe(0);
    expect(first.counts["risk:published"]).toBe(1);
    expect(first.counts["harvest:published"]).toBe(1);
    const risk = await redis.hgetall(RISK);
    const harvest = await redis.hgetall(HARVEST);
    expect(num(risk.position_current_price)).toBe(Number(mark.toFixed(8)));
    expect(num(harvest.position_current_price)).toBe(Number(mark.toFixed(8)));
    expect(num(risk.position_entry_price)).toBe(b.entry);
    expect(risk.position_side).toBe("LONG");
    // No created_at, no age_sec: the age counts from when this service first saw the position.
    expect(risk.position_age_sec).toBe("0");
    expect(harvest.position_age_sec).toBe("0");
    expect(harvest.k_age_penalty).toBe("0");
    const memory = await redis.hgetall(`quantum:calc:position:${S}`);
    expect(memory.first_seen_epoch).toBe(String(Math.floor(t0 / 1000)));

    // The brain refreshes its snapshot; a second pass (a restart) 5 s later continues from the memory.
    const t1 = t0 + 5000;
    await hsetPosition(redis, brainFields({ ...b, tsEpoch: Math.floor(t1 / 1000) }, t1));
    const second = await once(t1, { maxPublishAge: 1 });
    expect(second.counts["risk:published"]).toBe(1);
    expect(second.counts["harvest:published"]).toBe(1);
    expect((await redis.hgetall(RISK)).position_age_sec).toBe("5");
    expect((await redis.hgetall(HARVEST)).position_age_sec).toBe("5");
    expect((await redis.hgetall(`quantum:calc:position:${S}`)).first_seen_epoch).toBe(
      String(Math.floor(t0 / 1000)),
    );
  });

  it("mark_price only (no current_price field): publishes with that price", async () => {
    const t0 = Date.now();
    const mark = await market(t0);
    const { current_price: _drop, ...fields } = brainFields(brain(mark, t0), t0);
    await hsetPosition(redis, fields);
    expect(await redis.hexists(positionKey(S), "current_price")).toBe(0);
    const r = await once(t0);
    expect(r.counts["risk:published"]).toBe(1);
    expect(r.counts["harvest:published"]).toBe(1);
    expect(num((await redis.hgetall(RISK)).position_current_price)).toBe(Number(mark.toFixed(8)));
    expect(num((await redis.hgetall(HARVEST)).position_current_price)).toBe(
      Number(mark.toFixed(8)),
    );
  });
});

describe("brain + apply layer fields", () => {
  /** The apply layer opened it 2 h ago (stop_loss/take_profit as given), then the brain snapshotted it. */
  async function opened(t0: number, mark: number, stopLoss?: number): Promise<BrainSnapshot> {
    const b = brain(mark, t0);
    const createdAt = Math.floor(t0 / 1000) - 7200;
    await hsetPosition(
      redis,
      applyLayerFields({
        symbol: S,
        side: "LONG",
        quantity: 0.5,
        entry: b.entry,
        planId: "plan-42",
        createdAt,
        ...(stopLoss !== undefined ? { stopLoss } : {}),
      }),
    );
    await hsetPosition(redis, brainFields(b, t0));
    return b;
  }

  it('publishes with age from created_at; stop_loss "0" is unset', async () => {
    const t0 = Date.now();
    const mark = await market(t0);
    await opened(t0, mark);
    const stored = await redis.hgetall(positionKey(S));
    expect(stored.stop_loss).toBe("0");
    expect(stored.take_profit).toBe("0");
    expect(stored.plan_id).toBe("plan-42");
    const r = await once(t0);
    expect(r.counts["risk:published"]).toBe(1);
    expect(r.counts["harvest:published"]).toBe(1);
    const risk = await redis.hgetall(RISK);
    expect(num(risk.position_age_sec)).toBeGreaterThanOrEqual(7200);
    expect(num(risk.position_age_sec)).toBeLessThan(7202);
    expect(num((await redis.hgetall(HARVEST)).position_age_sec)).toBeCloseTo(7200, -1);
    // "0" = no stop: no monotonic rule applied or reported.
    const codes = risk.reason_codes.split(",");
    expect(codes).not.toContain("sl_tightened_monotonic");
    expect(codes).not.toContain("sl_tightening");
  });

  it("a real stop_loss above the computed LONG stop is kept (sl_tightened_monotonic)", async () => {
    const t0 = Date.now();
    const mark = await market(t0);
    await opened(t0, mark);
    await once(t0);
    const computed = num((await redis.hgetall(RISK)).proposed_sl);

    // The same inputs at the same time, but the apply layer placed a tighter stop.
    await redis.flushall();
    await market(t0);
    const stopLoss = Math.round(computed * 1.002 * 100) / 100;
    expect(stopLoss).toBeGreaterThan(computed);
    await opened(t0, mark, stopLoss);
    const r = await once(t0);
    expect(r.counts["risk:published"]).toBe(1);
    const risk = await redis.hgetall(RISK);
    expect(num(risk.proposed_sl)).toBe(stopLoss);
    // Reason order (docs/specification.md §2): trail_active (if any) first, then the monotonic code, then the regime.
    const codes = risk.reason_codes.split(",");
    expect(codes).toContain("sl_tightened_monotonic");
    expect(codes).not.toContain("sl_tightening");
    expect(codes.filter((c) => c !== "trail_active")[0]).toBe("sl_tightened_monotonic");
  });
});

describe("no position", () => {
  it("side FLAT as the brain writes it: no_position for risk and harvest, nothing proposed, no bad_position", async () => {
    const t0 = Date.now();
    await market(t0);
    // The brain's FLAT snapshot: position_amt / quantity "0.0", prices "0.0".
    await hsetPosition(redis, {
      ...brainFields(
        {
          symbol: S,
          positionAmt: 0,
          entry: 0,
          mark: 0,
          unrealizedPnl: 0,
          tsEpoch: Math.floor(t0 / 1000),
        },
        t0,
      ),
      entry_price: "0.0",
      mark_price: "0.0",
      current_price: "0.0",
      unrealized_pnl: "0.0",
    });
    const stored = await redis.hgetall(positionKey(S));
    expect([stored.side, stored.position_amt, stored.quantity, stored.entry_price]).toEqual([
      "FLAT",
      "0.0",
      "0.0",
      "0.0",
    ]);
    const r = await once(t0);
    expect(r.exitCode).toBe(0);
    expect(r.counts["marketstate:published"]).toBe(1);
    expect(r.counts["skip:risk:no_position"]).toBe(1);
    expect(r.counts["skip:harvest:no_position"]).toBe(1);
    expect(r.counts["skip:risk:bad_position"]).toBeUndefined();
    expect(r.counts["skip:harvest:bad_position"]).toBeUndefined();
    expect(r.skipDetail("risk")).toMatch(/^no_position: .*side FLAT/);
    expect(await redis.exists(RISK, HARVEST, `quantum:calc:position:${S}`)).toBe(0);
  });

  it('quantity "0" with side LONG: no_position', async () => {
    const t0 = Date.now();
    const mark = await market(t0);
    const { position_amt: _amt, ...fields } = brainFields(brain(mark, t0), t0);
    await hsetPosition(redis, { ...fields, quantity: "0" });
    const r = await once(t0);
    expect(r.counts["skip:risk:no_position"]).toBe(1);
    expect(r.counts["skip:harvest:no_position"]).toBe(1);
    expect(r.skipDetail("harvest")).toMatch(/quantity 0/);
    expect(await redis.exists(RISK, HARVEST)).toBe(0);
  });

  it('position_amt "0.0" with side LONG: no_position', async () => {
    const t0 = Date.now();
    const mark = await market(t0);
    await hsetPosition(redis, { ...brainFields(brain(mark, t0), t0), position_amt: "0.0" });
    const r = await once(t0);
    expect(r.counts["skip:risk:no_position"]).toBe(1);
    expect(r.counts["skip:harvest:no_position"]).toBe(1);
    expect(await redis.exists(RISK, HARVEST)).toBe(0);
  });
});

describe("reconcile engine and freshness", () => {
  it("reconcile engine fields without mark/current price: bad_position naming current_price/mark_price", async () => {
    const t0 = Date.now();
    const mark = await market(t0);
    await hsetPosition(redis, reconcileFields(brain(mark, t0), t0));
    const r = await once(t0);
    expect(r.counts["skip:risk:bad_position"]).toBe(1);
    expect(r.counts["skip:harvest:bad_position"]).toBe(1);
    expect(r.skipDetail("risk")).toMatch(/current_price or mark_price missing/);
    expect(r.skipDetail("harvest")).toMatch(/current_price or mark_price missing/);
    expect(await redis.exists(RISK, HARVEST)).toBe(0);
  });

  it("ts_epoch older than maxPositionAge (300 s): stale_position; a fresh one publishes", async () => {
    const t0 = Date.now();
    const mark = await market(t0);
    await hsetPosition(
      redis,
      brainFields(brain(mark, t0, { tsEpoch: Math.floor(t0 / 1000) - 301 }), t0),
    );
    const stale = await once(t0);
    expect(stale.counts["skip:risk:stale_position"]).toBe(1);
    expect(stale.counts["skip:harvest:stale_position"]).toBe(1);
    expect(stale.skipDetail("risk")).toMatch(
      /^stale_position: .*ts_epoch \d+ is 30\d s old \(maxPositionAge 300 s\)/,
    );
    expect(await redis.exists(RISK, HARVEST)).toBe(0);

    await hsetPosition(
      redis,
      brainFields(brain(mark, t0, { tsEpoch: Math.floor(t0 / 1000) - 10 }), t0),
    );
    const fresh = await once(t0);
    expect(fresh.counts["risk:published"]).toBe(1);
    expect(fresh.counts["harvest:published"]).toBe(1);
  });

  it("maxPositionAge 60: a 120 s old snapshot is stale (under the default 300 s it is not)", async () => {
    const t0 = Date.now();
    const mark = await market(t0);
    await hsetPosition(
      redis,
      brainFields(brain(mark, t0, { tsEpoch: Math.floor(t0 / 1000) - 120 }), t0),
    );
    const strict = await once(t0, { maxPositionAge: 60 });
    expect(strict.counts["skip:risk:stale_position"]).toBe(1);
    expect(strict.counts["skip:harvest:stale_position"]).toBe(1);
    expect(strict.skipDetail("harvest")).toMatch(/maxPositionAge 60 s/);
    const lenient = await once(t0);
    expect(lenient.counts["risk:published"]).toBe(1);
  });
});

describe("missing marketstate", () => {
  it("a missing marketstate hash (risk only) is counted as no_marketstate, not stale_marketstate (docs/specification.md §6); nothing written", async () => {
    const t0 = Date.now();
    await hsetPosition(redis, brainFields(brain(100, t0), t0));
    const r = await once(t0, { phases: ["risk"] });
    expect(r.exitCode).toBe(0);
    expect(r.counts["risk:skipped"]).toBe(1);
    expect(r.counts["skip:risk:no_marketstate"]).toBe(1);
    expect(r.counts["skip:risk:stale_marketstate"]).toBeUndefined();
    expect(r.skipDetail("risk")).toMatch(/^no_marketstate: quantum:marketstate:BTCUSDT/);
    expect(await redis.exists(RISK)).toBe(0);
  });
});

describe("rNetBasis", () => {
  /** One pass over a LONG of 0.5 (brain + apply layer) under `basis`; returns the risk and harvest hashes. */
  async function passWith(t0: number, basis: "locked" | "per_unit") {
    await redis.flushall();
    const mark = await market(t0);
    const b = brain(mark, t0);
    await hsetPosition(
      redis,
      applyLayerFields({
        symbol: S,
        side: "LONG",
        quantity: 0.5,
        entry: b.entry,
        planId: "plan-r",
        createdAt: Math.floor(t0 / 1000) - 600,
      }),
    );
    await hsetPosition(redis, brainFields(b, t0));
    const r = await once(t0, { rNetBasis: basis });
    expect(r.counts["harvest:published"], `harvest published under ${basis}`).toBe(1);
    return { b, risk: await redis.hgetall(RISK), harvest: await redis.hgetall(HARVEST) };
  }

  it("per_unit divides the PnL by the quantity: R_net as the harvest kernel computes it from the published inputs", async () => {
    const t0 = Date.now();
    const locked = await passWith(t0, "locked");
    const perUnit = await passWith(t0, "per_unit");
    const pnl = Number(locked.b.unrealizedPnl.toFixed(8));
    const quantity = 0.5;

    // Same market, same risk unit and cost; only the PnL the kernel is given differs.
    for (const field of [
      "risk_unit",
      "cost_est",
      "sigma",
      "ts",
      "p_trend",
      "p_mr",
      "p_chop",
      "position_entry_price",
    ]) {
      expect(perUnit.harvest[field], field).toBe(locked.harvest[field]);
    }
    expect(num(locked.harvest.position_unrealized_pnl)).toBe(pnl);
    expect(num(perUnit.harvest.position_unrealized_pnl)).toBe(pnl / quantity);

    // The harvest kernel on the published inputs gives exactly the published R_net in both modes.
    for (const { harvest, risk } of [locked, perUnit]) {
      const expected = computeHarvest({
        position: {
          symbol: S,
          side: "LONG",
          entry_price: num(harvest.position_entry_price),
          current_price: num(harvest.position_current_price),
          peak_price: num(harvest.position_current_price),
          trough_price: num(harvest.position_current_price),
          age_sec: num(harvest.position_age_sec),
          unrealized_pnl: num(harvest.position_unrealized_pnl),
          current_sl: null,
          current_tp: null,
        },
        market_state: {
          sigma: num(harvest.sigma),
          ts: num(harvest.ts),
          p_trend: num(harvest.p_trend),
          p_mr: num(harvest.p_mr),
          p_chop: num(harvest.p_chop),
        },
        p1_proposal: { stop_dist_pct: num(risk.stop_dist_pct) },
      });
      expect(num(harvest.R_net)).toBe(expected.R_net);
      expect(num(harvest.risk_unit)).toBe(expected.risk_unit);
    }

    // R_net·risk_unit + cost_est recovers the PnL each mode used: per_unit's is the locked one / quantity.
    const riskUnit = num(locked.harvest.risk_unit);
    const cost = num(locked.harvest.cost_est);
    const lockedPnl = num(locked.harvest.R_net) * riskUnit + cost;
    const perUnitPnl = num(perUnit.harvest.R_net) * riskUnit + cost;
    expect(lockedPnl).toBeCloseTo(pnl, 9);
    expect(perUnitPnl).toBeCloseTo(pnl / quantity, 9);
    expect(perUnitPnl / lockedPnl).toBeCloseTo(1 / quantity, 9);
    expect(num(perUnit.harvest.R_net)).toBeGreaterThan(num(locked.harvest.R_net));
  });

  it("per_unit with a v1 layout without quantity/position_amt: harvest bad_position naming quantity", async () => {
    const t0 = Date.now();
    const mark = await market(t0);
    await seedPosition(redis, longPosition(S, mark));
    const stored = await redis.hgetall(positionKey(S));
    expect(stored.quantity).toBeUndefined();
    expect(stored.position_amt).toBeUndefined();
    const r = await once(t0, { rNetBasis: "per_unit" });
    expect(r.counts["risk:published"]).toBe(1); // stops do not use the PnL
    expect(r.counts["skip:harvest:bad_position"]).toBe(1);
    expect(r.skipDetail("harvest")).toMatch(/quantity/);
    expect(await redis.exists(HARVEST)).toBe(0);
    // The locked basis needs no quantity.
    const lockedRun = await once(t0);
    expect(lockedRun.counts["harvest:published"]).toBe(1);
  });
});
