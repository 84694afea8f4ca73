// The recorder's benchmark is run as the others are: `npm run bench:recorder` builds, then runs
// the built bench/recorder.ts (docs/recording.md cites it for the recorder's measured cost).
import { readFile, access } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

it("package.json: bench:recorder builds and runs dist/bench/recorder.js", async () => {
  const pkg = JSON.parse(await readFile(`${root}package.json`, "utf8")) as {
    scripts: Record<string, string>;
  };
  expect(pkg.scripts["bench:recorder"]).toBe(
    "npm run build --silent && node dist/bench/recorder.js",
  );
  await access(`${root}bench/recorder.ts`);
  expect(await readFile(`${root}docs/recording.md`, "utf8")).toContain("npm run bench:recorder");
});
