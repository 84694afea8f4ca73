// Replay's speed goal (≥ 100× real time at 400 symbols) is measured by `npm run bench:replay`,
// which builds, then runs the built bench/replay.ts — never asserted in a timed test.
import { access, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));

it("package.json: bench:replay builds and runs dist/bench/replay.js", async () => {
  const pkg = JSON.parse(await readFile(`${root}package.json`, "utf8")) as {
    scripts: Record<string, string>;
  };
  expect(pkg.scripts["bench:replay"]).toBe("npm run build --silent && node dist/bench/replay.js");
  await access(`${root}bench/replay.ts`);
});
