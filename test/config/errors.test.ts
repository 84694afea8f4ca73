// Config-file errors are as good as flag errors (issue 18, item 8): an unknown key names the file
// and what it may have meant; every bad value is reported at once, from every layer, not only the
// first; a theta problem is named by its full path in the file, with its value shown once.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { thetaProblems } from "../../src/config/theta.js";
import { flagsToConfig } from "../../src/commands/runOptions.js";
import { CliError } from "../../src/exitCodes.js";
import { thrown } from "../helpers/thrown.js";

function configFile(content: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), "qc-config-errors-"));
  const path = join(dir, "quantum-calc.json");
  writeFileSync(path, JSON.stringify(content), { mode: 0o600 });
  return path;
}

/** The lines of the error, without its "invalid configuration:" header; exit 2 checked. */
function problemsOf(fn: () => unknown): string[] {
  const err = thrown(CliError, fn);
  expect(err.exitCode).toBe(2);
  const [header, ...lines] = err.message.split("\n");
  expect(header).toBe("invalid configuration:");
  return lines.map((l) => l.replace(/^ {2}/, ""));
}

describe("an unknown key in the config file", () => {
  it("names the file and the keys it may have meant, one line per key", () => {
    const file = configFile({ riskIntervall: 5, symbolz: ["BTCUSDT"], nothingLikeAnyKey: 1 });
    expect(problemsOf(() => loadConfig({ env: {}, configFile: file }))).toEqual([
      `unknown config key nothingLikeAnyKey in file ${file}`,
      `unknown config key riskIntervall in file ${file} (did you mean riskInterval?)`,
      `unknown config key symbolz in file ${file} (did you mean symbols?)`,
    ]);
  });

  it("a key spelled as a flag or an environment variable is matched too; a theta section as well", () => {
    const file = configFile({
      risk_interval: 5,
      QUANTUM_CALC_HARVEST_INTERVAL: 5,
      theta: { stop: { sl_min_pct: 0.01 } },
    });
    expect(problemsOf(() => loadConfig({ env: {}, configFile: file }))).toEqual([
      `unknown config key QUANTUM_CALC_HARVEST_INTERVAL in file ${file} (did you mean harvestInterval?)`,
      `unknown config key risk_interval in file ${file} (did you mean riskInterval?)`,
      `unknown config key theta.stop in file ${file} (did you mean theta.stops?)`,
    ]);
  });
});

describe("every bad value is reported, from every layer", () => {
  it("file, environment and flags together: type errors and the checks across keys alike", () => {
    const file = configFile({
      riskInterval: -1,
      harvestInterval: "x",
      windowSize: 100,
      symbols: ["BTCUSDT", "BTCUSDT"],
    });
    const lines = problemsOf(() =>
      loadConfig({
        env: { QUANTUM_CALC_MAX_PUBLISH_AGE: "soon", QUANTUM_CALC_RISKINTERVAL: "5" },
        configFile: file,
        flags: flagsToConfig({ backoffCapMs: "10", logLevel: "loud" }),
      }),
    );
    expect(lines).toEqual([
      "unknown environment variable QUANTUM_CALC_RISKINTERVAL (did you mean QUANTUM_CALC_RISK_INTERVAL?)",
      'maxPublishAge from env QUANTUM_CALC_MAX_PUBLISH_AGE: must be a finite number (got "soon")',
      `riskInterval from file ${file}: Too small: expected number to be >0 (got -1)`,
      `harvestInterval from file ${file}: Invalid input: expected number, received string (got "x")`,
      'logLevel from flag --log-level: must be one of trace, debug, info, warn, error, fatal, silent (got "loud")',
      "backoffCapMs from flag --backoff-cap-ms: must be >= backoffBaseMs (1000) (got 10)",
      `symbols from file ${file}: lists a symbol twice (got ["BTCUSDT","BTCUSDT"])`,
      `windowSize from file ${file}: must be at least the MarketState kernel's min_required 257 (max(vol.window, max(trend.windows), regime.window) + 1) (got 100)`,
    ]);
  });

  it("a check across keys is not run on a value already refused", () => {
    // backoffBaseMs is refused for its type: backoffCapMs is not compared with it.
    expect(
      problemsOf(() =>
        loadConfig({ env: {}, flags: flagsToConfig({ backoffBaseMs: "0", backoffCapMs: "10" }) }),
      ),
    ).toEqual([
      "backoffBaseMs from flag --backoff-base-ms: Too small: expected number to be >0 (got 0)",
    ]);
  });

  it("a check across keys names where the other key came from, and a default as the default", () => {
    const file = configFile({ theta: { stops: { sl_min_pct: 0.6 } } });
    expect(problemsOf(() => loadConfig({ env: {}, configFile: file }))).toEqual([
      `maxStopDistPct: must be above theta.stops.sl_min_pct (0.6): every stop would be implausible_result (got 0.5, the default; theta from file ${file})`,
    ]);
    expect(
      problemsOf(() =>
        loadConfig({ env: {}, flags: flagsToConfig({ sentinels: "127.0.0.1:26379" }) }),
      ),
    ).toEqual([
      "sentinelName: is needed with sentinels: the name they monitor the primary under (got nothing; sentinels from flag --sentinels)",
    ]);
    expect(
      problemsOf(() =>
        loadConfig({
          env: { QUANTUM_CALC_BACKOFF_BASE_MS: "5000" },
          flags: flagsToConfig({ backoffCapMs: "4000" }),
        }),
      ),
    ).toEqual([
      "backoffCapMs from flag --backoff-cap-ms: must be >= backoffBaseMs (5000) (got 4000; backoffBaseMs from env QUANTUM_CALC_BACKOFF_BASE_MS)",
    ]);
  });

  it("a config file that cannot be read is named with the flag or variable that named it, and the rest is still checked", () => {
    expect(
      problemsOf(() =>
        loadConfig({
          env: { QUANTUM_CALC_RISK_INTERVAL: "-5" },
          configFile: "/nonexistent/qc.json",
        }),
      ),
    ).toEqual([
      `config from flag --config: cannot read the file: ENOENT: no such file or directory, open '/nonexistent/qc.json' (got "/nonexistent/qc.json")`,
      "riskInterval from env QUANTUM_CALC_RISK_INTERVAL: Too small: expected number to be >0 (got -5)",
    ]);
    const notJson = join(mkdtempSync(join(tmpdir(), "qc-config-errors-")), "x.json");
    writeFileSync(notJson, "{nope");
    expect(problemsOf(() => loadConfig({ env: { QUANTUM_CALC_CONFIG: notJson } }))[0]).toMatch(
      /^config from env QUANTUM_CALC_CONFIG: the file is not valid JSON: .* \(got ".*x\.json"\)$/,
    );
  });
});

