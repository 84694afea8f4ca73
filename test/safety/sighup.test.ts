// SIGHUP (issue 21) through the BUILT command line, as `systemctl reload` sends it (ExecReload=):
// never a death. Reproduced before the fix: Node's default for SIGHUP ended the writer with no
// drain and no lease release, so a standby waited out the TTL. Now the policy is re-read, the
// config file re-validated (changes apply on restart), one line says so, and the process keeps
// publishing; SIGTERM afterwards still drains and releases the lease.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestRedis } from "../helpers/redisFixture.js";
import { longPosition, prices, seedCandles, seedPosition } from "../helpers/seed.js";
import { startCli, until, type CliProcess, type LogLine } from "../helpers/serviceHarness.js";

const SYMBOL = "BTCUSDT";
const fixture = useTestRedis();
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "qc-sighup-"));
  const closes = prices("trend", 300, 100, 9);
  await seedCandles(fixture.redis, SYMBOL, closes);
  await seedPosition(fixture.redis, longPosition(SYMBOL, closes[closes.length - 1]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lines(run: CliProcess): LogLine[] {
  return run
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as LogLine);
}

/** The first line at or after index `from` that matches. */
function lineAfter(
  run: CliProcess,
  from: number,
  match: (l: LogLine) => boolean,
): { line: LogLine; index: number } | null {
  const all = lines(run);
  for (let i = from; i < all.length; i++) if (match(all[i])) return { line: all[i], index: i };
  return null;
}

/** A cycle of the risk publisher that wrote (a publish or its heartbeat) logged after index `from`. */
const wroteAfter = (run: CliProcess, from: number) => () =>
  lineAfter(run, from, (l) => /^risk BTCUSDT (published|unchanged \(heartbeat\))/.test(l.msg));

describe("SIGHUP", () => {
  it("re-reads the policy and validates the config file, keeps running and publishing; SIGTERM still drains and releases the lease", async () => {
    const file = join(dir, "quantum-calc.json");
    const base = {
      redisUrl: fixture.server.url,
      symbols: [SYMBOL],
      marketstateInterval: 0.2,
      riskInterval: 0.2,
      harvestInterval: 0.2,
      maxCandleAge: 3600,
      logLevel: "debug",
    };
    writeFileSync(file, JSON.stringify(base));
    const run = startCli(["run", "--config", file]);
    try {
      await until(
        "the lease taken and a risk cycle written",
        () => run.output().includes("acquired: this instance") && wroteAfter(run, 0)(),
        20_000,
      );

      // 1. The file as it started: valid and the same.
      run.child.kill("SIGHUP");
      const first = await until("the SIGHUP line", () =>
        lineAfter(run, 0, (l) => l.msg.startsWith("SIGHUP: ")),
      );
      expect(first.line.msg).toMatch(
        /^SIGHUP: policy re-read: .*; config file .*quantum-calc\.json is valid and the same as the running config$/,
      );
      await until("a risk cycle written after the SIGHUP", wroteAfter(run, first.index + 1));

      // 2. A changed key: named (not its value), applies on restart.
      writeFileSync(file, JSON.stringify({ ...base, riskInterval: 0.5 }));
      run.child.kill("SIGHUP");
      const second = await until("the second SIGHUP line", () =>
        lineAfter(run, first.index + 1, (l) => l.msg.startsWith("SIGHUP: ")),
      );
      expect(second.line.msg).toContain(
        "is valid; 1 key(s) differ from the running config: riskInterval — config changes apply on restart",
      );
      expect(second.line.configDiffers).toEqual(["riskInterval"]);

      // 3. An invalid file: the error, logged; the running config stays and the process runs on.
      writeFileSync(file, JSON.stringify({ ...base, riskInterval: -1 }));
      run.child.kill("SIGHUP");
      const third = await until("the third SIGHUP line", () =>
        lineAfter(run, second.index + 1, (l) => l.msg.startsWith("SIGHUP: ")),
      );
      expect(third.line.level).toBe(50);
      expect(third.line.msg).toMatch(/is INVALID, the running config stays: .*riskInterval/);
      await until("a risk cycle written after the invalid file", wroteAfter(run, third.index + 1));
      expect(run.child.exitCode).toBeNull();
      expect(await fixture.redis.exists("quantum:calc:leader")).toBe(1);

      // SIGTERM: the drain and the release, as ever.
      run.child.kill("SIGTERM");
      expect(await run.exit).toEqual({ code: 0, signal: null });
      expect(run.output()).toContain("single-writer lease quantum:calc:leader released");
      expect(await fixture.redis.exists("quantum:calc:leader")).toBe(0);
    } finally {
      run.child.kill("SIGKILL");
    }
  }, 60_000);
});
