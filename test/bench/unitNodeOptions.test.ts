// bench/unitNodeOptions.ts: the recorder comparisons run the service with the shipped unit's
// NODE_OPTIONS, read from the unit itself (docs/performance.md, "Flight recorder cost", says why).
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import {
  comparisonNodeOptions,
  unitFilePath,
  unitNodeOptions,
} from "../../bench/unitNodeOptions.js";

it("reads the unit's NODE_OPTIONS as systemd does: quoted either way, the last assignment winning", () => {
  expect(unitNodeOptions("[Service]\nEnvironment=NODE_OPTIONS=--max-old-space-size=256\n")).toBe(
    "--max-old-space-size=256",
  );
  expect(unitNodeOptions('Environment="NODE_OPTIONS=--a --b"')).toBe("--a --b");
  expect(unitNodeOptions('Environment=NODE_OPTIONS="--a --b"')).toBe("--a --b");
  expect(
    unitNodeOptions(
      "Environment=NODE_ENV=production\nEnvironment=NODE_OPTIONS=--a\nEnvironment=NODE_OPTIONS=--b",
    ),
  ).toBe("--b");
  expect(unitNodeOptions("Environment=NODE_ENV=production\n")).toBe("");
});

it("the shipped unit's own: its V8 heap cap, found from the bench's folder", () => {
  const unit = unitFilePath();
  expect(unit).toMatch(/deploy[/\\]systemd[/\\]quantum-calc\.service$/);
  const options = unitNodeOptions(readFileSync(unit, "utf8"));
  expect(options).toMatch(/--max-old-space-size=\d+/);
  expect(comparisonNodeOptions(false).nodeOptions).toBe(options);
  // --v8-defaults: no options at all, whatever this process's own environment holds.
  expect(comparisonNodeOptions(true).nodeOptions).toBe("");
});
