// Redis Sentinel (issue 10 part 3), against real processes on loopback ports: a primary, a replica
// and three `redis-server --sentinel` (quorum 2), each with a password (requirepass on the data
// nodes, another on the sentinels). The service runs with `sentinels`/`sentinelName` and:
//  - after `SENTINEL FAILOVER` writes to the promoted replica within 15 s, and never to the old
//    primary once it has been demoted (it is not even sent a write: no READONLY on it);
//  - when the primary it writes to is demoted under its open connection (REPLICAOF, no client
//    kill) and answers READONLY, takes that as an I/O failure — no crash, nothing written — closes
//    the gate, reconnects, refuses the replica the still-stale sentinels name (the handshake's
//    role check: the READONLY count does not grow), and writes to the primary they name next.
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startService, wallClock, type ServiceHandle } from "../../src/service/service.js";
import type { RedisStore } from "../../src/store/redisStore.js";
import { CycleWatch } from "../helpers/cycleWatch.js";
import {
  startSentinelDeployment,
  WRITE_COMMANDS,
  type MonitorLine,
  type NodeMonitor,
  type SentinelDeployment,
} from "../helpers/sentinel.js";
import { longPosition, prices, seedCandles, seedPosition } from "../helpers/seed.js";
import {
  captureLogger,
  explainWith,
  fastFlags,
  serviceConfig,
  startCli,
  stopService,
  until,
} from "../helpers/serviceHarness.js";

const SYMBOLS = ["BTCUSDT", "ETHUSDT"];
const PASSWORD = "node-pw-31f";
const SENTINEL_PASSWORD = "sentinel-pw-9c2";
/** The goal: after a failover, the service writes to the new primary within this long. */
const FAILOVER_WRITE_WITHIN_MS = 15_000;

let deployment: SentinelDeployment;
let service: ServiceHandle | undefined;
const watch = new CycleWatch();
const log = captureLogger("debug");
const monitors: NodeMonitor[] = [];

/** Writes a node executed from a client other than its master link (i.e. from the service). */
function serviceWrites(
  lines: MonitorLine[],
  masterLink: string | null,
  afterMs: number,
): MonitorLine[] {
  return lines.filter(
    (l) => l.serverMs >= afterMs && WRITE_COMMANDS.has(l.args[0]) && l.source !== masterLink,
  );
}

async function seed(redis: Redis): Promise<void> {
  for (const [i, symbol] of SYMBOLS.entries()) {
    const closes = prices("trend", 300, 100 * (i + 1), 5 + i);
    await seedCandles(redis, symbol, closes);
    await seedPosition(redis, longPosition(symbol, closes[closes.length - 1]));
  }
}

beforeAll(async () => {
  deployment = await startSentinelDeployment({
    password: PASSWORD,
    sentinelPassword: SENTINEL_PASSWORD,
  });
  await deployment.waitForTopology();
  const primary = deployment.client(deployment.nodes.first.port);
  await seed(primary);
  // The replica has the inputs before the failover (it becomes the primary).
  await primary.call("WAIT", "1", "5000");
}, 60_000);

afterAll(async () => {
  await stopService(service);
  for (const m of monitors) m.stop();
  await deployment?.close();
}, 30_000);

