// docs/specification.md §4.1, row by row: the canonical position hash as the live stack's writers lay it out (the
// position state brain, the apply layer, the reconcile engine, side by side in one hash), through
// snapshotFromFields and through the redis_hash and auto sources on the memory store. The fields
// come from the producers' fixtures (test/helpers/producers.ts), built from an injected clock.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_MAX_POSITION_AGE_SEC,
  EXECUTION_RESULT_STREAM,
  createPositionSource,
  positionFromFields,
  snapshotFromFields,
  type PositionSnapshot,
} from "../../src/inputs/positions.js";
import type { Read, SkipReason } from "../../src/inputs/types.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import {
  applyLayerFields,
  brainFields,
  positionKey,
  reconcileFields,
  type BrainSnapshot,
} from "../helpers/producers.js";

const SYMBOL = "BTCUSDT";
const KEY = positionKey(SYMBOL);

/** Whole seconds, so the stale detail's rounded age is exact. */
const nowMsWhole = (): number => Math.floor(Date.now() / 1000) * 1000;

const brain = (over: Partial<BrainSnapshot> = {}): BrainSnapshot => ({
  symbol: SYMBOL,
  positionAmt: 0.5,
  entry: 100,
  mark: 110.5,
  unrealizedPnl: 5.25,
  ...over,
});

type Expectation =
  | { ok: true; snapshot: Partial<PositionSnapshot> }
  | { ok: false; reason: SkipReason; detail: string };

interface Row {
  name: string;
  /** The writers' HSETs, in order (later writers overwrite shared fields, as HSET does). */
  writes: (nowMs: number) => Array<Record<string, string>>;
  expect: (nowMs: number) => Expectation;
}

const nowSec = (nowMs: number): number => Math.floor(nowMs / 1000);

