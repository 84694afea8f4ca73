// A position's time stamps (CONTRACT.md, "Plausibility"): `ts_epoch` or `created_at` written in
// milliseconds (≥ 1e11) or later than now + maxClockSkew is `bad_position`, naming the field and
// the value — in every layout (the canonical hash, the legacy single hash, the execution stream).
// A millisecond ts_epoch used to look fresh for ever; a future created_at gave age 0 for ever.
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createPositionSource,
  DEFAULT_MAX_CLOCK_SKEW_SEC,
  EXECUTION_RESULT_STREAM,
  LEGACY_POSITIONS_KEY,
  positionFromFields,
  snapshotFromFields,
  type PositionSourceKind,
} from "../../src/inputs/positions.js";
import type { RedisStore } from "../../src/store/redisStore.js";
import {
  applyLayerFields,
  brainFields,
  hsetPosition,
  positionKey,
  seedDataSink,
  type BrainSnapshot,
} from "../helpers/producers.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { prices } from "../helpers/seed.js";
import { oncePass } from "../helpers/serviceHarness.js";

const S = "BTCUSDT";
const NOW_MS = 1_796_518_455_250;
const NOW_S = Math.floor(NOW_MS / 1000);
const at = (skew: number | null = DEFAULT_MAX_CLOCK_SKEW_SEC) => ({
  nowMs: NOW_MS,
  maxPositionAgeSec: 300,
  maxClockSkewSec: skew,
});

/** The position brain's hash at NOW (entry 100, mark 102). */
const brain = (over: Partial<BrainSnapshot> = {}): Record<string, string> =>
  brainFields(
    {
      symbol: S,
      positionAmt: 0.5,
      entry: 100,
      mark: 102,
      unrealizedPnl: 1,
      tsEpoch: NOW_S,
      ...over,
    },
    NOW_MS,
  );

describe("snapshotFromFields: ts_epoch and created_at", () => {
  it("ts_epoch in milliseconds → bad_position naming the field and value (it used to read as fresh)", () => {
    expect(snapshotFromFields(brain({ tsEpoch: NOW_MS }), S, positionKey(S), at())).toEqual({
      ok: false,
      reason: "bad_position",
      detail: `${positionKey(S)}: ts_epoch ${NOW_MS} is in milliseconds (epoch seconds expected)`,
    });
    // Even with no clock check at all.
    expect(
      snapshotFromFields(brain({ tsEpoch: 1_796_000_000_000 }), S, "x", at(null)),
    ).toMatchObject({
      ok: false,
      reason: "bad_position",
      detail: "x: ts_epoch 1796000000000 is in milliseconds (epoch seconds expected)",
    });
  });

  it("ts_epoch beyond now + maxClockSkew → bad_position; within the skew it is fine", () => {
    const yearAhead = NOW_S + 31_536_000;
    expect(snapshotFromFields(brain({ tsEpoch: yearAhead }), S, "p", at())).toEqual({
      ok: false,
      reason: "bad_position",
      detail: `p: ts_epoch ${yearAhead} is 31536000 s in the future (maxClockSkew 5 s)`,
    });
    expect(snapshotFromFields(brain({ tsEpoch: NOW_S + 5 }), S, "p", at()).ok).toBe(true);
    expect(snapshotFromFields(brain({ tsEpoch: NOW_S + 6 }), S, "p", at())).toMatchObject({
      ok: false,
      reason: "bad_position",
      detail: expect.stringMatching(/ts_epoch \d+ is 6 s in the future \(maxClockSkew 5 s\)/),
    });
    // The configured skew decides.
    expect(snapshotFromFields(brain({ tsEpoch: NOW_S + 6 }), S, "p", at(10)).ok).toBe(true);
  });

  it('created_at (the apply layer) in milliseconds or in the future → bad_position; "0" still means unset', () => {
    const opened = (createdAt: number) => ({
      ...applyLayerFields({ symbol: S, side: "LONG", quantity: 0.5, entry: 100, createdAt }),
      ...brain(),
    });
    expect(snapshotFromFields(opened(NOW_MS - 7_200_000), S, "p", at())).toMatchObject({
      ok: false,
      reason: "bad_position",
      detail: `p: created_at ${NOW_MS - 7_200_000} is in milliseconds (epoch seconds expected)`,
    });
    expect(snapshotFromFields(opened(NOW_S + 3600), S, "p", at())).toMatchObject({
      ok: false,
      reason: "bad_position",
      detail: `p: created_at ${NOW_S + 3600} is 3600 s in the future (maxClockSkew 5 s)`,
    });
    expect(snapshotFromFields(opened(NOW_S - 7200), S, "p", at())).toMatchObject({
      ok: true,
      value: { created_at: NOW_S - 7200 },
    });
    expect(snapshotFromFields({ ...brain(), created_at: "0" }, S, "p", at())).toMatchObject({
      ok: true,
      value: { created_at: null },
    });
  });

  it("a closed position stays no_position and an old stamp stale_position (unchanged)", () => {
    expect(
      snapshotFromFields(brain({ positionAmt: 0, tsEpoch: NOW_MS }), S, "p", at()),
    ).toMatchObject({ ok: false, reason: "no_position" });
    expect(snapshotFromFields(brain({ tsEpoch: NOW_S - 301 }), S, "p", at())).toMatchObject({
      ok: false,
      reason: "stale_position",
    });
  });

  it("positionFromFields (no clock) refuses milliseconds but not the future", () => {
    expect(
      positionFromFields({ ...brain(), created_at: String(NOW_MS) }, S, "p", NOW_MS),
    ).toMatchObject({ ok: false, reason: "bad_position" });
    expect(
      positionFromFields({ ...brain(), created_at: String(NOW_S + 600) }, S, "p", NOW_MS),
    ).toMatchObject({ ok: true, value: { age_sec: 0 } });
  });
});

