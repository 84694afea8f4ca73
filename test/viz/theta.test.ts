// The /viz header says which harvest theta is in force (docs/specification.md §9): the registry asks the service's
// PolicyBook through a probe, and every stream delta carries it.
import { describe, expect, it } from "vitest";
import { VizRegistry } from "../../src/viz/registry.js";

describe("the theta in force on the visualizer", () => {
  it("is part of the supervisor summary, from the probe; absent without one", () => {
    const reg = new VizRegistry();
    expect(reg.supervisor().theta).toBeNull();
    let source: "policy" | "config" = "policy";
    reg.setPolicyProbe(() => ({
      source,
      version: source === "policy" ? "1.0.0-ai-v1" : "",
      why: source === "policy" ? null : "policy 1.0.0-ai-v1 expired at …",
    }));
    expect(reg.supervisor().theta).toEqual({ source: "policy", version: "1.0.0-ai-v1", why: null });
    source = "config";
    expect(reg.supervisor().theta).toMatchObject({
      source: "config",
      version: "",
      why: expect.stringMatching(/expired/),
    });
    reg.setPolicyProbe(() => {
      throw new Error("boom");
    });
    expect(reg.supervisor().theta).toBeNull();
  });
});
