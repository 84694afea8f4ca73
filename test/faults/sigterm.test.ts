// SIGTERM in the middle of a publish, through the built CLI as systemd would send it. A proxy
// holds the publish's bytes so the signal lands while the MULTI/EXEC is in flight. The publish
// either completes (its reply was only late) or never happens (it timed out and its bytes died
// with the connection) — never half of it — and shutdown starts no new cycle.
import type { Redis } from "ioredis";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MARKETSTATE_FIELDS } from "../helpers/contractFields.js";
import { type TestRedis } from "../helpers/redisServer.js";
import { useTestRedis } from "../helpers/redisFixture.js";
import { longPosition, prices, seedCandles, seedPosition } from "../helpers/seed.js";
import { startCli, until, type CliProcess } from "../helpers/serviceHarness.js";
import { hasCommand, startTcpProxy, type ProxyEvent, type TcpProxy } from "../helpers/tcpProxy.js";

const SYMBOL = "BTCUSDT";

const fixture = useTestRedis();
let server: TestRedis;
let redis: Redis;
let proxy: TcpProxy;
let events: ProxyEvent[] = [];
let stopListening: () => void = () => undefined;

beforeAll(() => {
  ({ server, redis } = fixture);
});
beforeEach(async () => {
  await redis.flushall();
  const closes = prices("trend", 300, 100);
  await seedCandles(redis, SYMBOL, closes);
  await seedPosition(redis, longPosition(SYMBOL, closes[closes.length - 1]));
  await proxy?.close();
  stopListening();
  proxy = await startTcpProxy(server.port);
  events = [];
  stopListening = proxy.onChunk((e) => events.push(e));
});

// Only marketstate runs: these tests count the publish EXECs of the one cycle under way at
// SIGTERM. With risk on, a risk cycle already reading when the signal lands may find the
// marketstate hash that EXEC has just applied and publish too — a second EXEC that is correct
// (a cycle under way at SIGTERM ends), but whether it happens is a race the machine's load decides.
function startRun(commandTimeoutMs: number): CliProcess {
  return startCli(
    [
      "run",
      "--redis-url",
      proxy.url(),
      "--symbols",
      SYMBOL,
      "--only",
      "marketstate",
      "--marketstate-interval",
      "0.2",
      "--risk-interval",
      "0.2",
      "--harvest-interval",
      "0.2",
      "--log-level",
      "debug",
    ],
    { QUANTUM_CALC_COMMAND_TIMEOUT_MS: String(commandTimeoutMs) },
  );
}

/**
 * The single-writer lease's own transactions (acquire, renewals every 1.67 s, the release at
 * shutdown) go through the proxy too; the publishes are what these tests are about.
 */
const isLease = (text: string): boolean => text.includes("quantum:calc:leader");
const isPublishExec = (text: string): boolean => hasCommand(text, "EXEC") && !isLease(text);

/** Sends SIGTERM the moment a request matching `command` (not the lease's) reaches the proxy. */
function sigtermOn(run: CliProcess, command: string): Promise<void> {
  return new Promise((resolve) => {
    const off = proxy.onChunk((e) => {
      if (e.direction === "requests" && hasCommand(e.text, command) && !isLease(e.text)) {
        off();
        run.child.kill("SIGTERM");
        resolve();
      }
    });
  });
}

const execRequests = (): number =>
  events.filter(
    (e) =>
      e.direction === "requests" &&
      e.action !== "released" &&
      e.action !== "discarded" &&
      isPublishExec(e.text),
  ).length;

/** The three writes of a marketstate publish, each present or not. */
async function marketstateWrites(): Promise<{
  hash: Record<string, string>;
  bookkeeping: number;
  stream: number;
}> {
  return {
    hash: await redis.hgetall(`quantum:marketstate:${SYMBOL}`),
    bookkeeping: await redis.exists(`quantum:calc:marketstate:${SYMBOL}`),
    stream: await redis.xlen("quantum:stream:marketstate"),
  };
}

async function finish(run: CliProcess): Promise<{ code: number | null }> {
  try {
    return await Promise.race([
      run.exit,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no exit within 15 s:\n${run.output()}`)), 15_000),
      ),
    ]);
  } finally {
    if (run.child.exitCode === null) run.child.kill("SIGKILL");
  }
}

describe("SIGTERM during a publish", () => {
  it("a reply that is only late: the publish completes, then the process exits 0", async () => {
    // Replies of the transaction (QUEUED…, then EXEC's array) are held 800 ms, well inside the
    // 2 s command timeout.
    proxy.setMode({
      kind: "delay",
      ms: 800,
      of: "replies",
      when: (text) => text.includes("+QUEUED"),
    });
    const run = startRun(2000);
    const signalled = sigtermOn(run, "EXEC");
    await until("the publish to start", () => signalled.then(() => true), 15_000);
    const { code } = await finish(run);
    expect(code, run.output()).toBe(0);
    expect(run.output()).toContain("shutting down");
    expect(run.output()).toMatch(/marketstate BTCUSDT published/);
    const writes = await marketstateWrites();
    expect(Object.keys(writes.hash).sort()).toEqual([...MARKETSTATE_FIELDS].sort());
    expect(writes.bookkeeping).toBe(1);
    expect(writes.stream).toBe(1);
    expect(execRequests()).toBe(1);
  });

  it("a publish that times out while held: it never lands, nothing is retried, exit 0", async () => {
    // The EXEC request itself is held 2.5 s; the command times out after 800 ms.
    proxy.setMode({ kind: "delay", ms: 2500, of: "requests", when: isPublishExec });
    const run = startRun(800);
    await sigtermOn(run, "EXEC");
    const { code } = await finish(run);
    expect(code, run.output()).toBe(0);
    expect(run.output()).toMatch(/marketstate BTCUSDT failed/);
    // The held bytes' time comes after their connection was dropped: they are discarded.
    await until(
      "the held EXEC to be discarded",
      () => events.some((e) => e.action === "discarded" && isPublishExec(e.text)),
      10_000,
    );
    expect(events.some((e) => e.action === "released" && isPublishExec(e.text))).toBe(false);
    const writes = await marketstateWrites();
    expect(writes).toEqual({ hash: {}, bookkeeping: 0, stream: 0 });
    expect(execRequests()).toBe(1);
  });

  it("a read that fails during shutdown is not retried: no new cycle, no publish after SIGTERM", async () => {
    // The first candle read hangs; SIGTERM arrives meanwhile; then the path heals. A retry after
    // the backoff would now succeed and publish — during shutdown. It must not happen.
    proxy.setMode({
      kind: "delay",
      ms: 2500,
      of: "requests",
      when: (text) => hasCommand(text, "ZRANGE"),
    });
    const run = startRun(800);
    await sigtermOn(run, "ZRANGE");
    proxy.setMode({ kind: "forward" });
    const { code } = await finish(run);
    expect(code, run.output()).toBe(0);
    expect(run.output()).toMatch(/marketstate BTCUSDT failed/);
    expect(execRequests()).toBe(0);
    expect((await marketstateWrites()).stream).toBe(0);
  });
});
