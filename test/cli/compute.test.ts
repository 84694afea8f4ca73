import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadParity, parityDiff, type VectorName } from "../helpers/parity.js";
import { runCli } from "../helpers/runCli.js";

const KERNEL_FOR: Record<VectorName, string> = {
  market_state: "market-state",
  stops: "stops",
  harvest: "harvest",
};

describe.each(["stops", "harvest", "market_state"] as const)(
  "compute %s --batch round-trips the parity vector",
  (vector) => {
    const file = loadParity(vector);
    it(`${file.cases.length} cases, one output line each, within rel ${file.tolerance.rel} / abs ${file.tolerance.abs}`, () => {
      const jsonl = file.cases.map((c) => JSON.stringify(c.input)).join("\n") + "\n";
      const r = runCli(["compute", KERNEL_FOR[vector], "--batch"], jsonl);
      // The insufficient-data cases print null, with the reason on stderr (one line each).
      const nulls = file.cases.flatMap((c, i) => (c.expected === null ? [i + 1] : []));
      expect(r.stderr).toBe(
        nulls
          .map(
            (n) =>
              `line ${n}: insufficient data: ${(file.cases[n - 1].input as { prices: unknown[] }).prices.length} prices, the kernel needs at least 257 (max(vol.window, max(trend.windows), regime.window) + 1); printing null\n`,
          )
          .join(""),
      );
      expect(r.status).toBe(0);
      const lines = r.stdout.split("\n");
      expect(lines.pop()).toBe(""); // trailing newline after the last line
      expect(lines).toHaveLength(file.cases.length);
      const failures = file.cases.flatMap((c, i) =>
        parityDiff(JSON.parse(lines[i]), c.expected, file.tolerance, c.name),
      );
      expect(failures).toEqual([]);
    });
  },
);

