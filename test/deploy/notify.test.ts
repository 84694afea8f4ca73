// sd_notify without a native addon (src/systemd/notify.ts, issue 10 part 4): what is sent when,
// with a recording stand-in for systemd-notify; the real systemd-notify against a notify socket
// of our own (a small Python receiver that acknowledges its barrier as PID 1 does); and the
// service's hookup — READY=1 only once the first Redis connection is made. The unit under a real
// systemd is test/deploy/sandbox.test.ts (opt-in).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startService, type ServiceHandle } from "../../src/service/service.js";
import {
  createSystemdNotifier,
  watchdogIntervalMs,
  type SystemdNotifier,
} from "../../src/systemd/notify.js";
import { startTestRedis } from "../helpers/redisServer.js";
import {
  captureLogger,
  fastFlags,
  serviceConfig,
  stopService,
  until,
} from "../helpers/serviceHarness.js";

/** A stand-in for spawn(): records the arguments; each child exits when the test says so. */
function recordingSpawn(autoExit: number | null = 0) {
  const calls: string[][] = [];
  const children: Array<EventEmitter & { finish(code: number): void }> = [];
  const spawnFake = (_command: string, args: string[]): ChildProcess => {
    calls.push(args);
    const child = Object.assign(new EventEmitter(), {
      finish: (code: number) => child.emit("exit", code, null),
    });
    children.push(child);
    if (autoExit !== null) setImmediate(() => child.finish(autoExit));
    return child as unknown as ChildProcess;
  };
  return { calls, children, spawnFake };
}

const tmpDirs: string[] = [];
afterAll(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

describe("the systemd notifier", () => {
  it("pings at half of WATCHDOG_USEC, only when WATCHDOG_PID (if set) names us", () => {
    expect(watchdogIntervalMs({}, 42)).toBeNull();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "60000000" }, 42)).toBe(30_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "60000000", WATCHDOG_PID: "42" }, 42)).toBe(30_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "60000000", WATCHDOG_PID: "43" }, 42)).toBeNull();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: "soon" }, 42)).toBeNull();
  });

  it("sends nothing without NOTIFY_SOCKET", async () => {
    const { calls, spawnFake } = recordingSpawn();
    const notifier = createSystemdNotifier({ env: { WATCHDOG_USEC: "2000" }, spawn: spawnFake });
    expect(notifier).toMatchObject({ enabled: false, watchdogIntervalMs: null });
    notifier.ready("x");
    notifier.startWatchdog();
    await new Promise((resolve) => setTimeout(resolve, 20));
    notifier.close();
    expect(calls).toEqual([]);
  });

  it("READY=1 once (later calls update the status); WATCHDOG=1 from the event loop, never two at once", async () => {
    const { calls, children, spawnFake } = recordingSpawn(null);
    const notifier = createSystemdNotifier({
      env: { NOTIFY_SOCKET: "/run/systemd/notify", WATCHDOG_USEC: "20000" },
      spawn: spawnFake,
      pid: 7,
    });
    expect(notifier.watchdogIntervalMs).toBe(10);
    notifier.ready("publishing risk for 1 symbol(s)\nto the redis store");
    notifier.ready("again");
    expect(notifier.isReady()).toBe(true);
    expect(calls).toEqual([
      ["--ready", "--status=publishing risk for 1 symbol(s) to the redis store"],
      ["--status=again"],
    ]);
    notifier.startWatchdog();
    notifier.startWatchdog();
    expect(calls.slice(2)).toEqual([["WATCHDOG=1"]]);
    // The first ping's systemd-notify has not finished: the next ticks do not start another.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls.filter((c) => c[0] === "WATCHDOG=1")).toHaveLength(1);
    children[2].finish(0);
    await until(
      "the next ping",
      () => calls.filter((c) => c[0] === "WATCHDOG=1").length === 2,
      2000,
      5,
    );
    notifier.close();
    children.at(-1)!.finish(0);
  });

  it("a missing or failing systemd-notify is logged once, and the service goes on", async () => {
    const log = captureLogger("debug");
    const notifier = createSystemdNotifier({
      env: { NOTIFY_SOCKET: "/nonexistent", WATCHDOG_USEC: "20000" },
      command: "/nonexistent/systemd-notify",
      logger: log.logger,
    });
    notifier.ready("x");
    notifier.startWatchdog();
    await until(
      "the failure to be logged",
      () => log.lines().some((l) => /sd_notify: cannot run/.test(l.msg)),
      2000,
      5,
    );
    await new Promise((resolve) => setTimeout(resolve, 60));
    notifier.close();
    expect(log.lines().filter((l) => /sd_notify/.test(l.msg))).toHaveLength(1);
  });

  const hasNotify =
    spawnSync("systemd-notify", ["--version"]).status === 0 &&
    spawnSync("python3", ["--version"]).status === 0;
  it.skipIf(!hasNotify)(
    "the real systemd-notify delivers READY=1, STATUS= and WATCHDOG=1 to the notify socket, and waits for its barrier",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "qc-notify-"));
      tmpDirs.push(dir);
      const socketPath = join(dir, "notify");
      // PID 1's side: receive datagrams, print them, close the barrier fds (that ends the wait).
      writeFileSync(
        join(dir, "receiver.py"),
        [
          "import os, socket, sys, array",
          "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
          `s.bind(${JSON.stringify(socketPath)})`,
          'print("LISTENING", flush=True)',
          "while True:",
          "    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))",
          "    for level, kind, data in anc:",
          "        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:",
          '            fds = array.array("i"); fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])',
          "            for fd in fds: os.close(fd)",
          '    print("MSG " + msg.decode().replace("\\n", "|"), flush=True)',
        ].join("\n"),
      );
      const receiver = spawn("python3", [join(dir, "receiver.py")], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      receiver.stdout.on("data", (d: Buffer) => (out += d.toString()));
      try {
        await until("the receiver", () => out.includes("LISTENING"), 5000, 10);
        const log = captureLogger("debug");
        const notifier = createSystemdNotifier({
          env: { ...process.env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: "400000" },
          logger: log.logger,
        });
        notifier.ready("publishing");
        notifier.startWatchdog();
        await until(
          "READY=1 and two pings",
          () =>
            out.includes("MSG READY=1|STATUS=publishing") &&
            (out.match(/MSG WATCHDOG=1/g) ?? []).length >= 2,
          5000,
          10,
        );
        notifier.close();
        // Each message was followed by its barrier, and systemd-notify exited 0 (nothing logged).
        expect(out).toContain("MSG BARRIER=1");
        expect(log.lines().filter((l) => /sd_notify/.test(l.msg))).toEqual([]);
      } finally {
        receiver.kill();
      }
    },
  );
});