describe("Redis Sentinel", () => {
  it(`follows SENTINEL FAILOVER: writes to the promoted replica within ${FAILOVER_WRITE_WITHIN_MS / 1000} s, never to the demoted primary`, async () => {
    const { first, second } = deployment.nodes;
    const config = serviceConfig(
      fastFlags(`redis://:${PASSWORD}@unused.invalid:1/0`, SYMBOLS, {
        sentinels: deployment.sentinelAddresses.join(","),
        sentinelName: deployment.masterName,
        sentinelPassword: SENTINEL_PASSWORD,
        marketstateInterval: 0.5,
        riskInterval: 0.2,
        harvestInterval: 0.2,
        backoffBaseMs: 100,
        backoffCapMs: 2000,
        commandTimeoutMs: 1000,
        maxInputAge: 600,
      }),
    );
    const started = wallClock();
    service = await startService({ config, logger: log.logger, hooks: watch.hooks, systemd: null });
    const handle = service;
    const store = handle.readStore as RedisStore;
    await until(
      "every actor to publish through the sentinels",
      () =>
        new Set(
          watch
            .since(started)
            .filter((c) => c.event.outcome === "published")
            .map((c) => `${c.event.phase}:${c.event.symbol}`),
        ).size ===
        3 * SYMBOLS.length,
      20_000,
    ).catch(explainWith(handle));
    expect(store.address()).toBe(`127.0.0.1:${first.port}`);
    expect(store.target).toBe("sentinel:mymaster/0");
    expect(log.text()).toContain(`redis ready (127.0.0.1:${first.port})`);

    const oldPrimary = await deployment.monitor(first.port);
    const newPrimary = await deployment.monitor(second.port);
    monitors.push(oldPrimary, newPrimary);
    const failoverAt = wallClock();
    await deployment.failover();
    // The replica is promoted within a second or so; the old primary keeps running as a primary
    // until Sentinel reconfigures it as a replica, 8-20 s later.
    const promotedAt = await until(
      "the replica to be promoted",
      async () => ((await deployment.role(second.port)) === "master" ? wallClock() : null),
      15_000,
      20,
    );
    const firstWrite = await until(
      "a write of the service on the new primary",
      // Until its promotion the replica executes the primary's replication stream (from the
      // primary's address): those are not the service's writes.
      () => serviceWrites(newPrimary.lines, `127.0.0.1:${first.port}`, failoverAt)[0],
      FAILOVER_WRITE_WITHIN_MS,
    ).catch(explainWith(handle));
    const writeAfterMs = firstWrite.serverMs - failoverAt;
    await until(
      "the service connected to the new primary",
      () => store.address() === `127.0.0.1:${second.port}`,
      5000,
    );
    const demotedAt = await until(
      "the old primary to be demoted",
      async () => ((await deployment.role(first.port)) === "slave" ? wallClock() : null),
      40_000,
      20,
    );
    // A few more seconds of publishing: still nothing for the old primary.
    const settled = wallClock();
    await until(
      "3 s of publishing after the demotion",
      () =>
        wallClock() - settled > 3000 &&
        watch
          .since(settled)
          .some((c) => c.event.outcome === "published" || c.event.outcome === "heartbeat"),
      10_000,
      50,
    );
    const lastOldWrite = serviceWrites(oldPrimary.lines, `127.0.0.1:${second.port}`, 0).at(-1);
    console.info(
      `failover.test: SENTINEL FAILOVER → replica promoted ${Math.round(promotedAt - failoverAt)} ms → first service write on it ${Math.round(writeAfterMs)} ms ` +
        `(${Math.round(firstWrite.serverMs - promotedAt)} ms after the promotion); old primary demoted after ${((demotedAt - failoverAt) / 1000).toFixed(1)} s, ` +
        `the service's last write to it ${lastOldWrite ? `${Math.round(lastOldWrite.serverMs - failoverAt)} ms` : "before"} after the failover`,
    );
    expect(writeAfterMs).toBeLessThan(FAILOVER_WRITE_WITHIN_MS);
    // Never written to once demoted: no write of ours executed there after the demotion, and not
    // even one attempted (a replica would have answered READONLY).
    expect(serviceWrites(oldPrimary.lines, `127.0.0.1:${second.port}`, demotedAt - 50)).toEqual([]);
    expect((await deployment.errorStats(first.port)).READONLY ?? 0).toBe(0);
    // The failover detector moved the service before the demotion, not the demotion's client kill.
    expect(lastOldWrite === undefined || lastOldWrite.serverMs < demotedAt - 1000).toBe(true);
    expect(handle.stats.restarts).toBe(0);
    expect(handle.actor.getSnapshot().status).toBe("active");
  }, 90_000);

  /** The service's writer connection (the lease's, every publish) is open on that node. */
  const writerConnectedTo = async (port: number): Promise<boolean> =>
    ((await deployment.client(port).client("LIST")) as string)
      .split("\n")
      .some((line) => / name=quantum-calc-writer /.test(line));

  it("a primary demoted under its open connection answers READONLY: an I/O failure, the gate closes, the replica is refused, the next primary is written to", async () => {
    const handle = service!;
    const store = handle.readStore as RedisStore;
    const { first, second } = deployment.nodes;
    await until(
      "the topology after the failover (second primary, first its replica)",
      async () =>
        (await deployment.agreedPrimaryPort()) === second.port &&
        (await deployment.role(first.port)) === "slave",
      20_000,
      100,
    );
    expect(store.address()).toBe(`127.0.0.1:${second.port}`);
    const readOnlyBefore = (await deployment.errorStats(second.port)).READONLY ?? 0;
    const firstMonitor = await deployment.monitor(first.port);
    monitors.push(firstMonitor);

    // Demote the primary the service writes to, without Sentinel (no client kill): `first`
    // becomes a primary of its own, `second` its replica. The sentinels still name `second`.
    const admin = { first: deployment.client(first.port), second: deployment.client(second.port) };
    await admin.first.call("REPLICAOF", "NO", "ONE");
    const demotedAt = wallClock();
    await admin.second.call("REPLICAOF", "127.0.0.1", String(first.port));
    const failure = await until(
      "a cycle failing on READONLY",
      () =>
        watch
          .since(demotedAt)
          .find((c) => c.event.outcome === "error" && /READONLY/.test(c.event.detail ?? "")),
      10_000,
    ).catch(explainWith(handle));
    expect(failure.event.detail).toMatch(
      /read-only replica, not the primary \(nothing was written\); reconnecting to ask the sentinels/,
    );
    // The stale sentinels send it back to `second`, whose handshake now says replica: refused.
    await until(
      "the handshake to refuse the replica",
      () => /is a replica, not the primary of mymaster/.test(log.text()),
      10_000,
    );
    const readOnlyAfterFailure = (await deployment.errorStats(second.port)).READONLY ?? 0;
    expect(readOnlyAfterFailure).toBeGreaterThan(readOnlyBefore);
    // Three seconds of stale sentinels: reconnections, but not one more write sent to the replica.
    const staleFrom = wallClock();
    await until("3 s of stale sentinels", () => wallClock() - staleFrom > 3000, 5000, 100);
    expect((await deployment.errorStats(second.port)).READONLY ?? 0).toBe(readOnlyAfterFailure);
    // The writes go through the lease's writer connection: the one READONLY closed.
    expect(await writerConnectedTo(second.port)).toBe(false);

    // The sentinels learn the new primary (an operator re-pointing them: SENTINEL REMOVE/MONITOR).
    const repointAt = wallClock();
    for (const index of deployment.sentinels.keys()) {
      const sentinel = deployment.sentinelClient(index);
      await sentinel.call("SENTINEL", "REMOVE", deployment.masterName);
      await sentinel.call(
        "SENTINEL",
        "MONITOR",
        deployment.masterName,
        "127.0.0.1",
        String(first.port),
        "2",
      );
      await sentinel.call(
        "SENTINEL",
        "SET",
        deployment.masterName,
        "auth-pass",
        PASSWORD,
        "down-after-milliseconds",
        "1000",
      );
    }
    const write = await until(
      "a service write on the new primary",
      () => serviceWrites(firstMonitor.lines, null, repointAt)[0],
      FAILOVER_WRITE_WITHIN_MS,
    ).catch(explainWith(handle));
    await until(
      "the service writing to the new primary",
      () => writerConnectedTo(first.port),
      5000,
    );
    console.info(
      `failover.test: READONLY ${Math.round(failure.atMs - demotedAt)} ms after the demotion (${readOnlyAfterFailure - readOnlyBefore} READONLY replies, then none in 3 s of stale sentinels); ` +
        `first write on the next primary ${Math.round(write.serverMs - repointAt)} ms after the sentinels named it`,
    );
    expect((await deployment.errorStats(second.port)).READONLY ?? 0).toBe(readOnlyAfterFailure);
    expect(handle.stats.restarts).toBe(0);
    expect(handle.actor.getSnapshot().status).toBe("active");
    // Passwords never reach the log.
    expect(log.text()).not.toContain(PASSWORD);
    expect(log.text()).not.toContain(SENTINEL_PASSWORD);

    // A sentinel down while the connection is made again: a 'sentinel' warning in our log, the
    // failover detector's own connection to it included — never ioredis's "[ioredis] Unhandled
    // error event" stack on stderr.
    const consoleErrors = vi.spyOn(console, "error");
    try {
      await deployment.sentinels[2].kill();
      const logged = log.lines().length;
      await deployment.client(first.port).call("CLIENT", "KILL", "TYPE", "normal");
      await until(
        "a new connection, and the dead sentinel reported",
        () =>
          store.status() === "ready" &&
          log
            .lines()
            .slice(logged)
            .some(
              (l) =>
                l.msg === "redis sentinel unavailable" && /failover detector/.test(String(l.err)),
            ),
        10_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 200)); // any stray error event would be out by now
      expect(
        consoleErrors.mock.calls.filter((args) => String(args[0]).includes("[ioredis]")),
      ).toEqual([]);
    } finally {
      consoleErrors.mockRestore();
      await deployment.sentinels[2].start();
    }

    // While running, each connection's failover detector is subscribed on the sentinels; close()
    // leaves none of those subscriptions behind.
    const subscribers = async (): Promise<number> => {
      let n = 0;
      for (const index of deployment.sentinels.keys()) {
        const list = (await deployment.sentinelClient(index).call("CLIENT", "LIST")) as string;
        n += list
          .split("\n")
          .filter((line) => / cmd=(p|s)?subscribe /.test(line) || / sub=[1-9]/.test(line)).length;
      }
      return n;
    };
    expect(await subscribers()).toBeGreaterThan(0);
    await handle.close();
    service = undefined;
    await until(
      "no subscriber left on the sentinels",
      async () => (await subscribers()) === 0,
      5000,
      50,
    );
  }, 90_000);

  it("the command line: run --once with --sentinels, --sentinel-name and the sentinel password from the environment", async () => {
    // The service of the tests above holds the single-writer lease: --once would exit 5 beside it.
    await stopService(service);
    service = undefined;
    // Whichever node the earlier failovers left as primary, once every sentinel names the same
    // one and it answers as master (after a failover the sentinels converge at their own pace,
    // slower on a loaded machine).
    const primaryPort = await until(
      "the sentinels to agree on a primary that answers as master",
      async () => {
        const port = await deployment.agreedPrimaryPort();
        return port !== null && (await deployment.role(port)) === "master" ? port : null;
      },
      45_000,
      100,
    );
    const args = [
      "run",
      "--once",
      "--redis-url",
      "redis://unused.invalid:1/0",
      "--sentinels",
      deployment.sentinelAddresses.join(","),
      "--sentinel-name",
      deployment.masterName,
      "--symbols",
      SYMBOLS.join(","),
      "--max-input-age",
      "600",
      "--max-candle-age",
      "3600",
      "--connect-timeout-ms",
      "3000",
    ];
    const ok = startCli(
      args,
      { REDIS_PASSWORD: PASSWORD, QUANTUM_CALC_SENTINEL_PASSWORD: SENTINEL_PASSWORD },
      { cleanEnv: true },
    );
    expect(await ok.exit, ok.output()).toEqual({ code: 0, signal: null });
    expect(ok.output()).toContain(`redis ready (127.0.0.1:${primaryPort})`);
    // A wrong sentinel password: exit 1 in bounded time, saying why, never showing a password.
    const wrong = startCli(
      args,
      { REDIS_PASSWORD: PASSWORD, QUANTUM_CALC_SENTINEL_PASSWORD: "not-the-password" },
      { cleanEnv: true },
    );
    expect((await wrong.exit).code, wrong.output()).toBe(1);
    expect(wrong.output()).toMatch(/sentinel/i);
    expect(wrong.output()).toMatch(/WRONGPASS|invalid password|NOAUTH/);
    for (const secret of [PASSWORD, SENTINEL_PASSWORD, "not-the-password"])
      expect(ok.output() + wrong.output()).not.toContain(secret);
  }, 90_000);
});