describe("compute errors", () => {
  const stops = loadParity("stops").cases;
  const good = JSON.stringify(stops[0].input);

  it("a bad line in the middle of a batch yields an error line there, the rest still run, exit 1", () => {
    const bad = JSON.stringify({
      ...stops[1].input,
      position: { ...(stops[1].input.position as object), entry_price: -3 },
    });
    const input = [good, "{not json", bad, "", good].join("\n") + "\n";
    const r = runCli(["compute", "stops", "--batch"], input);
    expect(r.status).toBe(1);
    const lines = r.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(5);
    expect(lines[0].proposed_sl).toBe((stops[0].expected as { proposed_sl: number }).proposed_sl);
    expect(lines[1].error).toMatch(/^line 2: invalid JSON/);
    expect(lines[2].error).toMatch(/^line 3: position\.entry_price: must be > 0 \(got -3\)/);
    expect(lines[3].error).toMatch(/^line 4: blank line/);
    expect(lines[4]).toEqual(lines[0]);
    expect(r.stderr).toMatch(/3 of 5 lines failed/);
  });

  it("CRLF line endings are accepted in batch mode", () => {
    const r = runCli(["compute", "stops", "--batch"], `${good}\r\n${good}\r\n`);
    expect(r.status).toBe(0);
    expect(r.stdout.trimEnd().split("\n")).toHaveLength(2);
  });

  it("reads --input FILE and prints one JSON document", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-compute-"));
    const file = join(dir, "in.json");
    writeFileSync(file, JSON.stringify(loadParity("harvest").cases[5].input));
    const r = runCli(["compute", "harvest", "--input", file]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { kill_score: number; harvest_action: string };
    expect(out.harvest_action).toBe("FULL_CLOSE_PROPOSED");
    expect(out.kill_score).toBeCloseTo(0.7335091181602805, 12);
  });

  it("bad JSON outside --batch is a usage error (exit 2)", () => {
    const r = runCli(["compute", "stops"], '{"market_state": ');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/invalid JSON input/);
    expect(r.stdout).toBe("");
  });

  it("an unknown or missing kernel is a usage error (exit 2)", () => {
    const unknown = runCli(["compute", "risk"], good);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown kernel "risk".*market-state, stops, harvest/);
    const missing = runCli(["compute"], good);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/missing kernel name/);
  });

  it("an unreadable --input is a usage error (exit 2)", () => {
    const r = runCli(["compute", "stops", "--input", "/nonexistent/in.json"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cannot read --input/);
  });

  it("invalid kernel input outside --batch exits 1 naming the field", () => {
    const input = JSON.stringify({
      ...stops[0].input,
      position: { ...(stops[0].input.position as object), side: "BUY" },
    });
    const r = runCli(["compute", "stops"], input);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/position\.side: must be LONG or SHORT \(got "BUY"\)/);
  });

  it("an unknown top-level input key is refused, not ignored", () => {
    const r = runCli(["compute", "stops"], JSON.stringify({ ...stops[0].input, thetta: {} }));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/input\.thetta: unknown key/);
  });

  it("--symbol checks position.symbol for stops", () => {
    expect(runCli(["compute", "stops", "--symbol", "X"], good).status).toBe(0);
    const r = runCli(["compute", "stops", "--symbol", "BTCUSDT"], good);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/position\.symbol/);
  });

  it("market-state with too few prices prints null, and why on stderr", () => {
    const r = runCli(
      ["compute", "market-state", "--compact"],
      JSON.stringify({ prices: [1, 2, 3] }),
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("null\n");
    expect(r.stderr).toBe(
      "compute market-state: insufficient data: 3 prices, the kernel needs at least 257 (max(vol.window, max(trend.windows), regime.window) + 1); printing null\n",
    );
  });

  describe("both market_state shapes in both kernels, the symbol defaulted, probabilities summing to 1", () => {
    const position = {
      side: "LONG",
      entry_price: 100,
      current_price: 104,
      peak_price: 105,
      trough_price: 99,
      age_sec: 3600,
      unrealized_pnl: 4,
    };
    const nested = {
      sigma: 0.01,
      mu: 0.0002,
      ts: 0.4,
      regime_probs: { trend: 0.6, mr: 0.1, chop: 0.3 },
    };
    const flat = { sigma: 0.01, mu: 0.0002, ts: 0.4, p_trend: 0.6, p_mr: 0.1, p_chop: 0.3 };
    for (const kernel of ["stops", "harvest"] as const) {
      it(`${kernel}: the nested and the flat shape give the same result, without a position.symbol`, () => {
        const extra = kernel === "harvest" ? { p1_proposal: null } : {};
        const a = runCli(
          ["compute", kernel, "-c"],
          JSON.stringify({ market_state: nested, position, ...extra }),
        );
        const b = runCli(
          ["compute", kernel, "-c"],
          JSON.stringify({ market_state: flat, position, ...extra }),
        );
        expect(a.stderr).toBe("");
        expect(a.status).toBe(0);
        expect(b.status).toBe(0);
        expect(a.stdout).toBe(b.stdout);
        const both = runCli(
          ["compute", kernel, "-c"],
          JSON.stringify({
            market_state: { ...flat, regime_probs: nested.regime_probs },
            position,
            ...extra,
          }),
        );
        expect(both.stdout).toBe(a.stdout);
      });
      it(`${kernel}: probabilities that do not sum to 1, or two shapes that disagree, are refused (exit 1) naming the sum`, () => {
        const extra = kernel === "harvest" ? { p1_proposal: null } : {};
        const r = runCli(
          ["compute", kernel],
          JSON.stringify({ market_state: { ...flat, p_chop: 0.2 }, position, ...extra }),
        );
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(
          /regime probabilities must sum to 1 \(±0\.000001\); they sum to 0\.899999/,
        );
        const clash = runCli(
          ["compute", kernel],
          JSON.stringify({
            market_state: { ...nested, p_trend: 0.5, p_mr: 0.2, p_chop: 0.3 },
            position,
            ...extra,
          }),
        );
        expect(clash.status).toBe(1);
        expect(clash.stderr).toMatch(
          /input\.market_state\.p_trend: differs from regime_probs\.trend/,
        );
      });
    }
    it("stops: --symbol names the symbol when the position has none, and still guards an explicit one", () => {
      const ok = runCli(
        ["compute", "stops", "--symbol", "ETHUSDT", "-c"],
        JSON.stringify({ market_state: nested, position }),
      );
      expect(ok.status).toBe(0);
      const clash = runCli(
        ["compute", "stops", "--symbol", "ETHUSDT"],
        JSON.stringify({ market_state: nested, position: { ...position, symbol: "BTCUSDT" } }),
      );
      expect(clash.status).toBe(1);
      expect(clash.stderr).toMatch(/does not match the requested symbol "ETHUSDT"/);
    });
    it("--help shows an example input of each kernel", () => {
      const help = runCli(["compute", "--help"]).stdout;
      for (const text of [
        '"prices"',
        '"regime_probs"',
        '"p_trend"',
        '"p1_proposal"',
        "must sum to 1",
      ])
        expect(help).toContain(text);
    });
  });

  it("--help documents every option", () => {
    const r = runCli(["compute", "--help"]);
    expect(r.status).toBe(0);
    for (const opt of ["--input", "--batch", "--symbol", "--compact", "Exit status"])
      expect(r.stdout).toContain(opt);
  });
});
