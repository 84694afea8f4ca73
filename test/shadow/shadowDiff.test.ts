// The comparison rules of shadow mode (src/shadow/shadow.ts): the old services' spellings of the same
// value are no difference, real differences are, timestamps and our own fields are not compared;
// and the report: one line per differing field, a repeat at debug, "now agrees", the table.
import { describe, expect, it } from "vitest";
import type { PhaseSteps } from "../../src/phases/steps.js";
import {
  diffProposal,
  IGNORED_FIELDS,
  parseUtcMs,
  sameValue,
  shadowCompareSteps,
  ShadowReport,
  type ShadowComparison,
} from "../../src/shadow/shadow.js";
import { captureLogger } from "../helpers/serviceHarness.js";

describe("sameValue", () => {
  it("numbers in the old spellings are the same number", () => {
    expect(sameValue("proposed_sl", "2.48386e-05", "0.0000248386")).toBe(true);
    expect(sameValue("position_entry_price", "1800.0", "1800")).toBe(true);
    expect(sameValue("R_net", "1E+21", "1000000000000000000000")).toBe(true);
    expect(sameValue("kill_score", ".5", "0.5")).toBe(true);
    expect(sameValue("kill_score", "+0.5", "0.5")).toBe(true);
    expect(sameValue("kill_score", "-0.0", "0")).toBe(true);
    expect(sameValue("kill_score", " 0.5 ", "0.5")).toBe(true);
  });

  it("within a relative 1e-6, not beyond", () => {
    expect(sameValue("proposed_sl", "109888.795", "109888.79")).toBe(true); // 4.5e-8 relative
    expect(sameValue("proposed_sl", "109888.795", "109890.1")).toBe(false);
    expect(sameValue("kill_score", "0.7583435", "0.7583449")).toBe(false); // 1.8e-6
    expect(sameValue("kill_score", "0", "0.0000000000001")).toBe(true); // the absolute floor
    expect(sameValue("kill_score", "0", "0.001")).toBe(false);
  });

  it("the market state figures within the rounding of the decimals they are written with", () => {
    expect(sameValue("sigma", "0.012345678912", "0.01234568")).toBe(true);
    expect(sameValue("sigma", "0.000123454", "0.00012345")).toBe(true); // 3e-5 relative: the 8th decimal's rounding
    expect(sameValue("sigma", "0.0123457", "0.01234568")).toBe(false);
    expect(sameValue("mu", "1.234567e-07", "0.00000012")).toBe(true);
    expect(sameValue("p_trend", "0.12345649", "0.123456")).toBe(true);
    expect(sameValue("p_trend", "0.1234575", "0.123456")).toBe(false);
    // Not for other fields: a price is written in full.
    expect(sameValue("proposed_sl", "0.000123454", "0.00012345")).toBe(false);
  });

  it("an age within the time between the two computations", () => {
    expect(sameValue("position_age_sec", "172800.0", "172805", { ageSlackSec: 4.5 })).toBe(true);
    expect(sameValue("position_age_sec", "172800.0", "172805")).toBe(false);
    expect(sameValue("position_age_sec", "0.0", "3600", { ageSlackSec: 4.5 })).toBe(false);
  });

  it('"no value" in every spelling, and nothing else', () => {
    expect(sameValue("new_sl_proposed", "None", "")).toBe(true);
    expect(sameValue("new_sl_proposed", "null", "")).toBe(true);
    expect(sameValue("new_sl_proposed", "None", "101.5")).toBe(false);
    expect(sameValue("new_sl_proposed", "0", "")).toBe(false);
    // Case matters: NONE is an action.
    expect(sameValue("harvest_action", "None", "NONE")).toBe(false);
    expect(sameValue("harvest_action", "NONE", "PARTIAL_25")).toBe(false);
    expect(sameValue("harvest_action", "nan", "0.5")).toBe(false);
  });

  it("reason codes as a set; JSON objects key by key", () => {
    expect(
      sameValue("reason_codes", "['regime_trend', 'trail_active']", "trail_active,regime_trend"),
    ).toBe(true);
    expect(sameValue("reason_codes", '["regime_trend"]', "regime_trend")).toBe(true);
    expect(sameValue("reason_codes", "regime_trend", "regime_trend,trail_active")).toBe(false);
    expect(
      sameValue(
        "regime_probs",
        '{"trend": 0.5, "mr": 0.25, "chop": 0.25}',
        '{"trend":0.500000,"mr":0.250000,"chop":0.250000}',
      ),
    ).toBe(true);
    expect(
      sameValue(
        "regime_probs",
        '{"trend": 0.5, "mr": 0.3, "chop": 0.2}',
        '{"trend":0.500000,"mr":0.250000,"chop":0.250000}',
      ),
    ).toBe(false);
    expect(sameValue("regime_probs", '{"trend": 0.5}', '{"trend":0.500000,"mr":0.250000}')).toBe(
      false,
    );
  });
});

