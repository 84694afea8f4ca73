// End-to-end check of the unit and install.sh under a real systemd, opt-in:
//   QC_SANDBOX_E2E=1 npx vitest run test/deploy/sandbox.test.ts      (root; dist/ built)
//
// systemd-analyze only reads the unit; whether Node actually runs under its sandbox
// (PrivateUsers=, the system call filter, IP allow-list, credentials) needs systemd as PID 1.
// This boots one in private pid/mount/uts/ipc/cgroup namespaces on an overlay of the host's
// root (writes go to a tmpfs), runs the real `install.sh` there, and starts the installed unit
// with a drop-in that swaps ExecStart for small probes. The host's network namespace is shared,
// so the probes reach a private redis-server started here on a free port. Nothing outside the
// namespaces changes; killing the nested PID 1 ends all of it.
//
// Opt-in because it needs root, unshare, overlayfs and a systemd binary, takes ~65 s, and runs
// `npm ci --omit=dev` into the nested /opt (the npm cache or registry).
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";

const checkout = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PASSWORD = "sandbox-pw-7f3a";

function whyNot(): string | null {
  if (process.env.QC_SANDBOX_E2E !== "1") return "set QC_SANDBOX_E2E=1 to run it";
  if (process.getuid?.() !== 0) return "needs root";
  if (!existsSync("/lib/systemd/systemd")) return "no /lib/systemd/systemd";
  if (spawnSync("unshare", ["--version"]).status !== 0) return "no unshare";
  if (!existsSync(join(checkout, "dist/src/cli.js")))
    return "dist/src/cli.js is missing: npm run build";
  return null;
}
const skipReason = whyNot();
if (skipReason) console.warn(`sandbox.test: skipped: ${skipReason}`);

// PID 1 of the new namespaces: overlay root, API file systems, pivot_root, then systemd.
const bootScript = (base: string): string => `#!/bin/bash
set -euo pipefail
B=${base}
exec 2>$B/boot.log
mount -t tmpfs tmpfs $B/t
mkdir -p $B/t/upper $B/t/work
mount -t overlay overlay -o lowerdir=/,upperdir=$B/t/upper,workdir=$B/t/work $B/root
M=$B/root
mount -t proc proc $M/proc
mount -t sysfs sysfs $M/sys
mount -t cgroup2 cgroup2 $M/sys/fs/cgroup
mount --rbind /dev $M/dev
mount -t tmpfs tmpfs $M/run
mount -t tmpfs tmpfs $M/tmp
printf '[Unit]\\nDescription=sandbox\\nRequires=basic.target\\nAfter=basic.target\\n' > $M/etc/systemd/system/qc-sandbox.target
# Only basic.target: none of the image's own services (databases, brokers) start in here.
for u in $(cd $M/etc/systemd/system && ls -d *.wants 2>/dev/null | xargs -r -I{} sh -c 'ls {}' ); do
  ln -sfn /dev/null $M/etc/systemd/system/$u
done
rm -f $M/etc/systemd/system/quantum-calc.service
rm -rf $M/etc/systemd/system/quantum-calc.service.d $M/etc/quantum $M/opt/quantum-calc
# pivot_root, not chroot: the kernel refuses user namespaces (PrivateUsers=) to a chrooted process.
mkdir -p $M/.oldroot
cd $M
pivot_root . .oldroot
umount -l /.oldroot
# A booted host has shared mount propagation (credentials rely on it); systemd skips it in a container.
mount --make-rshared /
cd /
exec /usr/bin/env -i container=qc-sandbox PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd --unit=qc-sandbox.target --log-target=journal
`;