const ROWS: Row[] = [
  {
    name: "brain snapshot alone: current price = the mark price, no created_at → identity side+entry",
    writes: (now) => [brainFields(brain(), now)],
    expect: (now) => ({
      ok: true,
      snapshot: {
        symbol: SYMBOL,
        side: "LONG",
        entry_price: 100,
        current_price: 110.5,
        unrealized_pnl: 5.25,
        quantity: 0.5,
        current_sl: null,
        current_tp: null,
        age_sec: null,
        peak_price: null,
        trough_price: null,
        created_at: null,
        ts_epoch: nowSec(now),
        identity: "LONG:100:-",
      },
    }),
  },
  {
    name: "brain snapshot of a SHORT: side from the brain, quantity = |position_amt|",
    writes: (now) => [brainFields(brain({ positionAmt: -2, entry: 50, mark: 48 }), now)],
    expect: () => ({
      ok: true,
      snapshot: {
        side: "SHORT",
        entry_price: 50,
        current_price: 48,
        quantity: 2,
        identity: "SHORT:50:-",
      },
    }),
  },
  {
    name: 'apply layer then brain: stop_loss/take_profit "0" are unset, created_at and plan_id are read',
    writes: (now) => [
      applyLayerFields({
        symbol: SYMBOL,
        side: "LONG",
        quantity: 0.5,
        entry: 100,
        planId: "plan-7f3a",
        createdAt: nowSec(now) - 600,
      }),
      brainFields(brain(), now),
    ],
    expect: (now) => ({
      ok: true,
      snapshot: {
        side: "LONG",
        entry_price: 100,
        current_price: 110.5,
        unrealized_pnl: 5.25,
        quantity: 0.5,
        current_sl: null,
        current_tp: null,
        created_at: nowSec(now) - 600,
        ts_epoch: nowSec(now),
        identity: "plan:plan-7f3a:LONG",
      },
    }),
  },
  {
    name: "apply layer with a real stop and target: stop_loss → current_sl, take_profit → current_tp",
    writes: (now) => [
      applyLayerFields({
        symbol: SYMBOL,
        side: "LONG",
        quantity: 0.5,
        entry: 100,
        stopLoss: 95,
        takeProfit: 130,
        planId: "plan-1",
        createdAt: nowSec(now) - 60,
      }),
      brainFields(brain(), now),
    ],
    expect: () => ({
      ok: true,
      snapshot: { current_sl: 95, current_tp: 130, identity: "plan:plan-1:LONG" },
    }),
  },
  {
    name: 'brain then apply layer (its unrealized_pnl "0.0" written last wins; still a position)',
    writes: (now) => [
      brainFields(brain(), now),
      applyLayerFields({
        symbol: SYMBOL,
        side: "LONG",
        quantity: 0.5,
        entry: 100,
        stopLoss: 97.5,
        createdAt: nowSec(now) - 30,
      }),
    ],
    expect: (now) => ({
      ok: true,
      snapshot: {
        unrealized_pnl: 0,
        current_sl: 97.5,
        current_tp: null,
        current_price: 110.5,
        identity: `plan:plan-${SYMBOL}-${nowSec(now) - 30}:LONG`,
      },
    }),
  },
  {
    name: 'apply layer with plan_id "None" and a mark price: identity = side + entry + created_at',
    writes: (now) => [
      {
        ...applyLayerFields({
          symbol: SYMBOL,
          side: "SHORT",
          quantity: 1,
          entry: 200,
          createdAt: nowSec(now) - 5,
        }),
        plan_id: "None",
        mark_price: "199",
      },
    ],
    expect: (now) => ({
      ok: true,
      snapshot: { side: "SHORT", current_price: 199, identity: `SHORT:200:${nowSec(now) - 5}` },
    }),
  },
  {
    name: "reconcile engine without mark_price/current_price → bad_position naming both fields",
    writes: (now) => [reconcileFields(brain(), now)],
    expect: () => ({
      ok: false,
      reason: "bad_position",
      detail: `${KEY}: current_price or mark_price missing`,
    }),
  },
  {
    name: "apply layer + reconcile engine: still no price → bad_position",
    writes: (now) => [
      applyLayerFields({
        symbol: SYMBOL,
        side: "LONG",
        quantity: 0.5,
        entry: 100,
        createdAt: nowSec(now) - 60,
      }),
      reconcileFields(brain(), now),
    ],
    expect: () => ({
      ok: false,
      reason: "bad_position",
      detail: `${KEY}: current_price or mark_price missing`,
    }),
  },
  {
    name: "FLAT (the brain's snapshot of a closed position) → no_position",
    writes: (now) => [brainFields(brain({ positionAmt: 0 }), now)],
    expect: () => ({ ok: false, reason: "no_position", detail: `${KEY}: side FLAT` }),
  },
  {
    name: 'position_amt "0.0" under a LONG side → no_position',
    writes: (now) => [{ ...brainFields(brain(), now), position_amt: "0.0" }],
    expect: () => ({ ok: false, reason: "no_position", detail: `${KEY}: position_amt 0` }),
  },
  {
    name: "quantity 0 (apply layer) → no_position",
    writes: (now) => [
      applyLayerFields({
        symbol: SYMBOL,
        side: "LONG",
        quantity: 0,
        entry: 100,
        createdAt: nowSec(now),
      }),
    ],
    expect: () => ({ ok: false, reason: "no_position", detail: `${KEY}: quantity 0` }),
  },
  {
    name: "mark price only (no current_price field) → current price = mark_price",
    writes: (now) => {
      const { current_price: _c, ...fields } = brainFields(brain({ mark: 108.25 }), now);
      return [fields];
    },
    expect: () => ({ ok: true, snapshot: { current_price: 108.25 } }),
  },
  {
    name: "current_price empty → mark_price",
    writes: (now) => [{ ...brainFields(brain({ mark: 108.25 }), now), current_price: "" }],
    expect: () => ({ ok: true, snapshot: { current_price: 108.25 } }),
  },
  {
    name: "current_price and a different mark_price → current_price (the first present source)",
    writes: (now) => [{ ...brainFields(brain({ mark: 108.25 }), now), current_price: "109" }],
    expect: () => ({ ok: true, snapshot: { current_price: 109 } }),
  },
  {
    name: "stale ts_epoch (older than max_position_age) → stale_position with the age and the limit",
    writes: (now) => [brainFields(brain({ tsEpoch: nowSec(now) - 301 }), now)],
    expect: (now) => ({
      ok: false,
      reason: "stale_position",
      detail: `${KEY}: ts_epoch ${nowSec(now) - 301} is 301 s old (maxPositionAge ${DEFAULT_MAX_POSITION_AGE_SEC} s)`,
    }),
  },
  {
    name: "ts_epoch exactly max_position_age old → fresh",
    writes: (now) => [
      brainFields(brain({ tsEpoch: nowSec(now) - DEFAULT_MAX_POSITION_AGE_SEC }), now),
    ],
    expect: (now) => ({
      ok: true,
      snapshot: { ts_epoch: nowSec(now) - DEFAULT_MAX_POSITION_AGE_SEC },
    }),
  },
  {
    name: "a fresh ts_epoch a few seconds old → fresh",
    writes: (now) => [brainFields(brain({ tsEpoch: nowSec(now) - 4 }), now)],
    expect: () => ({ ok: true, snapshot: { side: "LONG" } }),
  },
  {
    name: "side LONG with a negative position_amt → bad_position",
    writes: (now) => [{ ...brainFields(brain({ positionAmt: -0.5 }), now), side: "LONG" }],
    expect: () => ({
      ok: false,
      reason: "bad_position",
      detail: `${KEY}: side LONG disagrees with position_amt -0.5`,
    }),
  },
  {
    name: "side SHORT with a positive position_amt → bad_position",
    writes: (now) => [{ ...brainFields(brain({ positionAmt: 3 }), now), side: "SHORT" }],
    expect: () => ({
      ok: false,
      reason: "bad_position",
      detail: `${KEY}: side SHORT disagrees with position_amt 3`,
    }),
  },
  {
    name: '"None" in a required field (entry_price) → bad_position',
    writes: (now) => [{ ...brainFields(brain(), now), entry_price: "None" }],
    expect: () => ({
      ok: false,
      reason: "bad_position",
      detail: `${KEY}: entry_price must be a number (got "None")`,
    }),
  },
  {
    name: '"None" in unrealized_pnl → bad_position',
    writes: (now) => [{ ...brainFields(brain(), now), unrealized_pnl: "None" }],
    expect: () => ({
      ok: false,
      reason: "bad_position",
      detail: `${KEY}: unrealized_pnl must be a number (got "None")`,
    }),
  },
  {
    name: '"None" as the only price (mark_price) → bad_position',
    writes: (now) => {
      const { current_price: _c, ...fields } = brainFields(brain(), now);
      return [{ ...fields, mark_price: "None" }];
    },
    expect: () => ({
      ok: false,
      reason: "bad_position",
      detail: `${KEY}: mark_price must be a number (got "None")`,
    }),
  },
  {
    name: '"None" as the side → bad_position',
    writes: (now) => {
      const { position_amt: _a, ...fields } = brainFields(brain(), now);
      return [{ ...fields, side: "None" }];
    },
    expect: () => ({
      ok: false,
      reason: "bad_position",
      detail: `${KEY}: side must be LONG, SHORT or FLAT (got "None")`,
    }),
  },
];

