// Formatted once (issue 17): compute spells a result's output fields — the output guard checks
// exactly those — and the publish writes them as they are, adding only its stamps. Shown by
// changing a spelled field between compute and publish: the hash holds the changed text, so the
// publish did not format the result again.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { stamped } from "../../src/contracts/output.js";
import { HARVEST_PROPOSAL_OUTPUT } from "../../src/contracts/harvestProposalOutput.js";
import { MARKETSTATE_OUTPUT } from "../../src/contracts/marketstateOutput.js";
import { RISK_PROPOSAL_OUTPUT } from "../../src/contracts/riskProposalOutput.js";
import { LiveCandles } from "../../src/inputs/klines.js";
import type { TrackedPosition } from "../../src/inputs/positionMemory.js";
import type { Position } from "../../src/kernels/types.js";
import { harvestSteps, type HarvestInputs } from "../../src/phases/harvest.js";
import { marketStateSteps } from "../../src/phases/marketstate.js";
import { riskSteps, type RiskInputs } from "../../src/phases/risk.js";
import type { PhaseDeps } from "../../src/phases/steps.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { candlePayload, dataSinkKey, lastClosedOpenTime, MINUTE_MS } from "../helpers/producers.js";

const SYMBOL = "BTCUSDT";
const NOW_MS = lastClosedOpenTime(Date.now()) + 2 * MINUTE_MS + 1234;

function deps(store: MemoryStore): PhaseDeps {
  const config = { ...loadConfig({ env: {} }).config, enableStream: true };
  // No position memory to write: the batch is the proposal alone.
  const book = { pendingWrite: () => null };
  return {
    store,
    config,
    book,
    live: new LiveCandles(),
    now: () => NOW_MS,
  } as unknown as PhaseDeps;
}

const MARKET = {
  sigma: 0.0123,
  mu: 0.0004,
  ts: 0.61,
  p_trend: 0.5,
  p_mr: 0.3,
  p_chop: 0.2,
  ts_timestamp: Math.floor(NOW_MS / 1000),
};
const POSITION: Position = {
  symbol: SYMBOL,
  side: "LONG",
  entry_price: 100,
  current_price: 103,
  peak_price: 104,
  trough_price: 99,
  age_sec: 3600,
  unrealized_pnl: 30,
  current_sl: null,
  current_tp: null,
};
const TRACKED = { position: POSITION, snapshot: { quantity: 10 } } as unknown as TrackedPosition;

describe("the publish writes the fields compute spelled", () => {
  it("marketstate: the hash and the stream entry", async () => {
    const store = new MemoryStore({ now: () => NOW_MS });
    let open = lastClosedOpenTime(NOW_MS) - 300 * MINUTE_MS;
    for (let i = 0; i < 300; i++, open += MINUTE_MS)
      store.zadd(
        dataSinkKey(SYMBOL),
        open,
        candlePayload({ symbol: SYMBOL, open_time: open, close: 100 + Math.sin(i / 7) }),
      );
    const steps = marketStateSteps(deps(store));
    const { nowMs, read } = await steps.read(SYMBOL);
    if (!read.ok) throw new Error(read.detail);
    const computed = steps.compute(SYMBOL, read.value);
    if (!computed.ok) throw new Error(computed.detail);
    const expected = stamped(MARKETSTATE_OUTPUT, computed.value.fields, nowMs);
    computed.value.fields.sigma = "0.11111111";
    await steps.publish(SYMBOL, read.value, computed.value, nowMs);
    const hash = await store.hgetall(`quantum:marketstate:${SYMBOL}`);
    expect(hash).toEqual({ ...expected, sigma: "0.11111111" });
    const [entry] = await store.xrevrange(MARKETSTATE_OUTPUT.stream.key, 1);
    expect(entry.fields.sigma).toBe("0.11111111");
  });

  it("risk: the hash and the stream entry", async () => {
    const store = new MemoryStore({ now: () => NOW_MS });
    const steps = riskSteps(deps(store));
    const inputs: RiskInputs = { market: MARKET, tracked: TRACKED, outputPresent: true };
    const computed = steps.compute(SYMBOL, inputs);
    if (!computed.ok) throw new Error(computed.detail);
    const expected = stamped(RISK_PROPOSAL_OUTPUT, computed.value.fields, NOW_MS);
    computed.value.fields.proposed_sl = "42.5";
    await steps.publish(SYMBOL, inputs, computed.value, NOW_MS);
    expect(await store.hgetall(`quantum:risk:proposal:${SYMBOL}`)).toEqual({
      ...expected,
      proposed_sl: "42.5",
    });
    const [entry] = await store.xrevrange(RISK_PROPOSAL_OUTPUT.stream.key, 1);
    expect(entry.fields).toEqual({ symbol: SYMBOL, ...expected, proposed_sl: "42.5" });
  });

  it("harvest: the hash, with the policy version the guard spelled", async () => {
    const store = new MemoryStore({ now: () => NOW_MS });
    const steps = harvestSteps(deps(store));
    const inputs: HarvestInputs = {
      market: MARKET,
      tracked: TRACKED,
      risk: { proposal: { stop_dist_pct: 0.01 }, note: null },
      theta: { theta: {}, source: "policy", version: "v42", why: "test" },
      outputPresent: true,
    } as unknown as HarvestInputs;
    const computed = steps.compute(SYMBOL, inputs);
    if (!computed.ok) throw new Error(computed.detail);
    expect(computed.value.fields.policy_version).toBe("v42");
    const expected = stamped(HARVEST_PROPOSAL_OUTPUT, computed.value.fields, NOW_MS);
    computed.value.fields.kill_score = "0.5";
    await steps.publish(SYMBOL, inputs, computed.value, NOW_MS);
    expect(await store.hgetall(`quantum:harvest:proposal:${SYMBOL}`)).toEqual({
      ...expected,
      kill_score: "0.5",
    });
  });
});
