// How policy events are logged: no policy at all is information; a refused one is a warning.
import { describe, expect, it } from "vitest";
import { logPolicyEvent } from "../../src/policy/policyWatch.js";
import { captureLogger } from "../helpers/serviceHarness.js";

describe("logPolicyEvent", () => {
  it("a missing policy hash is info, a broken policy a warning naming the reason", () => {
    const log = captureLogger("debug");
    logPolicyEvent(log.logger, {
      type: "refused",
      reason: "missing",
      detail: "quantum:policy:current does not exist",
      keptPrevious: false,
    });
    logPolicyEvent(log.logger, {
      type: "refused",
      reason: "missing",
      detail: "quantum:policy:current.kill_params is missing",
      keptPrevious: false,
    });
    logPolicyEvent(log.logger, {
      type: "refused",
      reason: "bad_value",
      detail: "quantum:policy:current.harvest_params.T1_R must be …",
      keptPrevious: true,
    });
    const [none, field, bad] = log.lines();
    expect(none).toMatchObject({ level: 30, reason: "missing" });
    expect(field).toMatchObject({ level: 40, reason: "missing" });
    expect(bad).toMatchObject({ level: 40, reason: "bad_value" });
    expect(bad.msg).toMatch(/the last good policy stays in force until it expires$/);
  });
});
