// `quantum-calc run --inspect`: the usage rule (in-process, nothing starts) and the BUILT CLI
// serving /viz beside /metrics (`npm run build` first when running this file alone).
import { spawn } from "node:child_process";
import { describe, expect, it, vi } from "vitest";
import { getText, until } from "../helpers/serviceHarness.js";
import { main } from "../../src/program.js";
import { cliPath, repoRoot } from "../helpers/runCli.js";

describe("run --inspect", () => {
  it("without --http-port is a usage error (exit 2) that says what is missing", async () => {
    let stderr = "";
    const spy = vi
      .spyOn(process.stderr, "write")
      .mockImplementation((chunk: string | Uint8Array) => {
        stderr += String(chunk);
        return true;
      });
    try {
      const code = await main([
        "node",
        "quantum-calc",
        "run",
        "--inspect",
        "--store",
        "memory",
        "--symbols",
        "BTCUSDT",
      ]);
      expect(code).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(stderr).toContain("--inspect needs --http-port");
  });

  it("serves /viz and the actor table from the running supervisor; SIGTERM ends it cleanly", async () => {
    const child = spawn(
      process.execPath,
      [
        cliPath,
        "run",
        "--store",
        "memory",
        "--symbols",
        "BTCUSDT,ETHUSDT",
        "--marketstate-interval",
        "0.2",
        "--risk-interval",
        "0.2",
        "--harvest-interval",
        "0.2",
        "--http-port",
        "0",
        "--inspect",
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: { PATH: process.env.PATH } },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exit = new Promise<number | null>((resolve) =>
      child.once("exit", (code) => resolve(code)),
    );
    try {
      const port = await until("the HTTP server", () => {
        for (const line of out.split("\n")) {
          if (!line.startsWith("{")) continue;
          const entry = JSON.parse(line) as { msg?: string; port?: number; routes?: string[] };
          if (entry.msg === "http server listening" && typeof entry.port === "number")
            return entry.port;
        }
        return null;
      });
      const page = await getText(port, "/viz");
      expect(page.status).toBe(200);
      expect(page.type).toBe("text/html; charset=utf-8");
      expect(page.body).toContain('data-state="idle"');
      const actors = await until("six actor rows with a cycle done", async () => {
        const r = await getText(port, "/viz/actors");
        const body = JSON.parse(r.body) as {
          actors: Array<{ key: string; cycles: number }>;
          supervisor: { state: string };
        };
        return body.actors.length === 6 && body.actors.every((a) => a.cycles > 0) ? body : null;
      });
      expect(actors.actors.map((a) => a.key)).toEqual([
        "marketstate:BTCUSDT",
        "risk:BTCUSDT",
        "harvest:BTCUSDT",
        "marketstate:ETHUSDT",
        "risk:ETHUSDT",
        "harvest:ETHUSDT",
      ]);
      expect(actors.supervisor.state).toBe("running");
      // The operator endpoints are still there beside it.
      expect((await getText(port, "/healthz")).status).toBe(200);
      child.kill("SIGTERM");
      expect(await exit).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 40_000);
});