describe("every layout goes through the same rule (redis-server)", () => {
  const fixture = useTestRedis({ store: true });
  let redis: Redis;
  let store: RedisStore;
  beforeAll(() => {
    ({ redis, store } = fixture);
  });
  beforeEach(async () => {
    await redis.flushall();
  });
  const read = (kind: PositionSourceKind, skew?: number) =>
    createPositionSource(kind, store, skew === undefined ? {} : { maxClockSkewSec: skew }).read(
      S,
      NOW_MS,
    );

  it("canonical hash, legacy single hash, execution stream (flat and JSON payload), auto", async () => {
    const future = NOW_S + 600;
    await hsetPosition(redis, brain({ tsEpoch: future }));
    expect(await read("redis_hash")).toMatchObject({
      ok: false,
      reason: "bad_position",
      detail: `${positionKey(S)}: ts_epoch ${future} is 600 s in the future (maxClockSkew 5 s)`,
    });
    expect(await read("auto")).toMatchObject({ ok: false, reason: "bad_position" });
    expect((await read("redis_hash", 700)).ok).toBe(true);

    await redis.del(positionKey(S));
    await redis.hset(
      LEGACY_POSITIONS_KEY,
      S,
      JSON.stringify({
        symbol: S,
        side: "LONG",
        entry_price: 100,
        current_price: 102,
        unrealized_pnl: 1,
        ts_epoch: NOW_MS,
      }),
    );
    expect(await read("redis_hash")).toMatchObject({
      ok: false,
      reason: "bad_position",
      detail: `${LEGACY_POSITIONS_KEY}[${S}]: ts_epoch ${NOW_MS} is in milliseconds (epoch seconds expected)`,
    });

    await redis.del(LEGACY_POSITIONS_KEY);
    const flatId = await redis.xadd(
      EXECUTION_RESULT_STREAM,
      "*",
      ...Object.entries({
        ...brain(),
        event_type: "POSITION_OPENED",
        created_at: String(future),
      }).flat(),
    );
    expect(await read("redis_stream")).toMatchObject({
      ok: false,
      reason: "bad_position",
      detail: `${EXECUTION_RESULT_STREAM} ${flatId} (POSITION_OPENED): created_at ${future} is 600 s in the future (maxClockSkew 5 s)`,
    });
    const payload = JSON.stringify({
      symbol: S,
      side: "SHORT",
      entry_price: 100,
      current_price: 98,
      unrealized_pnl: 1,
      created_at: NOW_MS / 1000 + 0.5,
      ts_epoch: NOW_MS,
    });
    await redis.xadd(
      EXECUTION_RESULT_STREAM,
      "*",
      "event_type",
      "POSITION_UPDATED",
      "payload",
      payload,
    );
    expect(await read("redis_stream")).toMatchObject({
      ok: false,
      reason: "bad_position",
      detail: expect.stringContaining(`ts_epoch ${NOW_MS} is in milliseconds`),
    });
    // auto: no hash at all, so the stream decides, with the same rule.
    expect(await read("auto")).toMatchObject({ ok: false, reason: "bad_position" });
  });
});