describe("parseUtcMs", () => {
  it("reads both writers: naive Python isoformat (UTC), ours with ms and Z, epoch seconds", () => {
    const at = Date.UTC(2026, 11, 1, 9, 0, 0, 123);
    expect(parseUtcMs("2026-12-01T09:00:00.123456")).toBe(at);
    expect(parseUtcMs("2026-12-01T09:00:00.123Z")).toBe(at);
    expect(parseUtcMs("2026-12-01 09:00:00.123")).toBe(at);
    expect(parseUtcMs("2026-12-01T10:00:00.123+01:00")).toBe(at);
    expect(parseUtcMs(String(at / 1000))).toBe(at);
    expect(parseUtcMs("yesterday")).toBeNull();
    expect(parseUtcMs(undefined)).toBeNull();
  });
});

describe("diffProposal", () => {
  const ours = {
    proposed_sl: "98.5",
    proposed_tp: "104",
    reason_codes: "regime_trend",
    position_age_sec: "172805",
    computed_at_utc: "2026-12-01T09:00:05.000Z",
    last_update_epoch: "1796115605",
  };

  it("reports the differing fields, old → new; timestamps never; a missing field as absent", () => {
    const old = {
      proposed_sl: "9.85e+01",
      reason_codes: "['regime_chop']",
      position_age_sec: "172800.0",
      computed_at_utc: "2026-12-01T09:00:00.000000",
      heat_gate_field: "x",
    };
    expect(diffProposal("risk", ours, old)).toEqual({
      absent: false,
      compared: ["proposed_sl", "proposed_tp", "reason_codes", "position_age_sec"],
      differences: [
        { field: "proposed_tp", old: null, new: "104" },
        { field: "reason_codes", old: "['regime_chop']", new: "regime_trend" },
      ],
    });
  });

  it("our own fields are compared only when the hash has them", () => {
    const proposal = {
      harvest_action: "NONE",
      k_regime_flip: "0.1",
      policy_version: "",
      last_update_epoch: "1",
    };
    expect(diffProposal("harvest", proposal, { harvest_action: "NONE" })!.differences).toEqual([]);
    expect(
      diffProposal("harvest", proposal, {
        harvest_action: "NONE",
        k_regime_flip: "0.2",
        policy_version: "",
      })!.differences,
    ).toEqual([{ field: "k_regime_flip", old: "0.2", new: "0.1" }]);
    expect(
      diffProposal("marketstate", { sigma: "0.01", regime_probs: "{}" }, { sigma: "0.01" })!
        .compared,
    ).toEqual(["sigma"]);
  });

  it('a hash that does not exist is one "absent", and a heartbeat compares nothing', () => {
    expect(diffProposal("risk", ours, {})).toEqual({ absent: true, compared: [], differences: [] });
    expect(
      diffProposal("risk", { last_update_epoch: "1796115605" }, { proposed_sl: "1" }),
    ).toBeNull();
  });

  it("ignores exactly the documented timestamp and bookkeeping fields", () => {
    expect(Object.keys(IGNORED_FIELDS).sort()).toEqual([
      "buffer_size",
      "computed_at_utc",
      "last_update_epoch",
      "ts_timestamp",
    ]);
  });
});

