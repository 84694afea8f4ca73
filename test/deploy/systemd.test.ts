// Checks of deploy/systemd/quantum-calc.service: systemd itself parses and scores it, and the
// properties the deployment relies on (restart policy, credential handling, no secrets, no
// MemoryDenyWriteExecute) are present. The systemd-analyze checks skip, with the reason, on a
// machine without systemd-analyze (or one too old for `security --offline`).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const checkout = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const unitPath = join(checkout, "deploy/systemd/quantum-calc.service");
const unitText = readFileSync(unitPath, "utf8");
const MAX_EXPOSURE = 2.5;

/** `systemd-analyze --help`, or null when the tool is not installed. */
function analyzeHelp(): string | null {
  const r = spawnSync("systemd-analyze", ["--help"], { encoding: "utf8" });
  return r.error || r.status !== 0 ? null : r.stdout;
}
const help = analyzeHelp();
const noAnalyze = help === null;
const noOffline = help === null || !help.includes("--offline");
if (noAnalyze)
  console.warn("systemd.test: skipping systemd-analyze checks: systemd-analyze is not installed");
else if (noOffline)
  console.warn(
    "systemd.test: skipping the exposure score: this systemd-analyze has no --offline (systemd < 250)",
  );

/** [Section] → key → values, in file order; comments and blank lines dropped. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1], current);
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0 || current === undefined) throw new Error(`unparsable unit line: ${raw}`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}
const unit = parseUnit(unitText);
const service = unit.get("Service") ?? new Map<string, string[]>();
const one = (key: string): string | undefined => service.get(key)?.at(-1);

/** systemd-analyze's own complaints about a unit file: parse warnings, missing binaries. */
function unitWarnings(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((l) => /ignoring|invalid|unknown|not executable|failed|error/i.test(l));
}

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe("quantum-calc.service, as systemd reads it", () => {
  // `verify` loads the unit like PID 1 would and checks that ExecStart's binary exists and is
  // executable (not the script argument, and not User=, which is resolved at start). A test
  // machine has no /opt/quantum-calc and may have node elsewhere than /usr/bin/node (nvm), so
  // the unit is copied to a temporary directory with the same substitutions install.sh makes
  // for --node/--prefix: this node, this checkout. Every other line is verified as shipped.
  // --man=no/--generators=no keep verify to this file (no man page lookups, no generators).
  it.skipIf(noAnalyze)("systemd-analyze verify accepts it without a warning", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-unit-"));
    tmpDirs.push(dir);
    const copy = join(dir, "quantum-calc.service");
    writeFileSync(
      copy,
      unitText
        .replaceAll("/usr/bin/node", process.execPath)
        .replaceAll("/opt/quantum-calc", checkout),
    );
    const r = spawnSync("systemd-analyze", ["verify", "--man=no", "--generators=no", copy], {
      encoding: "utf8",
    });
    expect(unitWarnings(r.stderr), r.stderr).toEqual([]);
    expect(r.status, r.stderr).toBe(0);
  });

  it.skipIf(noOffline)(
    `systemd-analyze security --offline scores its exposure <= ${MAX_EXPOSURE}`,
    () => {
      const r = spawnSync(
        "systemd-analyze",
        ["security", "--offline=yes", "--no-pager", unitPath],
        {
          encoding: "utf8",
        },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(unitWarnings(r.stderr), r.stderr).toEqual([]);
      const m = /Overall exposure level for quantum-calc\.service:\s*([0-9]+(?:\.[0-9]+)?)/.exec(
        r.stdout,
      );
      expect(m, r.stdout).not.toBeNull();
      const score = Number(m![1]);
      console.info(`systemd.test: exposure score ${score}`);
      expect(score).toBeLessThanOrEqual(MAX_EXPOSURE);
    },
  );
});

describe("quantum-calc.service, as written", () => {
  it("runs the built CLI with the config file, as the dedicated user", () => {
    expect(one("ExecStart")).toBe(
      "/usr/bin/node /opt/quantum-calc/dist/src/cli.js run --config /etc/quantum/quantum-calc.json",
    );
    expect(one("User")).toBe("quantum-calc");
    expect(one("Group")).toBe("quantum-calc");
  });

  it("is Type=notify with a watchdog, accepting the notifications of systemd-notify (a child: NotifyAccess=all)", () => {
    expect(one("Type")).toBe("notify");
    expect(one("NotifyAccess")).toBe("all");
    // The in-process watchdog (watchdogSec, default 30 s) acts first: systemd's is longer.
    expect(Number(one("WatchdogSec"))).toBeGreaterThanOrEqual(60);
    expect(Number(one("TimeoutStartSec"))).toBeGreaterThan(0);
    // The comments say why each is needed.
    expect(unitText).toMatch(/systemd-notify/);
    expect(unitText).toMatch(/--no-block/);
  });

  it("does not set MemoryDenyWriteExecute (V8 JIT needs writable+executable memory)", () => {
    expect(service.has("MemoryDenyWriteExecute")).toBe(false);
    expect(unitText).not.toMatch(/^\s*MemoryDenyWriteExecute\s*=/m);
  });

  it("carries no secret on the command line or in the environment it sets", () => {
    const execStart = one("ExecStart") ?? "";
    expect(execStart).not.toMatch(/password|passwd|secret|token|redis:\/\/|--redis/i);
    for (const env of service.get("Environment") ?? []) {
      expect(env).not.toMatch(/password|secret|token|redis:\/\/[^\s]*@/i);
    }
    for (const cred of service.get("SetCredential") ?? []) {
      // Only the "no password" default may be set inline: SetCredential= values are visible
      // to unprivileged processes over D-Bus.
      expect(cred).toBe("redis-password:\\n");
    }
  });

  it("passes the Redis password as an optional credential", () => {
    expect(service.get("LoadCredential")).toEqual(["redis-password:/etc/quantum/redis-password"]);
    // Same ID in SetCredential= makes a missing password file non-fatal (systemd.exec(5)).
    expect(service.get("SetCredential")?.map((v) => v.split(":")[0])).toEqual(["redis-password"]);
    expect(service.get("EnvironmentFile")).toEqual(["-/etc/quantum/quantum-calc.env"]);
  });

  it("restarts on failure but not on a config error (exit 2)", () => {
    expect(one("Restart")).toBe("always");
    expect(one("RestartPreventExitStatus")?.split(/\s+/)).toContain("2");
    expect(Number(one("RestartSec"))).toBeGreaterThan(0);
    expect(unit.get("Unit")?.get("StartLimitIntervalSec")).toBeDefined();
    expect(unit.get("Unit")?.get("StartLimitBurst")).toBeDefined();
  });

  it("waits longer than the 10 s graceful shutdown before SIGKILL", () => {
    expect(one("KillSignal")).toBe("SIGTERM");
    expect(Number(one("TimeoutStopSec"))).toBeGreaterThan(10);
  });

  it("reloads with SIGHUP, which the service handles (policy re-read, config validated; never a death)", () => {
    expect(one("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
    // The comment above it says what a reload does, so an operator reading the unit knows.
    expect(unitText).toMatch(/SIGHUP[\s\S]*never stops the service[\s\S]*ExecReload=/);
  });

  it("orders itself after Redis and the network", () => {
    const after = (unit.get("Unit")?.get("After") ?? []).join(" ").split(/\s+/);
    expect(after).toEqual(
      expect.arrayContaining(["network-online.target", "redis-server.service", "redis.service"]),
    );
  });
});
