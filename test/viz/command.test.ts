// `quantum-calc viz` driven in-process through the real commander program.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/program.js";
import { renderDiagram } from "../../src/viz/diagram.js";

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
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
});
