// The write wall of shadow mode (src/shadow/shadowStore.ts) over a memory store whose every call is
// recorded: no write method of the real store is ever called, writes are validated as the real
// store validates them, and the overlay serves our keys (the output hashes, quantum:calc:*) as an
// HSET / DEL / EXPIRE would have left them, while the comparison always sees Redis's own hash.
import { describe, expect, it } from "vitest";
import { ForbiddenKeyError, InvalidWriteError } from "../../src/store/keyGuard.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import {
  isShadowStore,
  ShadowStore,
  type StoppedProposal,
  type StoppedWrites,
} from "../../src/shadow/shadowStore.js";
import { WrongTypeError, type PublishBatch, type Store } from "../../src/store/types.js";

const READS = new Set([
  "keyKind",
  "hgetall",
  "hget",
  "zrangeTail",
  "zrangeTailWithScores",
  "lrangeTail",
  "xrevrange",
  "zrangeFromScore",
  "xreadAfter",
  "scanKeys",
  "ping",
  "close",
]);

/** A memory store seeded like the old services left Redis, and the Store methods called on it. */
function recorded(): { memory: MemoryStore; base: Store; calls: string[] } {
  const memory = new MemoryStore();
  memory.hset("quantum:marketstate:BTCUSDT", {
    sigma: "0.01",
    mu: "0.001",
    ts: "0.5",
    ts_timestamp: "1767000000.5",
    extra_old_field: "x",
  });
  memory.hset("quantum:risk:proposal:BTCUSDT", {
    proposed_sl: "99.5",
    computed_at_utc: "2026-12-01T09:00:00.123456",
  });
  memory.hset("quantum:calc:position:BTCUSDT", { identity: "old", side: "LONG" });
  memory.hset("quantum:state:positions:BTCUSDT", { side: "LONG", current_price: "100" });
  memory.zadd("quantum:history:ohlcv:BTCUSDT:1m", 1, '{"close": 1.0}');
  const calls: string[] = [];
  const base = new Proxy(memory, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Store;
  return { memory, base, calls };
}

function sink() {
  const proposals: StoppedProposal[] = [];
  const stopped: StoppedWrites[] = [];
  return {
    proposals,
    stopped,
    sink: {
      proposal: (p: StoppedProposal) => proposals.push(p),
      stopped: (w: StoppedWrites) => stopped.push(w),
    },
  };
}

const marketstateBatch = (sigma: string): PublishBatch => ({
  hashes: [
    {
      key: "quantum:marketstate:BTCUSDT",
      fields: { sigma, mu: "0.002", ts: "0.6", ts_timestamp: "1767000060" },
      ttlSec: 600,
    },
    {
      key: "quantum:calc:marketstate:BTCUSDT",
      fields: { candle_fingerprint: "f1", published_at_ms: "1767000060000" },
      ttlSec: 600,
    },
  ],
  streams: [
    { key: "quantum:stream:marketstate", fields: { symbol: "BTCUSDT", sigma }, maxLen: 10_000 },
  ],
});

describe("ShadowStore: nothing reaches the real store", () => {
  it("publish, a heartbeat and deleteOwn call no write method and change nothing; reads go through", async () => {
    const { memory, base, calls } = recorded();
    const before = JSON.stringify(memory.keys().map((k) => [k, memory.keys(k)]));
    const hashes = async () =>
      Promise.all(
        memory
          .keys()
          .map(async (k) => [
            k,
            (await memory.keyKind(k)) === "hash" ? await memory.hgetall(k) : null,
          ]),
      );
    const contentBefore = JSON.stringify(await hashes());
    const { sink: s, stopped } = sink();
    const shadow = new ShadowStore(base, s);
    await shadow.publish(marketstateBatch("0.02"));
    await shadow.publish({
      hashes: [
        { key: "quantum:risk:proposal:BTCUSDT", fields: { last_update_epoch: "1767000061" } },
      ],
      streams: [],
    });
    expect(
      await shadow.deleteOwn(["quantum:calc:position:BTCUSDT", "quantum:calc:nothing:here"]),
    ).toBe(1);
    await shadow.zrangeTail("quantum:history:ohlcv:BTCUSDT:1m", 10);
    expect(calls.filter((c) => !READS.has(c))).toEqual([]);
    expect(calls).toContain("zrangeTail");
    expect(JSON.stringify(memory.keys().map((k) => [k, memory.keys(k)]))).toBe(before);
    expect(JSON.stringify(await hashes())).toBe(contentBefore);
    expect(memory.xlen("quantum:stream:marketstate")).toBe(0);
    expect(shadow.stoppedWrites).toEqual({
      publishes: 2,
      hashWrites: 3,
      streamEntries: 1,
      deletes: 2,
    });
    expect(stopped).toHaveLength(3);
    expect(isShadowStore(shadow)).toBe(true);
    expect(isShadowStore(memory)).toBe(false);
    expect(shadow.kind).toBe("memory");
  });

  it("refuses what the real store refuses, before anything: the allow-list, forbidden values, TTLs, deletes outside quantum:calc:, wrong types", async () => {
    const { base, calls } = recorded();
    const shadow = new ShadowStore(base);
    await expect(
      shadow.publish({
        hashes: [{ key: "quantum:state:positions:BTCUSDT", fields: { side: "FLAT" } }],
        streams: [],
      }),
    ).rejects.toBeInstanceOf(ForbiddenKeyError);
    await expect(
      shadow.publish({
        hashes: [{ key: "quantum:risk:proposal:BTCUSDT", fields: { proposed_sl: "None" } }],
        streams: [],
      }),
    ).rejects.toBeInstanceOf(InvalidWriteError);
    await expect(
      shadow.publish({
        hashes: [{ key: "quantum:risk:proposal:BTCUSDT", fields: { a: "1" }, ttlSec: 0 }],
        streams: [],
      }),
    ).rejects.toBeInstanceOf(InvalidWriteError);
    await expect(shadow.deleteOwn(["quantum:marketstate:BTCUSDT"])).rejects.toBeInstanceOf(
      ForbiddenKeyError,
    );
    expect(calls).toEqual([]);
    await expect(
      shadow.publish({
        hashes: [{ key: "quantum:calc:x", fields: { a: "1" } }],
        streams: [{ key: "quantum:stream:marketstate", fields: { a: "1" }, maxLen: 10 }],
      }),
    ).resolves.toBeUndefined();
    const zsetBase = new MemoryStore();
    zsetBase.zadd("quantum:marketstate:BTCUSDT", 1, "x");
    await expect(
      new ShadowStore(zsetBase).publish(marketstateBatch("0.02")),
    ).rejects.toBeInstanceOf(WrongTypeError);
  });
});

describe("ShadowStore: the overlay", () => {
  it("serves our keys as the HSET would have left them: Redis fields with ours on top", async () => {
    const { base } = recorded();
    const shadow = new ShadowStore(base);
    await shadow.publish(marketstateBatch("0.02"));
    expect(await shadow.hgetall("quantum:marketstate:BTCUSDT")).toEqual({
      sigma: "0.02",
      mu: "0.002",
      ts: "0.6",
      ts_timestamp: "1767000060",
      extra_old_field: "x",
    });
    expect(await shadow.hget("quantum:marketstate:BTCUSDT", "sigma")).toBe("0.02");
    expect(await shadow.hget("quantum:marketstate:BTCUSDT", "extra_old_field")).toBe("x");
    expect(await shadow.hgetall("quantum:calc:marketstate:BTCUSDT")).toEqual({
      candle_fingerprint: "f1",
      published_at_ms: "1767000060000",
    });
    expect(await shadow.keyKind("quantum:calc:marketstate:BTCUSDT")).toBe("hash");
    // A key shadow mode has not written: what Redis holds.
    expect(await shadow.hgetall("quantum:risk:proposal:BTCUSDT")).toEqual({
      proposed_sl: "99.5",
      computed_at_utc: "2026-12-01T09:00:00.123456",
    });
    // The real store is untouched.
    expect(await base.hget("quantum:marketstate:BTCUSDT", "sigma")).toBe("0.01");
  });

  it("a deleted key is absent until written again, then holds only what was written since", async () => {
    const { base } = recorded();
    const shadow = new ShadowStore(base);
    await shadow.deleteOwn(["quantum:calc:position:BTCUSDT"]);
    expect(await shadow.hgetall("quantum:calc:position:BTCUSDT")).toEqual({});
    expect(await shadow.hget("quantum:calc:position:BTCUSDT", "identity")).toBeNull();
    expect(await shadow.keyKind("quantum:calc:position:BTCUSDT")).toBe("none");
    expect(await shadow.scanKeys("quantum:calc:*", 100)).not.toContain(
      "quantum:calc:position:BTCUSDT",
    );
    expect(await shadow.deleteOwn(["quantum:calc:position:BTCUSDT"])).toBe(0);
    await shadow.publish({
      hashes: [
        {
          key: "quantum:calc:position:BTCUSDT",
          fields: { identity: "new", side: "SHORT", peak_price: "90" },
        },
      ],
      streams: [],
    });
    expect(await shadow.hgetall("quantum:calc:position:BTCUSDT")).toEqual({
      identity: "new",
      side: "SHORT",
      peak_price: "90",
    });
    expect(await shadow.hget("quantum:calc:position:BTCUSDT", "nope")).toBeNull();
    expect(await base.hget("quantum:calc:position:BTCUSDT", "identity")).toBe("old");
  });

  it("a TTL from the write runs out: the key is then absent", async () => {
    const { base } = recorded();
    let now = 1_000_000;
    const shadow = new ShadowStore(base, {}, { now: () => now });
    await shadow.publish(marketstateBatch("0.02"));
    now += 599_000;
    expect(await shadow.hget("quantum:marketstate:BTCUSDT", "sigma")).toBe("0.02");
    now += 1_000;
    expect(await shadow.hgetall("quantum:marketstate:BTCUSDT")).toEqual({});
    expect(await shadow.keyKind("quantum:marketstate:BTCUSDT")).toBe("none");
    expect(shadow.peek("quantum:marketstate:BTCUSDT")).toEqual({});
  });

  it("scanKeys: Redis keys plus those written in shadow", async () => {
    const { base } = recorded();
    const shadow = new ShadowStore(base);
    await shadow.publish({
      hashes: [{ key: "quantum:calc:position:ETHUSDT", fields: { identity: "e" } }],
      streams: [],
    });
    expect((await shadow.scanKeys("quantum:calc:position:*", 100)).sort()).toEqual([
      "quantum:calc:position:BTCUSDT",
      "quantum:calc:position:ETHUSDT",
    ]);
    expect(await shadow.scanKeys("quantum:state:positions:*", 100)).toEqual([
      "quantum:state:positions:BTCUSDT",
    ]);
    expect(await shadow.scanKeys("quantum:calc:position:[E]*", 100)).toEqual([
      "quantum:calc:position:ETHUSDT",
    ]);
  });

  it("other keys are never served from the overlay", async () => {
    const { base } = recorded();
    const shadow = new ShadowStore(base);
    expect(await shadow.hgetall("quantum:state:positions:BTCUSDT")).toEqual({
      side: "LONG",
      current_price: "100",
    });
    expect(shadow.peek("quantum:state:positions:BTCUSDT")).toBeNull();
  });
});

describe("ShadowStore: what the sink is told", () => {
  it("each output-hash write with the hash in Redis now — never the overlay — and whether a real run would write it", async () => {
    const { base } = recorded();
    const { sink: s, proposals } = sink();
    const shadow = new ShadowStore(base, s);
    await shadow.publish(marketstateBatch("0.02"));
    await shadow.publish(marketstateBatch("0.03"));
    // Bookkeeping and streams are not compared; the second write still sees Redis's hash.
    expect(proposals.map((p) => [p.key, p.fields.sigma, p.current.sigma, p.wouldWrite])).toEqual([
      ["quantum:marketstate:BTCUSDT", "0.02", "0.01", true],
      ["quantum:marketstate:BTCUSDT", "0.03", "0.01", true],
    ]);
    await shadow.publish({
      hashes: [{ key: "quantum:harvest:proposal:SOLUSDT", fields: { harvest_action: "NONE" } }],
      streams: [],
    });
    expect(proposals.at(-1)).toMatchObject({
      key: "quantum:harvest:proposal:SOLUSDT",
      current: {},
    });
  });

  it("compareOnly: compared with wouldWrite false, the output hashes and the counts left alone, our bookkeeping kept", async () => {
    const { base } = recorded();
    const { sink: s, proposals } = sink();
    const shadow = new ShadowStore(base, s);
    await shadow.compareOnly(() => shadow.publish(marketstateBatch("0.05")));
    expect(proposals.map((p) => [p.fields.sigma, p.wouldWrite])).toEqual([["0.05", false]]);
    expect(await shadow.hget("quantum:marketstate:BTCUSDT", "sigma")).toBe("0.01");
    expect(await shadow.hget("quantum:calc:marketstate:BTCUSDT", "candle_fingerprint")).toBe("f1");
    expect(shadow.stoppedWrites.publishes).toBe(0);
    // Outside compareOnly, publishes are real (stopped) publishes again.
    await shadow.publish(marketstateBatch("0.06"));
    expect(proposals.at(-1)!.wouldWrite).toBe(true);
  });

  it("a sink that throws never fails the publish", async () => {
    const shadow = new ShadowStore(recorded().base, {
      proposal: () => {
        throw new Error("observer bug");
      },
      stopped: () => {
        throw new Error("observer bug");
      },
    });
    await expect(shadow.publish(marketstateBatch("0.02"))).resolves.toBeUndefined();
    await expect(shadow.deleteOwn(["quantum:calc:x"])).resolves.toBe(0);
  });
});
