import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { computeHarvest } from "../../src/kernels/harvest.js";
import { computeMarketState } from "../../src/kernels/marketState.js";
import { HARVEST_SCENARIOS } from "../../src/replay/harvestScenarios.js";
import { parsePriceFile } from "../../src/replay/priceFile.js";
import { createPriceWalk, syntheticPrices } from "../../src/synthetic/prices.js";
import { loadParity, parityDiff } from "../helpers/parity.js";
import { runCli } from "../helpers/runCli.js";

/** Splits replay table output into sections keyed by their "N. Title" heading. */
function sections(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  let current = "";
  for (const line of stdout.split("\n")) {
    const heading = /^(\d+)\. ([^—(]+?)\s*(?:\(|—)/.exec(line);
    if (heading) {
      current = heading[2];
      out.set(current, "");
    }
    if (current) out.set(current, `${out.get(current)}${line}\n`);
  }
  return out;
}

/** The cells of column `header` in a rendered table section (rows after the dashed rule). */
function column(section: string, header: string): string[] {
  const lines = section.split("\n");
  const headerIdx = lines.findIndex((l) => l.split(/\s{2,}/).includes(header));
  const names = lines[headerIdx].trim().split(/\s{2,}/);
  const rows = lines.slice(headerIdx + 2).filter((l) => l.trim() !== "");
  return rows.map((r) => r.trim().split(/\s{2,}/)[names.indexOf(header)]);
}

describe("replay harvest", () => {
  const r = runCli(["replay", "harvest"]);
  const bySection = sections(r.stdout);

  it("prints all eight scenarios as tables, exit 0", () => {
    expect(r.status).toBe(0);
    expect([...bySection.keys()]).toEqual([
      "Increasing PnL",
      "Regime flip",
      "Sigma spike",
      "TS collapse",
      "Aging",
      "Perfect storm",
      "Profit lock",
      "No-P1 fallback",
    ]);
  });

  it("shows K = 0.503 → 0.734 on the regime flip and 0.917 in the perfect storm", () => {
    expect(column(bySection.get("Regime flip")!, "K")).toEqual(["0.503", "0.734"]);
    expect(column(bySection.get("Regime flip")!, "action")).toEqual([
      "NONE",
      "FULL_CLOSE_PROPOSED",
    ]);
    expect(column(bySection.get("Perfect storm")!, "K")).toEqual(["0.503", "0.917"]);
    expect(column(bySection.get("Increasing PnL")!, "action")).toEqual([
      "NONE",
      "PARTIAL_25",
      "PARTIAL_50",
      "PARTIAL_75",
    ]);
    expect(column(bySection.get("Profit lock")!, "new_sl")).toEqual(["100.20", "99.80"]);
  });

  it("--json gives the same scenarios with inputs and outputs", () => {
    const j = runCli(["replay", "harvest", "--json"]);
    expect(j.status).toBe(0);
    const data = JSON.parse(j.stdout) as {
      title: string;
      steps: { output: { kill_score: number } }[];
    }[];
    expect(data).toHaveLength(8);
    expect(data[5].steps[1].output.kill_score).toBeCloseTo(0.9168273035060777, 12);
  });

  it("every scenario step that names a parity case has exactly that input and output", () => {
    const vectors = loadParity("harvest");
    const byName = new Map(vectors.cases.map((c) => [c.name, c]));
    const named = HARVEST_SCENARIOS.flatMap((s) => s.steps).filter(
      (s) => s.parityCase !== undefined,
    );
    const covered = new Set(named.map((s) => s.parityCase));
    // All thirteen replay cases of the vector are reproduced by some scenario step.
    expect([...covered].sort()).toEqual(
      vectors.cases
        .filter((c) => c.name.startsWith("replay"))
        .map((c) => c.name)
        .sort(),
    );
    for (const step of named) {
      const c = byName.get(step.parityCase!)!;
      expect(step.input, step.parityCase).toEqual(c.input);
      expect(
        parityDiff(computeHarvest(step.input), c.expected, vectors.tolerance, step.parityCase),
      ).toEqual([]);
    }
  });
});

describe("replay stops", () => {
  const r = runCli(["replay", "stops"]);
  const bySection = sections(r.stdout);

  it("prints the five scenarios", () => {
    expect(r.status).toBe(0);
    expect([...bySection.keys()]).toEqual([
      "LONG trending",
      "LONG mean-reverting",
      "SHORT trending down",
      "Monotonic tightening",
      "Trailing activation at a peak",
    ]);
  });

  it("the monotonic scenario holds the stop and never loosens it", () => {
    const section = bySection.get("Monotonic tightening")!;
    const sl = column(section, "proposed_sl").map(Number);
    expect(sl.length).toBeGreaterThanOrEqual(6);
    for (let i = 1; i < sl.length; i++)
      expect(sl[i], `step ${i}`).toBeGreaterThanOrEqual(sl[i - 1]);
    const reasons = column(section, "reasons");
    expect(reasons.some((x) => x.includes("sl_tightened_monotonic"))).toBe(true);
    expect(reasons.some((x) => x.includes("sl_tightening"))).toBe(true);
  });

  it("--json: with feedback every step keeps the stop at least as tight (LONG up, SHORT down)", () => {
    const j = runCli(["replay", "stops", "--json"]);
    expect(j.status).toBe(0);
    type Step = {
      position: { side: string; current_sl: number | null };
      output: { proposed_sl: number };
    };
    const data = JSON.parse(j.stdout) as { title: string; feeds_back: boolean; steps: Step[] }[];
    for (const s of data.filter((d) => d.feeds_back)) {
      for (const step of s.steps) {
        const cur = step.position.current_sl;
        if (cur === null) continue;
        if (step.position.side === "LONG")
          expect(step.output.proposed_sl).toBeGreaterThanOrEqual(cur - 1e-8);
        else expect(step.output.proposed_sl).toBeLessThanOrEqual(cur + 1e-8);
      }
    }
  });

  it("the trailing scenario activates the trail only after a pull-back from the peak", () => {
    const reasons = column(bySection.get("Trailing activation at a peak")!, "reasons");
    const active = reasons.map((x) => x.includes("trail_active"));
    expect(active[0]).toBe(false);
    expect(active.at(-1)).toBe(true);
    expect(active.indexOf(true)).toBeGreaterThan(2);
  });
});

describe("replay market-state", () => {
  it.each([
    ["trend", "trend"],
    ["mr", "mr"],
    ["chop", "chop"],
  ])("--regime %s gives a %s-dominant market state", (regime, dominant) => {
    const r = runCli(["replay", "market-state", "--regime", regime]);
    expect(r.status).toBe(0);
    const section = r.stdout.split("\n").slice(1).join("\n");
    expect(column(section, "regime")).toEqual([dominant]);
    expect(column(section, "closes")).toEqual(["300"]);
    const j = JSON.parse(
      runCli([
        "replay",
        "market-state",
        "--regime",
        regime,
        "--json",
        "--seed",
        "7",
        "--length",
        "400",
      ]).stdout,
    );
    expect(j.dominant_regime).toBe(dominant);
    expect(j.closes).toBe(400);
  });

  const dir = mkdtempSync(join(tmpdir(), "qc-replay-"));
  const prices = syntheticPrices("trend", { seed: 3, length: 300 });
  const expected = computeMarketState(prices);

  it("--file reads a CSV with a close column", () => {
    const file = join(dir, "candles.csv");
    const rows = prices.map(
      (p, i) => `${1700000000 + i * 60},${p * 0.999},${p * 1.001},${p * 0.998},${p},12.5`,
    );
    writeFileSync(file, ["open_time,open,high,low,close,volume", ...rows, ""].join("\n"));
    const r = runCli(["replay", "market-state", "--file", file, "--json"]);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.closes).toBe(300);
    expect(j.market_state).toEqual(expected);
    expect(j.dominant_regime).toBe("trend");
  });

  it("--file reads a bare list of closes (CRLF, blank lines ignored)", () => {
    const file = join(dir, "closes.txt");
    writeFileSync(file, prices.join("\r\n") + "\r\n\r\n");
    const r = runCli(["replay", "market-state", "--file", file, "--json"]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).market_state).toEqual(expected);
    const table = runCli(["replay", "market-state", "--file", file]);
    expect(table.stdout).toContain(`from file ${file}`);
  });

  it("a bad value names its line (exit 1)", () => {
    const file = join(dir, "bad.csv");
    const lines = ["time,close", ...prices.slice(0, 10).map((p, i) => `${i},${p}`)];
    lines[7] = "6,abc";
    writeFileSync(file, lines.join("\n"));
    const r = runCli(["replay", "market-state", "--file", file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${file} line 8: bad close value "abc"`);
  });

  it("too few closes report insufficient data", () => {
    const r = runCli(["replay", "market-state", "--regime", "chop", "--length", "50"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/insufficient data: 50 closes, the kernel needs at least 257/);
  });

  it("usage errors exit 2", () => {
    expect(runCli(["replay", "market-state"]).status).toBe(2);
    expect(runCli(["replay", "market-state", "--regime", "sideways"]).stderr).toMatch(
      /unknown regime "sideways"/,
    );
    expect(runCli(["replay", "market-state", "--regime", "trend", "--file", "x.csv"]).status).toBe(
      2,
    );
    expect(runCli(["replay", "market-state", "--file", join(dir, "missing.csv")]).status).toBe(2);
    expect(runCli(["replay", "market-state", "--regime", "trend", "--length", "1.5"]).status).toBe(
      2,
    );
    expect(runCli(["replay", "nonsense"]).status).toBe(2);
  });
});

describe("parsePriceFile", () => {
  it("accepts a quoted, case-insensitive header and ignores blank lines", () => {
    expect(parsePriceFile('"Time","Close"\n1,"10.5"\n\n2,11\n', "f")).toEqual([10.5, 11]);
  });
  it("refuses hex, empty, zero, negative and non-finite values, naming the line", () => {
    for (const bad of ["0x10", "", "0", "-1", "Infinity", "1e400", "12abc"]) {
      expect(() => parsePriceFile(`time,close\n1,5\n2,${bad}\n`, "f"), bad).toThrow(
        /^f line 3: bad close value/,
      );
    }
  });
  it("refuses several columns without a close header, a short row and an empty file", () => {
    expect(() => parsePriceFile("1,2\n3,4\n", "f")).toThrow(
      'f line 1: several columns but no header with a "close" column',
    );
    expect(() => parsePriceFile("a,close\n1,2\n3\n", "f")).toThrow(
      /f line 3: missing the close column/,
    );
    expect(() => parsePriceFile("\n\n", "f")).toThrow("f: no closes found");
  });
});

describe("synthetic prices", () => {
  it("is deterministic per seed and the stepwise walk matches the batch path", () => {
    expect(syntheticPrices("chop", { seed: 9, length: 50 })).toEqual(
      syntheticPrices("chop", { seed: 9, length: 50 }),
    );
    expect(syntheticPrices("chop", { seed: 9, length: 50 })).not.toEqual(
      syntheticPrices("chop", { seed: 10, length: 50 }),
    );
    const walk = createPriceWalk("mr", 4, 250);
    const stepwise = Array.from({ length: 80 }, () => walk());
    expect(stepwise).toEqual(syntheticPrices("mr", { seed: 4, start: 250, length: 80 }));
    expect(stepwise[0]).toBe(250);
    expect(stepwise.every((p) => Number.isFinite(p) && p > 0)).toBe(true);
  });
  it("refuses bad parameters", () => {
    expect(() => createPriceWalk("sideways" as never)).toThrow(/unknown regime/);
    expect(() => createPriceWalk("trend", 1, 0)).toThrow(/start/);
    expect(() => syntheticPrices("trend", { length: -1 })).toThrow(/length/);
  });
});
