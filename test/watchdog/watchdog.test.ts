// The watchdog in child processes (the BUILT module, dist/src/watchdog/, since the worker thread
// runs compiled JavaScript; `npm test` builds first, a single file needs `npm run build`).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExitCode } from "../../src/exitCodes.js";
import { startWatchdog, watchdogPeriodMs } from "../../src/watchdog/watchdog.js";
import { repoRoot } from "../helpers/runCli.js";
import { pino } from "pino";

const builtWatchdog = join(repoRoot, "dist/src/watchdog/watchdog.js");
let dir: string;

beforeAll(() => {
  if (!existsSync(builtWatchdog))
    throw new Error(`${builtWatchdog} not found: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), "qc-watchdog-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a child script that starts the watchdog (threshold 1 s) and then runs `body`. */
function script(
  name: string,
  body: string,
  options: { thresholdSec?: number; killGraceMs?: number } = {},
): string {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(
    file,
    `import { startWatchdog } from ${JSON.stringify(pathToFileURL(builtWatchdog).href)};
// The watchdog logs through the service logger only at start and on a worker failure.
const logger = { info: (o, m) => process.stdout.write('info: ' + m + '\\n'), error: (o, m) => process.stdout.write('error: ' + m + ' ' + o.err + '\\n') };
process.on('exit', (code) => process.stdout.write('exit handler ran: ' + code + '\\n'));
const watchdog = startWatchdog({ thresholdSec: ${options.thresholdSec ?? 1}, logger, killGraceMs: ${options.killGraceMs ?? 3000} });
${body}
`,
  );
  return file;
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

function runChild(file: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [file], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}

function watchdogLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.watchdog === true);
}

describe("event-loop watchdog", () => {
  it("ends a process whose loop is blocked in JavaScript with exit code 4 and one fatal JSON line", async () => {
    const r = await runChild(
      script(
        "busy",
        `setTimeout(() => { process.stdout.write('blocking\\n'); while (true) {} }, 50);`,
      ),
    );
    expect(r.signal).toBeNull();
    expect(r.code).toBe(ExitCode.WATCHDOG);
    expect(r.stdout).toContain("blocking");
    const lines = watchdogLines(r.stdout);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 60,
      service: "quantum-calc",
      thresholdSec: 1,
      exitCode: 4,
    });
    expect(lines[0].blockedMs).toBeGreaterThan(1000);
    expect(String(lines[0].msg)).toMatch(
      /^event loop blocked for \d+\.\d s \(watchdog threshold 1 s\); exiting with code 4/,
    );
    // process.exit(4) ran on the main thread: its exit handlers ran too.
    expect(r.stdout).toContain("exit handler ran: 4");
  });

  it("SIGKILLs a process stuck inside a native call, after the grace period", async () => {
    // execSync blocks in C++ (waitpid), where V8 takes no interrupts: only SIGKILL ends it.
    const r = await runChild(
      script(
        "native",
        `setTimeout(async () => { const cp = await import('node:child_process'); cp.execSync('sleep 5'); }, 50);`,
        { killGraceMs: 500 },
      ),
    );
    expect(r.signal).toBe("SIGKILL");
    expect(r.code).toBeNull();
    const lines = watchdogLines(r.stdout);
    expect(lines.map((l) => l.msg)).toEqual([
      expect.stringMatching(/^event loop blocked for/),
      "watchdog: main thread did not exit within 500 ms; sending SIGKILL",
    ]);
  });

  it("leaves a healthy process alone, and does not keep it alive", async () => {
    // Busy but never blocked for long: 3 s of 100 ms chunks of work, then nothing left to do.
    const r = await runChild(
      script(
        "healthy",
        `let n = 0;
const work = () => { const end = Date.now() + 100; while (Date.now() < end) {} if (++n < 30) setTimeout(work, 5); else process.stdout.write('done\\n'); };
work();`,
      ),
    );
    expect(r.code).toBe(0);
    expect(r.signal).toBeNull();
    expect(r.stdout).toContain("done");
    expect(watchdogLines(r.stdout)).toEqual([]);
  });

  it("exits cleanly after stop(), and is off with threshold 0", async () => {
    const r = await runChild(
      script(
        "stopped",
        `setTimeout(async () => { await watchdog.stop(); await watchdog.stop(); process.stdout.write('stopped\\n'); }, 200);`,
      ),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("stopped");
    expect(startWatchdog({ thresholdSec: 0, logger: pino({ level: "silent" }) })).toBeNull();
    expect(() => startWatchdog({ thresholdSec: -1, logger: pino({ level: "silent" }) })).toThrow(
      /thresholdSec must be/,
    );
  });

  it("checks four times per threshold, at most once a second", () => {
    expect(watchdogPeriodMs(1000)).toBe(250);
    expect(watchdogPeriodMs(30_000)).toBe(1000);
    expect(watchdogPeriodMs(1)).toBe(10);
  });
});
