// The SHORT trailing stop and theta.short_trail_from (docs/specification.md §2 note). For a SHORT, peak_price is
// the best price since entry (the lowest) and trough_price the worst (the highest). The locked
// spec trails a SHORT from the trough: trail_sl = trough·(1+gap), which rarely activates;
// short_trail_from 'peak' trails it from the best price, trail_sl = peak·(1+gap), mirroring the
// LONG. 'trough' is the default and must leave every result (and the parity vectors) unchanged.
import fc from "fast-check";
import { loadConfig } from "../../src/config/load.js";
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { computeStops, DEFAULT_STOPS_THETA, type StopsInput } from "../../src/kernels/stops.js";
import { KernelInputError, type Position } from "../../src/kernels/types.js";
import { loadParity, parityDiff } from "../helpers/parity.js";
import { brainFields, hsetPosition, seedDataSink } from "../helpers/producers.js";
import type { TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { prices } from "../helpers/seed.js";
import { oncePass } from "../helpers/serviceHarness.js";

/** A SHORT entered at 100 that fell to 95; its best (lowest) price was 92, its worst (highest) 101. */
const fellShort: Position = {
  symbol: "BTCUSDT",
  side: "SHORT",
  entry_price: 100,
  current_price: 95,
  peak_price: 92,
  trough_price: 101,
  age_sec: 3600,
  unrealized_pnl: 5,
  current_sl: null,
  current_tp: null,
};

const market = {
  sigma: 0.01,
  mu: -0.0001,
  ts: 0.2,
  regime_probs: { trend: 0.2, mr: 0.3, chop: 0.5 },
};

function input(position: Partial<Position> = {}, theta?: StopsInput["theta"]): StopsInput {
  return {
    market_state: market,
    position: { ...fellShort, ...position },
    ...(theta !== undefined ? { theta } : {}),
  };
}

describe("computeStops: SHORT trailing source", () => {
  it("'trough' is the default and the locked spec: trail_sl = trough·(1+gap), not active for a SHORT that fell", () => {
    expect(DEFAULT_STOPS_THETA.short_trail_from).toBe("trough");
    const r = computeStops(input());
    const { trail_gap_pct: gap, stop_dist_pct: stop, raw_sl, trail_sl } = r.intermediates;
    expect(raw_sl).toBe(95 * (1 + stop));
    expect(trail_sl).toBe(101 * (1 + gap));
    expect(trail_sl).toBeGreaterThan(raw_sl);
    expect(r.proposed_sl).toBe(Math.min(raw_sl, trail_sl));
    expect(r.proposed_sl).toBe(raw_sl);
    expect(r.reason_codes).toEqual(["regime_chop"]);
  });

  it("'peak': trail_sl = peak·(1+gap), trail_active when the price fell", () => {
    const r = computeStops(input({}, { short_trail_from: "peak" }));
    const { trail_gap_pct: gap, raw_sl, trail_sl } = r.intermediates;
    expect(trail_sl).toBe(92 * (1 + gap));
    expect(trail_sl).toBeLessThan(raw_sl);
    expect(r.proposed_sl).toBe(trail_sl);
    expect(r.reason_codes).toEqual(["trail_active", "regime_chop"]);
    // Everything but the trail is the same as under 'trough'.
    const locked = computeStops(input());
    expect(r.proposed_tp).toBe(locked.proposed_tp);
    expect({ ...r.intermediates, trail_sl: 0 }).toEqual({ ...locked.intermediates, trail_sl: 0 });
  });

  it("'peak' with the monotonic rule mirrored: a lower stop is sl_tightening, a higher one is held at current_sl", () => {
    const lower = computeStops(input({ current_sl: 94 }, { short_trail_from: "peak" }));
    expect(lower.proposed_sl).toBeLessThan(94);
    expect(lower.reason_codes).toEqual(["trail_active", "sl_tightening", "regime_chop"]);
    const held = computeStops(input({ current_sl: 93 }, { short_trail_from: "peak" }));
    expect(held.proposed_sl).toBe(93);
    expect(held.reason_codes).toEqual(["trail_active", "sl_tightened_monotonic", "regime_chop"]);
  });

  it("'peak' at the best price (peak = current): trails only if the trail gap is narrower than the stop distance", () => {
    const atBest = computeStops(
      input({ current_price: 92, peak_price: 92 }, { short_trail_from: "peak" }),
    );
    const { trail_gap_pct: gap, stop_dist_pct: stop } = atBest.intermediates;
    expect(gap).toBeGreaterThan(stop); // chop-heavy: k_trail 1.34·σ vs k_sl 1.04·σ
    expect(atBest.reason_codes).not.toContain("trail_active");
    expect(atBest.proposed_sl).toBe(92 * (1 + stop));
  });

  it("a LONG ignores short_trail_from", () => {
    const long: Partial<Position> = {
      side: "LONG",
      current_price: 105,
      peak_price: 108,
      trough_price: 99,
      unrealized_pnl: 5,
    };
    const base = computeStops(input(long));
    expect(computeStops(input(long, { short_trail_from: "peak" }))).toEqual(base);
    expect(computeStops(input(long, { short_trail_from: "trough" }))).toEqual(base);
  });

  it.each<[string, unknown]>([
    ["an unknown name", "lowest"],
    ["an empty string", ""],
    ["wrong case", "PEAK"],
    ["a number", 1],
    ["a boolean", true],
  ])("refuses %s with a KernelInputError naming theta.short_trail_from", (_name, value) => {
    let thrown: unknown;
    try {
      computeStops(input({}, { short_trail_from: value } as unknown as StopsInput["theta"]));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(KernelInputError);
    expect((thrown as KernelInputError).field).toBe("theta.short_trail_from");
    expect((thrown as Error).message).toMatch(/^theta\.short_trail_from: /);
  });

  it("'peak' never gives a SHORT a higher stop than 'trough' (peak ≤ trough)", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1, max: 1000, noNaN: true }),
        fc.double({ min: 0.5, max: 1, noNaN: true }),
        fc.double({ min: 1, max: 1.5, noNaN: true }),
        fc.double({ min: 0, max: 0.05, noNaN: true }),
        (price, down, up, sigma) => {
          const position = {
            current_price: price,
            peak_price: price * down,
            trough_price: price * up,
          };
          const ms = { ...market, sigma };
          const peak = computeStops({
            market_state: ms,
            position: { ...fellShort, ...position },
            theta: { short_trail_from: "peak" },
          });
          const trough = computeStops({
            market_state: ms,
            position: { ...fellShort, ...position },
          });
          expect(peak.proposed_sl).toBeLessThanOrEqual(trough.proposed_sl);
        },
      ),
    );
  });
});

