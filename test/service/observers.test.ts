// Observers (metrics hooks, the visualizer's inspector) run inside XState actions; one that
// throws must be logged and ignored, never take the supervisor down.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { startDemo } from "../../src/demo/startDemo.js";
import { createLogger } from "../../src/log.js";

describe("throwing observers", () => {
  it("are ignored: the publishers keep cycling and the error is logged", async () => {
    let log = "";
    const sink = new Writable({
      write(chunk, _enc, done) {
        log += String(chunk);
        done();
      },
    });
    const logger = createLogger({ level: "error", destination: sink });
    let calls = 0;
    const demo = await startDemo({
      candleMs: 100,
      logger,
      hooks: {
        onCycle: () => {
          calls++;
          throw new Error("hook bug");
        },
      },
      inspect: () => {
        throw new Error("inspector bug");
      },
    });
    const deadline = Date.now() + 10_000;
    while (calls < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    void demo.stop();
    const output = await demo.service.done;
    expect(calls).toBeGreaterThanOrEqual(20);
    expect(output.exitCode).toBe(0);
    expect(demo.service.stats.restarts).toBe(0);
    expect(log).toContain("observer onCycle threw; ignored");
    expect(log).toContain("observer inspect threw; ignored");
  });
});