describe("ShadowReport", () => {
  const proposal = (
    fields: Record<string, string>,
    current: Record<string, string>,
    key = "quantum:risk:proposal:BTCUSDT",
    wouldWrite = true,
  ) => ({ key, fields, current, wouldWrite });

  it("logs one line per differing field; the same difference again at debug; a line when it agrees; counts for listeners", () => {
    const log = captureLogger("debug");
    const report = new ShadowReport({ logger: log.logger });
    const seen: ShadowComparison[] = [];
    report.onComparison((c) => seen.push(c));
    report.proposal(
      proposal(
        { proposed_sl: "98.5", proposed_tp: "104" },
        { proposed_sl: "98.0", proposed_tp: "1.04e+02" },
      ),
    );
    report.proposal(
      proposal(
        { proposed_sl: "98.5", proposed_tp: "104" },
        { proposed_sl: "98.0", proposed_tp: "104.0" },
        undefined,
        false,
      ),
    );
    report.proposal(
      proposal(
        { proposed_sl: "98.5", proposed_tp: "104" },
        { proposed_sl: "98.5", proposed_tp: "104.0" },
      ),
    );
    const lines = log.lines().filter((l) => typeof l.shadow === "string");
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [30, "shadow risk BTCUSDT: proposed_sl 98.0 → 98.5"],
      [20, "shadow risk BTCUSDT: proposed_sl 98.0 → 98.5"],
      [30, "shadow risk BTCUSDT: proposed_sl now agrees with quantum:risk:proposal:BTCUSDT"],
      [20, "shadow risk BTCUSDT: no difference in 2 fields"],
    ]);
    expect(lines[0]).toMatchObject({
      shadow: "difference",
      phase: "risk",
      symbol: "BTCUSDT",
      key: "quantum:risk:proposal:BTCUSDT",
      field: "proposed_sl",
      old: "98.0",
      new: "98.5",
      would: "publish",
    });
    expect(lines[1]).toMatchObject({ would: "heartbeat" });
    expect(seen.map((c) => c.differences.length)).toEqual([1, 1, 0]);
    expect(report.totals()).toMatchObject({
      compared: 3,
      comparedKeys: 1,
      differingKeys: 0,
      absentKeys: 0,
    });
  });

  it("a key Redis does not hold: one line, not one per field", () => {
    const log = captureLogger("info");
    const report = new ShadowReport({ logger: log.logger });
    report.proposal(proposal({ sigma: "0.01", mu: "0.02" }, {}, "quantum:marketstate:SOLUSDT"));
    report.proposal(proposal({ sigma: "0.01", mu: "0.02" }, {}, "quantum:marketstate:SOLUSDT"));
    expect(log.lines().map((l) => l.msg)).toEqual([
      "shadow marketstate SOLUSDT: Redis has no quantum:marketstate:SOLUSDT; a real run would create it",
    ]);
  });

  it("the table: symbol × key → differing fields, or why there was no comparison", () => {
    const report = new ShadowReport({ logger: captureLogger("info").logger });
    report.proposal(
      proposal(
        { sigma: "0.02", mu: "0.01", ts_timestamp: "2" },
        { sigma: "0.01", mu: "0.01", ts_timestamp: "1" },
        "quantum:marketstate:BTCUSDT",
      ),
    );
    report.proposal(
      proposal(
        { proposed_sl: "98.5", proposed_tp: "104", reason_codes: "a" },
        { proposed_sl: "98", proposed_tp: "105", reason_codes: "a" },
      ),
    );
    report.proposal(proposal({ sigma: "0.01" }, {}, "quantum:marketstate:SOLUSDT"));
    report.noteCycle({
      phase: "risk",
      symbol: "SOLUSDT",
      outcome: "skipped",
      reason: "no_position",
    });
    report.noteCycle({ phase: "harvest", symbol: "BTCUSDT", outcome: "error", reason: null });
    report.stopped({ publishes: 3, hashWrites: 4, streamEntries: 1, deletes: 0 });
    expect(report.table()).toBe(
      [
        "shadow mode: nothing was written to Redis (stopped: 3 publishes and heartbeats with 4 hash writes and 1 stream entry; 0 deletes)",
        "differences from the hashes in Redis now (numbers within 0.000001 relative; not compared: ts_timestamp, computed_at_utc, last_update_epoch, buffer_size):",
        "symbol   key                               differing  fields",
        "BTCUSDT  quantum:marketstate:BTCUSDT       1          sigma",
        "BTCUSDT  quantum:risk:proposal:BTCUSDT     2          proposed_sl, proposed_tp",
        "BTCUSDT  quantum:harvest:proposal:BTCUSDT  -          not computed: error (see the log)",
        "SOLUSDT  quantum:marketstate:SOLUSDT       -          no hash in Redis (a real run would create it)",
        "SOLUSDT  quantum:risk:proposal:SOLUSDT     -          not computed: skipped (no_position)",
        "2 of 2 compared keys differ (3 fields); 1 key not in Redis (a real run would create it); nothing was written (3 publishes and heartbeats stopped)",
        "",
      ].join("\n"),
    );
    expect(report.summary()[0]).toEqual({
      symbol: "BTCUSDT",
      key: "quantum:marketstate:BTCUSDT",
      differing: 1,
      fields: ["sigma"],
    });
  });
});

