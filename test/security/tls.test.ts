// rediss:// — TLS with the server certificate verified. A redis-server with a TLS port and a
// certificate from a throwaway CA: with the CA trusted (NODE_EXTRA_CA_CERTS) the service runs
// as the ACL user over TLS; without it the connection is refused and nothing is written.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startTestRedis, type TestRedis } from "../helpers/redisServer.js";
import { longPosition, prices, redisClient, seedCandles, seedPosition } from "../helpers/seed.js";
import { startCli } from "../helpers/serviceHarness.js";
import { ACL_RULES } from "../helpers/acl.js";

const PASSWORD = "Tls-acl-Pw-44d1";
let dir: string;
let tlsPort: number;
let server: TestRedis;
let admin: Redis;

function openssl(args: string[]): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "qc-tls-"));
  openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=quantum-calc test CA",
  ]);
  openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  ]);
  writeFileSync(join(dir, "san.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  openssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "1",
    "-extfile",
    "san.cnf",
  ]);
  tlsPort = await freePort();
  // The plain port stays open for the test's own client; the service uses the TLS port.
  server = await startTestRedis([
    "--tls-port",
    String(tlsPort),
    "--tls-cert-file",
    join(dir, "server.pem"),
    "--tls-key-file",
    join(dir, "server.key"),
    "--tls-ca-cert-file",
    join(dir, "ca.pem"),
    "--tls-auth-clients",
    "no",
  ]);
  admin = redisClient(server.url);
  await admin.call("ACL", "SETUSER", "quantum-calc", `>${PASSWORD}`, ...ACL_RULES);
  const closes = prices("trend", 300, 100);
  await seedCandles(admin, "BTCUSDT", closes);
  await seedPosition(admin, longPosition("BTCUSDT", closes[closes.length - 1]));
});
afterAll(async () => {
  admin?.disconnect();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const tlsUrl = (host: string): string => `rediss://quantum-calc:${PASSWORD}@${host}:${tlsPort}`;

describe("rediss:// (TLS, certificate verified)", () => {
  it("with the CA trusted: run --once as the ACL user over TLS publishes every phase", async () => {
    for (const host of ["localhost", "127.0.0.1"]) {
      await admin.del(
        "quantum:marketstate:BTCUSDT",
        "quantum:risk:proposal:BTCUSDT",
        "quantum:harvest:proposal:BTCUSDT",
      );
      const run = startCli(["run", "--once", "--redis-url", tlsUrl(host), "--symbols", "BTCUSDT"], {
        NODE_EXTRA_CA_CERTS: join(dir, "ca.pem"),
      });
      expect((await run.exit).code, run.output()).toBe(0);
      expect(
        await admin.exists(
          "quantum:marketstate:BTCUSDT",
          "quantum:risk:proposal:BTCUSDT",
          "quantum:harvest:proposal:BTCUSDT",
        ),
        host,
      ).toBe(3);
      expect(run.output()).not.toContain(PASSWORD);
    }
    // the connection really was TLS: the plain-text port of the same server is not the one used
    const list = (await admin.call("CLIENT", "LIST")) as string;
    expect(list).not.toContain("name=quantum-calc"); // the --once process has gone
  });

  it("without the CA: the certificate is refused, nothing is written, exit 1", async () => {
    await admin.del("quantum:marketstate:BTCUSDT");
    const run = startCli(
      ["run", "--once", "--redis-url", tlsUrl("localhost"), "--symbols", "BTCUSDT"],
      {
        QUANTUM_CALC_CONNECT_TIMEOUT_MS: "1500",
        NODE_EXTRA_CA_CERTS: "",
      },
    );
    expect((await run.exit).code).toBe(1);
    expect(run.output()).toMatch(/self[- ]signed|unable to verify|certificate/i);
    expect(run.output()).not.toContain(PASSWORD);
    expect(await admin.exists("quantum:marketstate:BTCUSDT")).toBe(0);
  });
});
