// The /viz header shows the role under the single-writer lease (leader / standby) and who holds
// it: the registry asks the service (ServiceHandle.role) through a probe; the page draws it.
import { describe, expect, it } from "vitest";
import { VizRegistry } from "../../src/viz/registry.js";
import { vizPageTemplate } from "../../src/viz/page.js";

describe("the role on the visualizer", () => {
  it("is part of the supervisor summary, from the probe; absent without one, and a probe that throws breaks nothing", () => {
    const reg = new VizRegistry();
    expect(reg.supervisor().role).toBeNull();
    let role = "standby";
    reg.setRoleProbe(() => ({ role, holder: "hostA:41:0a1b2c3d", self: "hostB:42:9f8e7d6c" }));
    expect(reg.supervisor().role).toEqual({
      role: "standby",
      holder: "hostA:41:0a1b2c3d",
      self: "hostB:42:9f8e7d6c",
    });
    role = "leader";
    expect(reg.supervisor().role?.role).toBe("leader");
    reg.setRoleProbe(() => {
      throw new Error("boom");
    });
    expect(reg.supervisor().role).toBeNull();
  });

  it("the page has a place for it in the header and draws a standby so it stands out", () => {
    const page = vizPageTemplate({ title: "t", diagrams: [] });
    expect(page).toContain('<span id="role"');
    // The page's script (src/viz/client/page.ts, as built): the text, and the class that colours it.
    expect(page).toContain("role: STANDBY (writes nothing; lease held by ");
    expect(page).toContain('=== "standby" ? "standby" : "muted"');
  });
});
