// The incremental candle window (CandleWindowCache) must return exactly what a full read returns,
// read after read, however the data sink writes: new candles, republished ones (same score, newer
// timestamp, member bytes sorting either way), corrected closes, malformed members, duplicates
// that push the window short (the full margin), the oldest trimmed off at the sink's cap of 500,
// live candles from the klines stream merged in. Checked on a real redis-server with random
// operation sequences (fast-check), and on the embedded store; plus the cases that must fall back to
// a full read: a rewrite below the re-read band (seen at the next full read), the key gone, another
// type, another window size.
import fc from "fast-check";
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  CANDLE_FULL_READ_EVERY,
  CANDLE_REREAD_BAND,
  CandleWindowCache,
  DEFAULT_CANDLE_PATTERNS,
  readCandles,
  type Candle,
} from "../../src/candles/index.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import type { RedisStore } from "../../src/store/redisStore.js";
import type { Store } from "../../src/store/types.js";
import { candlePayload, dataSinkKey, MINUTE_MS } from "../helpers/producers.js";
import { useTestRedis } from "../helpers/redisFixture.js";

const SYMBOL = "BTCUSDT";
const KEY = dataSinkKey(SYMBOL);
const WINDOW = 40; // first tail 56, full margin 104: small enough to reach both with few candles
const SINK_CAP = 120;
const BASE = 1_764_576_000_000;

