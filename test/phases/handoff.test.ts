// The in-chain hand-off (src/inputs/handoff.ts) changes no output: `run --once` passes over random
// inputs — candles arriving or not, positions opening, moving, closing, going stale or bad, the
// marketstate or risk hash gone (expired, deleted) — run twice on two copies of the same embedded
// store, once with the hand-off and once without (ServiceOptions chainHandoff false: every phase
// reads back what the chain published), and every hash and stream entry written is the same.
// The clock advances by a random step at every reading, so risk and harvest of a chain judge the
// same data at different clocks (a position's freshness, its age in whole seconds, the market
// state's age) exactly as two reads would.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { startService } from "../../src/service/service.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import type { Store } from "../../src/store/types.js";
import {
  applyLayerFields,
  brainFields,
  candlePayload,
  dataSinkKey,
  MINUTE_MS,
  positionKey,
} from "../helpers/producers.js";
import { captureLogger, serviceConfig } from "../helpers/serviceHarness.js";

const S = "BTCUSDT";
/** A minute boundary. */
const T0 = 1_796_518_440_000;
/** Closes at the start: the window (300) full. */
const HISTORY = 300;

type PositionOp =
  | { op: "keep" }
  | { op: "brain"; long: boolean; entry: number; markPct: number; ageSec: number }
  | { op: "apply"; long: boolean; entry: number; createdAgoSec: number; stop: boolean }
  | { op: "flat" }
  | { op: "delete" }
  | { op: "bad" };

interface Pass {
  advanceSec: number;
  /** The data sink stopped writing (the candles of this pass's minutes never come). */
  frozen: boolean;
  position: PositionOp;
  dropMarket: boolean;
  dropRisk: boolean;
  /** ms the service clock moves at each reading during the pass. */
  tickMs: number;
}

const positionOp: fc.Arbitrary<PositionOp> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<PositionOp>({ op: "keep" }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("brain" as const),
      long: fc.boolean(),
      entry: fc.double({ min: 90, max: 110, noNaN: true }),
      markPct: fc.double({ min: -0.05, max: 0.05, noNaN: true }),
      // Up to past maxPositionAge (300 s): fresh, on the edge, stale.
      ageSec: fc.integer({ min: 0, max: 320 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("apply" as const),
      long: fc.boolean(),
      entry: fc.double({ min: 90, max: 110, noNaN: true }),
      createdAgoSec: fc.integer({ min: 0, max: 7200 }),
      stop: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant<PositionOp>({ op: "flat" }) },
  { weight: 1, arbitrary: fc.constant<PositionOp>({ op: "delete" }) },
  { weight: 1, arbitrary: fc.constant<PositionOp>({ op: "bad" }) },
);

const pass: fc.Arbitrary<Pass> = fc.record({
  advanceSec: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 400 })),
  frozen: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
  position: positionOp,
  dropMarket: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
  dropRisk: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
  tickMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1500 })),
});

/** The one world's store, and its candles so far. */
interface World {
  store: MemoryStore;
  /** HGETALLs of our output hashes by the service, by key prefix. */
  reads: Record<string, number>;
  clock: { nowMs: number };
  lastOpenMs: number;
  price: number;
}

function world(closes: number[]): World {
  const clock = { nowMs: T0 };
  const store = new MemoryStore({ now: () => clock.nowMs });
  const last = T0 - MINUTE_MS;
  closes.forEach((close, i) => {
    const open_time = last - (closes.length - 1 - i) * MINUTE_MS;
    store.zadd(
      dataSinkKey(S),
      open_time,
      candlePayload({ symbol: S, open_time, close, high: close * 1.001, low: close * 0.999 }),
    );
  });
  return { store, reads: {}, clock, lastOpenMs: last, price: closes[closes.length - 1] };
}