/** The hash after the writers' HSETs, as one field map. */
const merged = (writes: Array<Record<string, string>>): Record<string, string> =>
  Object.assign({}, ...writes) as Record<string, string>;

function check(read: Read<PositionSnapshot>, expected: Expectation): void {
  if (expected.ok) {
    if (!read.ok) throw new Error(`expected a snapshot, got skip ${read.reason}: ${read.detail}`);
    expect(read.value).toMatchObject({ ...expected.snapshot, origin: KEY });
  } else {
    expect(read).toEqual({ ok: false, reason: expected.reason, detail: expected.detail });
  }
}

describe("docs/specification.md §4.1 rows through snapshotFromFields", () => {
  it.each(ROWS)("$name", (row) => {
    const nowMs = nowMsWhole();
    check(
      snapshotFromFields(merged(row.writes(nowMs)), SYMBOL, KEY, {
        nowMs,
        maxPositionAgeSec: DEFAULT_MAX_POSITION_AGE_SEC,
      }),
      row.expect(nowMs),
    );
  });
});

describe.each(["redis_hash", "auto"] as const)(
  "docs/specification.md §4.1 rows through createPositionSource(%s) on the memory store",
  (kind) => {
    it.each(ROWS)("$name", async (row) => {
      const nowMs = nowMsWhole();
      const store = new MemoryStore({ now: () => nowMs });
      for (const fields of row.writes(nowMs)) store.hset(KEY, fields);
      store.expire(KEY, 3600);
      // An older stream event with another entry price: auto must never answer from it while the hash exists.
      store.xadd(EXECUTION_RESULT_STREAM, {
        event_type: "POSITION_OPENED",
        symbol: SYMBOL,
        side: "LONG",
        entry_price: "1",
        current_price: "2",
        unrealized_pnl: "1",
      });
      check(await createPositionSource(kind, store).read(SYMBOL, nowMs), row.expect(nowMs));
    });
  },
);

