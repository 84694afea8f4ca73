// A Redis Sentinel deployment on loopback ports, from real processes: a primary redis-server, a
// replica (`replicaof` the primary) and three `redis-server --sentinel` processes monitoring them
// with quorum 2. Each process gets a config file of its own in a temporary directory (Sentinel
// must be able to rewrite its file; the data nodes too, since Sentinel runs CONFIG REWRITE when it
// reconfigures them). Nothing is persisted: a node killed and started again comes back empty.
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "./redisServer.js";
import { monitorOf } from "./monitor.js";

export interface SentinelOptions {
  /** The monitored master's name. Default 'mymaster'. */
  masterName?: string;
  /** `sentinel down-after-milliseconds`. Default 1000. */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. Default 5000. */
  failoverTimeoutMs?: number;
  /** requirepass of the data nodes (and masterauth, and the sentinels' auth-pass). */
  password?: string;
  /** requirepass of the sentinels (and their sentinel-pass for one another). */
  sentinelPassword?: string;
}

export interface ManagedProcess {
  readonly port: number;
  readonly name: string;
  /** Starts the process (again) with its config file; resolves once the port accepts. */
  start(): Promise<void>;
  /** SIGKILL, then waits until the port refuses. */
  kill(): Promise<void>;
  running(): boolean;
}

/** A command a node executed, as MONITOR reports it. */
export interface MonitorLine {
  /** The node's clock (ms since epoch; MONITOR's seconds.micros). */
  serverMs: number;
  /** Lower-cased command name first. */
  args: string[];
  /** `ip:port` of the client that sent it (a replica's master link: the master's address). */
  source: string;
}

export interface NodeMonitor {
  readonly lines: MonitorLine[];
  stop(): void;
}

/** Commands that change the keyspace (what the service writes with). */
export const WRITE_COMMANDS: ReadonlySet<string> = new Set([
  "hset",
  "hdel",
  "del",
  "expire",
  "xadd",
  "set",
  "multi",
  "exec",
]);

export interface SentinelDeployment {
  readonly masterName: string;
  readonly password: string | undefined;
  readonly sentinelPassword: string | undefined;
  /** The node that was the primary at the start, and the one that was its replica. */
  readonly nodes: { first: ManagedProcess; second: ManagedProcess };
  readonly sentinels: ManagedProcess[];
  /** `127.0.0.1:port` of every sentinel: the service's `sentinels`. */
  readonly sentinelAddresses: string[];
  /** A client of a data node (the password applied; reconnects; errors swallowed). */
  client(port: number): Redis;
  /** A client of a sentinel. */
  sentinelClient(index: number): Redis;
  /**
   * MONITOR of a node: everything it executes. Sentinel kills normal clients (MONITOR too) when it
   * reconfigures a node; the monitor reconnects and monitors again within ~50 ms.
   */
  monitor(port: number): Promise<NodeMonitor>;
  /** `INFO errorstats` of a node: error prefix → count (e.g. READONLY). */
  errorStats(port: number): Promise<Record<string, number>>;
  /** The port every sentinel names as the primary, or null while they disagree. */
  agreedPrimaryPort(): Promise<number | null>;
  /** `master` or `slave`, as the node at `port` reports it (ROLE), or null when unreachable. */
  role(port: number): Promise<string | null>;
  /** Until every sentinel sees the primary, the replica in sync, and the two other sentinels. */
  waitForTopology(timeoutMs?: number): Promise<void>;
  /** SENTINEL FAILOVER on the first sentinel that accepts it (NOGOODSLAVE until the replica is known). */
  failover(timeoutMs?: number): Promise<void>;
  /** Kills every process and removes the directory. */
  close(): Promise<void>;
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

async function poll<T>(
  what: string,
  check: () => Promise<T | null | false | undefined>,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})` : ""}`,
      );
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function managed(name: string, port: number, args: string[]): ManagedProcess {
  let child: ChildProcess | null = null;
  return {
    port,
    name,
    running: () => child !== null,
    async start() {
      if (child) return;
      child = spawn("redis-server", args, { stdio: "ignore" });
      const proc = child;
      proc.once("exit", () => {
        if (child === proc) child = null;
      });
      await poll(`${name} on ${port}`, () => canConnect(port), 10_000, 25);
    },
    async kill() {
      const proc = child;
      if (!proc) return;
      child = null;
      const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
      proc.kill("SIGKILL");
      await exited;
      await poll(`${name} on ${port} to stop`, async () => !(await canConnect(port)), 10_000, 25);
    },
  };
}

