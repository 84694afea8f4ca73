// MemoryStore specifics: the injectable clock (TTL, stream ids), glob KEYS, seeding helpers.
import { describe, expect, it } from "vitest";
import { marketStateKey } from "../../src/store/keyGuard.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { WrongTypeError } from "../../src/store/types.js";

function clock(start = 1_700_000_000_000): {
  now: () => number;
  advance: (ms: number) => void;
  set: (ms: number) => void;
} {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}

describe("MemoryStore", () => {
  it("honours TTLs against the injected clock", async () => {
    const c = clock();
    const store = new MemoryStore({ now: c.now });
    const key = marketStateKey("BTCUSDT");
    await store.publish({ hashes: [{ key, fields: { sigma: "0.1" }, ttlSec: 600 }], streams: [] });
    expect(store.ttl(key)).toBe(600);
    c.advance(599_000);
    expect(store.ttl(key)).toBe(1);
    expect(await store.hgetall(key)).toEqual({ sigma: "0.1" });
    c.advance(1_000);
    expect(store.ttl(key)).toBe(-2);
    expect(await store.hgetall(key)).toEqual({});
    expect(await store.keyKind(key)).toBe("none");
    expect(store.keys("*")).toEqual([]);
  });

  it("a later publish with a TTL refreshes it; HSET without one keeps it (like Redis)", async () => {
    const c = clock();
    const store = new MemoryStore({ now: c.now });
    const key = marketStateKey("ETHUSDT");
    await store.publish({ hashes: [{ key, fields: { a: "1" }, ttlSec: 10 }], streams: [] });
    c.advance(8_000);
    await store.publish({ hashes: [{ key, fields: { a: "2" }, ttlSec: 10 }], streams: [] });
    c.advance(8_000);
    expect(await store.hget(key, "a")).toBe("2");
    store.hset(key, { b: "3" });
    expect(store.ttl(key)).toBe(2);
  });

  it("XADD ids are ms-seq and strictly increasing, even when the clock stalls or steps back", () => {
    const c = clock(1000);
    const store = new MemoryStore({ now: c.now });
    const ids = [store.xadd("s", { a: 1 }), store.xadd("s", { a: 2 })];
    c.set(500); // the clock stepped back
    ids.push(store.xadd("s", { a: 3 }));
    c.set(2000);
    ids.push(store.xadd("s", { a: 4 }));
    expect(ids).toEqual(["1000-0", "1000-1", "1000-2", "2000-0"]);
  });

  it("trims streams to maxLen on xadd", async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 20; i += 1) store.xadd("s", { i }, { maxLen: 5 });
    expect(store.xlen("s")).toBe(5);
    expect((await store.xrevrange("s", 10)).map((e) => e.fields.i)).toEqual([
      "19",
      "18",
      "17",
      "16",
      "15",
    ]);
  });

  it("KEYS glob patterns, DEL, TTL of a persistent key", () => {
    const store = new MemoryStore();
    store.hset("quantum:marketstate:BTCUSDT", { a: 1 });
    store.hset("quantum:marketstate:ETHUSDT", { a: 1 });
    store.rpush("candles:BTCUSDT:1m", 1);
    expect(store.keys("quantum:marketstate:*")).toEqual([
      "quantum:marketstate:BTCUSDT",
      "quantum:marketstate:ETHUSDT",
    ]);
    expect(store.keys("quantum:marketstate:?THUSDT")).toEqual(["quantum:marketstate:ETHUSDT"]);
    expect(store.keys("quantum:marketstate:[B]*")).toEqual(["quantum:marketstate:BTCUSDT"]);
    expect(store.keys("quantum:marketstate:[^B]*")).toEqual(["quantum:marketstate:ETHUSDT"]);
    expect(store.keys("candles:*:1m")).toEqual(["candles:BTCUSDT:1m"]);
    expect(store.keys()).toHaveLength(3);
    expect(store.ttl("candles:BTCUSDT:1m")).toBe(-1);
    expect(store.del("candles:BTCUSDT:1m", "missing")).toBe(1);
    expect(store.ttl("candles:BTCUSDT:1m")).toBe(-2);
  });

  it("seeding helpers refuse the wrong type like Redis", () => {
    const store = new MemoryStore();
    store.set("k", "v");
    expect(() => store.hset("k", { a: 1 })).toThrow(WrongTypeError);
    expect(() => store.zadd("k", 1, "a")).toThrow(WrongTypeError);
    expect(() => store.rpush("k", "a")).toThrow(WrongTypeError);
    expect(() => store.xadd("k", { a: 1 })).toThrow(WrongTypeError);
    expect(() => store.zadd("z", 1)).toThrow(/pairs/);
  });

  it("returns copies: mutating a read result does not change the store", async () => {
    const store = new MemoryStore();
    store.hset("h", { a: "1" });
    store.xadd("s", { a: "1" });
    (await store.hgetall("h")).a = "changed";
    (await store.xrevrange("s", 1))[0].fields.a = "changed";
    expect(await store.hget("h", "a")).toBe("1");
    expect((await store.xrevrange("s", 1))[0].fields.a).toBe("1");
  });

  it("xreadAfter compares stream ids numerically (ms, seq), not as text", async () => {
    const c = clock(9);
    const store = new MemoryStore({ now: c.now });
    store.xadd("s", { i: "a" }); // 9-0
    store.xadd("s", { i: "b" }); // 9-1
    c.set(10);
    store.xadd("s", { i: "c" }); // 10-0: before "9-1" as text
    c.set(100);
    store.xadd("s", { i: "d" }); // 100-0
    const after = async (id: string): Promise<string[]> =>
      (await store.xreadAfter("s", id, 10, 0)).map((e) => `${e.id}=${e.fields.i}`);
    expect(await after("9-0")).toEqual(["9-1=b", "10-0=c", "100-0=d"]);
    expect(await after("9-1")).toEqual(["10-0=c", "100-0=d"]);
    expect(await after("9")).toEqual(["9-1=b", "10-0=c", "100-0=d"]); // "9" is 9-0, as XREAD reads it
    expect(await after("10-0")).toEqual(["100-0=d"]);
    expect(await after("99-18446744073709551615")).toEqual(["100-0=d"]);
    expect(await after("0")).toHaveLength(4);
  });

  it("close() wakes a blocking xreadAfter at once: it rejects and its timer is gone", async () => {
    const store = new MemoryStore();
    const started = Date.now();
    const pending = store.xreadAfter("s", "0", 10, 20_000);
    expect(store.blockedClients()).toBe(1);
    await store.close();
    await expect(pending).rejects.toThrow("memory store is closed");
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(store.blockedClients()).toBe(0);
    await expect(store.xreadAfter("s", "0", 10, 0)).rejects.toThrow(/closed/);
  });

  it("a blocking xreadAfter stops waiting once served or timed out", async () => {
    const store = new MemoryStore();
    const woken = store.xreadAfter("s", "0", 10, 20_000);
    store.xadd("s", { i: 1 });
    store.xadd("s", { i: 2 }); // added in the same synchronous run: served together
    const entries = await woken;
    expect(entries.map((e) => e.fields.i)).toEqual(["1", "2"]);
    expect(store.blockedClients()).toBe(0);
    const last = entries[1].id;
    expect(await store.xreadAfter("s", last, 10, 10)).toEqual([]);
    expect(store.blockedClients()).toBe(0);
    // An xadd to another stream does not wake it.
    const other = store.xreadAfter("s", last, 10, 30);
    store.xadd("t", { i: 3 });
    expect(await other).toEqual([]);
  });

  it("deleteOwn refuses other keys before deleting anything; del() still deletes anything", async () => {
    const store = new MemoryStore();
    store.hset("quantum:calc:a", { a: 1 });
    store.hset("quantum:state:positions:BTCUSDT", { side: "LONG" });
    await expect(
      store.deleteOwn(["quantum:calc:a", "quantum:state:positions:BTCUSDT"]),
    ).rejects.toThrow(/refusing to delete/);
    expect(store.keys()).toEqual(["quantum:calc:a", "quantum:state:positions:BTCUSDT"]);
    expect(await store.deleteOwn(["quantum:calc:a", "quantum:calc:a"])).toBe(1);
    expect(store.del("quantum:state:positions:BTCUSDT")).toBe(1);
  });

  it("refuses use after close", async () => {
    const store = new MemoryStore();
    await store.close();
    await expect(store.ping()).rejects.toThrow(/closed/);
    await expect(store.hgetall("h")).rejects.toThrow(/closed/);
  });
});
