// What the recorder's live-run tests check after a run: the recording replays with nothing
// dropped, nothing unreplayable and no divergence, and `replay recording DIR --check` says so
// and exits 0. One helper, so that every such test holds the replay to the same standard.
import { expect, vi } from "vitest";
import { divergence, replayRecording, type ReplayResult } from "../../src/recorder/replay.js";
import { main } from "../../src/program.js";

/** Replays `dir` in process and expects every cycle identical; returns the replay for more checks. */
export async function expectReplayIdentical(dir: string): Promise<ReplayResult> {
  const result = await replayRecording({ dir });
  expect(result.dropped).toBe(0);
  expect(result.unreplayable).toBe(0);
  const diverged = result.cycles
    .map((c) => ({ c, d: divergence(c) }))
    .filter((x) => x.d !== null)
    .map(({ c, d }) => `${c.phase} ${c.symbol} #${c.cycle}: ${JSON.stringify(d)}`);
  expect(diverged).toEqual([]);
  return result;
}

/** `replay recording DIR --check` through the CLI: "identical", exit 0. */
export async function expectCheckCommandIdentical(dir: string): Promise<void> {
  const { code, out } = await runCaptured(["replay", "recording", dir, "--check"]);
  process.exitCode = undefined;
  expect(out).toMatch(/^replay check: identical/);
  expect(code).toBe(0);
}

/** The CLI's main() with `args`, what it wrote to stdout captured. */
export async function runCaptured(args: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  try {
    return { code: await main(["node", "quantum-calc", ...args]), out };
  } finally {
    vi.restoreAllMocks();
  }
}
