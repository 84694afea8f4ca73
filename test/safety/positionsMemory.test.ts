// The position memory keeps nothing of an implausible observation (src/inputs/positionMemory.ts,
// PositionBook.observe): a mark more than maxPriceRatio from the entry is computed with (the
// output guard then skips the cycle as implausible_result) but never folded into peak/trough,
// so the next good cycle does not write a peak that would drag a LONG's stop above the market.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_MAX_PRICE_RATIO,
  PositionBook,
  rememberable,
} from "../../src/inputs/positionMemory.js";
import { snapshotFromFields, type PositionSnapshot } from "../../src/inputs/positions.js";
import { guardRiskResult } from "../../src/phases/outputGuard.js";
import { computeStops } from "../../src/kernels/stops.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { brainFields, positionKey } from "../helpers/producers.js";

const S = "BTCUSDT";
const NOW_MS = 1_796_518_455_000;

function snap(mark: number, entry = 100): PositionSnapshot {
  const read = snapshotFromFields(
    brainFields(
      { symbol: S, positionAmt: 0.5, entry, mark, unrealizedPnl: 1, tsEpoch: NOW_MS / 1000 },
      NOW_MS,
    ),
    S,
    positionKey(S),
    { nowMs: NOW_MS, maxPositionAgeSec: 300 },
  );
  if (!read.ok) throw new Error(read.detail);
  return read.value;
}

describe("rememberable", () => {
  it("the current price within maxPriceRatio of the entry, both ends included", () => {
    expect(DEFAULT_MAX_PRICE_RATIO).toBe(10);
    expect(rememberable({ entry_price: 100, current_price: 1000 }, 10)).toBe(true);
    expect(rememberable({ entry_price: 100, current_price: 10 }, 10)).toBe(true);
    expect(rememberable({ entry_price: 100, current_price: 1000.01 }, 10)).toBe(false);
    expect(rememberable({ entry_price: 100, current_price: 9.99 }, 10)).toBe(false);
    expect(rememberable({ entry_price: 100, current_price: 250 }, 2)).toBe(false);
  });
});

describe("PositionBook.observe", () => {
  it("a glitched mark (100x the entry) is computed with but not remembered, and the guard skips that cycle", async () => {
    const store = new MemoryStore({ now: () => NOW_MS });
    const book = new PositionBook(store, async () => null, { maxPriceRatio: 10 });
    const good = await book.observe(snap(102), NOW_MS);
    expect(good.ok).toBe(true);
    expect(book.peek(S)).toMatchObject({ peak_price: 102, trough_price: 102 });
    book.pendingWrite(S, NOW_MS)?.commit();

    const glitch = await book.observe(snap(10_200), NOW_MS + 1000);
    if (!glitch.ok) throw new Error(glitch.detail);
    expect(glitch.value.position.current_price).toBe(10_200);
    // Nothing remembered, nothing pending to write.
    expect(book.peek(S)).toMatchObject({ peak_price: 102, trough_price: 102 });
    expect(book.pendingWrite(S, NOW_MS + 1000)).toBeNull();
    const stops = computeStops({
      market_state: {
        sigma: 0.01,
        mu: 0,
        ts: 0.4,
        regime_probs: { trend: 0.6, mr: 0.2, chop: 0.2 },
      },
      position: glitch.value.position,
    });
    expect(
      guardRiskResult(
        stops,
        { sigma: 0.01, mu: 0, ts: 0.4, p_trend: 0.6, p_mr: 0.2, p_chop: 0.2, ts_timestamp: 0 },
        glitch.value.position,
        { maxPriceRatio: 10, maxStopDistPct: 0.5 },
      ),
    ).toMatchObject({
      ok: false,
      reason: "implausible_result",
      detail: expect.stringMatching(/^position_entry_price=100 is more than maxPriceRatio 10/),
    });

    // Back to normal: the trailing stop trails the real peak (102), not the glitch.
    const back = await book.observe(snap(101), NOW_MS + 2000);
    if (!back.ok) throw new Error(back.detail);
    expect(back.value.position.peak_price).toBe(102);
  });

  it("the ratio is the configured one", async () => {
    const book = new PositionBook(new MemoryStore({ now: () => NOW_MS }), async () => null, {
      maxPriceRatio: 2,
    });
    await book.observe(snap(150), NOW_MS);
    expect(book.peek(S)).toMatchObject({ peak_price: 150 });
    await book.observe(snap(250), NOW_MS + 1000);
    expect(book.peek(S)).toMatchObject({ peak_price: 150 });
  });
});
