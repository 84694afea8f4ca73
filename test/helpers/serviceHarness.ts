// Running the service in-process (startService) against a test redis-server, for the fault,
// bad-input and least-privilege tests: a config from flags, a logger whose lines the test can
// read, and bounded polling.
import { get } from "node:http";
import { spawn, type ChildProcess } from "node:child_process";
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { createLogger, type Logger } from "../../src/log.js";
import { startService, type ServiceHandle, type ServiceHooks } from "../../src/service/service.js";
import { cliPath, repoRoot } from "./runCli.js";

/** Polls until `check` returns a truthy value, or fails after `timeoutMs` naming `what`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 15_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`,
      );
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** GET http://127.0.0.1:port/path as text (a fresh connection each time: no keep-alive pool). */
export function getText(
  port: number,
  path: string,
): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body, type: String(res.headers["content-type"]) }),
      );
    }).on("error", reject);
  });
}

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface CapturedLogger {
  logger: Logger;
  lines(): LogLine[];
  /** Every line as written (JSON text), for grepping secrets. */
  text(): string;
}

/** A pino logger (the service's own factory) writing JSON lines into memory. */
export function captureLogger(
  level: "trace" | "debug" | "info" | "warn" = "debug",
): CapturedLogger {
  let text = "";
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  const logger = createLogger({ level, destination: sink });
  return {
    logger,
    text: () => text,
    lines: () =>
      text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as LogLine),
  };
}

/** The service config from flag-style values (no environment, no file), as `run` builds it. */
export function serviceConfig(flags: Record<string, unknown>): Config {
  return loadConfig({ env: {}, flags }).config;
}

/** Short intervals and backoff for fault tests: cycles every `intervalSec`, commands time out fast. */
export function fastFlags(
  redisUrl: string,
  symbols: string[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    redisUrl,
    symbols,
    marketstateInterval: 0.1,
    riskInterval: 0.1,
    harvestInterval: 0.1,
    commandTimeoutMs: 300,
    connectTimeoutMs: 1000,
    backoffBaseMs: 50,
    backoffCapMs: 300,
    drainTimeoutMs: 3000,
    // The default max input age, 3 x 0.1 s (plus the second ts_timestamp is rounded to), is
    // shorter than a busy 2-core machine may delay a cycle: fault tests are about faults.
    maxInputAge: 5,
    // Candles are seeded from the clock once per test; a long fault test must not see them
    // turn stale half-way (staleness has its own tests).
    maxCandleAge: 3600,
    ...extra,
  };
}

/** Redis stream entry id `ms-seq` → the server time (ms) at which the entry was added. */
export function streamIdMs(id: string): number {
  return Number(id.slice(0, id.indexOf("-")));
}

/** A flat [field, value, …] array (XRANGE) → an object. */
export function fieldsOf(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1]!;
  return out;
}

/** The store status and every publisher's state, last outcome and error: for failure messages. */
export function describeService(handle: ServiceHandle): string {
  const store = handle.store as { status?: () => string };
  const children = Object.entries(handle.actor.getSnapshot().children).map(([id, child]) => {
    const snapshot = (
      child as unknown as { getSnapshot(): { value: unknown; context: Record<string, unknown> } }
    ).getSnapshot();
    const c = snapshot.context;
    return `  ${id}: ${JSON.stringify(snapshot.value)} last=${String(c.lastOutcome)} failures=${String(c.consecutiveFailures)} error=${String(c.lastError)}`;
  });
  return `store status ${store.status?.() ?? handle.store.kind}; supervisor ${handle.actor.getSnapshot().status}\n${children.join("\n")}`;
}

/** For `.catch()` on a wait: rethrows with the service's state appended. */
export function explainWith(handle: ServiceHandle): (error: unknown) => never {
  return (error) => {
    throw new Error(
      `${error instanceof Error ? error.message : String(error)}\n${describeService(handle)}`,
    );
  };
}

/** Closes an in-process service (drain, then its stores: ServiceHandle.close); a no-op for undefined. */
export async function stopService(handle: ServiceHandle | undefined): Promise<void> {
  await handle?.close();
}

export interface CliProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the BUILT command line as a child process (long-running commands), `env` added to ours. */
export function startCli(
  args: string[],
  env: Record<string, string> = {},
  options: { cleanEnv?: boolean } = {},
): CliProcess {
  // cleanEnv: only PATH is inherited, so no QUANTUM_CALC_* or REDIS_* of the caller leaks in.
  const base = options.cleanEnv ? { PATH: process.env.PATH } : process.env;
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...base, ...env },
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exit };
}

export interface OncePass {
  exitCode: number;
  /** handle.stats.summary(): `phase:outcome` and `skip:phase:reason` counts. */
  counts: Record<string, number>;
  /** `reason: detail` of the logged skip of `phase` (for `symbol`, default the first symbol). */
  skipDetail(phase: string, symbol?: string): string | undefined;
  /** Every skip detail logged, in order. */
  details: string[];
  lines: LogLine[];
  logText: string;
}

/**
 * One pass like `run --once`, in-process against `redisUrl`, closed afterwards: the config is
 * `flags` over the defaults (plus the URL and symbols), the clock `now` when given.
 */
export async function oncePass(options: {
  redisUrl: string;
  symbols: string[];
  flags?: Record<string, unknown>;
  now?: () => number;
  hooks?: ServiceHooks;
}): Promise<OncePass> {
  const log = captureLogger("info");
  const config = serviceConfig({
    redisUrl: options.redisUrl,
    symbols: options.symbols,
    ...options.flags,
  });
  const handle = await startService({
    config,
    logger: log.logger,
    once: true,
    now: options.now,
    hooks: options.hooks,
  });
  const output = await handle.done;
  await handle.close();
  const lines = log.lines();
  const skips = lines.filter((l) => typeof l.reason === "string" && /skipped/.test(l.msg));
  return {
    exitCode: output.exitCode,
    counts: handle.stats.summary(),
    skipDetail: (phase, symbol = options.symbols[0]) => {
      const line = skips.find((l) => l.phase === phase && l.symbol === symbol);
      return line === undefined ? undefined : `${String(line.reason)}: ${String(line.detail)}`;
    },
    details: skips.map((l) => String(l.detail)),
    lines,
    logText: log.text(),
  };
}
