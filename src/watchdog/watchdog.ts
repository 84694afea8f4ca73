// Event-loop watchdog: if the main event loop is blocked longer than `watchdogSec`, the process
// logs one line and exits with ExitCode.WATCHDOG (4) — or, when the main thread is stuck inside
// a native call, is SIGKILLed — so systemd (Restart=always) restarts it. A service whose loop is
// stuck publishes nothing while looking alive to systemd; this turns that into a restart.
//
// A blocked loop cannot notice that it is blocked, so the check runs on a worker thread (see
// worker.ts): the main thread bumps a counter on a SharedArrayBuffer from a timer, the worker
// looks at it on its own loop. Neither the timer nor the worker keeps the process alive.
import { Worker } from "node:worker_threads";
import { ExitCode } from "../exitCodes.js";
import type { Logger } from "../log.js";

/** What the worker is started with (structured-cloned; the buffer is shared, not copied). */
export interface WatchdogWorkerData {
  heartbeat: SharedArrayBuffer;
  thresholdMs: number;
  checkMs: number;
  killGraceMs: number;
  exitCode: number;
  /** Where the worker writes its log line (1 = stdout, next to the service's JSON log). */
  logFd: number;
}

export interface WatchdogOptions {
  /** Blocked longer than this (seconds) → exit. 0 disables the watchdog. */
  thresholdSec: number;
  logger: Logger;
  /** After asking the main thread to exit, SIGKILL if it has not within this long. Default 3000. */
  killGraceMs?: number;
  /** Default 1 (stdout). */
  logFd?: number;
}

export interface Watchdog {
  /** Stop watching (clean shutdown). Idempotent. */
  stop(): Promise<void>;
}

/**
 * Heartbeat and check period: a quarter of the threshold, at most 1 s, so a block is detected
 * between `threshold` and `threshold + period` after it starts.
 */
export function watchdogPeriodMs(thresholdMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(thresholdMs / 4)));
}

/** Starts the watchdog; returns null when disabled (thresholdSec 0). */
export function startWatchdog(options: WatchdogOptions): Watchdog | null {
  const { thresholdSec, logger } = options;
  if (!(Number.isFinite(thresholdSec) && thresholdSec >= 0)) {
    throw new Error(
      `watchdog: thresholdSec must be a finite number >= 0 (got ${String(thresholdSec)})`,
    );
  }
  if (thresholdSec === 0) return null;
  const thresholdMs = thresholdSec * 1000;
  const periodMs = watchdogPeriodMs(thresholdMs);
  const heartbeat = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  const counter = new Int32Array(heartbeat);

  const data: WatchdogWorkerData = {
    heartbeat,
    thresholdMs,
    checkMs: periodMs,
    killGraceMs: options.killGraceMs ?? 3000,
    exitCode: ExitCode.WATCHDOG,
    logFd: options.logFd ?? 1,
  };
  // The worker is the compiled worker.js next to this file (dist/src/watchdog/).
  const worker = new Worker(new URL("./worker.js", import.meta.url), { workerData: data });
  worker.unref();
  let stopped = false;
  worker.on("error", (err) => {
    // A watchdog that cannot run must not take the service down with it; say so loudly.
    if (!stopped) logger.error({ err }, "event-loop watchdog failed; running without it");
  });

  // Atomics.add wraps around at 2^31: only "changed or not" matters.
  const tick = setInterval(() => Atomics.add(counter, 0, 1), periodMs);
  tick.unref();
  logger.info(
    { thresholdSec, periodMs },
    `event-loop watchdog on: exit ${ExitCode.WATCHDOG} when the loop is blocked over ${thresholdSec} s`,
  );

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(tick);
      await worker.terminate();
    },
  };
}