/** Lines of a config file (values quoted where redis needs it). */
function configFile(path: string, lines: string[]): string {
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

export async function startSentinelDeployment(
  options: SentinelOptions = {},
): Promise<SentinelDeployment> {
  const masterName = options.masterName ?? "mymaster";
  const { password, sentinelPassword } = options;
  const dir = mkdtempSync(join(tmpdir(), "qc-sentinel-"));
  const [firstPort, secondPort, ...sentinelPorts] = await Promise.all(
    [1, 2, 3, 4, 5].map(() => freePort()),
  );

  const nodeConfig = (name: string, port: number, replicaOf: number | null): string =>
    configFile(join(dir, `${name}.conf`), [
      `port ${port}`,
      "bind 127.0.0.1",
      'save ""',
      "appendonly no",
      `dir ${dir}`,
      `dbfilename ${name}.rdb`,
      `logfile ${join(dir, `${name}.log`)}`,
      ...(password ? [`requirepass "${password}"`, `masterauth "${password}"`] : []),
      ...(replicaOf !== null ? [`replicaof 127.0.0.1 ${replicaOf}`] : []),
    ]);
  const first = managed("primary", firstPort, [nodeConfig("primary", firstPort, null)]);
  const second = managed("replica", secondPort, [nodeConfig("replica", secondPort, firstPort)]);
  const sentinels = sentinelPorts.map((port, i) =>
    managed(`sentinel-${i + 1}`, port, [
      configFile(join(dir, `sentinel-${i + 1}.conf`), [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${dir}`,
        `logfile ${join(dir, `sentinel-${i + 1}.log`)}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${firstPort} 2`,
        `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${masterName} ${options.failoverTimeoutMs ?? 5000}`,
        ...(password ? [`sentinel auth-pass ${masterName} "${password}"`] : []),
        ...(sentinelPassword
          ? [`requirepass "${sentinelPassword}"`, `sentinel sentinel-pass "${sentinelPassword}"`]
          : []),
      ]),
      "--sentinel",
    ]),
  );

  const clients: Redis[] = [];
  const track = (client: Redis): Redis => {
    client.on("error", () => undefined); // nodes go away on purpose
    clients.push(client);
    return client;
  };
  const client = (port: number): Redis =>
    track(
      new Redis({
        host: "127.0.0.1",
        port,
        password,
        maxRetriesPerRequest: 1,
        retryStrategy: () => 50,
        connectTimeout: 1000,
        commandTimeout: 2000,
      }),
    );
  const sentinelClient = (index: number): Redis =>
    track(
      new Redis({
        host: "127.0.0.1",
        port: sentinels[index].port,
        password: sentinelPassword,
        maxRetriesPerRequest: 1,
        retryStrategy: () => 50,
        connectTimeout: 1000,
        commandTimeout: 2000,
      }),
    );

  /** A one-shot connection: no retries, closed after the call (a node may be down). */
  const once = async <T>(
    port: number,
    pass: string | undefined,
    run: (c: Redis) => Promise<T>,
  ): Promise<T | null> => {
    const c = new Redis({
      host: "127.0.0.1",
      port,
      password: pass,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: 1000,
      commandTimeout: 1000,
      enableOfflineQueue: true,
    });
    c.on("error", () => undefined);
    try {
      await c.connect();
      return await run(c);
    } catch {
      return null;
    } finally {
      c.disconnect();
    }
  };

  const deployment: SentinelDeployment = {
    masterName,
    password,
    sentinelPassword,
    nodes: { first, second },
    sentinels,
    sentinelAddresses: sentinels.map((s) => `127.0.0.1:${s.port}`),
    client,
    sentinelClient,
    async monitor(port) {
      const lines: MonitorLine[] = [];
      const m = await monitorOf(client(port));
      m.on("monitor", (time: string, args: string[], source: string) => {
        lines.push({
          serverMs: Number(time) * 1000,
          args: [String(args[0]).toLowerCase(), ...args.slice(1)],
          source,
        });
      });
      clients.push(m);
      return { lines, stop: () => m.disconnect() };
    },
    async errorStats(port) {
      const info = (await once(port, password, async (c) => await c.info("errorstats"))) ?? "";
      return Object.fromEntries(
        [...info.matchAll(/^errorstat_(\w+):count=(\d+)/gm)].map((m) => [m[1], Number(m[2])]),
      );
    },
    async agreedPrimaryPort() {
      const ports = await Promise.all(
        sentinels.map((s) =>
          once(
            s.port,
            sentinelPassword,
            async (c) =>
              (await c.call("SENTINEL", "get-master-addr-by-name", masterName)) as
                [string, string] | null,
          ),
        ),
      );
      const named = ports.map((p) => (p ? Number(p[1]) : null));
      return named.every((p) => p !== null && p === named[0]) ? named[0]! : null;
    },
    async role(port) {
      return await once(port, password, async (c) => ((await c.call("ROLE")) as [string])[0]);
    },
    async waitForTopology(timeoutMs = 20_000) {
      await poll(
        "the sentinel topology (primary, replica in sync, 3 sentinels)",
        async () => {
          const primary = await deployment.agreedPrimaryPort();
          if (primary === null) return false;
          const replicaPort = primary === first.port ? second.port : first.port;
          const link = await once(replicaPort, password, async (c) =>
            /master_link_status:up/.test(await c.info("replication")),
          );
          if (!link) return false;
          for (const s of sentinels) {
            const ok = await once(s.port, sentinelPassword, async (c) => {
              const replicas = (await c.call("SENTINEL", "replicas", masterName)) as string[][];
              const others = (await c.call("SENTINEL", "sentinels", masterName)) as string[][];
              const flags = replicas.map((r) => r[r.indexOf("flags") + 1] ?? "");
              return (
                replicas.length === 1 && flags.every((f) => f === "slave") && others.length === 2
              );
            });
            if (!ok) return false;
          }
          return true;
        },
        timeoutMs,
        100,
      );
    },
    async failover(timeoutMs = 20_000) {
      await poll(
        "SENTINEL FAILOVER to be accepted",
        async () => {
          for (const s of sentinels) {
            const reply = await once(
              s.port,
              sentinelPassword,
              async (c) => await c.call("SENTINEL", "FAILOVER", masterName),
            );
            if (reply === "OK") return true;
          }
          return false;
        },
        timeoutMs,
        200,
      );
    },
    async close() {
      for (const c of clients) c.disconnect();
      await Promise.all([...sentinels, first, second].map((p) => p.kill()));
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await first.start();
    await second.start();
    for (const s of sentinels) await s.start();
  } catch (error) {
    await deployment.close();
    throw error;
  }
  return deployment;
}
