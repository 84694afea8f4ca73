// The watchdog's worker thread. It runs on its own event loop, so it keeps working while the
// main loop is stuck. It watches a counter that the main thread bumps from a timer; when the
// counter has not moved for longer than the threshold, the main loop is blocked and the process
// must end so that systemd restarts it.
//
// Ending it from here: `process.exit()` in a worker only ends the worker, and the main thread
// cannot run a signal handler while its loop is blocked. Two steps, then:
//   1. Ask V8 to run `process.exit(4)` on the main thread through an in-process inspector
//      session (no port is opened). V8 runs it as an interrupt between JS instructions, so it
//      works for a busy loop (`while (true) {}`), a catastrophic regex or Atomics.wait, and the
//      process ends with ExitCode.WATCHDOG (4) after its 'exit' handlers.
//   2. If the process is still alive after KILL_GRACE_MS (the main thread is stuck inside a
//      native call, where interrupts are not taken, or the inspector is unavailable), SIGKILL:
//      systemd then sees "killed by signal 9" (shell status 137).
// Both lines of evidence are written with fs.writeSync: nothing asynchronous can be trusted to
// happen after this point.
import { writeSync } from "node:fs";
import { workerData } from "node:worker_threads";
import type { WatchdogWorkerData } from "./watchdog.js";
import { errorMessage } from "../core/errors.js";

const data = workerData as WatchdogWorkerData;
const heartbeat = new Int32Array(data.heartbeat);

let lastSeen = Atomics.load(heartbeat, 0);
let lastChangeAt = performance.now();
let fired = false;

function logLine(level: number, msg: string, extra: Record<string, unknown>): void {
  const line = JSON.stringify({
    level,
    time: new Date().toISOString(),
    service: "quantum-calc",
    pid: process.pid,
    watchdog: true,
    ...extra,
    msg,
  });
  try {
    writeSync(data.logFd, `${line}\n`);
  } catch {
    // stdout closed or full: the exit status still tells the story.
  }
}

function killHard(reason: string): void {
  logLine(60, `watchdog: ${reason}; sending SIGKILL`, { signal: "SIGKILL" });
  process.kill(process.pid, "SIGKILL");
}

async function fire(blockedMs: number): Promise<void> {
  fired = true;
  logLine(
    60,
    `event loop blocked for ${(blockedMs / 1000).toFixed(1)} s (watchdog threshold ${data.thresholdMs / 1000} s); exiting with code ${data.exitCode} so systemd restarts the process`,
    {
      blockedMs: Math.round(blockedMs),
      thresholdSec: data.thresholdMs / 1000,
      exitCode: data.exitCode,
    },
  );
  const fallback = setTimeout(
    () => killHard(`main thread did not exit within ${data.killGraceMs} ms`),
    data.killGraceMs,
  );
  try {
    const { Session } = await import("node:inspector");
    const session = new Session();
    session.connectToMainThread();
    session.post("Runtime.evaluate", { expression: `process.exit(${data.exitCode})` }, () => {
      // A reply means the main thread ran it; it is exiting. Nothing to do but wait.
    });
  } catch (err) {
    clearTimeout(fallback);
    killHard(`cannot reach the main thread (${errorMessage(err)})`);
  }
}

setInterval(() => {
  if (fired) return;
  const seen = Atomics.load(heartbeat, 0);
  const now = performance.now();
  if (seen !== lastSeen) {
    lastSeen = seen;
    lastChangeAt = now;
    return;
  }
  const blockedMs = now - lastChangeAt;
  if (blockedMs > data.thresholdMs) void fire(blockedMs);
}, data.checkMs);