describe("shadowCompareSteps", () => {
  it("a rate-limited cycle heartbeats, then compares its proposal inside compareOnly; a publish is not compared twice", async () => {
    const calls: string[] = [];
    const steps: PhaseSteps<null, number, number> = {
      seed: async () => null,
      read: async () => ({ nowMs: 1, read: { ok: true, value: 1 } }),
      compute: (_s, x) =>
        x > 0 ? { ok: true, value: x * 10 } : { ok: false, reason: "bad_input", detail: "x" },
      decide: () => ({ publish: false, why: "rate_limited" }),
      publish: async (symbol, _i, result) => {
        calls.push(`publish ${symbol} ${result}${compareOnly ? " (compare only)" : ""}`);
        return { memory: null, summary: "", figures: {} };
      },
      heartbeat: async (symbol) => {
        calls.push(`heartbeat ${symbol}`);
      },
    };
    let compareOnly = false;
    const store = {
      compareOnly: async <T>(fn: () => Promise<T>): Promise<T> => {
        compareOnly = true;
        try {
          return await fn();
        } finally {
          compareOnly = false;
        }
      },
    };
    const wrapped = shadowCompareSteps("risk", steps, store);
    wrapped.compute("A", 2);
    await wrapped.heartbeat("A", 5);
    await wrapped.heartbeat("A", 6); // nothing computed since: nothing to compare
    wrapped.compute("A", 3);
    await wrapped.publish("A", 3, 30, 7);
    await wrapped.heartbeat("A", 8);
    wrapped.compute("A", -1); // a skip
    await wrapped.heartbeat("A", 9);
    expect(calls).toEqual([
      "heartbeat A",
      "publish A 20 (compare only)",
      "heartbeat A",
      "publish A 30",
      "heartbeat A",
      "heartbeat A",
    ]);
  });

  it("a failed comparison is reported and never fails the heartbeat", async () => {
    const failures: string[] = [];
    const steps = {
      seed: async () => null,
      read: async () => ({ nowMs: 1, read: { ok: true as const, value: 1 } }),
      compute: () => ({ ok: true as const, value: 1 }),
      decide: () => ({ publish: false, why: "rate_limited" }),
      publish: async () => {
        throw new Error("redis down");
      },
      heartbeat: async () => undefined,
    };
    const wrapped = shadowCompareSteps(
      "harvest",
      steps,
      { compareOnly: (fn) => fn() },
      {
        compareFailed: (phase, symbol, error) =>
          failures.push(`${phase} ${symbol} ${(error as Error).message}`),
      },
    );
    wrapped.compute("B", 1);
    await expect(wrapped.heartbeat("B", 2)).resolves.toBeUndefined();
    expect(failures).toEqual(["harvest B redis down"]);
  });
});
