// `quantum-calc status` names why this host's service does not write (issue 21): with httpPort
// (config or --http-port) it shows the service's own /healthz — its reasons — under the Writer
// line. The BUILT command line, against a real redis-server and a stand-in /healthz.
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestRedis } from "../helpers/redisFixture.js";
import { startCli } from "../helpers/serviceHarness.js";
import type { StatusReport } from "../../src/commands/status.js";

const REASON =
  "lease key not writable: redis 127.0.0.1:6379/0: SET NX PX + GET quantum:calc:leader failed: NOPERM No permissions to access a key (the single-writer lease quantum:calc:leader has been free for 12 s and nobody writes)";
const fixture = useTestRedis();
let healthz: Server;

/** The built CLI as a child that does not block this process (the stand-in /healthz answers from here). */
async function status(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const run = startCli(
    ["status", "--redis-url", fixture.server.url, "--symbols", "BTCUSDT", ...args],
    {},
    { cleanEnv: true },
  );
  const { code } = await run.exit;
  return { code, stdout: run.output() };
}
let port: number;

beforeAll(async () => {
  healthz = createServer((_req, res) => {
    res.writeHead(503, { "Content-Type": "application/json" });
    res.end(
      JSON.stringify({ status: "failing", role: "standby", holder: null, reasons: [REASON] }),
    );
  });
  await new Promise<void>((resolve) => healthz.listen(0, "127.0.0.1", () => resolve()));
  port = (healthz.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => healthz.close(() => resolve()));
});

describe("status and the service health", () => {
  it("shows the reasons of the service on this host under the Writer line, and in --json", async () => {
    const r = await status(["--http-port", String(port)]);
    expect(r.code, r.stdout).toBe(0);
    const lines = r.stdout.split("\n");
    const writer = lines.findIndex((l) => l.startsWith("Writer: "));
    expect(lines[writer + 1]).toBe(
      `Health: the service at http://127.0.0.1:${port}/healthz says 503 failing (standby): ${REASON}`,
    );
    const json = JSON.parse(
      (await status(["--http-port", String(port), "--json"])).stdout,
    ) as StatusReport;
    expect(json.health).toMatchObject({
      http_status: 503,
      status: "failing",
      role: "standby",
      reasons: [REASON],
      error: null,
    });
  });

  it("says so when nothing answers there; without httpPort there is no Health line", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", () => resolve()));
    const free = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const r = await status(["--http-port", String(free)]);
    expect(r.stdout).toMatch(
      new RegExp(
        `^Health: the service at http://127\\.0\\.0\\.1:${free}/healthz does not answer \\(.*ECONNREFUSED.*\\)`,
        "m",
      ),
    );
    const without = await status([]);
    expect(without.stdout).not.toContain("Health:");
  });
});
