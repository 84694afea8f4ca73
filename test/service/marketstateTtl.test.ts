// The EXPIRE of quantum:marketstate:{symbol} (docs/specification.md §5): 10 × the marketstate interval, and never
// shorter than the time to the next forced publish plus one interval — the hash must not lapse
// while the service is healthy. A forced publish comes maxPublishAge after the last one, noticed
// by the first cycle after that (up to one interval later); one interval more is the margin:
// TTL = max(10 · interval, maxPublishAge + 2 · interval), whole seconds, rounded up.
import fc from "fast-check";
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { marketStateTtlSec } from "../../src/phases/marketstate.js";
import { seedDataSink } from "../helpers/producers.js";
import type { TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { prices } from "../helpers/seed.js";
import { oncePass } from "../helpers/serviceHarness.js";

const S = "SOLUSDT";
const KEY = `quantum:marketstate:${S}`;

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;

beforeAll(() => {
  ({ server, redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
});

/** One marketstate-only `run --once` pass in-process; returns handle.stats.summary(). */
async function once(flags: Record<string, unknown>): Promise<Record<string, number>> {
  const pass = await oncePass({
    redisUrl: server.url,
    symbols: [S],
    flags: { phases: ["marketstate"], ...flags },
  });
  expect(pass.exitCode).toBe(0);
  return pass.counts;
}

describe("the marketstate hash TTL after a publish (redis-server)", () => {
  const cases: Array<{ marketstateInterval: number; maxPublishAge: number; ttl: number }> = [
    // 10 × 1 s = 10 s would lapse between the forced publishes every 60 s.
    { marketstateInterval: 1, maxPublishAge: 60, ttl: 62 },
    { marketstateInterval: 60, maxPublishAge: 60, ttl: 600 },
  ];
  for (const { marketstateInterval, maxPublishAge, ttl } of cases) {
    it(`interval ${marketstateInterval} s, maxPublishAge ${maxPublishAge} s: EXPIRE ${ttl} s`, async () => {
      await seedDataSink(redis, S, prices("trend", 300, 100));
      const counts = await once({ marketstateInterval, maxPublishAge });
      expect(counts["marketstate:published"]).toBe(1);
      const got = await redis.ttl(KEY);
      expect(got).toBeGreaterThanOrEqual(ttl - 1);
      expect(got).toBeLessThanOrEqual(ttl);
      // The bookkeeping written with it lapses with it.
      const book = await redis.ttl(`quantum:calc:marketstate:${S}`);
      expect(book).toBeGreaterThanOrEqual(ttl - 1);
      expect(book).toBeLessThanOrEqual(ttl);
    });
  }
});

describe("marketStateTtlSec", () => {
  it.each([
    // [interval, maxPublishAge, ttl]
    [60, 60, 600], // the defaults: 10 × interval dominates
    [1, 60, 62], // 60 + 2 × 1
    [10, 60, 100], // 10 × 10 > 60 + 20
    [5, 60, 70], // 60 + 10 > 50
    [30, 60, 300],
    [60, 600, 720], // 600 + 120 > 600
    [1, 1, 10],
    [0.1, 60, 61], // 60.2, rounded up to whole seconds
    [0.1, 0.5, 1], // max(1, 0.7) rounded up: never 0 (EXPIRE 0 deletes the key)
    [2.5, 10, 25],
  ])("interval %s s, maxPublishAge %s s → %s s", (marketstateInterval, maxPublishAge, ttl) => {
    expect(marketStateTtlSec({ marketstateInterval, maxPublishAge })).toBe(ttl);
  });

  it("is a whole number of seconds, at least 10 × interval and at least maxPublishAge + 2 × interval", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 3600, noNaN: true }),
        fc.double({ min: 0.01, max: 86_400, noNaN: true }),
        (marketstateInterval, maxPublishAge) => {
          const ttl = marketStateTtlSec({ marketstateInterval, maxPublishAge });
          expect(Number.isInteger(ttl)).toBe(true);
          expect(ttl).toBeGreaterThanOrEqual(1);
          expect(ttl).toBeGreaterThanOrEqual(10 * marketstateInterval);
          expect(ttl).toBeGreaterThanOrEqual(maxPublishAge + 2 * marketstateInterval);
          // …and no longer than needed (under one second of rounding).
          expect(ttl).toBeLessThan(
            Math.max(1, 10 * marketstateInterval, maxPublishAge + 2 * marketstateInterval) + 1,
          );
        },
      ),
    );
  });
});