describe("age, freshness limit and quantity on the live layout", () => {
  it("created_at gives the age (no memory needed); never negative", () => {
    const nowMs = nowMsWhole();
    const fields = merged([
      applyLayerFields({
        symbol: SYMBOL,
        side: "LONG",
        quantity: 0.5,
        entry: 100,
        createdAt: nowSec(nowMs) - 600,
      }),
      brainFields(brain(), nowMs),
    ]);
    expect(positionFromFields(fields, SYMBOL, KEY, nowMs)).toMatchObject({
      ok: true,
      value: { age_sec: 600, peak_price: 110.5, trough_price: 110.5 },
    });
    expect(
      positionFromFields({ ...fields, created_at: String(nowSec(nowMs) + 60) }, SYMBOL, KEY, nowMs),
    ).toMatchObject({ ok: true, value: { age_sec: 0 } });
    // The brain alone has no created_at: age 0 without memory (the memory's first_seen takes over, §4.2).
    expect(positionFromFields(brainFields(brain(), nowMs), SYMBOL, KEY, nowMs)).toMatchObject({
      ok: true,
      value: { age_sec: 0 },
    });
  });

  it("maxPositionAgeSec is configurable; null switches the check off; no ts_epoch means no check", async () => {
    const nowMs = nowMsWhole();
    const store = new MemoryStore({ now: () => nowMs });
    store.hset(KEY, brainFields(brain({ tsEpoch: nowSec(nowMs) - 100 }), nowMs));
    expect(
      await createPositionSource("redis_hash", store, { maxPositionAgeSec: 60 }).read(
        SYMBOL,
        nowMs,
      ),
    ).toEqual({
      ok: false,
      reason: "stale_position",
      detail: `${KEY}: ts_epoch ${nowSec(nowMs) - 100} is 100 s old (maxPositionAge 60 s)`,
    });
    expect(
      await createPositionSource("redis_hash", store, { maxPositionAgeSec: 120 }).read(
        SYMBOL,
        nowMs,
      ),
    ).toMatchObject({ ok: true });
    store.hset(KEY, { ts_epoch: String(nowSec(nowMs) - 86_400) });
    expect(
      await createPositionSource("redis_hash", store, { maxPositionAgeSec: null }).read(
        SYMBOL,
        nowMs,
      ),
    ).toMatchObject({ ok: true });
    const { ts_epoch: _t, ...noTs } = brainFields(brain(), nowMs);
    expect(
      snapshotFromFields(noTs, SYMBOL, KEY, {
        nowMs: nowMs + 10 * 86_400_000,
        maxPositionAgeSec: 1,
      }),
    ).toMatchObject({ ok: true, value: { ts_epoch: null } });
  });

  it("the hash deleted when the position goes flat: redis_hash → no_position; auto then reads the stream", async () => {
    const nowMs = nowMsWhole();
    const store = new MemoryStore({ now: () => nowMs });
    store.hset(KEY, brainFields(brain(), nowMs));
    store.del(KEY);
    expect(await createPositionSource("redis_hash", store).read(SYMBOL, nowMs)).toMatchObject({
      ok: false,
      reason: "no_position",
    });
    store.xadd(EXECUTION_RESULT_STREAM, {
      event_type: "POSITION_OPENED",
      symbol: SYMBOL,
      side: "LONG",
      entry_price: "1",
      current_price: "2",
      unrealized_pnl: "1",
    });
    expect(await createPositionSource("auto", store).read(SYMBOL, nowMs)).toMatchObject({
      ok: true,
      value: { entry_price: 1, origin: expect.stringContaining(EXECUTION_RESULT_STREAM) },
    });
  });

  it("the brain's EXPIRE lapsing (no refresh for an hour) is no position, not a stale one", async () => {
    let nowMs = nowMsWhole();
    const store = new MemoryStore({ now: () => nowMs });
    store.hset(KEY, brainFields(brain(), nowMs));
    store.expire(KEY, 3600);
    nowMs += 3600_000;
    expect(await createPositionSource("redis_hash", store).read(SYMBOL, nowMs)).toMatchObject({
      ok: false,
      reason: "no_position",
    });
  });
});
