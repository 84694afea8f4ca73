// The demo's own flags are refused as config flags are: exit 2, the flag named, its value quoted,
// the same decimal grammar (no hex, no empty string taken as 0), and no --duration-sec a timer
// cannot wait (Node fires a timer of more than 2^31-1 ms at once).
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/runCli.js";

describe("quantum-calc demo: bad flags", () => {
  it("exit 2 naming the flag and the value, before anything starts", () => {
    for (const [args, line] of [
      [["--candle-ms", "0x100"], 'flag --candle-ms: must be a number >= 50 (got "0x100")'],
      [["--candle-ms", "10"], 'flag --candle-ms: must be a number >= 50 (got "10")'],
      [
        ["--duration-sec", "1e9"],
        'flag --duration-sec: must be a number of seconds > 0 and <= 2147483 (got "1e9")',
      ],
      [
        ["--duration-sec", ""],
        'flag --duration-sec: must be a number of seconds > 0 and <= 2147483 (got "")',
      ],
    ] as const) {
      const r = runCli(["demo", ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`quantum-calc: ${line}\n`);
      expect(r.stdout).toBe("");
    }
  });
});
