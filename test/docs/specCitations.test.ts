// Code comments cite the specification by section ("docs/specification.md §4.2"; before the
// rewrite, "SPEC §4.2"). A citation must land on a section that exists, or a reader of the code
// is sent nowhere: §N on a "## N." heading, §N.M on a "### N.M" heading — except §7.N, item N of
// the one list of deliberate differences in CONTRACT.md, which specification.md §7 points to.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../helpers/runCli.js";

const SPEC = readFileSync(join(repoRoot, "docs/specification.md"), "utf8");
const CONTRACT = readFileSync(join(repoRoot, "CONTRACT.md"), "utf8");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js|json|sh|service|yml)$/.test(name) ? [path] : [];
  });
}

const CITATION = /(?:\bSPEC|docs\/specification\.md) §(\d+(?:\.\d+)?)/g;

/** The sections specification.md has, and the numbered differences CONTRACT.md lists. */
function citable(spec: string, contract: string): Set<string> {
  const sections = new Set(
    [...spec.matchAll(/^#{2,3} (\d+(?:\.\d+)?)\.? /gm)].map((m) => m[1].replace(/\.$/, "")),
  );
  const differences = contract.slice(
    contract.indexOf("## Deliberate differences from the Python services"),
  );
  for (const m of differences.matchAll(/^(\d+)\. /gm)) sections.add(`7.${m[1]}`);
  return sections;
}

describe("citations of the specification", () => {
  it("specification.md keeps every section number the code may cite (§1–§11, §4.1–§4.4)", () => {
    const sections = citable(SPEC, CONTRACT);
    for (const n of ["1", "2", "3", "4", "4.1", "4.2", "4.3", "4.4", "5", "6", "7", "8", "9"]) {
      expect(sections, `§${n}`).toContain(n);
    }
    expect(sections).toContain("10");
    expect(sections).toContain("11");
    for (let item = 1; item <= 12; item++) expect(sections).toContain(`7.${item}`);
  });

  it("every §N cited in the code, the tests, the benchmarks and deploy/ exists", () => {
    const sections = citable(SPEC, CONTRACT);
    const dangling: string[] = [];
    for (const dir of ["src", "machines", "bench", "test", "deploy", "config"]) {
      // test/docs/ cites missing sections on purpose, to test the check.
      const files = sourceFiles(join(repoRoot, dir)).filter((f) => !f.includes("/test/docs/"));
      for (const file of files) {
        for (const m of readFileSync(file, "utf8").matchAll(CITATION)) {
          if (!sections.has(m[1])) dangling.push(`${relative(repoRoot, file)}: §${m[1]}`);
        }
      }
    }
    expect(dangling).toEqual([]);
  });

  it("nothing cites the SPEC any more: a clone has no ../shared, so citations name docs/specification.md", () => {
    const stale: string[] = [];
    for (const dir of ["src", "machines", "bench", "test", "deploy", "config"]) {
      const files = sourceFiles(join(repoRoot, dir)).filter((f) => !f.includes("/test/docs/"));
      for (const file of files) {
        const text = readFileSync(file, "utf8");
        // CONFIG_SPEC is the config declaration's name, not a citation.
        for (const m of text.matchAll(/(?<![A-Z_])SPEC\b|shared\/SPEC/g)) {
          const line = text.slice(0, m.index).split("\n").length;
          stale.push(`${relative(repoRoot, file)}:${line}`);
        }
      }
    }
    expect(stale).toEqual([]);
  });

  it("the check itself finds a citation of a section that does not exist", () => {
    const sections = citable(SPEC, CONTRACT);
    const cited = [..."see SPEC §4.9 and docs/specification.md §12".matchAll(CITATION)].map(
      (m) => m[1],
    );
    expect(cited).toEqual(["4.9", "12"]);
    expect(cited.filter((n) => !sections.has(n))).toEqual(["4.9", "12"]);
  });
});
