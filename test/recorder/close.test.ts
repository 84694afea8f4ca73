// The flight recorder is closed as a step of the service's close() (src/service/resources.ts,
// the "recorder" step), awaited: when close() resolves, every actor's last cycle — the ones the
// drain let finish — is on disk, in a closed segment, and the step is reported done.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { startService, type ServiceHandle } from "../../src/service/service.js";
import { listSegments, readRecording } from "../../src/recorder/reader.js";
import type { CycleDoneEvent } from "../../machines/publisher.js";
import { captureLogger, serviceConfig, until } from "../helpers/serviceHarness.js";

const SYMBOLS = ["BTCUSDT", "ETHUSDT"];
let dir: string;
let service: ServiceHandle | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-rec-close-"));
});
afterEach(async () => {
  await service?.close();
  service = undefined;
  await rm(dir, { recursive: true, force: true });
});

it("close() resolves with every actor's last cycle in the recording (the recorder step, after the drain)", async () => {
  const cycles: CycleDoneEvent[] = [];
  service = await startService({
    config: serviceConfig({
      store: "memory",
      symbols: SYMBOLS,
      marketstateInterval: 0.05,
      riskInterval: 0.05,
      harvestInterval: 0.05,
      recordDir: dir,
    }),
    logger: captureLogger("warn").logger,
    hooks: { onCycle: (e) => void cycles.push(e) },
  });
  await until("a few cycles of every actor", () =>
    SYMBOLS.every((s) =>
      ["marketstate", "risk", "harvest"].every(
        (p) => cycles.filter((c) => c.phase === p && c.symbol === s).length >= 3,
      ),
    ),
  );
  const report = await service.close();
  service = undefined;
  expect(report.steps.find((s) => s.step === "recorder")?.outcome).toBe("done");

  // Read at once: nothing may still be on its way to the disk.
  expect((await listSegments(dir)).every((s) => s.closed)).toBe(true);
  const recorded = new Map<string, number[]>();
  for await (const { record } of readRecording(dir)) {
    if (record.k !== "c" || record.z === 1) continue;
    const key = `${record.p} ${record.s}`;
    const times = recorded.get(key) ?? [];
    times.push(record.t);
    if (record.t2 !== undefined) times.push(record.t2);
    recorded.set(key, times);
  }
  const last = new Map<string, CycleDoneEvent>();
  for (const c of cycles) if (c.startedAtMs !== null) last.set(`${c.phase} ${c.symbol}`, c);
  expect(last.size).toBe(6);
  for (const [key, c] of last) expect(recorded.get(key) ?? [], key).toContain(c.startedAtMs);
});
