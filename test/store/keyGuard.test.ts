import { describe, expect, it } from "vitest";
import {
  CALC_PREFIX,
  ForbiddenKeyError,
  InvalidArgumentError,
  assertBlockMs,
  assertCount,
  assertDeletable,
  assertMinScore,
  compareStreamIds,
  isDeletable,
  parseStreamId,
  HARVEST_PROPOSAL_STREAM,
  MARKETSTATE_STREAM,
  RISK_PROPOSAL_STREAM,
  assertPublishable,
  assertWritable,
  calcKey,
  harvestProposalKey,
  isWritable,
  marketStateKey,
  riskProposalKey,
} from "../../src/store/keyGuard.js";

describe("keyGuard", () => {
  it("builds the docs/specification.md §5 key names", () => {
    expect(marketStateKey("BTCUSDT")).toBe("quantum:marketstate:BTCUSDT");
    expect(riskProposalKey("BTCUSDT")).toBe("quantum:risk:proposal:BTCUSDT");
    expect(harvestProposalKey("BTCUSDT")).toBe("quantum:harvest:proposal:BTCUSDT");
    expect([MARKETSTATE_STREAM, RISK_PROPOSAL_STREAM, HARVEST_PROPOSAL_STREAM]).toEqual([
      "quantum:stream:marketstate",
      "quantum:stream:risk.proposal",
      "quantum:stream:harvest.proposal",
    ]);
    expect(calcKey("publisher", "BTCUSDT")).toBe("quantum:calc:publisher:BTCUSDT");
  });

  it("refuses symbols that would make unfindable or empty keys", () => {
    for (const bad of ["", "BTC USDT", "BTC\nUSDT", "x".repeat(101)]) {
      expect(() => marketStateKey(bad)).toThrow(ForbiddenKeyError);
    }
  });

  it("allows exactly the allow-list", () => {
    const allowed = [
      "quantum:marketstate:BTCUSDT",
      "quantum:risk:proposal:BTCUSDT",
      "quantum:harvest:proposal:BTCUSDT",
      "quantum:stream:marketstate",
      "quantum:stream:risk.proposal",
      "quantum:stream:harvest.proposal",
      "quantum:calc:anything",
    ];
    for (const key of allowed) expect(isWritable(key), key).toBe(true);
    const forbidden = [
      "quantum:marketstate:",
      "quantum:calc:",
      "quantum:state:positions:BTCUSDT",
      "quantum:state:positions",
      "quantum:stream:execution.result",
      "quantum:stream:marketstate:extra",
      "quantum:stream:trade.intent",
      "candles:BTCUSDT:1m",
      "QUANTUM:marketstate:BTCUSDT",
      "xquantum:marketstate:BTCUSDT",
    ];
    for (const key of forbidden) expect(isWritable(key), key).toBe(false);
  });

  it("checks the kind of write", () => {
    expect(isWritable("quantum:stream:marketstate", "hash")).toBe(false);
    expect(isWritable("quantum:marketstate:BTCUSDT", "stream")).toBe(false);
    expect(isWritable("quantum:calc:x", "stream")).toBe(true);
    expect(() => assertWritable("quantum:stream:trade.intent", "stream")).toThrow(
      /refusing to write "quantum:stream:trade.intent": not on the calc-only write allow-list/,
    );
  });

  it("validates the whole batch", () => {
    expect(() =>
      assertPublishable({
        hashes: [
          { key: marketStateKey("A"), fields: { sigma: "0.1", buffer_size: "300" }, ttlSec: 600 },
        ],
        streams: [{ key: MARKETSTATE_STREAM, fields: { symbol: "A" }, maxLen: 10_000 }],
      }),
    ).not.toThrow();
    expect(() =>
      assertPublishable({
        hashes: [{ key: marketStateKey("A"), fields: { sigma: 0.1 as unknown as string } }],
        streams: [],
      }),
    ).toThrow(/must be a string/);
    expect(() =>
      assertPublishable({
        hashes: [{ key: marketStateKey("A"), fields: { "": "1" } }],
        streams: [],
      }),
    ).toThrow(/empty field/);
    expect(() =>
      assertPublishable({
        hashes: [{ key: marketStateKey("A"), fields: { a: "1" }, ttlSec: -5 }],
        streams: [],
      }),
    ).toThrow(/ttlSec/);
    expect(() =>
      assertPublishable({
        hashes: [],
        streams: [{ key: MARKETSTATE_STREAM, fields: { a: "1" }, maxLen: 1.5 }],
      }),
    ).toThrow(/maxLen/);
    // "" is a legitimate value (new_sl_proposed when unset).
    expect(() =>
      assertPublishable({
        hashes: [{ key: harvestProposalKey("A"), fields: { new_sl_proposed: "" } }],
        streams: [],
      }),
    ).not.toThrow();
  });

  it("allows deleting only our own bookkeeping keys", () => {
    expect(isDeletable("quantum:calc:publisher:BTCUSDT")).toBe(true);
    expect(() => assertDeletable(calcKey("x"))).not.toThrow();
    for (const key of [
      CALC_PREFIX,
      "quantum:state:positions:BTCUSDT",
      "quantum:marketstate:BTCUSDT",
      "quantum:risk:proposal:BTCUSDT",
      "quantum:stream:marketstate",
      "quantum:calcx",
      "QUANTUM:calc:x",
      " quantum:calc:x",
    ]) {
      expect(isDeletable(key), key).toBe(false);
      expect(() => assertDeletable(key), key).toThrow(ForbiddenKeyError);
    }
    expect(() => assertDeletable("quantum:marketstate:BTCUSDT")).toThrow(
      /^refusing to delete "quantum:marketstate:BTCUSDT": only this service's own bookkeeping keys \(quantum:calc:<name>\)/,
    );
    expect(() => assertDeletable(42 as unknown as string)).toThrow(ForbiddenKeyError);
  });

  it("checks read arguments, naming the operation, argument and value", () => {
    expect(() => assertCount("op", 1)).not.toThrow();
    expect(() => assertCount("op", 0)).toThrow(
      new InvalidArgumentError("op: count must be a positive integer (got 0)"),
    );
    expect(() => assertCount("op", "3" as unknown as number)).toThrow(
      'op: count must be a positive integer (got "3")',
    );
    expect(() => assertBlockMs("op", 0)).not.toThrow();
    expect(() => assertBlockMs("op", -5)).toThrow(
      "op: blockMs must be a non-negative integer (got -5)",
    );
    expect(() => assertBlockMs("op", Infinity)).toThrow("(got Infinity)");
    expect(() => assertMinScore("op", -Infinity)).not.toThrow();
    expect(() => assertMinScore("op", -0.5)).not.toThrow();
    expect(() => assertMinScore("op", Infinity)).toThrow(
      "op: minScore must be a finite number or -Infinity (got Infinity)",
    );
    expect(() => assertMinScore("op", Number.NaN)).toThrow("(got NaN)");
  });

  it("parses and orders stream ids numerically", () => {
    expect(parseStreamId("op", "afterId", "0")).toEqual({ ms: 0n, seq: 0n });
    expect(parseStreamId("op", "afterId", "1700000000000-12")).toEqual({
      ms: 1700000000000n,
      seq: 12n,
    });
    expect(parseStreamId("op", "afterId", "18446744073709551615-18446744073709551615")).toEqual({
      ms: 2n ** 64n - 1n,
      seq: 2n ** 64n - 1n,
    });
    for (const bad of ["$", "+", "-", "*", "1-*", "a-1", " 1-1", "1-1 ", "18446744073709551616"]) {
      expect(() => parseStreamId("op", "afterId", bad), bad).toThrow(
        `op: afterId must be a stream id "<ms>-<seq>" or "<ms>" (got ${JSON.stringify(bad)})`,
      );
    }
    const ids = ["10-0", "9-1", "9-10", "100-0", "9-2"].map((id) => ({
      id,
      parsed: parseStreamId("op", "id", id),
    }));
    ids.sort((a, b) => compareStreamIds(a.parsed, b.parsed));
    expect(ids.map((x) => x.id)).toEqual(["9-1", "9-2", "9-10", "10-0", "100-0"]);
    expect(compareStreamIds(parseStreamId("op", "id", "5"), parseStreamId("op", "id", "5-0"))).toBe(
      0,
    );
  });
});
