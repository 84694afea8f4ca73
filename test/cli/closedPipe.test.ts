// A command whose reader goes away (`quantum-calc replay harvest | head -1`) ends quietly with
// exit 0; it crashed with an EPIPE stack trace and exit 1 (src/commands/closedStdout.ts).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cliPath, repoRoot } from "../helpers/runCli.js";

/** Runs the built CLI, reads its first line, closes the pipe, and reports how it ended. */
function firstLineThenClose(
  args: string[],
): Promise<{ line: string; code: number | null; stderr: string }> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} not found: run \`npm run build\` first`);
  const child = spawn(process.execPath, [cliPath, ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  let out = "";
  let line = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    const nl = out.indexOf("\n");
    if (nl >= 0 && line === "") {
      line = out.slice(0, nl);
      child.stdout.destroy(); // as `head -1` exits
    }
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ line, code, stderr })));
}

describe("a closed stdout pipe", () => {
  it.each([
    ["replay", "harvest"],
    ["replay", "stops"],
  ])("%s %s | head -1: exit 0, no stack trace", async (...args) => {
    const r = await firstLineThenClose(args);
    expect(r.line).not.toBe("");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
});
