// ServiceResources (src/service/resources.ts), the service's teardown: every reported step in
// CLOSE_STEPS order ("skipped" when nothing registered it), then the cleanups without a step in
// reverse order of registration; once, whoever asks how often; a failing cleanup does not stop the
// others; a step registered after close() began it is torn down at once.
import { describe, expect, it } from "vitest";
import { CLOSE_STEPS, ServiceResources, closeTimeouts } from "../../src/service/resources.js";
import { captureLogger } from "../helpers/serviceHarness.js";

describe("ServiceResources", () => {
  it("closes the steps in CLOSE_STEPS order, then the cleanups last-registered first, once", async () => {
    const order: string[] = [];
    const log = captureLogger();
    const resources = new ServiceResources(log.logger, closeTimeouts(1000, undefined));
    resources.addCleanup(() => order.push("cleanup 1"));
    resources.add("store", { close: async () => order.push("store") });
    resources.add("drain", { close: async () => order.push("drain") });
    resources.addCleanup(() => {
      order.push("cleanup 2");
      throw new Error("boom");
    });
    resources.add("lease", { close: async () => order.push("lease") });
    const first = resources.close();
    expect(resources.close()).toBe(first);
    const reports = await first;
    expect(reports.map((r) => r.step)).toEqual([...CLOSE_STEPS]);
    expect(reports.filter((r) => r.outcome === "done").map((r) => r.step)).toEqual([
      "drain",
      "lease",
      "store",
    ]);
    expect(order).toEqual(["drain", "lease", "store", "cleanup 2", "cleanup 1"]);
    expect(log.text()).toContain("shutdown: a cleanup failed; going on");
  });

  it("closes the flight recorder after the drain and the lease, before the connections, awaited", async () => {
    const order: string[] = [];
    const resources = new ServiceResources(captureLogger().logger, closeTimeouts(1000, undefined));
    for (const step of ["klines store", "writer", "store", "http", "lease", "drain"] as const)
      resources.add(step, { close: async () => order.push(step) });
    let flushed: () => void = () => undefined;
    resources.add("recorder", {
      // Its last lines reach the disk a turn later: the next step waits for them.
      close: () =>
        new Promise<void>((resolve) => {
          flushed = () => {
            order.push("recorder");
            resolve();
          };
          setImmediate(() => flushed());
        }),
    });
    const reports = await resources.close();
    expect(order).toEqual([
      "drain",
      "lease",
      "recorder",
      "http",
      "store",
      "writer",
      "klines store",
    ]);
    expect(reports.find((r) => r.step === "recorder")?.outcome).toBe("done");
  });

  it("a step registered after close() has begun it is torn down at once", async () => {
    const resources = new ServiceResources(captureLogger().logger, closeTimeouts(1000, undefined));
    await resources.close();
    let closed = false;
    let settle: () => void = () => undefined;
    const torn = new Promise<void>((resolve) => (settle = resolve));
    resources.add("http", {
      close: async () => {
        closed = true;
        settle();
      },
    });
    await torn;
    expect(closed).toBe(true);
  });
});
