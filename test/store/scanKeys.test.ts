// scanKeys: SCAN (never KEYS) on both stores — the policy universe finds open positions with it.
import { beforeEach, describe, expect, it } from "vitest";
import { HARNESSES, type Harness, useHarness } from "./storeHarness.js";

describe.each(HARNESSES)("scanKeys: $name", ({ create }) => {
  const harness = useHarness(create);
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  it("finds every key matching the pattern, each once, and nothing else", async () => {
    for (let i = 0; i < 2500; i++)
      await h.seed.hset(`quantum:state:positions:S${i}USDT`, { side: "LONG" });
    await h.seed.hset("quantum:state:positions", { BTCUSDT: "{}" });
    await h.seed.hset("quantum:marketstate:S1USDT", { sigma: "1" });
    const keys = await h.store.scanKeys("quantum:state:positions:*", 10_000);
    expect(keys).toHaveLength(2500);
    expect(new Set(keys).size).toBe(2500);
    expect(keys.every((k) => k.startsWith("quantum:state:positions:S"))).toBe(true);
  });

  it("stops at the limit, and refuses a bad limit naming it", async () => {
    for (let i = 0; i < 50; i++)
      await h.seed.hset(`quantum:state:positions:S${i}USDT`, { side: "LONG" });
    expect(await h.store.scanKeys("quantum:state:positions:*", 10)).toHaveLength(10);
    await expect(h.store.scanKeys("quantum:state:positions:*", 0)).rejects.toThrow(/count/);
  });
});
