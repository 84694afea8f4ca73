// `run --help` describes shadow mode: the flag, that it writes nothing, and the switch-over recipe.
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/runCli.js";

describe("quantum-calc run --help", () => {
  it("describes --shadow", () => {
    const r = runCli(["run", "--help"]);
    expect(r.status).toBe(0);
    const help = r.stdout.replace(/\s+/g, " ");
    expect(help).toContain(
      "--shadow compute every phase from the live inputs but write NOTHING to Redis",
    );
    expect(help).toContain("with --once a summary table at the end (stderr)");
    expect(help).toContain("quantum_calc_shadow_* metrics");
    expect(help).toContain(
      "`run --once --shadow --config /etc/quantum/quantum-calc.json` beside the old services, then `run --shadow` for a while",
    );
  });
});
