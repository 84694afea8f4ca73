// Runs the BUILT command line (dist/src/cli.js) as a child process, the way an operator would.
// `npm test` builds first (pretest); when running a single file, run `npm run build` yourself.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const cliPath = fileURLToPath(new URL("../../dist/src/cli.js", import.meta.url));

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], input?: string): CliRun {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} not found: run \`npm run build\` first`);
  const r = spawnSync(process.execPath, [cliPath, ...args], {
    cwd: repoRoot,
    input: input ?? "",
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
