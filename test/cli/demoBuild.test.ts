// `npm run demo` on a built clone starts at once (issue 18, item 5): its build step is the
// compiler's build mode (`tsc -b`), which writes nothing when nothing changed since the last build
// — the one `npm ci` ran (prepare) — instead of recompiling everything on every start. How long the
// first line takes is measured by `npm run bench:demo` (bench/demoStart.ts), not asserted here.
import { spawnSync } from "node:child_process";
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/runCli.js";

const scripts = (
  JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
    scripts: Record<string, string>;
  }
).scripts;

/**
 * A copy of what the build reads and writes, timestamps kept (so a built tree stays built), with
 * the dependencies linked: the builds below never write into the working tree, and nothing else
 * changing it meanwhile can make them rebuild.
 */
function copyOfTree(): string {
  const work = mkdtempSync(join(tmpdir(), "qc-build-"));
  const inputs = ["src", "machines", "bench", "dist", "package.json"];
  const configs = ["tsconfig.json", "tsconfig.build.json", "tsconfig.client.json"];
  for (const name of [...inputs, ...configs]) {
    cpSync(join(repoRoot, name), join(work, name), {
      recursive: true,
      preserveTimestamps: true,
      // What a test build (tsconfig.json) left in dist/test is not the build's.
      filter: (path) => !path.startsWith(join(repoRoot, "dist", "test")),
    });
  }
  symlinkSync(join(repoRoot, "node_modules"), join(work, "node_modules"));
  return work;
}

/** Every file under dist/ with its modification time (ns) and size. */
function distFiles(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const stat = statSync(path, { bigint: true });
        files.set(path.slice(root.length + 1), `${stat.mtimeNs} ${stat.size}`);
      }
    }
  };
  walk(join(root, "dist"));
  return files;
}

function npmRun(cwd: string, script: string): void {
  const r = spawnSync("npm", ["run", script, "--silent"], {
    cwd,
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
    const work = copyOfTree();
    try {
      // `npm test` built already (pretest), so this writes nothing either; run alone on a tree
      // not built, it builds.
      npmRun(work, "build");
      const before = distFiles(work);
      expect(before.has("dist/src/cli.js")).toBe(true);
      expect(before.has("dist/tsconfig.build.tsbuildinfo")).toBe(true);
      npmRun(work, "build");
      const after = distFiles(work);
      const rewritten = [...after].filter(([path, stamp]) => before.get(path) !== stamp);
      expect(rewritten.map(([path]) => path)).toEqual([]);
      expect(after.size).toBe(before.size);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 600_000);
});
