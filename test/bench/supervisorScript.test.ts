// bench/supervisor.ts --compare-recorder (issue 19's recorder CPU in the steady state,
// docs/performance.md): each pair's CPU per 1,000 cycles without and with a recording directory,
// with the MB allocated and promoted beside it, the median with its interval and the verdict —
// side by side (`--side-by-side`) or one after the other. Shape only, on a tiny run: the figure is
// the benchmark's. Runs the BUILT bench (`npm run build` first).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { unitNodeOptions } from "../../bench/unitNodeOptions.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const supervisorJs = `${root}dist/bench/supervisor.js`;

it("bench/supervisor.ts --compare-recorder 1 --side-by-side prints the pair, the median and the verdict", () => {
  if (!existsSync(supervisorJs))
    throw new Error(`${supervisorJs} not found: run \`npm run build\` first`);
  const tiny = ["--symbols", "3", "--seconds", "1", "--warmup", "1", "--candle-every", "60"];
  const run = spawnSync(
    process.execPath,
    [supervisorJs, "--compare-recorder", "1", "--side-by-side", ...tiny],
    { cwd: root, encoding: "utf8", timeout: 150_000 },
  );
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  // Every run as the shipped unit runs the service: its NODE_OPTIONS (bench/unitNodeOptions.ts).
  expect(run.stdout).toContain(
    `every run with NODE_OPTIONS=${JSON.stringify(unitNodeOptions())} (the shipped unit's, deploy/systemd/quantum-calc.service)`,
  );
  expect(run.stdout).toMatch(
    /^pair 1: recorder off \d+ ms, on \d+ ms \([+-]\d+\.\d %\), CPU per 1,000 cycles; allocated [\d.]+ → [\d.]+ MB\/1,000 cycles( \([+-]\d+\.\d %\))?; promoted [\d.]+ → [\d.]+ MB\/1,000 cycles( \([+-]\d+\.\d %\))?$/m,
  );
  expect(run.stdout).toMatch(
    /^recorder in the steady state, 3 symbols x 3 phases at 1 s, a candle every 60 s, 1 pairs side by side: median [+-]\d+\.\d % \(90 % interval .*\), pooled [+-]\d+\.\d %$/m,
  );
  expect(run.stdout).toMatch(
    /^goal \(issue 19\) recorder CPU in the steady state ≤ 5 %: (met|NOT met) \(median of 1 pairs /m,
  );
  for (const flag of ["--side-by-side", "--v8-defaults"]) {
    const refused = spawnSync(process.execPath, [supervisorJs, flag], {
      cwd: root,
      encoding: "utf8",
    });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(`${flag}: only with --compare-recorder`);
  }
}, 180_000);