/** One write of the data sink (or of a misbehaving writer) to the sorted set. */
type Op =
  | { kind: "append"; close: number; count: number }
  | { kind: "republish"; back: number; close: number; later: number }
  | { kind: "malformed"; back: number }
  | { kind: "live"; close: number; later: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("append" as const),
      close: fc.integer({ min: 1, max: 500 }),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 4,
    // Within the re-read band: the newest few open times.
    arbitrary: fc.record({
      kind: fc.constant("republish" as const),
      back: fc.integer({ min: 0, max: Math.floor(CANDLE_REREAD_BAND / 3) }),
      close: fc.integer({ min: 1, max: 500 }),
      later: fc.integer({ min: -30, max: 600 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("malformed" as const),
      back: fc.integer({ min: 0, max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("live" as const),
      close: fc.integer({ min: 1, max: 500 }),
      later: fc.integer({ min: 0, max: 120 }),
    }),
  },
);

interface Writer {
  zadd(score: number, member: string): Promise<void>;
  /** Keep the newest `cap` members (the data sink's ZREMRANGEBYRANK); a no-op where unsupported. */
  trim(cap: number): Promise<void>;
  del(): Promise<void>;
}

/** Applies the ops through `writer`, comparing the windowed read with a full read after each. */
async function checkSequence(
  store: Store,
  writer: Writer,
  ops: Op[],
  initial: number,
): Promise<CandleWindowCache> {
  await writer.del();
  const window = new CandleWindowCache();
  let newest = BASE - MINUTE_MS;
  let stamp = 0;
  const live: Candle[] = [];
  const member = (openTime: number, close: number, at: number) =>
    candlePayload({
      symbol: SYMBOL,
      open_time: openTime,
      close,
      timestamp: openTime / 1000 + 60 + at + stamp++ / 1000,
    });
  const compare = async (label: string) => {
    const options = { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: WINDOW, live: live.slice(-8) };
    const windowed = await readCandles(store, SYMBOL, { ...options, window });
    const full = await readCandles(store, SYMBOL, options);
    expect(windowed, label).toEqual(full);
  };
  for (let i = 0; i < initial; i++) {
    newest += MINUTE_MS;
    await writer.zadd(newest, member(newest, 100 + (i % 17), 0));
  }
  await compare("initial");
  for (const [n, o] of ops.entries()) {
    if (o.kind === "append") {
      for (let k = 0; k < o.count; k++) {
        newest += MINUTE_MS;
        await writer.zadd(newest, member(newest, o.close + k, 0));
      }
      await writer.trim(SINK_CAP);
    } else if (o.kind === "republish") {
      const openTime = newest - o.back * MINUTE_MS;
      await writer.zadd(openTime, member(openTime, o.close, o.later));
    } else if (o.kind === "malformed") {
      await writer.zadd(newest - o.back * MINUTE_MS, `not json ${stamp++}`);
    } else {
      // A live candle the key may not hold yet (one minute ahead), or a republish of the newest.
      const openTime = newest + (o.later % 2 === 0 ? MINUTE_MS : 0);
      live.push({
        close: o.close,
        openTime,
        publishedAt: openTime / 1000 + 60 + o.later,
        high: null,
        low: null,
        closeTime: openTime + MINUTE_MS - 1,
      });
    }
    await compare(`after op ${n} ${JSON.stringify(o)}`);
  }
  return window;
}

describe("CandleWindowCache on redis-server: the incremental read equals a full read", () => {
  const fixture = useTestRedis({ store: true });
  let raw: Redis;
  let store: RedisStore;
  beforeAll(() => {
    ({ redis: raw, store } = fixture);
  });
  const writer: Writer = {
    zadd: async (score, member) => void (await raw.zadd(KEY, score, member)),
    trim: async (cap) => void (await raw.zremrangebyrank(KEY, 0, -(cap + 1))),
    del: async () => void (await raw.del(KEY)),
  };

  it("across random appends, republishes, corrections, malformed members, trims and live candles", async () => {
    let incremental = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 5, maxLength: 40 }),
        fc.integer({ min: 1, max: 130 }),
        async (ops, initial) => {
          const window = await checkSequence(store, writer, ops, initial);
          incremental += window.counts.incremental;
        },
      ),
      { numRuns: 40 },
    );
    // The property is about the incremental path: it must have been taken, most of the time.
    expect(incremental).toBeGreaterThan(200);
  });

  it("duplicates that leave the first tail short switch to the full margin, incrementally too", async () => {
    await writer.del();
    // 60 candles, the newest 30 each republished twice: 120 members, 60 open times.
    for (let i = 0; i < 60; i++)
      await writer.zadd(
        BASE + i * MINUTE_MS,
        candlePayload({ symbol: SYMBOL, open_time: BASE + i * MINUTE_MS, close: 100 + i }),
      );
    for (let r = 1; r <= 2; r++) {
      for (let i = 30; i < 60; i++) {
        const t = BASE + i * MINUTE_MS;
        await writer.zadd(
          t,
          candlePayload({
            symbol: SYMBOL,
            open_time: t,
            close: 200 + i + r,
            timestamp: t / 1000 + 60 + r,
          }),
        );
      }
    }
    const window = new CandleWindowCache();
    const options = { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: WINDOW };
    for (let i = 60; i < 70; i++) {
      const t = BASE + i * MINUTE_MS;
      await writer.zadd(t, candlePayload({ symbol: SYMBOL, open_time: t, close: 300 + i }));
      const windowed = await readCandles(store, SYMBOL, { ...options, window });
      expect(windowed).toEqual(await readCandles(store, SYMBOL, options));
      expect(windowed.ok && windowed.value.closes.length).toBe(WINDOW);
    }
    expect(window.counts.incremental).toBeGreaterThan(5);
  });

  it("a rewrite below the re-read band is seen by the next full read, within CANDLE_FULL_READ_EVERY reads", async () => {
    await writer.del();
    for (let i = 0; i < 100; i++)
      await writer.zadd(
        BASE + i * MINUTE_MS,
        candlePayload({ symbol: SYMBOL, open_time: BASE + i * MINUTE_MS, close: 100 + i }),
      );
    const window = new CandleWindowCache();
    const options = { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: WINDOW };
    await readCandles(store, SYMBOL, { ...options, window });
    // A correction 30 minutes back (below the band of 16), newer timestamp.
    const t = BASE + 70 * MINUTE_MS;
    await writer.zadd(
      t,
      candlePayload({ symbol: SYMBOL, open_time: t, close: 555, timestamp: t / 1000 + 3600 }),
    );
    let seenAfter = -1;
    for (let read = 1; read <= CANDLE_FULL_READ_EVERY; read++) {
      const windowed = await readCandles(store, SYMBOL, { ...options, window });
      if (windowed.ok && windowed.value.closes.includes(555)) {
        seenAfter = read;
        expect(windowed).toEqual(await readCandles(store, SYMBOL, options));
        break;
      }
    }
    expect(seenAfter).toBeGreaterThan(0);
  });

  it("the key deleted, recreated shorter, or turned into another type: a full read, the same answer", async () => {
    const window = new CandleWindowCache();
    const options = { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: WINDOW };
    await writer.del();
    for (let i = 0; i < 80; i++)
      await writer.zadd(
        BASE + i * MINUTE_MS,
        candlePayload({ symbol: SYMBOL, open_time: BASE + i * MINUTE_MS, close: 100 + i }),
      );
    expect(await readCandles(store, SYMBOL, { ...options, window })).toEqual(
      await readCandles(store, SYMBOL, options),
    );
    await writer.del();
    expect(await readCandles(store, SYMBOL, { ...options, window })).toEqual(
      await readCandles(store, SYMBOL, options),
    );
    for (let i = 0; i < 20; i++)
      await writer.zadd(
        BASE + i * MINUTE_MS,
        candlePayload({ symbol: SYMBOL, open_time: BASE + i * MINUTE_MS, close: 50 + i }),
      );
    expect(await readCandles(store, SYMBOL, { ...options, window })).toEqual(
      await readCandles(store, SYMBOL, options),
    );
    await writer.del();
    await raw.rpush(KEY, '{"close": 1}');
    const asList = await readCandles(store, SYMBOL, { ...options, window });
    expect(asList).toEqual(await readCandles(store, SYMBOL, options));
    await raw.del(KEY);
    await raw.set(KEY, "x");
    expect(await readCandles(store, SYMBOL, { ...options, window })).toMatchObject({
      ok: false,
      reason: "bad_input",
    });
    await raw.del(KEY);
    // An older layout's key when the data sink's is absent: read as before (never windowed).
    await raw.zadd(`candles:${SYMBOL}:1m`, 60, '{"close":100,"t":60}');
    expect(await readCandles(store, SYMBOL, { ...options, window })).toEqual(
      await readCandles(store, SYMBOL, options),
    );
    await raw.del(`candles:${SYMBOL}:1m`);
  });

  it("another window size reads in full", async () => {
    const window = new CandleWindowCache();
    await writer.del();
    for (let i = 0; i < 80; i++)
      await writer.zadd(
        BASE + i * MINUTE_MS,
        candlePayload({ symbol: SYMBOL, open_time: BASE + i * MINUTE_MS, close: 100 + i }),
      );
    for (const windowSize of [WINDOW, 20, 60, WINDOW]) {
      const options = { patterns: DEFAULT_CANDLE_PATTERNS, windowSize };
      expect(await readCandles(store, SYMBOL, { ...options, window })).toEqual(
        await readCandles(store, SYMBOL, options),
      );
    }
  });
});

