// Shared pieces of the lease tests: writer connections and lease managers on a test
// redis-server, bounded polling, a MONITOR recorder, and a writer connection whose sessions a test
// can intercept (to act between a fenced publish's WATCH and its EXEC, race-free).
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { LeaseManager, type LeaseOptions } from "../../src/lease/lease.js";
import {
  createWriterConnection,
  type WriterConnection,
  type WriterSession,
} from "../../src/lease/writerConnection.js";
import { until as pollUntil } from "../helpers/serviceHarness.js";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { createRedisStore, type RedisStore } from "../../src/store/redisStore.js";
import { startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { monitorOf } from "../helpers/monitor.js";

export const LEASE_KEY = "quantum:calc:leader";

/** The shared poll (test/helpers/serviceHarness.ts), checking every 5 ms: lease handovers are fast. */
export function until<T>(
  what: string,
  check: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 15_000,
  intervalMs = 5,
): Promise<T> {
  return pollUntil(what, check, timeoutMs, intervalMs);
}

export function rawClient(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on("error", () => undefined); // tests stop the server on purpose
  return client;
}

export async function writerFor(
  url: string,
  name = "quantum-calc-writer",
): Promise<WriterConnection> {
  const writer = createWriterConnection({
    url,
    reconnectBaseMs: 20,
    reconnectCapMs: 200,
    connectionName: name,
  });
  await writer.waitReady(5000);
  return writer;
}

/** Owns what a test creates: stopped/closed after each test (leases stopped, not released). */
export class Instances {
  private readonly items: Array<{ writer: WriterConnection; lease: LeaseManager }> = [];
  async create(
    url: string,
    options: LeaseOptions = {},
    name?: string,
  ): Promise<{ writer: WriterConnection; lease: LeaseManager }> {
    const writer = await writerFor(url, name);
    const lease = new LeaseManager(writer, options);
    const item = { writer, lease };
    this.items.push(item);
    return item;
  }
  async closeAll(): Promise<void> {
    const items = this.items.splice(0);
    await Promise.all(
      items.map(async ({ writer, lease }) => {
        await lease.stop();
        await writer.close();
      }),
    );
  }
}

/**
 * A writer connection whose sessions pass through `hooks`: `beforeExec` runs after a session's
 * WATCH has answered and before its MULTI/EXEC is sent — exactly the window a paused writer
 * sleeps in.
 */
export function intercepted(
  writer: WriterConnection,
  hooks: { beforeExec?: (commands: Parameters<WriterSession["exec"]>[0]) => Promise<void> | void },
): WriterConnection {
  return {
    ...writer,
    target: writer.target,
    commandTimeoutMs: writer.commandTimeoutMs,
    exclusive: (fn) =>
      writer.exclusive((s) =>
        fn({
          ...s,
          exec: async (commands) => {
            await hooks.beforeExec?.(commands);
            return await s.exec(commands);
          },
        }),
      ),
  };
}

export interface MonitorLine {
  time: number;
  args: string[];
  source: string;
}

/** Records every command the server runs (MONITOR), from now on. */
export async function startMonitor(
  url: string,
): Promise<{ lines: MonitorLine[]; sync(): Promise<void>; stop(): void }> {
  const client = rawClient(url);
  const monitor = await monitorOf(client);
  const lines: MonitorLine[] = [];
  monitor.on("monitor", (time: string, args: string[], source: string) =>
    lines.push({ time: Number(time), args, source }),
  );
  let n = 0;
  return {
    lines,
    /** Resolves once every command run before the call has been recorded (an ECHO marker went by). */
    async sync() {
      const marker = `monitor-sync-${++n}-${Math.random()}`;
      await client.echo(marker);
      await until(
        "the MONITOR marker",
        () => lines.some((l) => l.args[0]?.toLowerCase() === "echo" && l.args[1] === marker),
        5000,
      );
    },
    stop() {
      monitor.disconnect();
      client.disconnect();
    },
  };
}

/** The commands of `lines` as lower-case name + args. */
export const cmd = (line: MonitorLine): string => line.args[0]?.toLowerCase() ?? "";

/** The MULTI … EXEC blocks each connection ran, as the commands queued between them. */
export function transactions(
  lines: MonitorLine[],
): Array<{ source: string; commands: MonitorLine[] }> {
  const open = new Map<string, MonitorLine[]>();
  const done: Array<{ source: string; commands: MonitorLine[] }> = [];
  for (const line of lines) {
    const name = cmd(line);
    if (name === "multi") open.set(line.source, []);
    else if (name === "exec") {
      done.push({ source: line.source, commands: open.get(line.source) ?? [] });
      open.delete(line.source);
    } else open.get(line.source)?.push(line);
  }
  return done;
}

// ---- a child process running TypeScript (the lease writer fixture) ------------------------------

const registerUrl = new URL("./fixtures/register.mjs", import.meta.url).href;
export const leaseWriterScript = fileURLToPath(
  new URL("./fixtures/leaseWriter.ts", import.meta.url),
);

export interface ChildLine {
  event: string;
  [field: string]: unknown;
}

export interface Child {
  readonly proc: ChildProcess;
  readonly lines: ChildLine[];
  /** Resolves with the first line (from `from` on) of this event that satisfies `match`. */
  next(
    event: string,
    match?: (line: ChildLine) => boolean,
    timeoutMs?: number,
    from?: number,
  ): Promise<ChildLine>;
  stderr(): string;
  /** Process state from /proc (R, S, T = stopped, Z, …). */
  state(): string;
  exited: Promise<number | null>;
}

export function startChild(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ["--import", registerUrl, leaseWriterScript], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: ChildLine[] = [];
  let buffer = "";
  let err = "";
  proc.stdout.setEncoding("utf8");
  proc.stdout.on("data", (chunk: string) => {
    buffer += chunk;
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      const text = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      try {
        lines.push(JSON.parse(text) as ChildLine);
      } catch {
        err += `[stdout] ${text}\n`;
      }
    }
  });
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (chunk: string) => (err += chunk));
  const exited = new Promise<number | null>((resolve) =>
    proc.once("exit", (code) => resolve(code)),
  );
  return {
    proc,
    lines,
    stderr: () => err,
    state: () => {
      try {
        const stat = readFileSync(`/proc/${proc.pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? "?";
      } catch {
        return "gone";
      }
    },
    next: (event, match = () => true, timeoutMs = 15_000, from = 0) =>
      until(
        `child line ${event} (stderr: ${err.slice(-2000)})`,
        () => lines.slice(from).find((l) => l.event === event && match(l)),
        timeoutMs,
      ),
    exited,
  };
}

export interface LeaseRedis {
  readonly server: TestRedis;
  /** A plain ioredis client standing in for other services and for raw checks. */
  readonly raw: Redis;
  /** The normal store (reads) beside the fenced writer. */
  readonly inner: RedisStore;
}

/**
 * One private redis-server for a lease test file, with a raw client and the plain store beside
 * it; flushed before each test. Registers the vitest hooks.
 */
export function useLeaseRedis(): LeaseRedis {
  let server: TestRedis | undefined;
  let raw: Redis | undefined;
  let inner: RedisStore | undefined;
  beforeAll(async () => {
    server = await startTestRedis();
    raw = rawClient(server.url);
    inner = createRedisStore({ url: server.url, reconnectBaseMs: 20, reconnectCapMs: 200 });
    await inner.waitReady(5000);
  });
  afterAll(async () => {
    await inner?.close();
    raw?.disconnect();
    await server?.close();
  });
  beforeEach(async () => {
    await raw!.flushall();
  });
  const need = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the lease test Redis is only available inside tests");
    return value;
  };
  return {
    get server() {
      return need(server);
    },
    get raw() {
      return need(raw);
    },
    get inner() {
      return need(inner);
    },
  };
}
