// A truthful /healthz (issue 21), the pure parts: which errors are write refusals, how long a
// kind of write has been refused (an injected clock), and when that — or a free lease left
// untaken — becomes a reason for 503. The same against a real redis-server: test/safety/health.test.ts.
import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { WriteOutcomes, writeRefusal } from "../../src/lease/writeHealth.js";
import {
  FREE_LEASE_UNTAKEN_TTLS,
  writeFailingAfterMs,
  writeProblems,
  type RoleDescription,
} from "../../src/lease/serviceLease.js";
import type { LeaseState } from "../../src/lease/lease.js";
import { registerWriteHealthMetrics } from "../../src/http/health.js";

const OOM =
  "redis 127.0.0.1:6379/0: MULTI/EXEC of quantum:marketstate:BTCUSDT failed: EXECABORT Transaction discarded because of previous errors. (OOM command not allowed when used memory > 'maxmemory'.); nothing was applied";
const NOPERM =
  "redis 127.0.0.1:6379/0: SET NX PX + GET quantum:calc:leader failed: NOPERM No permissions to access a key";

function leaseState(overrides: Partial<LeaseState> = {}): LeaseState {
  return {
    role: "standby",
    holder: null,
    holderToken: null,
    self: "host:1:abcdef01",
    leaseKey: "quantum:calc:leader",
    ttlMs: 1000,
    validForMs: 0,
    ioFailures: 0,
    lastError: null,
    lastLost: null,
    freeForMs: 0,
    ...overrides,
  };
}

describe("writeRefusal", () => {
  it("names the refusal inside an EXECABORT, and the code of a plain refusal", () => {
    expect(writeRefusal(new Error(OOM))?.code).toBe("OOM");
    expect(writeRefusal(new Error(NOPERM))).toEqual({ code: "NOPERM", message: NOPERM });
    expect(
      writeRefusal(new Error("READONLY You can't write against a read only replica."))?.code,
    ).toBe("READONLY");
    expect(
      writeRefusal(
        new Error(
          "MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk",
        ),
      )?.code,
    ).toBe("MISCONF");
  });

  it("an I/O failure is not a refusal (the PING reports an unreachable Redis)", () => {
    expect(
      writeRefusal(
        new Error(
          "redis 127.0.0.1:6379/0: MULTI/EXEC of k failed: no reply within 300 ms (outcome unknown; …)",
        ),
      ),
    ).toBeNull();
    expect(
      writeRefusal(
        new Error(
          "redis x: GET k failed: connection lost before the reply (outcome unknown, not resent)",
        ),
      ),
    ).toBeNull();
  });
});

describe("WriteOutcomes", () => {
  it("a kind is failing from its first refusal until Redis accepts one of its writes; I/O failures change nothing", () => {
    let now = 1000;
    const writes = new WriteOutcomes(() => now);
    writes.failed("publish", new Error("no reply within 300 ms"));
    expect(writes.failing()).toEqual([]);
    writes.failed("publish", new Error(OOM));
    now += 2500;
    writes.failed("publish", new Error(OOM));
    writes.accepted("lease"); // the renewals (PEXPIRE) still pass under maxmemory: they do not hide the refusals
    expect(writes.failing()).toEqual([{ kind: "publish", code: "OOM", message: OOM, forMs: 2500 }]);
    writes.accepted("publish");
    expect(writes.failing()).toEqual([]);
    expect(writes.refusal("publish")).toBeNull();
  });
});

describe("writeProblems", () => {
  it("a standby while another instance holds the lease has none", () => {
    const writes = new WriteOutcomes(() => 0);
    writes.failed("lease", new Error(OOM));
    expect(
      writeProblems(
        leaseState({ holder: "other:2:12345678", holderToken: "other:2:12345678-…" }),
        writes,
      ),
    ).toEqual([]);
  });

  it(`the lease free and not taken for over ${FREE_LEASE_UNTAKEN_TTLS} TTLs: the refusal of its SET, named`, () => {
    let now = 0;
    const writes = new WriteOutcomes(() => now);
    writes.failed("lease", new Error(NOPERM));
    now = 2000;
    expect(writeProblems(leaseState({ freeForMs: 2000 }), writes)).toEqual([]);
    const [problem] = writeProblems(leaseState({ freeForMs: 2001 }), writes);
    expect(problem).toMatchObject({ code: "NOPERM", forMs: 2001 });
    expect(problem.reason).toMatch(
      /^lease key not writable: .*NOPERM No permissions to access a key .*free for 2 s/,
    );
  });

  it("free for less, but its writes refused for over max(3 s, leaseTtlMs) (a leader whose renewals were refused): at once", () => {
    let now = 0;
    const writes = new WriteOutcomes(() => now);
    writes.failed("lease", new Error(OOM));
    now = 3000;
    expect(writeProblems(leaseState({ freeForMs: 100 }), writes)).toEqual([]);
    now = 3001;
    expect(writeProblems(leaseState({ freeForMs: 100 }), writes)).toEqual([
      expect.objectContaining({ code: "OOM" }),
    ]);
  });

  it("free and not taken without a refusal (no answer): LEASE_NOT_TAKEN with the last error", () => {
    const [problem] = writeProblems(
      leaseState({ freeForMs: 3000, lastError: "no reply within 300 ms" }),
      new WriteOutcomes(),
    );
    expect(problem).toMatchObject({ code: "LEASE_NOT_TAKEN" });
    expect(problem.reason).toContain("could not take it: no reply within 300 ms");
  });

  it(`the leader's writes refused for over max(3 s, leaseTtlMs): "writes failing for N s: <refusal>"`, () => {
    expect(writeFailingAfterMs(1000)).toBe(3000);
    expect(writeFailingAfterMs(5000)).toBe(5000);
    let now = 0;
    const writes = new WriteOutcomes(() => now);
    writes.failed("publish", new Error(OOM));
    now = 3000;
    const leader = leaseState({ role: "leader", holder: "host:1:abcdef01" });
    expect(writeProblems(leader, writes)).toEqual([]);
    now = 12_000;
    expect(writeProblems(leader, writes)).toEqual([
      { code: "OOM", reason: `writes failing for 12 s: ${OOM}`, forMs: 12_000 },
    ]);
    // A standby does not publish: refusals left from its time as leader are not its problem.
    expect(writeProblems(leaseState(), writes)).toEqual([]);
  });
});

describe("quantum_calc_write_failing", () => {
  it("1 per failing code while it lasts, back to 0 after; the longest duration in seconds", async () => {
    const registry = new Registry();
    const gauges = registerWriteHealthMetrics(registry);
    let problems: RoleDescription["writeProblems"] = [];
    gauges.setRoleProbe(() => ({
      role: "leader",
      holder: null,
      self: null,
      leaseKey: null,
      ttlMs: null,
      why: null,
      lastError: null,
      writeProblems: problems,
    }));
    expect(await registry.metrics()).toContain("quantum_calc_write_failing_seconds 0");
    problems = [{ code: "OOM", reason: "writes failing for 12 s: OOM …", forMs: 12_000 }];
    let text = await registry.metrics();
    expect(text).toContain('quantum_calc_write_failing{code="OOM"} 1');
    expect(text).toContain("quantum_calc_write_failing_seconds 12");
    problems = [];
    text = await registry.metrics();
    expect(text).toContain('quantum_calc_write_failing{code="OOM"} 0');
  });
});