/** The same inputs in both worlds: `moves` gives the new candles' relative moves. */
function apply(w: World, p: Pass, moves: number[]): void {
  w.clock.nowMs += p.advanceSec * 1000;
  const nowMs = w.clock.nowMs;
  // Every minute closed by now, unless the feed is frozen.
  for (let i = 0; !p.frozen; i++) {
    const open_time = w.lastOpenMs + MINUTE_MS;
    if (open_time > nowMs - MINUTE_MS) break;
    w.price *= 1 + moves[i % moves.length];
    const close = w.price;
    w.store.zadd(
      dataSinkKey(S),
      open_time,
      candlePayload({ symbol: S, open_time, close, high: close * 1.002, low: close * 0.998 }),
    );
    w.lastOpenMs = open_time;
  }
  const op = p.position;
  const nowSec = Math.floor(nowMs / 1000);
  switch (op.op) {
    case "keep":
      break;
    case "brain": {
      const sign = op.long ? 1 : -1;
      const mark = op.entry * (1 + op.markPct);
      w.store.hset(
        positionKey(S),
        brainFields(
          {
            symbol: S,
            positionAmt: sign * 0.5,
            entry: op.entry,
            mark,
            unrealizedPnl: sign * (mark - op.entry) * 0.5,
            tsEpoch: nowSec - op.ageSec,
          },
          nowMs,
        ),
      );
      break;
    }
    case "apply":
      w.store.hset(
        positionKey(S),
        applyLayerFields({
          symbol: S,
          side: op.long ? "LONG" : "SHORT",
          quantity: 0.5,
          entry: op.entry,
          ...(op.stop ? { stopLoss: op.long ? op.entry * 0.97 : op.entry * 1.03 } : {}),
          createdAt: nowSec - op.createdAgoSec,
        }),
      );
      // The brain's mark on top, fresh.
      w.store.hset(positionKey(S), {
        current_price: (op.entry * 1.01).toFixed(8),
        ts_epoch: String(nowSec),
      });
      break;
    case "flat":
      w.store.hset(positionKey(S), { side: "FLAT", position_amt: "0.0" });
      break;
    case "delete":
      w.store.del(positionKey(S));
      break;
    case "bad":
      w.store.hset(positionKey(S), { current_price: "abc" });
      break;
  }
  if (p.dropMarket) w.store.del(`quantum:marketstate:${S}`);
  if (p.dropRisk) w.store.del(`quantum:risk:proposal:${S}`);
}

/**
 * The store as the service sees it, left open when the service closes it (the next pass uses it),
 * counting the HGETALLs of the marketstate, risk and position hashes.
 */
function serviceStore(w: World): Store {
  return new Proxy(w.store, {
    get(target, property, receiver) {
      if (property === "close") return async () => undefined;
      if (property === "hgetall")
        return (key: string) => {
          const kind = /^quantum:(marketstate|risk:proposal|state:positions):/.exec(key)?.[1];
          if (kind !== undefined) w.reads[kind] = (w.reads[kind] ?? 0) + 1;
          return target.hgetall(key);
        };
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

/** One `run --once` pass; the clock moves `tickMs` at each reading. */
async function oncePass(w: World, tickMs: number, chainHandoff: boolean) {
  let readings = 0;
  const start = w.clock.nowMs;
  const now = (): number => start + tickMs * readings++;
  const log = captureLogger("warn");
  const handle = await startService({
    config: serviceConfig({ symbols: [S], enableStream: true }),
    logger: log.logger,
    once: true,
    store: serviceStore(w),
    now,
    chainHandoff,
  });
  const output = await handle.done;
  await handle.close();
  return { exitCode: output.exitCode, counts: handle.stats.summary() };
}

/** Every hash and every stream's entries (without ids: they are the store's clock) of a world. */
async function dump(w: World): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const key of w.store.keys("*").sort()) {
    const kind = await w.store.keyKind(key);
    if (kind === "hash") out[key] = await w.store.hgetall(key);
    else if (kind === "stream")
      out[key] = (await w.store.xrevrange(key, 100_000)).map((e) => e.fields);
  }
  return out;
}

describe("in-chain hand-off", () => {
  it("publishes the same hashes and stream entries as reading everything back (fast-check, the embedded store)", async () => {
    const runs: { handed: Record<string, number>; read: Record<string, number> }[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.double({ min: -0.004, max: 0.004, noNaN: true }), {
          minLength: HISTORY,
          maxLength: HISTORY,
        }),
        fc.array(
          fc.record({
            pass,
            moves: fc.array(fc.double({ min: -0.01, max: 0.01, noNaN: true }), {
              minLength: 2,
              maxLength: 2,
            }),
          }),
          { minLength: 2, maxLength: 5 },
        ),
        async (steps, passes) => {
          let price = 100;
          const closes = steps.map((r) => (price *= 1 + r));
          const handed = world(closes);
          const read = world(closes);
          for (const { pass: p, moves } of passes) {
            apply(handed, p, moves);
            apply(read, p, moves);
            const a = await oncePass(handed, p.tickMs, true);
            const b = await oncePass(read, p.tickMs, false);
            expect(a).toEqual(b);
            expect(await dump(handed)).toEqual(await dump(read));
          }
          runs.push({ handed: handed.reads, read: read.reads });
        },
      ),
      { numRuns: 25 },
    );
    // The hand-off was taken: fewer read-backs of the chain's own hashes and of the position.
    const total = (pick: (r: (typeof runs)[number]) => Record<string, number>, kind: string) =>
      runs.reduce((n, r) => n + (pick(r)[kind] ?? 0), 0);
    for (const kind of ["marketstate", "risk:proposal", "state:positions"])
      expect(total((r) => r.handed, kind)).toBeLessThan(total((r) => r.read, kind));
  }, 240_000);
});