describe("theta errors", () => {
  it("name the full path in the file, show the value once, and report every bad leaf", () => {
    const file = configFile({
      theta: {
        stops: { no_such_param: 1, sl_min_pct: "x", k_sl: { trend: "wide", sideways: 2 } },
        harvest: { T1_R: "two" },
      },
    });
    const lines = problemsOf(() => loadConfig({ env: {}, configFile: file }));
    expect(lines).toEqual([
      `unknown theta key theta.stops.no_such_param in file ${file}`,
      `theta.stops.sl_min_pct from file ${file}: must be a number (got "x")`,
      `theta.stops.k_sl.trend from file ${file}: must be a number (got "wide")`,
      `unknown theta key theta.stops.k_sl.sideways in file ${file}`,
      `theta.harvest.T1_R from file ${file}: must be a number (got "two")`,
    ]);
    for (const line of lines) expect(line.match(/\(got /g)?.length ?? 0).toBeLessThanOrEqual(1);
  });

  it("an unknown theta key gets the names it may have meant, at its own depth", () => {
    expect(thetaProblems("stops", { sl_min_pc: 0.01 })).toEqual([
      {
        path: "theta.stops.sl_min_pc",
        message: "unknown theta key",
        value: 0.01,
        unknown: { suggestions: ["theta.stops.sl_min_pct"] },
      },
    ]);
    expect(thetaProblems("marketstate", { vol: { windw: 64 } })[0]?.unknown).toEqual({
      suggestions: ["theta.marketstate.vol.window"],
    });
  });

  it("a check across theta keys is reported once, and not again after a bad leaf was taken out", () => {
    // weights[1] is bad; without it the default weights no longer match the two windows — that
    // is not the operator's mistake and is not reported.
    expect(
      thetaProblems("marketstate", { trend: { windows: [16, 32], weights: [1, "x"] } }),
    ).toEqual([
      { path: "theta.marketstate.trend.weights[1]", message: "must be a number", value: "x" },
    ]);
    // Two windows with the default three weights: the operator's own mismatch, reported.
    expect(thetaProblems("marketstate", { trend: { windows: [16, 32] } })).toEqual([
      {
        path: "theta.marketstate.trend.weights",
        message: "must be an array with one weight per window (2)",
        value: [0.5, 0.3, 0.2],
      },
    ]);
    expect(thetaProblems("stops", { sl_min_pct: 0.001 })).toEqual([]);
  });

  it("windowSize and maxStopDistPct are still checked against a valid theta, not against a refused one", () => {
    const small = {
      marketstate: {
        vol: { window: 64 },
        trend: { windows: [16, 32, 64] },
        regime: { window: 64 },
      },
    };
    expect(() => loadConfig({ env: {}, flags: { windowSize: 65, theta: small } })).not.toThrow();
    expect(
      problemsOf(() =>
        loadConfig({
          env: {},
          flags: { windowSize: 100, theta: { marketstate: { vol: { window: "long" } } } },
        }),
      ),
    ).toEqual(['theta.marketstate.vol.window from option theta: must be a number (got "long")']);
  });
});
