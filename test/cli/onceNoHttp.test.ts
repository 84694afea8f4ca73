// `run --once --config …` beside the running service must not fail on the service's HTTP port
// (issue 11 item 2): --once serves no HTTP at all.
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestRedis } from "../helpers/redisFixture.js";
import { freePort, type TestRedis } from "../helpers/redisServer.js";
import { runCli } from "../helpers/runCli.js";

const fixture = useTestRedis();
let server: TestRedis;
let taken: Server;
let port: number;
beforeAll(async () => {
  ({ server } = fixture);
  port = await freePort();
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(port, "127.0.0.1", resolve));
});
afterAll(async () => {
  await new Promise<void>((resolve) => taken.close(() => resolve()));
});

describe("run --once and the HTTP port", () => {
  it("does not bind it: exit 0 while another process holds the port (no EADDRINUSE)", () => {
    const r = runCli([
      "run",
      "--once",
      "--redis-url",
      server.url,
      "--symbols",
      "BTCUSDT",
      "--http-port",
      String(port),
      "--log-level",
      "warn",
    ]);
    expect(r.stderr).not.toMatch(/EADDRINUSE|cannot serve HTTP/);
    expect(r.status).toBe(0);
  });

  it("the long-running run still refuses a taken port (exit 1), so the check is real", () => {
    const r = runCli([
      "run",
      "--redis-url",
      server.url,
      "--symbols",
      "BTCUSDT",
      "--http-port",
      String(port),
      "--log-level",
      "warn",
    ]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot serve HTTP on 127\.0\.0\.1:\d+/);
  });
});
