// The kernels are the pure core: they may import only other files under src/kernels and may not
// reach for ambient I/O or non-determinism (process, clocks, randomness, console). This test reads
// the sources, so a new kernel file is covered without anyone remembering to add it.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const kernelsDir = resolve(dirname(fileURLToPath(import.meta.url)), "../../src/kernels");

function listTsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return listTsFiles(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

/**
 * Blanks out comments (keeping line breaks), so prose such as "unlike Date.now()" in a comment is
 * not flagged. String and template literals are kept: import specifiers live in them.
 */
function stripComments(src: string): string {
  let out = "";
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    const next = src[i + 1];
    if (c === "/" && next === "/") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      i += 2;
      while (i < src.length && !(src[i] === "*" && src[i + 1] === "/")) {
        if (src[i] === "\n") out += "\n";
        i++;
      }
      i += 2;
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === "\\" ? 2 : 1;
      out += src.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

// Static forms capture the specifier itself; dynamic forms capture the whole argument, which
// must then be a single string literal (a computed specifier cannot be checked, so it is refused).
const STATIC_IMPORTS = [
  /\bimport\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, // import x from '...'
  /\bexport\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, // export { x } from '...'
  /\bimport\s*['"]([^'"]+)['"]/g, // import '...'
];
const DYNAMIC_IMPORTS = [
  /\bimport\s*\(\s*([^)]*)\)/g, // import(...)
  /\brequire\s*\(\s*([^)]*)\)/g, // require(...)
];

const FORBIDDEN_GLOBALS: [RegExp, string][] = [
  [/\bprocess\s*\./, "process.*"],
  [/\bDate\s*\.\s*now\b/, "Date.now"],
  [/\bnew\s+Date\b/, "new Date"],
  [/\bMath\s*\.\s*random\b/, "Math.random"],
  [/\bperformance\s*\.\s*now\b/, "performance.now"],
  [/\bconsole\s*\./, "console.*"],
];

/** Violations in one file's source: imports leaving src/kernels and forbidden globals. */
function purityViolations(file: string, source: string): string[] {
  const code = stripComments(source);
  const problems: string[] = [];
  const specifiers: string[] = [];
  for (const pattern of STATIC_IMPORTS)
    for (const m of code.matchAll(pattern)) specifiers.push(m[1]);
  for (const pattern of DYNAMIC_IMPORTS) {
    for (const m of code.matchAll(pattern)) {
      const literal = /^(['"`])([^'"`]+)\1$/.exec(m[1].trim());
      if (literal) specifiers.push(literal[2]);
      else problems.push(`${file}: non-literal module specifier ${m[1].trim()}`);
    }
  }
  for (const spec of specifiers) {
    const target = resolve(dirname(file), spec);
    const inside = target === kernelsDir || target.startsWith(kernelsDir + sep);
    if (!spec.startsWith("./") || !inside)
      problems.push(`${file}: imports ${JSON.stringify(spec)}`);
  }
  for (const [pattern, name] of FORBIDDEN_GLOBALS) {
    if (pattern.test(code)) problems.push(`${file}: uses ${name}`);
  }
  return problems;
}

describe("kernel purity", () => {
  const files = listTsFiles(kernelsDir);

  it("finds the kernel sources", () => {
    const names = files.map((f) => relative(kernelsDir, f));
    expect(names).toEqual(
      expect.arrayContaining(["stops.ts", "harvest.ts", "validate.ts", "math.ts"]),
    );
  });

  it.each(files.map((f) => [relative(kernelsDir, f), f]))(
    "%s imports only src/kernels and uses no ambient I/O",
    (_name, file) => {
      expect(purityViolations(file, readFileSync(file, "utf8"))).toEqual([]);
    },
  );

  it("the checker itself catches each kind of violation", () => {
    const f = join(kernelsDir, "fake.ts");
    const bad = [
      "import { readFileSync } from 'node:fs';",
      "import type { Store } from '../store/types.js';",
      "export { x } from 'ioredis';",
      "import 'dotenv/config';",
      "const m = await import('./x.js' + s);",
      "const r = require('node:path');",
      "const t = Date.now();",
      "const u = Math.random();",
      "const e = process.env.X;",
    ];
    for (const line of bad) expect(purityViolations(f, line), line).not.toEqual([]);
    const fine = [
      "import { clip } from './math.js';",
      "import type { Position } from './types.js';",
      "export { computeStops } from './stops.js';",
      "// Date.now() and process.env are mentioned in a comment only",
      "const s = 'see ./x.js';",
    ];
    for (const line of fine) expect(purityViolations(f, line), line).toEqual([]);
  });
});
