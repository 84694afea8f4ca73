// The what-if chain's bookkeeping (src/recorder/chain.ts) where a what-if changes a publish
// decision: the hash a later cycle reads is the last replayed publish, read at that cycle's clock
// by the read step's own reader — so a replayed hold can make it stale (a skip), a replayed publish
// where the recording held is what the next read gets, and a value whose publish is not in the
// recording stays as recorded.
import { describe, expect, it } from "vitest";
import { ChainedOutputs } from "../../src/recorder/chain.js";
import { computeMarketState } from "../../src/kernels/marketState.js";
import {
  MARKETSTATE_OUTPUT,
  marketStateFields,
  PUBLISHED_MARKET_FIELDS,
} from "../../src/contracts/marketstateOutput.js";
import { parseFields, stamped, type Fields } from "../../src/contracts/output.js";
import type { WrittenBatch } from "../../src/recorder/format.js";
import type { JsonObject } from "../../src/recorder/delta.js";
import { prices } from "../helpers/seed.js";

const SYMBOL = "ETHUSDT";
const KEY = `quantum:marketstate:${SYMBOL}`;
const T0 = Date.UTC(2026, 11, 6, 14, 0, 0, 412);
const MAX_AGE_SEC = 150;

/** A marketstate publish at `t` of the kernel's result on these closes (ttl as the phase sets it). */
function publishAt(t: number, theta: Record<string, unknown> = {}): WrittenBatch {
  const closes = prices("mr", 300, 3_000, 5);
  const ms = computeMarketState(closes, theta);
  if (ms === null) throw new Error("too few closes");
  return { h: [[KEY, stamped(MARKETSTATE_OUTPUT, marketStateFields(ms, 300), t), 600]], x: [] };
}

const marketOf = (batch: WrittenBatch): JsonObject => {
  const read = parseFields(MARKETSTATE_OUTPUT, batch.h[0][1] as Fields, PUBLISHED_MARKET_FIELDS);
  if (!read.ok) throw new Error("unreadable");
  return read.values;
};

const riskInputs = (market: JsonObject): JsonObject => ({
  market,
  tracked: { position: { side: "LONG" } },
  outputPresent: true,
});

describe("what-if chain: the hash as it would be in Redis", () => {
  it("a replayed hold leaves the older publish in the hash: stale at the reading cycle's clock, a skip", async () => {
    const chain = new ChainedOutputs();
    const recorded0 = publishAt(T0);
    const replayed0 = publishAt(T0, { vol: { ewma_lambda: 0.8 } });
    chain.noteCycle("marketstate", SYMBOL, T0, recorded0, replayed0);
    // one minute later the recording published again; the what-if did not (say, a compute skip)
    const t1 = T0 + 60_000;
    const recorded1 = publishAt(t1);
    chain.noteCycle("marketstate", SYMBOL, t1, recorded1, null);

    // read 100 s after the last recorded publish: fresh as recorded, 160 s old in the what-if
    const t2 = t1 + 100_000;
    const read = await chain.read("risk", SYMBOL, riskInputs(marketOf(recorded1)), t2, MAX_AGE_SEC);
    expect(read).toMatchObject({ ok: false, reason: "stale_marketstate" });
    expect(chain.counts).toEqual({ followed: 1, asRecorded: 0 });

    // read 20 s after it: the what-if's older publish is still fresh, and it is what is read
    const fresh = await chain.read(
      "risk",
      SYMBOL,
      riskInputs(marketOf(recorded1)),
      t1 + 20_000,
      MAX_AGE_SEC,
    );
    expect(fresh).toEqual({ ok: true, inputs: riskInputs(marketOf(replayed0)) });
  });

  it("a replayed publish where the recording held is what the next read gets", async () => {
    const chain = new ChainedOutputs();
    const recorded0 = publishAt(T0);
    chain.noteCycle("marketstate", SYMBOL, T0, recorded0, recorded0);
    const t1 = T0 + 60_000;
    const replayed1 = publishAt(t1, { regime: { softmax_temp: 0.5 } });
    chain.noteCycle("marketstate", SYMBOL, t1, null, replayed1);
    const read = await chain.read(
      "harvest",
      SYMBOL,
      { ...riskInputs(marketOf(recorded0)), risk: { proposal: null, note: "absent" } },
      t1 + 1_000,
      MAX_AGE_SEC,
    );
    expect(read.ok && read.inputs.market).toEqual(marketOf(replayed1));
  });

  it("a value no recorded publish gives (written before the recording, or after a gap) stays as recorded", async () => {
    const chain = new ChainedOutputs();
    const before = marketOf(publishAt(T0 - 60_000));
    const recorded0 = publishAt(T0);
    chain.noteCycle("marketstate", SYMBOL, T0, recorded0, publishAt(T0, { vol: { window: 128 } }));
    const inputs = riskInputs(before);
    expect(await chain.read("risk", SYMBOL, inputs, T0 + 1_000, MAX_AGE_SEC)).toEqual({
      ok: true,
      inputs,
    });
    chain.forgetAll();
    const after = riskInputs(marketOf(recorded0));
    expect(await chain.read("risk", SYMBOL, after, T0 + 1_000, MAX_AGE_SEC)).toEqual({
      ok: true,
      inputs: after,
    });
    expect(chain.counts).toEqual({ followed: 0, asRecorded: 2 });
  });

  it("an expired hash (its TTL ended) is read as absent: no_marketstate", async () => {
    const chain = new ChainedOutputs();
    const recorded0 = publishAt(T0);
    const short: WrittenBatch = { h: [[KEY, recorded0.h[0][1], 30]], x: [] };
    // recorded with the long TTL, replayed with a 30 s one (only the TTL differs)
    chain.noteCycle("marketstate", SYMBOL, T0, recorded0, short);
    const read = await chain.read(
      "risk",
      SYMBOL,
      riskInputs(marketOf(recorded0)),
      T0 + 31_000,
      MAX_AGE_SEC,
    );
    expect(read).toMatchObject({ ok: false, reason: "no_marketstate" });
  });
});
