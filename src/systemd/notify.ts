// sd_notify(3) without a native addon: the unit is Type=notify with WatchdogSec=, and the service
// tells systemd READY=1 after its first successful store connection and WATCHDOG=1 from the
// event loop every WatchdogSec/2 — so a process whose event loop stops turning is killed and
// restarted by systemd even when the in-process watchdog (src/watchdog) cannot act.
//
// Node has no unix datagram sockets (dgram is UDP only), so the messages are sent by spawning
// systemd-notify(1). Three things make that reliable (systemd 252, systemd.service(5) and
// systemd-notify(1)):
//  - systemd-notify is our child, not the main process: it first tries to send with our PID in
//    SCM_CREDENTIALS, which needs privileges the unit does not have, then falls back to its own.
//    So the unit needs NotifyAccess=all (main and exec accept only the main process and the
//    processes systemd itself forked). --pid= would only add MAINPID=, which systemd already
//    knows (node is the ExecStart process): not used.
//  - A message from a process that has already exited may not be attributed to the unit and is
//    then dropped, even with NotifyAccess=all. systemd-notify without --no-block waits until PID 1
//    has processed its message (a barrier, since systemd 246), so it is still alive when PID 1
//    looks it up. --no-block is never used here.
//  - Nothing happens without NOTIFY_SOCKET (not under systemd, or a Type=simple unit); the
//    watchdog pings only with WATCHDOG_USEC (and WATCHDOG_PID, when set, naming us).
// A ping still under way when the next is due is not doubled; a missing or failing systemd-notify
// is logged once (systemd then restarts the unit when its start or watchdog timeout expires).
import { spawn as spawnChild, type ChildProcess } from "node:child_process";
import type { Logger } from "../log.js";

export interface SystemdNotifier {
  /** NOTIFY_SOCKET is set: messages are sent. */
  readonly enabled: boolean;
  /** How often WATCHDOG=1 is sent (WATCHDOG_USEC / 2, in ms), or null without a watchdog. */
  readonly watchdogIntervalMs: number | null;
  /** READY=1 (with a STATUS= line), once: later calls only update the status. */
  ready(status?: string): void;
  /** STATUS=…: what `systemctl status` shows. */
  status(text: string): void;
  /** Starts the WATCHDOG=1 pings from the event loop (no-op without a watchdog, or when started). */
  startWatchdog(): void;
  /** Stops the pings. Idempotent. */
  close(): void;
  /** READY=1 has been sent. */
  isReady(): boolean;
}

export interface SystemdNotifierOptions {
  /** Default process.env: NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID. */
  env?: NodeJS.ProcessEnv;
  /** Our pid (WATCHDOG_PID must name it). Default process.pid. */
  pid?: number;
  logger?: Pick<Logger, "warn" | "error" | "debug">;
  /** The notify command. Default 'systemd-notify' (on PATH). */
  command?: string;
  /** For tests: how a message is sent (default: spawn `command` with the args). */
  spawn?: (command: string, args: string[], env: NodeJS.ProcessEnv) => ChildProcess;
}

/** WATCHDOG_USEC / 2 in ms, when the watchdog is meant for this process; else null. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isInteger(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== "" && Number(env.WATCHDOG_PID) !== pid)
    return null;
  return Math.max(1, Math.floor(usec / 2000));
}

/** One line, no control characters (systemd-notify takes it as an argument, the message as a line). */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, " ").slice(0, 200);
}

export function createSystemdNotifier(options: SystemdNotifierOptions = {}): SystemdNotifier {
  const env = options.env ?? process.env;
  const pid = options.pid ?? process.pid;
  const logger = options.logger;
  const command = options.command ?? "systemd-notify";
  const enabled = typeof env.NOTIFY_SOCKET === "string" && env.NOTIFY_SOCKET !== "";
  const intervalMs = enabled ? watchdogIntervalMs(env, pid) : null;
  const spawn =
    options.spawn ??
    ((cmd: string, args: string[], childEnv: NodeJS.ProcessEnv) =>
      spawnChild(cmd, args, { stdio: "ignore", env: childEnv }));
  let readySent = false;
  let timer: NodeJS.Timeout | null = null;
  let pingInFlight = false;
  let reported = false;

  /** Reports the first failure only: a broken systemd-notify fails every ping the same way. */
  const failed = (what: string): void => {
    if (reported) return;
    reported = true;
    logger?.error(
      { command },
      `sd_notify: ${what}; systemd will ${readySent ? "kill the service when its watchdog expires" : "not see READY=1"}`,
    );
  };

  const send = (args: string[], onDone?: () => void): void => {
    let child: ChildProcess;
    try {
      child = spawn(command, args, env);
    } catch (error) {
      failed(`cannot run ${command}: ${(error as Error).message}`);
      onDone?.();
      return;
    }
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      onDone?.();
    };
    child.once("error", (error) => {
      failed(`cannot run ${command}: ${error.message}`);
      finish();
    });
    child.once("exit", (code, signal) => {
      if (code !== 0) failed(`${command} ${args.join(" ")} exited with ${code ?? signal}`);
      finish();
    });
  };

  return {
    enabled,
    watchdogIntervalMs: intervalMs,
    isReady: () => readySent,
    ready(status) {
      if (!enabled) return;
      if (readySent) {
        if (status !== undefined) this.status(status);
        return;
      }
      readySent = true;
      send(["--ready", ...(status !== undefined ? [`--status=${oneLine(status)}`] : [])]);
    },
    status(text) {
      if (!enabled) return;
      send([`--status=${oneLine(text)}`]);
    },
    startWatchdog() {
      if (intervalMs === null || timer !== null) return;
      const ping = (): void => {
        // A ping still under way (PID 1 busy): one is enough.
        if (pingInFlight) return;
        pingInFlight = true;
        send(["WATCHDOG=1"], () => {
          pingInFlight = false;
        });
      };
      ping();
      // From the event loop, on purpose: a loop that stops turning stops the pings. unref: the
      // pings never keep a finished process alive.
      timer = setInterval(ping, intervalMs);
      timer.unref();
    },
    close() {
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}
