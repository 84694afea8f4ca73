// The candle plausibility and clock rules (CONTRACT.md, "Plausibility"), on both stores, with the
// data sink's layout (test/helpers/producers.ts): a member dated after now + maxClockSkew is
// skipped and counted as future (never in the window, never toward freshness); a candle whose
// prices are out of order or outside [minCandlePrice, maxCandlePrice] is malformed; the window's
// missing minutes are counted; a key above maxCandleKeyBytes is not read. And the incremental
// window (CandleWindowCache) gives exactly what a full read gives with such members about.
import fc from "fast-check";
import { beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import {
  CANDLE_REREAD_BAND,
  candleGuardsFromConfig,
  CandleWindowCache,
  DEFAULT_CANDLE_GUARDS,
  DEFAULT_CANDLE_PATTERNS,
  parseCandleMember,
  readCandleExtremes,
  readCandles,
  type Candle,
  type CandleSeries,
} from "../../src/candles/index.js";
import type { Read } from "../../src/inputs/types.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { candlePayload, dataSinkKey, lastClosedOpenTime, MINUTE_MS } from "../helpers/producers.js";
import { HARNESSES, type Harness, useHarness } from "../store/storeHarness.js";

const S = "BTCUSDT";
const KEY = dataSinkKey(S);
const DAY_MS = 24 * 3600 * 1000;
const CENTURY_MS = 100 * 365.25 * DAY_MS;

function value(read: Read<CandleSeries>): CandleSeries {
  if (!read.ok) throw new Error(`expected candles, got skip ${read.reason}: ${read.detail}`);
  return read.value;
}

/** `count` data-sink members, one a minute, the newest opened at `lastOpen`. */
function sinkMembers(
  count: number,
  lastOpen: number,
  close = (i: number) => 100 + Math.sin(i / 7),
): Array<number | string> {
  const args: Array<number | string> = [];
  for (let i = 0; i < count; i++) {
    const t = lastOpen - (count - 1 - i) * MINUTE_MS;
    args.push(t, candlePayload({ symbol: S, open_time: t, close: close(i) }));
  }
  return args;
}

describe("the guards", () => {
  it("default to the configuration's defaults, and are read from it in its units", () => {
    const config = loadConfig({ env: {} }).config;
    expect(candleGuardsFromConfig(config, 1234)).toEqual({ nowMs: 1234, ...DEFAULT_CANDLE_GUARDS });
    expect(candleGuardsFromConfig({ ...config, maxClockSkew: 2.5 }, 0).maxClockSkewMs).toBe(2500);
  });
});

describe("parseCandleMember: prices in order (low ≤ min(open, close) ≤ max(open, close) ≤ high)", () => {
  const t = 1_764_576_000_000;
  it("refuses a close below the low, an open above the high, a low above the high", () => {
    expect(
      parseCandleMember(
        candlePayload({
          symbol: S,
          open_time: t,
          close: 100 * 1e-6,
          open: 100,
          high: 101,
          low: 99,
        }),
      ),
    ).toBeNull();
    expect(
      parseCandleMember(
        candlePayload({ symbol: S, open_time: t, close: 100, open: 102, high: 101, low: 99 }),
      ),
    ).toBeNull();
    expect(
      parseCandleMember(candlePayload({ symbol: S, open_time: t, close: 100, high: 99, low: 101 })),
    ).toBeNull();
    expect(parseCandleMember('{"close": 100, "open": "x"}')).toBeNull();
  });
  it("accepts the edges and the layouts without some of the prices", () => {
    expect(
      parseCandleMember(
        candlePayload({ symbol: S, open_time: t, close: 99, open: 101, high: 101, low: 99 }),
      ),
    ).not.toBeNull();
    expect(parseCandleMember('{"close": 100, "high": 100}')).not.toBeNull();
    expect(parseCandleMember('{"close": 5, "open": 7}')).not.toBeNull();
    expect(parseCandleMember("101.5")).not.toBeNull();
  });
});

describe.each(HARNESSES)("candle guards: $name", ({ create }) => {
  const harness = useHarness(create);
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  const nowMs = lastClosedOpenTime(Date.now()) + MINUTE_MS + 1_500;
  const options = { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: 300, nowMs };

  it("a member a day ahead (or a century) is skipped and counted: the window and its freshness are the stale ones", async () => {
    const staleLast = lastClosedOpenTime(nowMs) - 120 * MINUTE_MS;
    await h.seed.zadd(KEY, ...sinkMembers(300, staleLast));
    for (const ahead of [DAY_MS, CENTURY_MS]) {
      const t = lastClosedOpenTime(nowMs) + ahead;
      await h.seed.zadd(KEY, t, candlePayload({ symbol: S, open_time: t, close: 250 }));
    }
    const series = value(await readCandles(h.store, S, options));
    expect(series).toMatchObject({
      future: 2,
      malformed: 0,
      lastOpenTimeMs: staleLast,
      gapMinutes: 0,
    });
    expect(series.closes).toHaveLength(300);
    expect(series.closes).not.toContain(250);
    // Without a clock nothing is in the future (a reader that has none).
    expect(
      value(await readCandles(h.store, S, { ...options, nowMs: undefined })).closes.at(-1),
    ).toBe(250);
  });

  it("the score, the open_time and the close_time each count: any later than now + maxClockSkew", async () => {
    const last = lastClosedOpenTime(nowMs);
    await h.seed.zadd(KEY, ...sinkMembers(50, last - MINUTE_MS));
    // The newest minute's close_time 30 s ahead (the candle is not closed yet at nowMs - 30 s).
    await h.seed.zadd(KEY, last, candlePayload({ symbol: S, open_time: last, close: 300 }));
    const early = value(await readCandles(h.store, S, { ...options, nowMs: last + 30_000 }));
    expect(early).toMatchObject({ future: 1, lastOpenTimeMs: last - MINUTE_MS });
    // Within the skew (5 s by default, or configured) it counts.
    expect(
      value(await readCandles(h.store, S, { ...options, nowMs: last + MINUTE_MS - 3_000 })),
    ).toMatchObject({ future: 0, lastOpenTimeMs: last });
    expect(
      value(
        await readCandles(h.store, S, {
          ...options,
          nowMs: last + MINUTE_MS - 3_000,
          maxClockSkewMs: 1_000,
        }),
      ),
    ).toMatchObject({ future: 1 });
    // A score in the future though the member's own open_time is not.
    await h.seed.zadd(
      KEY,
      last + DAY_MS,
      candlePayload({ symbol: S, open_time: last - 10 * MINUTE_MS, close: 1 }),
    );
    expect(value(await readCandles(h.store, S, options))).toMatchObject({
      future: 1,
      lastOpenTimeMs: last,
    });
  });

  it("only future members: bad_input naming both counts", async () => {
    const t = lastClosedOpenTime(nowMs) + DAY_MS;
    await h.seed.zadd(
      KEY,
      t,
      candlePayload({ symbol: S, open_time: t, close: 1 }),
      t + 1,
      "garbage",
    );
    expect(await readCandles(h.store, S, options)).toEqual({
      ok: false,
      reason: "bad_input",
      detail: `all 2 members read from candle key ${KEY} are malformed (1) or dated after now + maxClockSkew (1 future_candle)`,
    });
  });

  it("prices out of order or out of [minCandlePrice, maxCandlePrice] are malformed; the others are the window", async () => {
    const last = lastClosedOpenTime(nowMs);
    const args = sinkMembers(300, last);
    // Three closes × 1e-6 (below their low), and a candle of 1e308 (in order, out of range).
    for (const i of [10, 150, 290]) {
      const t = last - (299 - i) * MINUTE_MS;
      args[2 * i + 1] = candlePayload({
        symbol: S,
        open_time: t,
        close: 100 * 1e-6,
        open: 100,
        high: 101,
        low: 99,
      });
    }
    args[2 * 200 + 1] = candlePayload({
      symbol: S,
      open_time: last - 99 * MINUTE_MS,
      close: 1e308,
      high: 1e308,
      low: 1e308,
    });
    await h.seed.zadd(KEY, ...args);
    const series = value(await readCandles(h.store, S, options));
    expect(series.malformed).toBe(4);
    expect(series.closes).toHaveLength(296);
    expect(Math.min(...series.closes)).toBeGreaterThan(98);
    expect(Math.max(...series.closes)).toBeLessThan(102);
    // Those were minutes of the window too: they are missing now.
    expect(series.gapMinutes).toBe(4);
    // A narrower configured range: every candle is out of it.
    expect(await readCandles(h.store, S, { ...options, maxPrice: 50 })).toMatchObject({
      ok: false,
      reason: "bad_input",
      detail: expect.stringContaining("are malformed"),
    });
  });

  it("the position memory leaves out implausible and future candles", async () => {
    const last = lastClosedOpenTime(nowMs);
    await h.seed.zadd(KEY, ...sinkMembers(10, last));
    await h.seed.zadd(
      KEY,
      last - MINUTE_MS,
      candlePayload({
        symbol: S,
        open_time: last - MINUTE_MS,
        close: 1e308,
        high: 1e308,
        low: 1e308,
        timestamp: last / 1000,
      }),
    );
    await h.seed.zadd(
      KEY,
      last + DAY_MS,
      candlePayload({ symbol: S, open_time: last + DAY_MS, close: 500 }),
    );
    const extremes = await readCandleExtremes(
      h.store,
      S,
      DEFAULT_CANDLE_PATTERNS,
      last - 5 * MINUTE_MS,
      { nowMs },
    );
    expect(extremes).not.toBeNull();
    expect(extremes!.high).toBeLessThan(102);
    expect(extremes!.throughMs).toBe(last);
  });

  it("gapMinutes: the minutes missing between consecutive candles of the window", async () => {
    const last = lastClosedOpenTime(nowMs);
    const times = [0, 1, 2, 5, 6, 16, 17].map((m) => last - (17 - m) * MINUTE_MS);
    await h.seed.zadd(
      KEY,
      ...times.flatMap((t, i) => [t, candlePayload({ symbol: S, open_time: t, close: 100 + i })]),
    );
    expect(value(await readCandles(h.store, S, options)).gapMinutes).toBe(2 + 9);
    // Only the window counts: the newest 3 candles hold one gap of 9 minutes.
    expect(value(await readCandles(h.store, S, { ...options, windowSize: 3 })).gapMinutes).toBe(9);
    // Bare closes have no open times: the gap is unknown.
    await h.seed.rpush("candles:ETHUSDT:1m", "1", "2", "3");
    expect(value(await readCandles(h.store, "ETHUSDT", options)).gapMinutes).toBeNull();
    // Seconds (an older layout): converted; 120 s → 300 s misses the minutes at 180 s and 240 s.
    await h.seed.zadd(
      "candles:SOLUSDT:1m",
      60,
      '{"close": 1}',
      120,
      '{"close": 2}',
      300,
      '{"close": 3}',
    );
    expect(value(await readCandles(h.store, "SOLUSDT", options)).gapMinutes).toBe(2);
  });

  it("memoryUsage: null for no key, the bytes of a key; a key above maxKeyBytes is not read (bad_input naming key, bytes and limit)", async () => {
    expect(await h.store.memoryUsage("nothing:here")).toBeNull();
    await h.seed.zadd(KEY, ...sinkMembers(300, lastClosedOpenTime(nowMs)));
    const bytes = await h.store.memoryUsage(KEY);
    // ~230 bytes a member: more than that in all, far less than the 8 MiB default.
    expect(bytes).toBeGreaterThan(300 * 200);
    expect(bytes).toBeLessThan(1 << 20);
    expect(value(await readCandles(h.store, S, options)).closes).toHaveLength(300);
    const read = await readCandles(h.store, S, { ...options, maxKeyBytes: 65_536 });
    expect(read).toMatchObject({ ok: false, reason: "bad_input" });
    expect(!read.ok && read.detail).toMatch(
      new RegExp(
        `^candle key ${KEY} holds \\d+ bytes \\(MEMORY USAGE\\), above maxCandleKeyBytes 65536: not read$`,
      ),
    );
  });
});

describe("the incremental window and a full read (one series builder) agree with future, implausible, republished and live candles about", () => {
  /** What a writer (the sink, or one gone wrong) adds to the key between two reads. */
  type Op =
    | { kind: "append"; count: number }
    | { kind: "future"; aheadMs: number; via: "open" | "close" | "score" }
    | { kind: "implausible"; back: number; how: "disorder" | "huge" | "tiny" }
    | { kind: "tick"; ms: number }
    | { kind: "republish"; back: number; stale: boolean }
    | { kind: "live"; ahead: number; stale: boolean };
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant("append" as const),
        count: fc.integer({ min: 1, max: 3 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("future" as const),
        aheadMs: fc.oneof(
          fc.integer({ min: 1, max: 120_000 }),
          fc.constantFrom(DAY_MS, CENTURY_MS),
        ),
        via: fc.constantFrom("open" as const, "close" as const, "score" as const),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("implausible" as const),
        back: fc.integer({ min: 0, max: 5 }),
        how: fc.constantFrom("disorder" as const, "huge" as const, "tiny" as const),
      }),
    },
    // The clock moves on: members that were in the future may no longer be.
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("tick" as const),
        ms: fc.integer({ min: 1_000, max: 90_000 }),
      }),
    },
    // A second member for a recent open time (dedupe: the newest `timestamp` wins, or loses when
    // stale) — within the re-read band (the key's newest CANDLE_REREAD_BAND scores, future ones
    // among them): a rewrite further back waits for the next full read, by design (CandleWindowCache).
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("republish" as const),
        back: fc.integer({ min: 0, max: CANDLE_REREAD_BAND - 1 }),
        stale: fc.boolean(),
      }),
    },
    // A candle from the klines stream, merged into both reads (the key's newest, or one it lacks).
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("live" as const),
        ahead: fc.integer({ min: -2, max: 2 }),
        stale: fc.boolean(),
      }),
    },
  );

  it("read after read (fast-check, the embedded store)", async () => {
    const BASE = 1_764_576_000_000;
    let incremental = 0;
    let deduplicated = 0;
    let merged = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 5, maxLength: 40 }),
        fc.integer({ min: 1, max: 120 }),
        async (ops, initial) => {
          const memory = new MemoryStore();
          const window = new CandleWindowCache();
          let newest = BASE;
          let nowMs = BASE + MINUTE_MS + 500;
          let stamp = 0;
          const add = (score: number, member: string) => memory.zadd(KEY, score, member);
          const candle = (t: number, close: number) =>
            candlePayload({
              symbol: S,
              open_time: t,
              close,
              timestamp: t / 1000 + 60 + stamp++ / 1000,
            });
          let live: Candle[] = [];
          const compare = async (label: string) => {
            const options = { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: 40, nowMs, live };
            const windowed = await readCandles(memory, S, { ...options, window });
            expect(windowed, label).toEqual(await readCandles(memory, S, options));
            // The builder's general paths (dedupe, live merge) are reached, not only its common one.
            if (windowed.ok && windowed.value.duplicates > 0) deduplicated++;
            if (windowed.ok && windowed.value.liveOnly > 0) merged++;
          };
          for (let i = 0; i < initial; i++) {
            newest += MINUTE_MS;
            add(newest, candle(newest, 100 + (i % 13)));
          }
          nowMs = newest + MINUTE_MS + 500;
          await compare("initial");
          for (const [n, o] of ops.entries()) {
            if (o.kind === "append") {
              for (let k = 0; k < o.count; k++) {
                newest += MINUTE_MS;
                add(newest, candle(newest, 100 + ((newest / MINUTE_MS) % 17)));
              }
              nowMs = Math.max(nowMs, newest + MINUTE_MS + 500);
            } else if (o.kind === "future") {
              const t = newest + o.aheadMs;
              if (o.via === "open") add(t, candle(t, 200));
              else if (o.via === "score") add(t, candle(newest, 201));
              else
                add(
                  newest,
                  candlePayload({
                    symbol: S,
                    open_time: newest,
                    close: 202,
                    timestamp: newest / 1000 + 61 + stamp++,
                  }).replace(/"close_time": \d+/, `"close_time": ${t + MINUTE_MS}`),
                );
            } else if (o.kind === "implausible") {
              const t = newest - o.back * MINUTE_MS;
              const later = { timestamp: t / 1000 + 120 + stamp++ };
              const member =
                o.how === "disorder"
                  ? candlePayload({
                      symbol: S,
                      open_time: t,
                      close: 1e-4,
                      open: 100,
                      high: 101,
                      low: 99,
                      ...later,
                    })
                  : o.how === "huge"
                    ? candlePayload({
                        symbol: S,
                        open_time: t,
                        close: 1e300,
                        high: 1e300,
                        low: 1e300,
                        ...later,
                      })
                    : candlePayload({
                        symbol: S,
                        open_time: t,
                        close: 1e-300,
                        high: 1e-300,
                        low: 1e-300,
                        ...later,
                      });
              add(t, member);
            } else if (o.kind === "republish") {
              const t = newest - o.back * MINUTE_MS;
              // The open times from t on once this member is in: t among them when it had no
              // member yet (below the initial candles), which the band must then reach too.
              const scoresFromT = new Set(
                (await memory.zrangeFromScore(KEY, t, 10_000)).map((m) => m.score),
              ).add(t);
              if (scoresFromT.size > CANDLE_REREAD_BAND) continue;
              const timestamp = o.stale ? t / 1000 : t / 1000 + 120 + stamp++;
              add(t, candlePayload({ symbol: S, open_time: t, close: 150 + o.back, timestamp }));
            } else if (o.kind === "live") {
              const t = newest + o.ahead * MINUTE_MS;
              const publishedAt = o.stale ? t / 1000 : t / 1000 + 180 + stamp++;
              live = [
                ...live,
                {
                  close: 300 + o.ahead,
                  openTime: t,
                  publishedAt,
                  high: null,
                  low: null,
                  closeTime: t + MINUTE_MS - 1,
                },
              ].slice(-3);
            } else {
              nowMs += o.ms;
            }
            await compare(`after op ${n} ${JSON.stringify(o)}`);
          }
          incremental += window.counts.incremental;
        },
      ),
      { numRuns: 60 },
    );
    expect(incremental).toBeGreaterThan(300);
    expect(deduplicated).toBeGreaterThan(20);
    expect(merged).toBeGreaterThan(20);
  });
});
