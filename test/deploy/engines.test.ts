// `npm ci` on the machines' Node 20 must install without EBADENGINE warnings (issue 11 item 9):
// every locked package must support the engines this project declares. `npm ci --dry-run`
// checks the lockfile's engines without installing anything.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/runCli.js";

describe("the lockfile on Node 20", () => {
  it("declares node >= 20.19 and npm ci reports no EBADENGINE", () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
      engines: { node: string };
    };
    expect(pkg.engines.node).toBe(">=20.19");
    const dir = mkdtempSync(join(tmpdir(), "qc-engines-"));
    for (const file of ["package.json", "package-lock.json"])
      copyFileSync(join(repoRoot, file), join(dir, file));
    const r = spawnSync("npm", ["ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund"], {
      cwd: dir,
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/EBADENGINE/);
  });
});
