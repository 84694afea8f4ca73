// The candle rules of CONTRACT.md ("Plausibility") through the marketstate publisher's steps, on a
// real redis-server with the data sink's layout (test/helpers/producers.ts):
//   - a set gone stale stays stale_candles however far in the future a member is dated;
//   - implausible candles are malformed and leave the published sigma exactly as without them;
//   - the window's missing minutes reach the figures, the summary and the gap gauge, and
//     maxCandleGap (off by default) turns more into the skip gapped_candles;
//   - a candle key of tens of MB fails only its own symbol (bad_input naming key, bytes, limit):
//     its members are never asked for, so the shared connection never drops, and a healthy
//     symbol beside it publishes — also on the incremental path and as the least-privilege user.
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { LiveCandles } from "../../src/inputs/klines.js";
import { computeMarketState } from "../../src/kernels/marketState.js";
import { createServiceMetrics } from "../../src/metrics/serviceMetrics.js";
import { marketStateSteps } from "../../src/phases/marketstate.js";
import type { PhaseDeps } from "../../src/phases/steps.js";
import {
  createRedisStore,
  type RedisStore,
  type RedisStoreEvent,
} from "../../src/store/redisStore.js";
import type { CycleDoneEvent } from "../../machines/publisher.js";
import { ACL_RULES } from "../helpers/acl.js";
import { candlePayload, dataSinkKey, lastClosedOpenTime, MINUTE_MS } from "../helpers/producers.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { monitorOf } from "../helpers/monitor.js";