// Reports what the sandbox lets it do, as one JSON line on stdout (the journal).
const probeScript = `
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { Redis } from 'ioredis';
import client from 'prom-client';
const out = { uid: process.getuid(), nodeEnv: process.env.NODE_ENV };
const dir = process.env.CREDENTIALS_DIRECTORY;
out.creds = dir ? readdirSync(dir) : null;
const password = dir ? readFileSync(dir + '/redis-password', 'utf8').trim() : '';
out.passwordLength = password.length;
let acc = 0; for (let i = 0; i < 2e7; i++) acc += i % 7; out.jit = acc > 0;
const redis = new Redis(process.env.PROBE_REDIS_URL, { password: password || undefined, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
redis.on('error', () => {});
try {
  const timeout = new Promise((_, no) => setTimeout(() => no(new Error('timeout')), 5000).unref());
  await Promise.race([(async () => {
    await redis.connect();
    await redis.hset('quantum:sandbox:probe', 'uid', String(out.uid));
    out.redis = await redis.ping();
  })(), timeout]);
} catch (e) { out.redisError = e.message; }
redis.disconnect();
client.collectDefaultMetrics();
const server = http.createServer(async (_q, r) => r.end(await client.register.metrics()));
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const body = await (await fetch('http://127.0.0.1:' + server.address().port + '/metrics')).text();
out.processMetrics = /process_resident_memory_bytes \\d+/.test(body);
server.close();
console.log('PROBE ' + JSON.stringify(out));
process.exit(0);
`;

