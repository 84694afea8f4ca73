// `replay recording DIR`: --check exits 0 on an untouched recording and 1 naming the first
// divergence on a tampered one; a what-if prints the proposals that change; bad flags exit 2.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/program.js";
import { recordRun } from "./liveRun.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-cmd-"));
  await recordRun(dir, 8);
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    err += String(chunk);
    return true;
  });
  const code = await main(["node", "quantum-calc", ...args]);
  vi.restoreAllMocks();
  process.exitCode = undefined;
  return { code, out, err };
}

describe("replay recording", () => {
  it("--check: identical, exit 0", async () => {
    const r = await cli("replay", "recording", dir, "--check");
    expect(r.err).toBe("");
    expect(r.out).toMatch(/^replay check: identical — every one of \d+ write\(s\) reproduced/);
    expect(r.code).toBe(0);
  });

  it("--check on a tampered recording: exit 1 naming actor, cycle, field, recorded vs replayed", async () => {
    const copy = await mkdtemp(join(tmpdir(), "qc-cmd-t-"));
    try {
      for (const name of await readdir(dir)) {
        let text = gunzipSync(await readFile(join(dir, name))).toString();
        // the first recorded risk publish gets another stop loss
        text = text.replace(/"proposed_sl":"([0-9.]+)"/, '"proposed_sl":"1.5"');
        await writeFile(join(copy, name), gzipSync(text));
      }
      const r = await cli("replay", "recording", copy, "--check");
      expect(r.code).toBe(1);
      expect(r.out).toMatch(
        /first divergence at risk \w+ cycle \d+ \(.*\): quantum:risk:proposal:\w+ proposed_sl: recorded "1\.5", replayed "[0-9.]+"/,
      );
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  });

  it("what-if with --set: a table of the changed proposals, --json the same as data", async () => {
    const r = await cli(
      "replay",
      "recording",
      dir,
      "--set",
      "theta.harvest.kill_threshold=0.99",
      "--set",
      "theta.harvest.T1_R=0.5",
      "--json",
    );
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out) as { phase: string; changed: { field: string }[] }[];
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => row.phase === "harvest")).toBe(true);
    const table = await cli(
      "replay",
      "recording",
      dir,
      "--set",
      "theta.harvest.kill_threshold=0.99",
    );
    expect(table.out).toMatch(/cycle\(s\) change with this theta/);
  });

  it("bad input exits 2 naming the value", async () => {
    const bad = await cli("replay", "recording", dir, "--set", "theta.harvest.T1_R=abc");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/theta\.harvest\.T1_R = "abc"/);
    const typo = await cli("replay", "recording", dir, "--set", "theta.harvest.T1_RR=1");
    expect(typo.code).toBe(2);
    const time = await cli("replay", "recording", dir, "--from", "yesterday");
    expect(time.code).toBe(2);
    expect(time.err).toMatch(/--from "yesterday": not a time/);
    const none = await cli("replay", "recording", join(dir, "nope"));
    expect(none.code).toBe(2);
  });
});