const fixture = useTestRedis({ store: true });
let redis: Redis;
let store: RedisStore;
beforeAll(() => {
  ({ redis, store } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});

const BASE_CONFIG = loadConfig({ env: {} }).config;
const DAY_MS = 24 * 3600 * 1000;

/** The marketstate steps at a fixed clock, on `on` (the fixture's store unless given). */
function steps(nowMs: number, config: Partial<Config> = {}, on: RedisStore = store) {
  const deps = {
    store: on,
    config: { ...BASE_CONFIG, ...config },
    live: new LiveCandles(),
    now: () => nowMs,
  } as unknown as PhaseDeps;
  return marketStateSteps(deps);
}

/** Read, compute and publish one cycle; the read's skip, or the publish's figures and summary. */
async function cycle(s: ReturnType<typeof steps>, symbol: string) {
  const { nowMs, read } = await s.read(symbol);
  if (!read.ok) return { skipped: read };
  const computed = s.compute(symbol, read.value);
  if (!computed.ok) return { skipped: computed };
  return {
    published: await s.publish(symbol, read.value, computed.value, nowMs),
    closes: read.value.series.closes,
  };
}

/** Closes of a quiet market: deterministic, never repeating. */
const close = (i: number): number => 100 + 2 * Math.sin(i / 9) + 0.3 * Math.cos(i / 2.3);

/** The data sink's members for minutes `i` of `indices`, the last of `count` opening at `lastOpen`. */
function members(
  symbol: string,
  count: number,
  lastOpen: number,
  member: (i: number, t: number) => string | null = (i, t) =>
    candlePayload({ symbol, open_time: t, close: close(i) }),
) {
  const args: Array<number | string> = [];
  for (let i = 0; i < count; i++) {
    const t = lastOpen - (count - 1 - i) * MINUTE_MS;
    const m = member(i, t);
    if (m !== null) args.push(t, m);
  }
  return args;
}

describe("future_candle", () => {
  it("a set 2 h stale plus one member dated a day (or a century) ahead is still stale_candles; the detail says what was skipped", async () => {
    const nowMs = lastClosedOpenTime(Date.now()) + MINUTE_MS + 800;
    const staleLast = lastClosedOpenTime(nowMs) - 120 * MINUTE_MS;
    await redis.zadd(dataSinkKey("BTCUSDT"), ...members("BTCUSDT", 300, staleLast));
    const s = steps(nowMs);
    for (const ahead of [DAY_MS, 100 * 365 * DAY_MS]) {
      const t = lastClosedOpenTime(nowMs) + ahead;
      await redis.zadd(
        dataSinkKey("BTCUSDT"),
        t,
        candlePayload({ symbol: "BTCUSDT", open_time: t, close: 101 }),
      );
      const { skipped } = await cycle(s, "BTCUSDT");
      expect(skipped).toMatchObject({ ok: false, reason: "stale_candles" });
      expect(skipped!.detail).toMatch(
        /^newest candle in quantum:history:ohlcv:BTCUSDT:1m opened 72\d\d s ago \(maxCandleAge 180 s\)/,
      );
      expect(skipped!.detail).toMatch(
        /\d members? dated after now \+ maxClockSkew skipped \(future_candle\)/,
      );
    }
    expect(await redis.exists("quantum:marketstate:BTCUSDT")).toBe(0);
  });

  it("a fresh set with a future member publishes from the others and counts it (candles_future)", async () => {
    const nowMs = lastClosedOpenTime(Date.now()) + MINUTE_MS + 800;
    const last = lastClosedOpenTime(nowMs);
    await redis.zadd(dataSinkKey("ETHUSDT"), ...members("ETHUSDT", 300, last));
    await redis.zadd(
      dataSinkKey("ETHUSDT"),
      last + DAY_MS,
      candlePayload({ symbol: "ETHUSDT", open_time: last + DAY_MS, close: 9999 }),
    );
    const { published, closes } = await cycle(steps(nowMs), "ETHUSDT");
    expect(published!.figures).toMatchObject({
      candles_future: 1,
      candles_malformed: 0,
      candle_gap_minutes: 0,
      buffer_size: 300,
    });
    expect(closes).not.toContain(9999);
  });
});

describe("implausible candles", () => {
  it("three of 300 with close × 1e-6 (OHLC out of order) are malformed; the published sigma is that of the series without them", async () => {
    const nowMs = lastClosedOpenTime(Date.now()) + MINUTE_MS + 800;
    const last = lastClosedOpenTime(nowMs);
    const bad = new Set([40, 170, 260]);
    await redis.zadd(
      dataSinkKey("BTCUSDT"),
      ...members("BTCUSDT", 300, last, (i, t) =>
        candlePayload(
          bad.has(i)
            ? {
                symbol: "BTCUSDT",
                open_time: t,
                close: close(i) * 1e-6,
                open: close(i),
                high: close(i) * 1.001,
                low: close(i) * 0.999,
              }
            : { symbol: "BTCUSDT", open_time: t, close: close(i) },
        ),
      ),
    );
    // The same market without those three candles at all.
    await redis.zadd(
      dataSinkKey("ETHUSDT"),
      ...members("ETHUSDT", 300, last, (i, t) =>
        bad.has(i) ? null : candlePayload({ symbol: "ETHUSDT", open_time: t, close: close(i) }),
      ),
    );
    const s = steps(nowMs);
    const withBad = await cycle(s, "BTCUSDT");
    const without = await cycle(s, "ETHUSDT");
    expect(withBad.published!.figures).toMatchObject({
      candles_malformed: 3,
      buffer_size: 297,
      candle_gap_minutes: 3,
    });
    expect(without.published!.figures).toMatchObject({
      candles_malformed: 0,
      buffer_size: 297,
      candle_gap_minutes: 3,
    });
    expect(withBad.closes).toEqual(without.closes);
    const sigma = await redis.hget("quantum:marketstate:BTCUSDT", "sigma");
    expect(sigma).toBe(await redis.hget("quantum:marketstate:ETHUSDT", "sigma"));
    expect(withBad.published!.figures.sigma).toBe(computeMarketState(without.closes!)!.sigma);
    expect(withBad.published!.summary).toMatch(
      /3 malformed candle members skipped, 3 minutes missing in the window/,
    );
  });

  it("closes of 1e308 are malformed (outside maxCandlePrice), and a narrower configured range applies", async () => {
    const nowMs = lastClosedOpenTime(Date.now()) + MINUTE_MS + 800;
    const last = lastClosedOpenTime(nowMs);
    await redis.zadd(
      dataSinkKey("BTCUSDT"),
      ...members("BTCUSDT", 300, last, (i, t) =>
        candlePayload(
          i % 100 === 7
            ? { symbol: "BTCUSDT", open_time: t, close: 1e308, high: 1e308, low: 1e308 }
            : { symbol: "BTCUSDT", open_time: t, close: close(i) },
        ),
      ),
    );
    const { published } = await cycle(steps(nowMs), "BTCUSDT");
    expect(published!.figures).toMatchObject({ candles_malformed: 3, buffer_size: 297 });
    expect(Number.isFinite(published!.figures.sigma)).toBe(true);
    // A configured range the whole market is outside of.
    const narrow = await cycle(steps(nowMs, { maxCandlePrice: 50 }), "BTCUSDT");
    expect(narrow.skipped).toEqual({
      ok: false,
      reason: "bad_input",
      detail: "all 300 members read from candle key quantum:history:ohlcv:BTCUSDT:1m are malformed",
    });
  });
});

describe("gaps", () => {
  const nowMs = lastClosedOpenTime(Date.now()) + MINUTE_MS + 800;
  const last = lastClosedOpenTime(nowMs);
  /** 300 candles over 312 minutes: a feed outage of 12 minutes an hour ago. */
  const seedGapped = async () => {
    await redis.zadd(
      dataSinkKey("BTCUSDT"),
      ...members("BTCUSDT", 312, last, (i, t) =>
        i >= 240 && i < 252
          ? null
          : candlePayload({ symbol: "BTCUSDT", open_time: t, close: close(i) }),
      ),
    );
  };

  it("are reported, and computed on by default: figures, summary and the per-symbol gauge", async () => {
    await seedGapped();
    const { published } = await cycle(steps(nowMs), "BTCUSDT");
    expect(published!.figures).toMatchObject({ candle_gap_minutes: 12, buffer_size: 300 });
    expect(published!.summary).toMatch(/\(12 minutes missing in the window\)$/);
    const metrics = createServiceMetrics({
      phases: ["marketstate"],
      symbols: ["BTCUSDT"],
      now: () => nowMs,
      defaultMetrics: false,
    });
    const event: CycleDoneEvent = {
      type: "CYCLE_DONE",
      phase: "marketstate",
      symbol: "BTCUSDT",
      outcome: "published",
      reason: "new_candles",
      detail: null,
      summary: published!.summary,
      figures: published!.figures,
      labels: null,
      chainStartedAt: null,
      startedAtMs: nowMs,
      consecutiveFailures: 0,
    };
    metrics.hooks.onCycle(event, nowMs);
    expect((await metrics.render()).body).toMatch(
      /^quantum_calc_candle_gap_minutes\{symbol="BTCUSDT"\} 12$/m,
    );
  });

  it("maxCandleGap: more missing minutes skip as gapped_candles naming them and the limit; as many pass", async () => {
    await seedGapped();
    expect((await cycle(steps(nowMs, { maxCandleGap: 11 }), "BTCUSDT")).skipped).toEqual({
      ok: false,
      reason: "gapped_candles",
      detail:
        "12 minutes missing between the candles of the window in quantum:history:ohlcv:BTCUSDT:1m (maxCandleGap 11)",
    });
    expect((await cycle(steps(nowMs, { maxCandleGap: 12 }), "BTCUSDT")).published).toBeDefined();
    // 0: any gap at all.
    expect((await cycle(steps(nowMs, { maxCandleGap: 0 }), "BTCUSDT")).skipped).toMatchObject({
      reason: "gapped_candles",
    });
  });
});

describe("an oversized candle key", () => {
  /** A data sink key of ~`mb` MB: `mb` members of 1 MB, each a candle with a padding field. */
  async function inflate(symbol: string, mb: number, lastOpen: number): Promise<void> {
    const pad = "x".repeat(1 << 20);
    for (let i = 0; i < mb; i++) {
      const t = lastOpen - (mb - 1 - i) * MINUTE_MS;
      await redis.zadd(
        dataSinkKey(symbol),
        t,
        candlePayload({ symbol, open_time: t, close: 100 }).replace(/}$/, `, "pad": "${pad}"}`),
      );
    }
  }

  /** The store's connection events while `body` runs. */
  async function watchingConnection<T>(
    on: RedisStore,
    body: () => Promise<T>,
  ): Promise<{ result: T; events: RedisStoreEvent["type"][] }> {
    const events: RedisStoreEvent["type"][] = [];
    const off = on.onConnectionEvent((e) => events.push(e.type));
    try {
      return { result: await body(), events };
    } finally {
      off();
    }
  }

  it("tens of MB beside a healthy symbol: the healthy one publishes, the big one skips bad_input (key, bytes, limit), the connection never drops", async () => {
    const nowMs = lastClosedOpenTime(Date.now()) + MINUTE_MS + 800;
    const last = lastClosedOpenTime(nowMs);
    await redis.zadd(dataSinkKey("ETHUSDT"), ...members("ETHUSDT", 300, last));
    await redis.zadd(dataSinkKey("BTCUSDT"), ...members("BTCUSDT", 300, last));
    await inflate("BTCUSDT", 40, last + 10 * DAY_MS);
    const bytes = Number(
      await redis.call("MEMORY", "USAGE", dataSinkKey("BTCUSDT"), "SAMPLES", "0"),
    );
    expect(bytes).toBeGreaterThan(40 << 20);
    const s = steps(nowMs);
    const { result, events } = await watchingConnection(store, () =>
      Promise.all([cycle(s, "BTCUSDT"), cycle(s, "ETHUSDT")]),
    );
    const [big, healthy] = result;
    expect(big.skipped).toEqual({
      ok: false,
      reason: "bad_input",
      detail: `candle key quantum:history:ohlcv:BTCUSDT:1m holds ${bytes} bytes (MEMORY USAGE), above maxCandleKeyBytes 8388608: not read`,
    });
    expect(healthy.published!.figures.buffer_size).toBe(300);
    expect(events).not.toContain("close");
    expect(events).not.toContain("reconnecting");
    expect(store.status()).toBe("ready");
  });

  it("grown after a read (the incremental path): refused before its members are asked for", async () => {
    const nowMs = lastClosedOpenTime(Date.now()) + MINUTE_MS + 800;
    const last = lastClosedOpenTime(nowMs);
    await redis.zadd(dataSinkKey("BTCUSDT"), ...members("BTCUSDT", 300, last));
    const s = steps(nowMs, { maxCandleKeyBytes: 1 << 20 });
    expect((await cycle(s, "BTCUSDT")).published).toBeDefined();
    // A writer gone wrong appends huge members at the newest open times (they are in the re-read band).
    await inflate("BTCUSDT", 3, last);
    const commands: string[] = [];
    const monitor = await monitorOf(redis);
    monitor.on("monitor", (_time: string, args: string[]) => commands.push(args[0].toLowerCase()));
    try {
      const { result, events } = await watchingConnection(store, () => cycle(s, "BTCUSDT"));
      expect(result.skipped).toMatchObject({
        ok: false,
        reason: "bad_input",
        detail: expect.stringMatching(/above maxCandleKeyBytes 1048576: not read$/),
      });
      expect(events).toEqual([]);
      await redis.echo("caught-up");
      await until(() => commands.includes("echo"));
    } finally {
      monitor.disconnect();
    }
    // The size was asked; no member of the key was.
    expect(commands).toContain("memory");
    expect(commands.filter((c) => c.startsWith("zrange"))).toEqual([]);
  });

  it("MEMORY USAGE is allowed to the least-privilege ACL user (README), so the service reads candles as that user", async () => {
    await redis.call("ACL", "SETUSER", "quantum-calc-test", ">pw", ...ACL_RULES);
    const nowMs = lastClosedOpenTime(Date.now()) + MINUTE_MS + 800;
    await redis.zadd(dataSinkKey("BTCUSDT"), ...members("BTCUSDT", 300, lastClosedOpenTime(nowMs)));
    const url = new URL(fixture.server.url);
    const user = createRedisStore({
      url: `redis://quantum-calc-test:pw@${url.host}/0`,
      reconnectBaseMs: 20,
      reconnectCapMs: 200,
    });
    try {
      await user.waitReady(5000);
      expect(await user.memoryUsage(dataSinkKey("BTCUSDT"))).toBeGreaterThan(0);
      expect((await cycle(steps(nowMs, {}, user), "BTCUSDT")).published).toBeDefined();
    } finally {
      await user.close();
      await redis.call("ACL", "DELUSER", "quantum-calc-test");
    }
  });
});

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