describe("CandleWindowCache on the embedded store", () => {
  let memory: MemoryStore;
  beforeEach(() => {
    memory = new MemoryStore();
  });
  const writer: Writer = {
    zadd: async (score, member) => void memory.zadd(KEY, score, member),
    trim: async () => {},
    del: async () => void memory.del(KEY),
  };

  it("equals a full read across random operation sequences", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 5, maxLength: 60 }),
        fc.integer({ min: 1, max: 130 }),
        async (ops, initial) => {
          await checkSequence(memory, writer, ops, initial);
        },
      ),
      { numRuns: 60 },
    );
  });

  // A store with zrangeFromScoreWithin (the embedded one; Redis's is one script) is asked once; one
  // without it the two calls, the size first (src/store/rangeWithin.ts).
  it.each([
    { bounded: true, name: "one zrangeFromScoreWithin (size and members in one operation)" },
    { bounded: false, name: "without it: the key's size, then one ZRANGEBYSCORE" },
  ])(
    "reads only the newest members from the band, no TYPE, no tail read: $name",
    async ({ bounded }) => {
      for (let i = 0; i < 300; i++)
        memory.zadd(
          KEY,
          BASE + i * MINUTE_MS,
          candlePayload({ symbol: SYMBOL, open_time: BASE + i * MINUTE_MS, close: 100 + i }),
        );
      const window = new CandleWindowCache();
      const options = { patterns: DEFAULT_CANDLE_PATTERNS, windowSize: 300, window };
      await readCandles(memory, SYMBOL, options);
      const calls: string[] = [];
      const spy = new Proxy(memory, {
        get(target, prop, receiver) {
          if (prop === "zrangeFromScoreWithin" && !bounded) return undefined;
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (typeof value !== "function") return value;
          return (...args: unknown[]) => {
            calls.push(`${String(prop)}(${args.map((a) => JSON.stringify(a)).join(", ")})`);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      const t = BASE + 300 * MINUTE_MS;
      memory.zadd(KEY, t, candlePayload({ symbol: SYMBOL, open_time: t, close: 999 }));
      const read = await readCandles(spy, SYMBOL, options);
      expect(read.ok && read.value.closes.at(-1)).toBe(999);
      const fullPhase = calls.length === 0 || calls.some((c) => c.startsWith("keyKind"));
      const from = BASE + (300 - CANDLE_REREAD_BAND) * MINUTE_MS;
      // MEMORY USAGE first: a key grown too large is refused before its members are asked for.
      if (!fullPhase)
        expect(calls).toEqual(
          bounded
            ? [`zrangeFromScoreWithin(${JSON.stringify(KEY)}, ${from}, 319, 8388608)`]
            : [
                `memoryUsage(${JSON.stringify(KEY)})`,
                `zrangeFromScore(${JSON.stringify(KEY)}, ${from}, 319)`,
              ],
        );
      expect(window.counts.incremental + window.counts.full).toBe(2);
    },
  );
});