describe("the service and sd_notify", () => {
  let service: ServiceHandle | undefined;
  afterAll(async () => {
    await stopService(service);
  });

  it("READY=1 only once the first Redis connection is made, pings from the start, stops them on close", async () => {
    const server = await startTestRedis();
    try {
      await server.stop();
      const sent: string[] = [];
      const fake: SystemdNotifier = {
        enabled: true,
        watchdogIntervalMs: 1000,
        ready: (status) => {
          sent.push(`ready ${status ?? ""}`);
        },
        status: () => undefined,
        startWatchdog: () => {
          sent.push("watchdog");
        },
        close: () => {
          sent.push("close");
        },
        isReady: () => sent.some((s) => s.startsWith("ready")),
      };
      const log = captureLogger("debug");
      // Without the lease: READY's status text would race the lease's first acquire (standing by
      // or publishing); READY's timing is what this test is about.
      const config = serviceConfig(
        fastFlags(server.url, ["BTCUSDT"], {
          connectTimeoutMs: 300,
          followKlines: false,
          lease: false,
        }),
      );
      service = await startService({ config, logger: log.logger, systemd: fake });
      // Started without Redis: running and retrying, not ready.
      expect(sent).toEqual(["watchdog"]);
      await server.start();
      await until(
        "READY=1 after Redis answered",
        () => sent.some((s) => s.startsWith("ready")),
        10_000,
      );
      expect(sent).toEqual([
        "watchdog",
        "ready publishing marketstate, risk, harvest for 1 symbol(s) to the redis store",
      ]);
      await service.close();
      service = undefined;
      expect(sent.at(-1)).toBe("close");
    } finally {
      await server.close();
    }
  });
});
