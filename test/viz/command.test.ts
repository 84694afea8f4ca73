// `quantum-calc viz` driven in-process through the real commander program.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/program.js";
import { renderDiagram } from "../../src/viz/diagram.js";
import { recordRun } from "../recorder/liveRun.js";

/** What the command running now has written so far (a serving command is read while it runs). */
const captured = { stdout: "" };

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  captured.stdout = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    captured.stdout = stdout;
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(["node", "quantum-calc", ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe("quantum-calc viz", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    process.exitCode = undefined;
  });

  it("prints the publisher as mermaid by default", async () => {
    const r = await run(["viz"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(await renderDiagram("publisher", "mermaid"));
    expect(r.stdout.startsWith("stateDiagram-v2\n")).toBe(true);
  });

  it.each([
    ["supervisor", "dot", 'digraph "supervisor"'],
    ["supervisor", "json", '"id": "supervisor"'],
    ["publisher", "svg", "<svg xmlns="],
    ["supervisor", "svg", 'data-state="draining"'],
    ["klinesFollower", "svg", 'data-state="following"'],
    ["klinesFollower", "mermaid", "stateDiagram-v2"],
  ])("--machine %s --format %s", async (machine, format, marker) => {
    const r = await run(["viz", "--machine", machine, "--format", format]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(marker);
  });

  it("--out writes the file and prints nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "viz-"));
    dirs.push(dir);
    const file = join(dir, "publisher.dot");
    const r = await run(["viz", "--format", "dot", "--out", file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(readFileSync(file, "utf8")).toBe(await renderDiagram("publisher", "dot"));
  });

  it("an unwritable --out is a failure with the path named", async () => {
    const r = await run(["viz", "--out", "/nonexistent-dir/x.mmd"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/nonexistent-dir/x.mmd");
  });

  it.each([
    [["viz", "--format", "png"], "png"],
    [["viz", "--machine", "harvester"], "harvester"],
  ])("bad choices are usage errors (exit 2): %j", async (args, bad) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(bad);
  });

  it("--recording serves the page over the replayed recording until SIGINT", async () => {
    const dir = mkdtempSync(join(tmpdir(), "viz-rec-"));
    dirs.push(dir);
    await recordRun(dir, 4);
    const running = run(["viz", "--recording", dir, "--http-port", "0"]);
    // The command prints the page's address once the replay is done and the server listens.
    let url = "";
    await vi.waitFor(
      () => {
        const printed = /http:\/\/127\.0\.0\.1:\d+\/viz/.exec(captured.stdout);
        if (!printed) throw new Error("no address printed yet");
        url = printed[0];
      },
      { timeout: 30_000, interval: 20 },
    );
    const overview = (await (await fetch(`${url}/recording`)).json()) as {
      actors: { key: string }[];
    };
    expect(overview.actors.map((a) => a.key)).toContain("harvest:ETHUSDT");
    expect(await (await fetch(url)).text()).toContain('data-mode="replay"');
    process.emit("SIGINT");
    const r = await running;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/6 actors, \d+ steps/);
  }, 60_000);

  it.each([
    [["viz", "--recording", "/nonexistent-recording"], "--http-port"],
    [["viz", "--recording", "/nonexistent-recording", "--http-port", "x"], "--http-port x"],
    [
      ["viz", "--recording", "/nonexistent-recording", "--http-port", "0"],
      "/nonexistent-recording",
    ],
  ])("--recording usage errors name the bad value (exit 2): %j", async (args, bad) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(bad);
  });
});
