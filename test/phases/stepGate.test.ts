// The step gate: at most `limit` steps under way, the rest started by priority (then in arrival
// order) as slots free up; a step whose publisher stopped while it waited never starts.
import { describe, expect, it } from "vitest";
import { StepGate, stepPriority } from "../../src/phases/stepGate.js";
import { deferred, flush } from "../machines/helpers.js";

describe("StepGate", () => {
  it("runs at most limit steps at once, then the highest priority first, first come first served", async () => {
    const gate = new StepGate(2);
    const started: string[] = [];
    const blockers = new Map<string, ReturnType<typeof deferred<void>>>();
    const step = (name: string, priority: number) => {
      const d = deferred<void>();
      blockers.set(name, d);
      return gate.run(
        priority,
        () => true,
        async () => {
          started.push(name);
          await d.promise;
          return name;
        },
      );
    };
    const results = [
      step("a", 0),
      step("b", 0),
      step("c", 0),
      step("d", 5),
      step("e", 0),
      step("f", 5),
    ];
    await flush();
    expect(started).toEqual(["a", "b"]);
    expect(gate.stats).toEqual({ running: 2, queued: 4, limit: 2 });
    blockers.get("a")!.resolve();
    await flush();
    expect(started).toEqual(["a", "b", "d"]);
    blockers.get("b")!.resolve();
    blockers.get("d")!.resolve();
    await flush();
    expect(started).toEqual(["a", "b", "d", "f", "c"]);
    for (const d of blockers.values()) d.resolve();
    await flush();
    for (const d of blockers.values()) d.resolve();
    expect(await Promise.all(results)).toEqual(["a", "b", "c", "d", "e", "f"]);
    expect(started).toEqual(["a", "b", "d", "f", "c", "e"]);
    expect(gate.stats).toEqual({ running: 0, queued: 0, limit: 2 });
  });

  it("a failing step frees its slot; a stopped publisher’s queued step never starts", async () => {
    const gate = new StepGate(1);
    const hold = deferred<void>();
    let ran = false;
    const first = gate.run(
      0,
      () => true,
      async () => {
        await hold.promise;
        throw new Error("boom");
      },
    );
    const stopped = gate.run(
      0,
      () => false,
      async () => {
        ran = true;
      },
    );
    const third = gate.run(
      0,
      () => true,
      async () => 3,
    );
    hold.resolve();
    await expect(first).rejects.toThrow("boom");
    await expect(stopped).rejects.toThrow(/publisher stopped/);
    expect(await third).toBe(3);
    expect(ran).toBe(false);
    expect(gate.stats.running).toBe(0);
  });

  it("orders a chain’s later phases and writes first", () => {
    expect(stepPriority("marketstate", "read")).toBeLessThan(stepPriority("marketstate", "write"));
    expect(stepPriority("marketstate", "write")).toBeLessThan(stepPriority("risk", "read"));
    expect(stepPriority("risk", "write")).toBeLessThan(stepPriority("harvest", "read"));
    expect(stepPriority("harvest", "read")).toBeLessThan(stepPriority("harvest", "write"));
  });
});
