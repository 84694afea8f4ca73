// `npm run demo` on a built clone starts at once (issue 18, item 5): its build step is the
// compiler's build mode (`tsc -b`), which writes nothing when nothing changed since the last build
// — the one `npm ci` ran (prepare) — instead of recompiling everything on every start. How long the
// first line takes is measured by `npm run bench:demo` (bench/demoStart.ts), not asserted here.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/runCli.js";

const scripts = (
  JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  }
).scripts;

/** Every file under dist/ with its modification time (ns) and size. */
function distFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const stat = statSync(path, { bigint: true });
        files.set(path.slice(repoRoot.length), `${stat.mtimeNs} ${stat.size}`);
      }
    }
  };
  walk(join(repoRoot, "dist"));
  return files;
}

function npmRun(script: string): void {
  const r = spawnSync("npm", ["run", script, "--silent"], {
    cwd: repoRoot,
    encoding: "utf8",
    timeout: 600_000,
  });
  expect(r.error).toBeUndefined();
  expect(r.status, `npm run ${script}: ${r.stdout}${r.stderr}`).toBe(0);
}

describe("npm run demo's build step", () => {
  it("is the build, then the built command line: nothing else to keep in step", () => {
    expect(scripts.demo).toBe(`${scripts.build} && node dist/src/cli.js demo`);
    // The build mode, whose up-to-date check is what makes a second build free.
    expect(scripts.build).toMatch(/^tsc -b /);
    expect(scripts.prepare).toBe("npm run build");
  });

  it("rewrites no file in dist/ when nothing changed since the last build", () => {
    // `npm test` built already (pretest); this brings dist/ up to date when run alone.
    npmRun("build");
    const before = distFiles();
    expect(before.has("dist/src/cli.js")).toBe(true);
    expect(before.has("dist/tsconfig.build.tsbuildinfo")).toBe(true);
    npmRun("build");
    const after = distFiles();
    const rewritten = [...after].filter(([path, stamp]) => before.get(path) !== stamp);
    expect(rewritten.map(([path]) => path)).toEqual([]);
    expect(after.size).toBe(before.size);
  }, 600_000);
});
