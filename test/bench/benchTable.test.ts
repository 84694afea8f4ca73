// docs/performance.md's "How to run every benchmark" table follows package.json and bench/: each
// bench script (`bench`, `bench:*`, `soak`) has a row naming `npm run <script>` and the bench file
// the script runs, and every bench file (not liveLayouts.ts, the shared feed) has a row.
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

function tableRows(): string[] {
  const doc = readFileSync(`${root}docs/performance.md`, "utf8");
  const start = doc.indexOf("\n## How to run every benchmark\n");
  expect(start).toBeGreaterThanOrEqual(0);
  const end = doc.indexOf("\n## ", start + 1);
  return doc
    .slice(start, end < 0 ? undefined : end)
    .split("\n")
    .filter((l) => l.startsWith("| `"));
}

it("every bench script of package.json has its row, with the file it runs", () => {
  const { scripts } = JSON.parse(readFileSync(`${root}package.json`, "utf8")) as {
    scripts: Record<string, string>;
  };
  const rows = tableRows();
  const benchScripts = Object.keys(scripts).filter(
    (name) => name === "bench" || name.startsWith("bench:") || name === "soak",
  );
  expect(benchScripts.length).toBeGreaterThan(0);
  for (const name of benchScripts) {
    const file = /node (?:--[\w-]+ )*dist\/bench\/(\w+)\.js/.exec(scripts[name])?.[1];
    expect(file, `${name}: ${scripts[name]}`).toBeDefined();
    const row = rows.find(
      (r) => r.startsWith(`| \`npm run ${name} `) || r.startsWith(`| \`npm run ${name}\``),
    );
    expect(row, `no row for npm run ${name}`).toBeDefined();
    expect(row).toContain(`(\`bench/${file}.ts\``);
  }
});

it("every bench file has its row", () => {
  const rows = tableRows().join("\n");
  const files = readdirSync(`${root}bench`).filter(
    (f) => f.endsWith(".ts") && f !== "liveLayouts.ts",
  );
  for (const f of files) expect(rows, f).toContain(`\`bench/${f}\``);
});
