// The Node options the shipped unit runs the service with (deploy/systemd/quantum-calc.service,
// `Environment=NODE_OPTIONS=…`), read from the unit itself so that a bench that measures "as the
// unit runs it" follows the unit when it changes.
//
// Why it matters (docs/performance.md, "Flight recorder cost"): V8 scales its heap's growing
// factor with the heap's cap. Under the unit's `--max-old-space-size=256` the factor is at its
// floor (1.3), so the service collects its old generation after far less growth — 11 to 14 full
// collections in seven minute bursts at 400 symbols, against none to four under V8's defaults, and
// ~1.3–1.5 times the CPU. A cost measured against a bare `node` is of a process nobody runs.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const UNIT = join("deploy", "systemd", "quantum-calc.service");

/** The unit file of this checkout: found from this file's folder up (bench/ or dist/bench/). */
export function unitFilePath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++) {
    const candidate = join(dir, UNIT);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(
    `the shipped unit (${UNIT}) was not found above ${fileURLToPath(import.meta.url)}`,
  );
}

/**
 * The unit's NODE_OPTIONS ("" when it sets none). A value in quotes (systemd's
 * `Environment="NODE_OPTIONS=…"` or `Environment=NODE_OPTIONS="…"`) is read without them.
 */
export function unitNodeOptions(unitText: string = readFileSync(unitFilePath(), "utf8")): string {
  let found = "";
  for (const raw of unitText.split("\n")) {
    const line = raw.trim();
    if (!line.startsWith("Environment=")) continue;
    const assignment = line.slice("Environment=".length).replace(/^"(.*)"$/, "$1");
    if (!assignment.startsWith("NODE_OPTIONS=")) continue;
    // The last assignment wins, as systemd reads them.
    found = assignment.slice("NODE_OPTIONS=".length).replace(/^"(.*)"$/, "$1");
  }
  return found;
}

/**
 * The NODE_OPTIONS a recorder comparison's runs get (bench/compareRecorder.ts): the unit's, or
 * none at all with `--v8-defaults` (V8's own heap sizing, as a bare `node` has it).
 */
export function comparisonNodeOptions(v8Defaults: boolean): {
  nodeOptions: string;
  nodeOptionsFrom: string;
} {
  return v8Defaults
    ? { nodeOptions: "", nodeOptionsFrom: "--v8-defaults: none, V8's own heap sizing" }
    : { nodeOptions: unitNodeOptions(), nodeOptionsFrom: `the shipped unit's, ${UNIT}` };
}