describe.skipIf(skipReason !== null)("the unit under a real systemd (nested, opt-in)", () => {
  let base = "";
  let unsharePid = 0;
  let pid1 = 0;
  let redis: TestRedis;

  const inside = (cmd: string, input?: string): SpawnSyncReturns<string> =>
    spawnSync("nsenter", ["-t", String(pid1), "-a", "-r", "-w", "bash", "-c", cmd], {
      encoding: "utf8",
      input,
      timeout: 120_000,
    });
  const sh = (cmd: string, input?: string): string => {
    const r = inside(cmd, input);
    if (r.status !== 0) throw new Error(`inside: ${cmd}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const show = (props: string[]): Record<string, string> =>
    Object.fromEntries(
      sh(`systemctl show quantum-calc ${props.map((p) => `-p ${p}`).join(" ")}`)
        .trim()
        .split("\n")
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
  /** Poll systemd (not a fixed sleep) until the unit reaches a state, or fail after timeoutMs. */
  async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    const bootLog = existsSync(join(base, "boot.log"))
      ? readFileSync(join(base, "boot.log"), "utf8")
      : "";
    throw new Error(`timed out waiting for ${what}${bootLog ? `\nboot.log:\n${bootLog}` : ""}`);
  }
  /**
   * Replace ExecStart (and add lines) through a drop-in; clear the unit's failed state. The
   * probes do not speak sd_notify: Type=simple for them (the unit itself is Type=notify).
   */
  function dropIn(execStart: string, extra: string[] = []): void {
    const body = [
      "[Service]",
      "Type=simple",
      "WatchdogSec=0",
      "ExecStart=",
      `ExecStart=${execStart}`,
      ...extra,
      "",
    ].join("\n");
    sh(
      "mkdir -p /etc/systemd/system/quantum-calc.service.d && cat > /etc/systemd/system/quantum-calc.service.d/sandbox.conf",
      body,
    );
    sh(
      "systemctl daemon-reload; systemctl stop quantum-calc; systemctl reset-failed quantum-calc 2>/dev/null; true",
    );
  }
  const journal = (): string => sh("journalctl -u quantum-calc --no-pager -o cat");
  const lastProbe = (): Record<string, unknown> => {
    const lines = journal()
      .split("\n")
      .filter((l) => l.startsWith("PROBE "));
    if (lines.length === 0) throw new Error(`no probe output:\n${journal()}`);
    return JSON.parse(lines[lines.length - 1].slice("PROBE ".length));
  };

  beforeAll(async () => {
    redis = await startTestRedis(["--requirepass", PASSWORD]);
    base = mkdtempSync(join(tmpdir(), "qc-sandbox-"));
    mkdirSync(join(base, "t"));
    mkdirSync(join(base, "root"));
    writeFileSync(join(base, "boot.sh"), bootScript(base), { mode: 0o755 });
    const child = spawn(
      "unshare",
      [
        "--mount",
        "--pid",
        "--fork",
        "--uts",
        "--ipc",
        "--cgroup",
        "--propagation",
        "private",
        join(base, "boot.sh"),
      ],
      { stdio: "ignore", detached: true },
    );
    unsharePid = child.pid ?? 0;
    child.unref();
    await until("the nested systemd", () => {
      const kids = spawnSync("pgrep", ["-P", String(unsharePid)], {
        encoding: "utf8",
      }).stdout.trim();
      if (kids === "") return false;
      pid1 = Number(kids.split("\n")[0]);
      const state = inside("systemctl is-system-running").stdout.trim();
      return state === "running" || state === "degraded";
    });
  }, 60_000);

  afterAll(async () => {
    // Killing the namespace's PID 1 ends every process in it and drops its mounts.
    if (pid1) spawnSync("kill", ["-KILL", String(pid1)]);
    if (unsharePid) {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && spawnSync("kill", ["-0", String(unsharePid)]).status === 0) {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await redis?.close();
    if (base) rmSync(base, { recursive: true, force: true });
  }, 30_000);

  it("install.sh installs, and a second run changes nothing it should not", () => {
    const first = inside(`cd / && bash ${checkout}/deploy/install.sh --no-build`);
    expect(first.status, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain("+ useradd --system");
    expect(sh('stat -c "%U:%G %a" /etc/quantum/quantum-calc.json').trim()).toBe(
      "root:quantum-calc 640",
    );
    expect(sh('stat -c "%U:%G %a %s" /etc/quantum/redis-password').trim()).toBe("root:root 600 0");
    sh('echo \'{"operator": "edited"}\' > /etc/quantum/quantum-calc.json');
    const second = inside(`cd / && bash ${checkout}/deploy/install.sh --no-build`);
    expect(second.status, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toContain("==> system user quantum-calc exists");
    expect(second.stdout).toContain("never overwritten");
    expect(second.stdout).toContain("/etc/systemd/system/quantum-calc.service is up to date");
    expect(sh("cat /etc/quantum/quantum-calc.json")).toContain('"operator": "edited"');
    expect(readFileSync(join(checkout, "deploy/systemd/quantum-calc.service"), "utf8")).toBe(
      sh("cat /etc/systemd/system/quantum-calc.service"),
    );
  }, 120_000);

  it("the real CLI starts under the full sandbox", async () => {
    dropIn("/usr/bin/node /opt/quantum-calc/dist/src/cli.js --help", ["Restart=no"]);
    sh("systemctl start quantum-calc");
    await until(
      "the CLI to exit",
      () => !["active", "activating"].includes(show(["ActiveState"]).ActiveState),
    );
    expect(show(["Result", "ExecMainStatus"])).toEqual({ Result: "success", ExecMainStatus: "0" });
  });

  it("as quantum-calc, with the password as a credential, it reaches Redis and serves metrics", async () => {
    sh(`printf '%s\\n' '${PASSWORD}' > /etc/quantum/redis-password`);
    sh("cat > /opt/quantum-calc/probe.mjs", probeScript);
    dropIn("/usr/bin/node /opt/quantum-calc/probe.mjs", [
      "Restart=no",
      `Environment=PROBE_REDIS_URL=${redis.url}/0`,
    ]);
    sh("systemctl start quantum-calc");
    await until(
      "the probe to exit",
      () => !["active", "activating"].includes(show(["ActiveState"]).ActiveState),
    );
    expect(show(["Result"]).Result).toBe("success");
    const probe = lastProbe();
    expect(probe).toMatchObject({
      nodeEnv: "production",
      creds: ["redis-password"],
      passwordLength: PASSWORD.length,
      jit: true,
      redis: "PONG",
      processMetrics: true,
    });
    expect(probe.uid).toBe(Number(sh("id -u quantum-calc").trim()));
  }, 60_000);

  it("a missing password file does not block the start: the credential is empty", async () => {
    sh("rm -f /etc/quantum/redis-password");
    dropIn("/usr/bin/node /opt/quantum-calc/probe.mjs", [
      "Restart=no",
      `Environment=PROBE_REDIS_URL=${redis.url}/0`,
    ]);
    sh("systemctl start quantum-calc");
    await until(
      "the probe to exit",
      () => !["active", "activating"].includes(show(["ActiveState"]).ActiveState),
    );
    expect(show(["Result", "ExecMainStatus"])).toEqual({ Result: "success", ExecMainStatus: "0" });
    // The unit's SetCredential= default ("\\n") stands in for the file: empty once trimmed.
    expect(lastProbe()).toMatchObject({ creds: ["redis-password"], passwordLength: 0 });
  }, 60_000);

  it("exit 2 (bad config) is not restarted; exit 3 is", async () => {
    dropIn("/usr/bin/node -e process.exit(2)");
    sh("systemctl start quantum-calc");
    await until("exit 2 to fail the unit", () => show(["ActiveState"]).ActiveState === "failed");
    expect(show(["NRestarts", "ExecMainStatus"])).toEqual({ NRestarts: "0", ExecMainStatus: "2" });

    dropIn("/usr/bin/node -e process.exit(3)");
    sh("systemctl start quantum-calc");
    await until("exit 3 to be restarted", () => Number(show(["NRestarts"]).NRestarts) >= 1, 20_000);
    sh("systemctl stop quantum-calc");
  }, 60_000);

  it("MemoryDenyWriteExecute=yes would kill Node (why the unit leaves it out)", async () => {
    dropIn("/usr/bin/node -e 1", ["Restart=no", "MemoryDenyWriteExecute=yes"]);
    sh("systemctl start quantum-calc");
    await until(
      "node to die",
      () => !["active", "activating"].includes(show(["ActiveState"]).ActiveState),
    );
    expect(show(["Result"]).Result).toBe("signal");
  });

  it("the unit as installed runs the real service: it publishes, /healthz answers 200, SIGTERM exits 0", async () => {
    // No drop-in: the shipped ExecStart (`run --config /etc/quantum/quantum-calc.json`).
    sh(
      "rm -rf /etc/systemd/system/quantum-calc.service.d && systemctl daemon-reload; systemctl stop quantum-calc; systemctl reset-failed quantum-calc 2>/dev/null; true",
    );
    sh(`printf '%s\\n' '${PASSWORD}' > /etc/quantum/redis-password`);
    const config = {
      redisUrl: `${redis.url}/0`,
      symbols: ["BTCUSDT"],
      marketstateInterval: 0.5,
      riskInterval: 0.5,
      harvestInterval: 0.5,
      httpHost: "127.0.0.1",
      httpPort: 9108,
    };
    sh("cat > /etc/quantum/quantum-calc.json", JSON.stringify(config));
    const admin = new Redis(redis.url, { password: PASSWORD, maxRetriesPerRequest: 1 });
    try {
      // From the clock: the service refuses candles older than maxCandleAge.
      const first = Math.floor(Date.now() / 60_000) * 60_000 - 300 * 60_000;
      const args: Array<string | number> = [];
      let close = 100;
      for (let i = 0; i < 300; i++) {
        close *= 1 + 0.001 * Math.sin(i / 7);
        args.push(first + i * 60_000, JSON.stringify({ t: first + i * 60_000, close }));
      }
      await admin.zadd("candles:BTCUSDT:1m", ...args);
      await admin.hset("quantum:state:positions:BTCUSDT", {
        symbol: "BTCUSDT",
        side: "LONG",
        entry_price: String(close * 0.98),
        current_price: String(close),
        peak_price: String(close * 1.01),
        trough_price: String(close * 0.97),
        age_sec: "3600",
        unrealized_pnl: String(close * 0.02),
      });
      // Type=notify: `systemctl start` returns once the service has sent READY=1 (first Redis
      // connection made), and the unit is active at once, saying what it publishes.
      sh("systemctl start quantum-calc");
      expect(show(["ActiveState", "Type", "NotifyAccess", "WatchdogUSec"])).toEqual({
        ActiveState: "active",
        Type: "notify",
        NotifyAccess: "all",
        WatchdogUSec: "1min",
      });
      expect(show(["StatusText"]).StatusText).toBe(
        "publishing marketstate, risk, harvest for 1 symbol(s) to the redis store",
      );
      const deadline = Date.now() + 30_000;
      while ((await admin.exists("quantum:harvest:proposal:BTCUSDT")) === 0) {
        if (Date.now() > deadline)
          throw new Error(`no harvest proposal from the unit:\n${journal()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const health = sh(
        `node -e "fetch('http://127.0.0.1:9108/healthz').then(async (r) => console.log(r.status, await r.text()))"`,
      );
      expect(health).toMatch(/^200 /);
      expect(show(["ActiveState", "User"]).User).toBe("quantum-calc");
      sh("systemctl stop quantum-calc");
      expect(show(["Result", "ExecMainStatus"])).toEqual({
        Result: "success",
        ExecMainStatus: "0",
      });
      expect(journal()).not.toContain(PASSWORD);
    } finally {
      admin.disconnect();
    }
  }, 90_000);

  /** A drop-in of [Service] lines over the unit as installed (ExecStart unchanged). */
  function tune(lines: string[]): void {
    sh(
      "mkdir -p /etc/systemd/system/quantum-calc.service.d && cat > /etc/systemd/system/quantum-calc.service.d/sandbox.conf",
      ["[Service]", ...lines, ""].join("\n"),
    );
    sh(
      "systemctl daemon-reload; systemctl stop quantum-calc; systemctl reset-failed quantum-calc 2>/dev/null; true",
    );
  }

  it("Type=notify: activating while Redis is away, active once it answers (READY=1 after the first connection)", async () => {
    tune([]);
    await redis.stop();
    try {
      sh("systemctl start --no-block quantum-calc");
      await until("the main process to run", () => Number(show(["MainPID"]).MainPID) > 0);
      // Three seconds with Redis away: running, retrying, and still not started.
      const from = Date.now();
      await until("3 s of activating", () => {
        const { ActiveState } = show(["ActiveState"]);
        if (ActiveState !== "activating")
          throw new Error(`unit ${ActiveState} before Redis answered`);
        return Date.now() - from > 3000;
      });
    } finally {
      await redis.start();
    }
    await until(
      "the unit to become active once Redis answers",
      () => show(["ActiveState"]).ActiveState === "active",
      15_000,
    );
    expect(show(["StatusText"]).StatusText).toMatch(/^publishing /);
    sh("systemctl stop quantum-calc");
  }, 60_000);

  it("WATCHDOG=1 pings are accepted; a frozen process is killed by the watchdog and restarted", async () => {
    tune(["WatchdogSec=3", "TimeoutAbortSec=2"]);
    sh("systemctl start quantum-calc");
    const pid = show(["MainPID"]).MainPID;
    // Three watchdog periods: alive and the same process, so the pings (every 1.5 s) arrive.
    const from = Date.now();
    await until(
      "9 s of pings",
      () => {
        const now = show(["ActiveState", "MainPID", "NRestarts"]);
        if (now.ActiveState !== "active" || now.MainPID !== pid)
          throw new Error(`restarted while pinging: ${JSON.stringify(now)}\n${journal()}`);
        return Date.now() - from > 9000;
      },
      20_000,
    );
    // Frozen (as a wedged event loop looks from outside): no ping, so systemd aborts it.
    sh(`kill -STOP ${pid}`);
    await until(
      "the watchdog to restart it",
      () =>
        Number(show(["NRestarts"]).NRestarts) >= 1 &&
        show(["ActiveState"]).ActiveState === "active",
      40_000,
    );
    expect(journal()).toMatch(/[Ww]atchdog timeout/);
    expect(show(["MainPID"]).MainPID).not.toBe(pid);
    sh("systemctl stop quantum-calc");
  }, 90_000);

  it("NotifyAccess=main would drop the messages (systemd-notify is a child): the unit never becomes active", async () => {
    tune(["NotifyAccess=main", "TimeoutStartSec=6"]);
    const r = inside("systemctl start quantum-calc");
    expect(r.status).not.toBe(0);
    expect(show(["Result"]).Result).toBe("timeout");
    expect(journal()).toMatch(/reception only permitted for main PID/);
    sh(
      "rm -rf /etc/systemd/system/quantum-calc.service.d && systemctl daemon-reload; systemctl reset-failed quantum-calc 2>/dev/null; true",
    );
  }, 60_000);
});