describe("through the service (redis-server, --once, the producers' layouts)", () => {
  const fixture = useTestRedis();
  let redis: Redis;
  beforeAll(() => {
    ({ redis } = fixture);
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  it("a brain snapshot stamped in milliseconds is a counted bad_position: nothing is proposed, the detail names it", async () => {
    const t0 = Date.now();
    await seedDataSink(redis, S, prices("trend", 300, 100), { nowMs: t0 });
    const msStamp = t0 - (t0 % 1000);
    await hsetPosition(
      redis,
      brainFields(
        { symbol: S, positionAmt: 0.5, entry: 100, mark: 102, unrealizedPnl: 1, tsEpoch: msStamp },
        t0,
      ),
    );
    const r = await oncePass({ redisUrl: fixture.server.url, symbols: [S], now: () => t0 });
    expect(r.counts["skip:risk:bad_position"]).toBe(1);
    expect(r.counts["skip:harvest:bad_position"]).toBe(1);
    expect(r.skipDetail("risk")).toBe(
      `bad_position: ${positionKey(S)}: ts_epoch ${msStamp} is in milliseconds (epoch seconds expected)`,
    );
    expect(
      await redis.exists(
        `quantum:risk:proposal:${S}`,
        `quantum:harvest:proposal:${S}`,
        `quantum:calc:position:${S}`,
      ),
    ).toBe(0);
  });

  it("an apply-layer created_at an hour ahead is bad_position with the configured maxClockSkew; a larger skew lets it through", async () => {
    // On a whole second: created_at is whole seconds, so "3600 s ahead" is exact, not 3599.x.
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    await seedDataSink(redis, S, prices("trend", 300, 100), { nowMs: t0 });
    const createdAt = Math.floor(t0 / 1000) + 3600;
    await hsetPosition(
      redis,
      applyLayerFields({ symbol: S, side: "LONG", quantity: 0.5, entry: 100, createdAt }),
    );
    await hsetPosition(
      redis,
      brainFields(
        {
          symbol: S,
          positionAmt: 0.5,
          entry: 100,
          mark: 101,
          unrealizedPnl: 0.5,
          tsEpoch: Math.floor(t0 / 1000),
        },
        t0,
      ),
    );
    const refused = await oncePass({ redisUrl: fixture.server.url, symbols: [S], now: () => t0 });
    expect(refused.counts["skip:risk:bad_position"]).toBe(1);
    expect(refused.skipDetail("harvest")).toMatch(
      new RegExp(`created_at ${createdAt} is 3600 s in the future \\(maxClockSkew 5 s\\)`),
    );
    expect(await redis.exists(`quantum:risk:proposal:${S}`)).toBe(0);
    const allowed = await oncePass({
      redisUrl: fixture.server.url,
      symbols: [S],
      now: () => t0,
      flags: { maxClockSkew: 3600 },
    });
    expect(allowed.counts["risk:published"]).toBe(1);
  });
});