describe("parity: the default is the locked spec", () => {
  it('no theta, theta {} and short_trail_from "trough" give identical results', () => {
    for (const position of [
      {},
      { current_sl: 96 },
      { side: "LONG" as const, peak_price: 99, trough_price: 92, current_price: 96 },
    ]) {
      const none = computeStops(input(position));
      expect(computeStops(input(position, {}))).toEqual(none);
      expect(computeStops(input(position, { short_trail_from: "trough" }))).toEqual(none);
    }
  });

  const vectors = loadParity("stops");
  it(`every stops parity vector (${vectors.cases.length}) still matches with short_trail_from "trough" given explicitly`, () => {
    let shorts = 0;
    for (const c of vectors.cases) {
      const original = c.input as unknown as StopsInput;
      const explicit: StopsInput = {
        ...original,
        theta: { ...(original.theta ?? {}), short_trail_from: "trough" },
      };
      const got = computeStops(explicit);
      expect(parityDiff(got, c.expected, vectors.tolerance), c.name).toEqual([]);
      expect(got, c.name).toEqual(computeStops(original));
      if ((original.position as Position).side === "SHORT") shorts += 1;
    }
    expect(shorts).toBeGreaterThan(0);
  });
});

describe("service: theta.stops.short_trail_from in the config reaches the kernel", () => {
  const S = "BTCUSDT";
  const RISK = `quantum:risk:proposal:${S}`;
  const fixture = useTestRedis();
  let server: TestRedis;
  let redis: Redis;
  beforeAll(() => {
    ({ server, redis } = fixture);
  });
  beforeEach(async () => {
    await redis.flushall();
  });

  async function once(
    nowMs: number,
    flags: Record<string, unknown>,
  ): Promise<{ counts: Record<string, number>; details: string[] }> {
    const pass = await oncePass({ redisUrl: server.url, symbols: [S], flags, now: () => nowMs });
    expect(pass.exitCode).toBe(0);
    return pass;
  }

  /**
   * A SHORT of 0.5 entered at 100, seen by the service at 100, then 90, then 93 (three passes, the
   * brain's snapshots): its tracked peak (lowest) is 90, its trough (highest) 100.
   */
  async function shortThatFell(
    flags: Record<string, unknown>,
  ): Promise<{ risk: Record<string, string>; memory: Record<string, string> }> {
    const t0 = Date.now();
    await seedDataSink(redis, S, prices("trend", 300, 100), { nowMs: t0 });
    for (const [at, price] of [
      [t0, 100],
      [t0 + 10_000, 90],
      [t0 + 20_000, 93],
    ] as const) {
      await hsetPosition(
        redis,
        brainFields(
          {
            symbol: S,
            positionAmt: -0.5,
            entry: 100,
            mark: price,
            unrealizedPnl: (100 - price) * 0.5,
            tsEpoch: Math.floor(at / 1000),
          },
          at,
        ),
      );
      const { counts } = await once(at, flags);
      expect(counts["risk:published"], `risk published at ${price}`).toBe(1);
    }
    return {
      risk: await redis.hgetall(RISK),
      memory: await redis.hgetall(`quantum:calc:position:${S}`),
    };
  }

  it("with theta {stops: {short_trail_from: 'peak'}}: trail_active, the stop trails the lowest price", async () => {
    const { risk, memory } = await shortThatFell({
      theta: { stops: { short_trail_from: "peak" } },
    });
    expect([memory.peak_price, memory.trough_price]).toEqual(["90", "100"]);
    expect(risk.reason_codes.split(",")).toContain("trail_active");
    expect(Number(risk.proposed_sl)).toBe(90 * (1 + Number(risk.trail_gap_pct)));
  });

  it("with the default: no trail_active, the stop is the raw one", async () => {
    const { risk, memory } = await shortThatFell({});
    expect([memory.peak_price, memory.trough_price]).toEqual(["90", "100"]);
    expect(risk.reason_codes.split(",")).not.toContain("trail_active");
    expect(Number(risk.proposed_sl)).toBe(93 * (1 + Number(risk.stop_dist_pct)));
  });

  it("an invalid short_trail_from in the config is refused at start (exit 2), naming theta.stops.short_trail_from", () => {
    expect(() =>
      loadConfig({ env: {}, flags: { theta: { stops: { short_trail_from: "lowest" } } } }),
    ).toThrow(
      /theta\.stops\.short_trail_from from option theta: must be one of trough, peak \(got "lowest"\)/,
    );
  });
});
