// symbolsSource policy (docs/specification.md §9), the long-running service in-process against a real
// redis-server: the running symbols are the policy's universe_symbols plus every symbol with an
// open position in quantum:state:positions:* (found with SCAN), followed live — new symbols get
// publishers, removed ones finish their cycle and stop, an open position keeps its publishers until
// it is flat — and the configured symbols without a usable policy. Also as the least-privilege
// ACL user (SCAN is in +@read).
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { SymbolChange } from "../../machines/supervisor.js";
import { createServiceMetrics } from "../../src/metrics/serviceMetrics.js";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import { ACL_RULES } from "../helpers/acl.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import { generatorPolicy, positionKey } from "../helpers/producers.js";
import type { TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import {
  captureLogger,
  explainWith,
  fastFlags,
  fieldsOf,
  serviceConfig,
  until,
  type CapturedLogger,
} from "../helpers/serviceHarness.js";
import {
  flatten,
  harvestKey,
  marketKey,
  openLong,
  parseScrape,
  sampleValue,
  seedMarket,
  writePolicy,
} from "./harness.js";

const CONFIGURED = ["DOGEUSDT"];
const ALL = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT"];
const USER = "quantum-calc";
const PASSWORD = "Qc-universe-Pw-4417";

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;
let handle: ServiceHandle | undefined;
const marks: Record<string, number> = {};

beforeAll(() => {
  ({ server, redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
  expect(await redis.call("ACL", "SETUSER", USER, "reset", `>${PASSWORD}`, ...ACL_RULES)).toBe(
    "OK",
  );
  const t0 = Date.now();
  for (const [i, symbol] of ALL.entries())
    marks[symbol] = await seedMarket(redis, symbol, t0, 20 + i, 50 * (i + 1));
});
afterEach(async () => {
  await handle?.close();
  handle = undefined;
});
afterAll(async () => {
  await redis.call("ACL", "DELUSER", USER).catch(() => undefined);
});

interface Live {
  handle: ServiceHandle;
  watch: CycleWatch;
  log: CapturedLogger;
  changes: SymbolChange[];
  scrape(): Promise<ReturnType<typeof parseScrape>>;
}

/** The service with 0.1 s cycles, marketstate republished every second (so a running symbol keeps writing). */
async function startLive(
  extra: Record<string, unknown> = {},
  redisUrl = server.url,
): Promise<Live> {
  const log = captureLogger("debug");
  const watch = new CycleWatch();
  const changes: SymbolChange[] = [];
  const config = serviceConfig(
    fastFlags(redisUrl, CONFIGURED, {
      symbolsSource: "policy",
      maxPublishAge: 1,
      maxInputAge: 600,
      followKlines: false,
      ...extra,
    }),
  );
  const metrics = createServiceMetrics({
    phases: config.phases,
    symbols: config.symbols,
    now: wallClock,
    defaultMetrics: false,
  });
  handle = await startService({
    config,
    logger: log.logger,
    now: wallClock,
    hooks: {
      ...metrics.hooks,
      onCycle: (e, nowMs) => {
        watch.hooks.onCycle!(e, nowMs);
        metrics.hooks.onCycle(e, nowMs);
      },
      onSymbols: (change) => {
        changes.push(change);
        metrics.hooks.onSymbols(change);
      },
    },
  });
  return {
    handle,
    watch,
    log,
    changes,
    scrape: async () => parseScrape((await metrics.render()).body),
  };
}

const running = (h: ServiceHandle): string[] => [...h.actor.getSnapshot().context.symbols].sort();
const children = (h: ServiceHandle, symbol: string): string[] =>
  Object.keys(h.actor.getSnapshot().children).filter(
    (id) => id.split(":")[1]?.split("~")[0] === symbol,
  );

async function open(symbol: string): Promise<void> {
  await openLong(redis, symbol, marks[symbol], Date.now(), { profit: 0.02, ageSec: 600 });
}

/** Entries of quantum:stream:marketstate for `symbol` (one per marketstate publish). */
async function marketstateEntries(symbol: string): Promise<number> {
  const entries = await redis.xrange("quantum:stream:marketstate", "-", "+");
  return entries.filter(([, flat]) => fieldsOf(flat).symbol === symbol).length;
}

describe("symbolsSource policy", () => {
  it("runs the universe plus the open positions outside it (not a FLAT one), then follows growth and shrink live", async () => {
    await writePolicy(redis, generatorPolicy({ universe: ["BTCUSDT", "ETHUSDT"], version: "u1" }));
    await open("BTCUSDT");
    await open("SOLUSDT"); // open, outside the universe
    await flatten(redis, "XRPUSDT", marks.XRPUSDT, Date.now()); // closed, outside the universe
    await redis.set(positionKey("not-a-symbol"), "x"); // a key SCAN finds that names no symbol
    const { handle: h, watch, log, changes, scrape } = await startLive();

    expect(running(h)).toEqual(["BTCUSDT", "ETHUSDT", "SOLUSDT"]);
    // The observers (metrics) hear the set the service started with, against the configured one.
    expect(changes[0]).toEqual({
      running: ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
      added: ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
      removed: ["DOGEUSDT"],
      initial: true,
    });
    expect(log.lines().find((l) => /^quantum-calc started/.test(l.msg))?.msg).toMatch(
      /for 3 symbol\(s\) \(BTCUSDT, ETHUSDT, SOLUSDT\).*symbols from policy/,
    );
    await until(
      "harvest publishes for the open positions (SOLUSDT outside the universe)",
      async () => (await redis.exists(harvestKey("BTCUSDT"), harvestKey("SOLUSDT"))) === 2,
    ).catch(explainWith(h));
    expect(await redis.exists(marketKey("ETHUSDT"))).toBe(1); // in the universe, no position: marketstate only
    expect(
      await redis.exists(marketKey("XRPUSDT"), harvestKey("XRPUSDT"), marketKey("DOGEUSDT")),
    ).toBe(0);

    // Growth: ADAUSDT joins the universe; it gets publishers and publishes (harvest too, once it has a position).
    await writePolicy(
      redis,
      generatorPolicy({ universe: ["BTCUSDT", "ETHUSDT", "ADAUSDT"], version: "u2" }),
    );
    const grown = await until("ADAUSDT added", () =>
      changes.find((c) => c.added.includes("ADAUSDT")),
    ).catch(explainWith(h));
    expect(grown).toEqual({
      running: ["BTCUSDT", "ETHUSDT", "SOLUSDT", "ADAUSDT"],
      added: ["ADAUSDT"],
      removed: [],
    });
    expect(children(h, "ADAUSDT").sort()).toEqual([
      "harvest:ADAUSDT",
      "marketstate:ADAUSDT",
      "risk:ADAUSDT",
    ]);
    await until(
      "a marketstate publish for ADAUSDT",
      async () => (await redis.exists(marketKey("ADAUSDT"))) === 1,
    ).catch(explainWith(h));
    await open("ADAUSDT");
    await until(
      "a harvest publish for ADAUSDT",
      async () => (await redis.exists(harvestKey("ADAUSDT"))) === 1,
    ).catch(explainWith(h));
    expect(log.lines().some((l) => /^symbols changed: 4 running; added ADAUSDT$/.test(l.msg))).toBe(
      true,
    );

    // Shrink: only ADAUSDT stays in the universe. ETHUSDT (no position) goes; BTCUSDT and SOLUSDT
    // (open positions) keep their publishers.
    await writePolicy(redis, generatorPolicy({ universe: ["ADAUSDT"], version: "u3" }));
    const shrunk = await until("ETHUSDT removed", () =>
      changes.find((c) => c.removed.includes("ETHUSDT")),
    ).catch(explainWith(h));
    expect(shrunk).toEqual({
      running: ["BTCUSDT", "SOLUSDT", "ADAUSDT"],
      added: [],
      removed: ["ETHUSDT"],
    });
    await until(
      "the ETHUSDT publishers to finish their cycle and stop",
      () => children(h, "ETHUSDT").length === 0,
    ).catch(explainWith(h));
    const ethWrites = await marketstateEntries("ETHUSDT");
    const ethHash = await redis.hgetall(marketKey("ETHUSDT"));
    const stoppedAt = Date.now();
    // The others keep publishing (marketstate every second): wait for two more of BTCUSDT's.
    const btcWrites = await marketstateEntries("BTCUSDT");
    await until(
      "two more BTCUSDT marketstate publishes",
      async () => (await marketstateEntries("BTCUSDT")) >= btcWrites + 2,
      10_000,
    ).catch(explainWith(h));
    expect(await marketstateEntries("ETHUSDT")).toBe(ethWrites);
    // Unchanged — or lapsed: its EXPIRE (10 x the interval, at least maxPublishAge + one interval) runs out.
    expect([JSON.stringify(ethHash), "{}"]).toContain(
      JSON.stringify(await redis.hgetall(marketKey("ETHUSDT"))),
    );
    expect(watch.since(stoppedAt).filter((c) => c.event.symbol === "ETHUSDT")).toEqual([]);

    // SOLUSDT's position is closed: at the next recheck (the next policy change here) it goes too.
    await flatten(redis, "SOLUSDT", marks.SOLUSDT, Date.now());
    await writePolicy(redis, generatorPolicy({ universe: ["ADAUSDT"], version: "u4" }));
    const closed = await until("SOLUSDT removed", () =>
      changes.find((c) => c.removed.includes("SOLUSDT")),
    ).catch(explainWith(h));
    expect(closed.running).toEqual(["BTCUSDT", "ADAUSDT"]);
    await until("the SOLUSDT publishers to stop", () => children(h, "SOLUSDT").length === 0).catch(
      explainWith(h),
    );

    const samples = await scrape();
    expect(sampleValue(samples, "quantum_calc_symbols_running")).toBe(2);
    expect(sampleValue(samples, "quantum_calc_symbol_changes_total", { change: "added" })).toBe(1);
    expect(sampleValue(samples, "quantum_calc_symbol_changes_total", { change: "removed" })).toBe(
      2,
    );
    expect(watch.cycles.filter((c) => c.event.outcome === "error")).toEqual([]);
    expect(h.stats.restarts).toBe(0);
  });

  it("without a usable policy: the configured symbols (plus open positions); a policy that expires while running gives them back at once", async () => {
    await open("SOLUSDT");
    // Undamped: the expiry comes 2 s after the previous change, within the default universeApplyInterval.
    const { handle: h, changes } = await startLive({ universeApplyInterval: 0 });
    expect(running(h)).toEqual(["DOGEUSDT", "SOLUSDT"]);

    const validUntilSec = Math.floor(Date.now() / 1000) + 3;
    await writePolicy(redis, {
      ...generatorPolicy({ universe: ["ETHUSDT"], version: "short" }),
      valid_until_epoch: String(validUntilSec),
    });
    await until("the universe applied", () =>
      changes.find((c) => c.added.includes("ETHUSDT")),
    ).catch(explainWith(h));
    expect(running(h)).toEqual(["ETHUSDT", "SOLUSDT"]);
    const back = await until(
      "the configured symbols back after the expiry",
      () => changes.find((c) => c.added.includes("DOGEUSDT")),
      10_000,
    ).catch(explainWith(h));
    expect(back).toEqual({
      running: ["SOLUSDT", "DOGEUSDT"],
      added: ["DOGEUSDT"],
      removed: ["ETHUSDT"],
    });
    // At the first policy tick after the expiry, not at the one-minute recheck.
    expect(Date.now() - validUntilSec * 1000).toBeLessThan(5000);
  });

  it("a refused policy leaves the running set alone (the last good universe stays until it expires)", async () => {
    await writePolicy(
      redis,
      generatorPolicy({ universe: ["BTCUSDT", "ETHUSDT"], version: "good" }),
    );
    const { handle: h, log } = await startLive();
    expect(running(h)).toEqual(["BTCUSDT", "ETHUSDT"]);
    await writePolicy(
      redis,
      generatorPolicy({ universe: ["BTCUSDT", "bad symbol"], version: "bad" }),
    );
    await until("the refusal", () =>
      log.lines().some((l) => /^policy refused \(bad_universe\)/.test(l.msg)),
    ).catch(explainWith(h));
    expect(log.lines().find((l) => /^policy refused \(bad_universe\)/.test(l.msg))?.msg).toMatch(
      /the last good policy stays in force until it expires$/,
    );
    expect(running(h)).toEqual(["BTCUSDT", "ETHUSDT"]);
  });

  it("with harvestThetaSource config the universe is still followed (its theta is not used)", async () => {
    await writePolicy(redis, generatorPolicy({ universe: ["ETHUSDT"], version: "uni-only" }));
    await open("ETHUSDT");
    const { handle: h, log } = await startLive({ harvestThetaSource: "config" });
    expect(running(h)).toEqual(["ETHUSDT"]);
    await until(
      "a harvest publish for ETHUSDT",
      async () => (await redis.exists(harvestKey("ETHUSDT"))) === 1,
    ).catch(explainWith(h));
    expect(await redis.hget(harvestKey("ETHUSDT"), "policy_version")).toBe("");
    expect(
      log
        .lines()
        .some((l) =>
          /^policy uni-only read for its 1 universe symbols; its harvest theta is not used/.test(
            l.msg,
          ),
        ),
    ).toBe(true);
    expect(log.lines().some((l) => /^policy uni-only in force/.test(l.msg))).toBe(false);
    expect(h.policy.describe(wallClock())).toMatchObject({
      source: "config",
      version: "",
      validUntilMs: null,
    });
  });
});

describe("as the least-privilege ACL user", () => {
  it("SCAN finds the open positions (no +scan needed: it is in +@read), and growth still follows the update stream", async () => {
    const user = (await import("ioredis")).Redis;
    const probe = new user({
      port: server.port,
      host: "127.0.0.1",
      username: USER,
      password: PASSWORD,
      maxRetriesPerRequest: 0,
      enableReadyCheck: false,
    });
    try {
      await open("SOLUSDT");
      const [, keys] = await probe.scan("0", "MATCH", "quantum:state:positions:*", "COUNT", 1000);
      expect(keys).toContain(positionKey("SOLUSDT"));
      await expect(probe.keys("*")).rejects.toThrow(/NOPERM/);
    } finally {
      probe.disconnect();
    }
    await writePolicy(redis, generatorPolicy({ universe: ["BTCUSDT"], version: "acl-1" }));
    const url = `redis://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}`;
    const { handle: h, log, changes } = await startLive({}, url);
    expect(running(h)).toEqual(["BTCUSDT", "SOLUSDT"]);
    await until(
      "a harvest publish for SOLUSDT by the ACL user",
      async () => (await redis.exists(harvestKey("SOLUSDT"))) === 1,
    ).catch(explainWith(h));
    await writePolicy(
      redis,
      generatorPolicy({ universe: ["BTCUSDT", "ETHUSDT"], version: "acl-2" }),
    );
    await until("ETHUSDT added", () => changes.find((c) => c.added.includes("ETHUSDT"))).catch(
      explainWith(h),
    );
    await until(
      "a marketstate publish for ETHUSDT by the ACL user",
      async () => (await redis.exists(marketKey("ETHUSDT"))) === 1,
    ).catch(explainWith(h));
    expect(log.text()).not.toMatch(/NOPERM/);
    expect(log.text()).not.toMatch(/policy watch: reading the .* failed/);
  });
});
