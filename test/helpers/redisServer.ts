// A private redis-server per test file, on a free port, never touching 6379. Fault tests use
// stop()/start() to take it away and bring it back (empty: nothing is persisted).
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") return reject(new Error("no port"));
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function waitUntil(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Extra redis-server arguments given at creation are reused on every start. */
  start(): Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestRedis(extraArgs: string[] = []): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "qc-redis-"));
  let child: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    if (child) return;
    child = spawn(
      "redis-server",
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir,
        ...extraArgs,
      ],
      { stdio: "ignore" },
    );
    const proc = child;
    proc.once("exit", () => {
      if (child === proc) child = null;
    });
    await waitUntil(() => canConnect(port), `redis-server on ${port}`);
  };
  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = null;
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    proc.kill("SIGKILL");
    await exited;
    await waitUntil(async () => !(await canConnect(port)), `redis-server on ${port} to stop`);
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
