// The same behavioural contract, run against the memory store and a real redis-server.
import { beforeEach, describe, expect, it } from "vitest";
import {
  ForbiddenKeyError,
  HARVEST_PROPOSAL_STREAM,
  InvalidArgumentError,
  MARKETSTATE_STREAM,
  calcKey,
  harvestProposalKey,
  marketStateKey,
  riskProposalKey,
} from "../../src/store/keyGuard.js";
import { WrongTypeError, type PublishBatch } from "../../src/store/types.js";
import { HARNESSES, type Harness, useHarness, waitForBlockedReaders } from "./storeHarness.js";

describe.each(HARNESSES)("Store contract: $name", ({ create }) => {
  const harness = useHarness(create);
  let h: Harness;
  beforeEach(() => {
    h = harness();
  });

  describe("publish", () => {
    it("HSETs only the given fields and keeps fields other services own", async () => {
      const key = harvestProposalKey("BTCUSDT");
      await h.seed.hset(key, { action: "HOLD", calibrated: "1", harvest_action: "OLD" });
      await h.store.publish({
        hashes: [{ key, fields: { harvest_action: "NONE", R_net: "0.5" } }],
        streams: [],
      });
      expect(await h.seed.hgetall(key)).toEqual({
        action: "HOLD",
        calibrated: "1",
        harvest_action: "NONE",
        R_net: "0.5",
      });
    });

    it("sets EXPIRE when ttlSec is given, and only then", async () => {
      const withTtl = marketStateKey("BTCUSDT");
      const withoutTtl = riskProposalKey("BTCUSDT");
      await h.store.publish({
        hashes: [
          { key: withTtl, fields: { sigma: "0.01" }, ttlSec: 600 },
          { key: withoutTtl, fields: { proposed_sl: "99" } },
        ],
        streams: [],
      });
      const ttl = await h.seed.ttl(withTtl);
      expect(ttl).toBeGreaterThan(590);
      expect(ttl).toBeLessThanOrEqual(600);
      expect(await h.seed.ttl(withoutTtl)).toBe(-1);
    });

    it("XADDs stream entries with the given fields, newest first in xrevrange", async () => {
      for (const sigma of ["1", "2", "3"]) {
        await h.store.publish({
          hashes: [],
          streams: [{ key: MARKETSTATE_STREAM, fields: { symbol: "BTCUSDT", sigma }, maxLen: 100 }],
        });
      }
      const entries = await h.store.xrevrange(MARKETSTATE_STREAM, 2);
      expect(entries.map((e) => e.fields.sigma)).toEqual(["3", "2"]);
      expect(entries[0].fields).toEqual({ symbol: "BTCUSDT", sigma: "3" });
      expect(entries[0].id).toMatch(/^\d+-\d+$/);
      expect(compareIds(entries[0].id, entries[1].id)).toBeGreaterThan(0);
    });

    it("trims a stream with MAXLEN ~ (at least maxLen kept, far fewer than written)", async () => {
      const written = 1000;
      for (let i = 0; i < written; i += 1) {
        await h.store.publish({
          hashes: [],
          streams: [{ key: HARVEST_PROPOSAL_STREAM, fields: { i: String(i) }, maxLen: 10 }],
        });
      }
      const length = await h.seed.xlen(HARVEST_PROPOSAL_STREAM);
      expect(length).toBeGreaterThanOrEqual(10);
      // Redis trims whole macro nodes (100 entries by default), so "approximately" means ≤ ~110.
      expect(length).toBeLessThanOrEqual(250);
      const newest = await h.store.xrevrange(HARVEST_PROPOSAL_STREAM, 1);
      expect(newest[0].fields.i).toBe(String(written - 1));
    });

    it("writes hashes and streams of one batch together", async () => {
      await h.store.publish({
        hashes: [
          {
            key: marketStateKey("ETHUSDT"),
            fields: { sigma: "0.02", mu: "0.00000001" },
            ttlSec: 600,
          },
        ],
        streams: [
          { key: MARKETSTATE_STREAM, fields: { symbol: "ETHUSDT", sigma: "0.02" }, maxLen: 10000 },
        ],
      });
      expect(await h.seed.hgetall(marketStateKey("ETHUSDT"))).toEqual({
        sigma: "0.02",
        mu: "0.00000001",
      });
      expect(await h.seed.xlen(MARKETSTATE_STREAM)).toBe(1);
    });

    it("allows our own bookkeeping keys under quantum:calc:", async () => {
      await h.store.publish({
        hashes: [{ key: calcKey("heartbeat", "BTCUSDT"), fields: { at: "1" } }],
        streams: [],
      });
      expect(await h.seed.hgetall("quantum:calc:heartbeat:BTCUSDT")).toEqual({ at: "1" });
    });

    it("refuses a batch with a forbidden key and writes nothing of it", async () => {
      const batch: PublishBatch = {
        hashes: [
          { key: marketStateKey("BTCUSDT"), fields: { sigma: "0.01" } },
          { key: "quantum:state:positions:BTCUSDT", fields: { side: "LONG" } },
        ],
        streams: [{ key: MARKETSTATE_STREAM, fields: { symbol: "BTCUSDT" }, maxLen: 10 }],
      };
      await expect(h.store.publish(batch)).rejects.toThrow(
        /quantum:state:positions:BTCUSDT.*allow-list/,
      );
      expect(await h.seed.keys("*")).toEqual([]);
    });

    it("refuses an HSET to a stream name and an XADD to a hash prefix", async () => {
      await expect(
        h.store.publish({ hashes: [{ key: MARKETSTATE_STREAM, fields: { a: "1" } }], streams: [] }),
      ).rejects.toThrow(/allow-list/);
      await expect(
        h.store.publish({
          hashes: [],
          streams: [{ key: marketStateKey("BTCUSDT"), fields: { a: "1" }, maxLen: 10 }],
        }),
      ).rejects.toThrow(/allow-list/);
      expect(await h.seed.keys("*")).toEqual([]);
    });

    it("refuses NaN/Infinity/None values, empty field sets and bad TTLs before writing", async () => {
      const key = riskProposalKey("BTCUSDT");
      for (const bad of ["NaN", "Infinity", "-Infinity", "None", "nan"]) {
        await expect(
          h.store.publish({ hashes: [{ key, fields: { proposed_sl: bad } }], streams: [] }),
        ).rejects.toThrow(/forbidden value/);
      }
      await expect(h.store.publish({ hashes: [{ key, fields: {} }], streams: [] })).rejects.toThrow(
        /no fields/,
      );
      await expect(
        h.store.publish({ hashes: [{ key, fields: { a: "1" }, ttlSec: 0 }], streams: [] }),
      ).rejects.toThrow(/ttlSec/);
      await expect(
        h.store.publish({ hashes: [{ key, fields: { a: "1" }, ttlSec: 1.5 }], streams: [] }),
      ).rejects.toThrow(/ttlSec/);
      await expect(
        h.store.publish({
          hashes: [],
          streams: [{ key: MARKETSTATE_STREAM, fields: { a: "1" }, maxLen: 0 }],
        }),
      ).rejects.toThrow(/maxLen/);
      expect(await h.seed.keys("*")).toEqual([]);
    });

    it("rejects a batch with one WRONGTYPE target and writes none of it", async () => {
      await h.seed.set(marketStateKey("BTCUSDT"), "not a hash");
      const batch: PublishBatch = {
        hashes: [
          { key: riskProposalKey("BTCUSDT"), fields: { proposed_sl: "99" } },
          { key: marketStateKey("BTCUSDT"), fields: { sigma: "0.01" } },
        ],
        streams: [{ key: MARKETSTATE_STREAM, fields: { symbol: "BTCUSDT" }, maxLen: 10 }],
      };
      await expect(h.store.publish(batch)).rejects.toThrow(WrongTypeError);
      expect(await h.seed.keys("*")).toEqual([marketStateKey("BTCUSDT")]);
    });

    it("a single-hash publish (the heartbeat path) onto a WRONGTYPE key rejects and writes nothing", async () => {
      await h.seed.set(riskProposalKey("BTCUSDT"), "not a hash");
      await expect(
        h.store.publish({
          hashes: [{ key: riskProposalKey("BTCUSDT"), fields: { last_update_epoch: "1" } }],
          streams: [],
        }),
      ).rejects.toThrow(WrongTypeError);
      expect(await h.seed.keys("*")).toEqual([riskProposalKey("BTCUSDT")]);
    });

    it("rejects a WRONGTYPE stream target", async () => {
      await h.seed.hset(MARKETSTATE_STREAM, { oops: "1" });
      await expect(
        h.store.publish({
          hashes: [],
          streams: [{ key: MARKETSTATE_STREAM, fields: { symbol: "X" }, maxLen: 10 }],
        }),
      ).rejects.toThrow(/quantum:stream:marketstate is not a stream/);
    });
  });

  describe("reads", () => {
    it("keyKind maps TYPE, none for a missing key", async () => {
      await h.seed.hset("h", { a: "1" });
      await h.seed.zadd("z", 1, "a");
      await h.seed.rpush("l", "a");
      await h.seed.set("s", "a");
      await h.seed.xadd("x", { a: "1" });
      expect(await h.store.keyKind("h")).toBe("hash");
      expect(await h.store.keyKind("z")).toBe("zset");
      expect(await h.store.keyKind("l")).toBe("list");
      expect(await h.store.keyKind("s")).toBe("string");
      expect(await h.store.keyKind("x")).toBe("stream");
      expect(await h.store.keyKind("missing")).toBe("none");
    });

    it("hgetall/hget: {} and null for a missing key", async () => {
      await h.seed.hset("h", { a: "1", b: "" });
      expect(await h.store.hgetall("h")).toEqual({ a: "1", b: "" });
      expect(await h.store.hget("h", "a")).toBe("1");
      expect(await h.store.hget("h", "zz")).toBeNull();
      expect(await h.store.hgetall("missing")).toEqual({});
      expect(await h.store.hget("missing", "a")).toBeNull();
    });

    it("zrangeTail: the highest-scored members in ascending order, ties by member bytes", async () => {
      await h.seed.zadd("z", 3, "c", 1, "a", 2, "b", 2, "a2", 5, "e");
      expect(await h.store.zrangeTail("z", 3)).toEqual(["b", "c", "e"]);
      expect(await h.store.zrangeTail("z", 10)).toEqual(["a", "a2", "b", "c", "e"]);
      expect(await h.store.zrangeTailWithScores("z", 2)).toEqual([
        { member: "c", score: 3 },
        { member: "e", score: 5 },
      ]);
      expect(await h.store.zrangeTail("missing", 3)).toEqual([]);
      expect(await h.store.zrangeTail("z", 0)).toEqual([]);
    });

    it("lrangeTail: the last elements in list order", async () => {
      await h.seed.rpush("l", "a", "b", "c", "d");
      expect(await h.store.lrangeTail("l", 2)).toEqual(["c", "d"]);
      expect(await h.store.lrangeTail("l", 10)).toEqual(["a", "b", "c", "d"]);
      expect(await h.store.lrangeTail("missing", 2)).toEqual([]);
    });

    it("xrevrange: newest first, bounded by count", async () => {
      for (let i = 0; i < 5; i += 1) await h.seed.xadd("x", { i: String(i) });
      const entries = await h.store.xrevrange("x", 3);
      expect(entries.map((e) => e.fields.i)).toEqual(["4", "3", "2"]);
      expect(await h.store.xrevrange("missing", 3)).toEqual([]);
    });

    it("reads of the wrong type reject with WrongTypeError naming the key", async () => {
      await h.seed.set("s", "x");
      await h.seed.hset("h", { a: "1" });
      await expect(h.store.hgetall("s")).rejects.toThrow(WrongTypeError);
      await expect(h.store.hget("s", "a")).rejects.toThrow(WrongTypeError);
      await expect(h.store.zrangeTail("h", 3)).rejects.toThrow(WrongTypeError);
      await expect(h.store.zrangeTailWithScores("h", 3)).rejects.toThrow(WrongTypeError);
      await expect(h.store.lrangeTail("h", 3)).rejects.toThrow(WrongTypeError);
      await expect(h.store.xrevrange("h", 3)).rejects.toThrow(
        /key h is not a stream \(it is a hash\)/,
      );
    });

    it("ping resolves", async () => {
      await expect(h.store.ping()).resolves.toBeUndefined();
    });
  });

  describe("zrangeFromScore", () => {
    beforeEach(async () => {
      // Ties at score 2 ordered by member bytes ('B' 0x42 < 'a2' < 'b' < 'c' < 'é' 0xC3), not by locale.
      await h.seed.zadd(
        "z",
        3,
        "d",
        1,
        "a",
        2,
        "c",
        2,
        "b",
        2,
        "a2",
        2,
        "é",
        2,
        "B",
        5,
        "e",
        -1.5,
        "neg",
      );
    });

    it("members with score >= minScore, ascending by (score, member bytes), with scores", async () => {
      expect(await h.store.zrangeFromScore("z", 2, 100)).toEqual([
        { member: "B", score: 2 },
        { member: "a2", score: 2 },
        { member: "b", score: 2 },
        { member: "c", score: 2 },
        { member: "é", score: 2 },
        { member: "d", score: 3 },
        { member: "e", score: 5 },
      ]);
    });

    it("count limits from the lowest score, also inside a run of equal scores", async () => {
      expect(await h.store.zrangeFromScore("z", 2, 3)).toEqual([
        { member: "B", score: 2 },
        { member: "a2", score: 2 },
        { member: "b", score: 2 },
      ]);
      expect(await h.store.zrangeFromScore("z", 3, 1)).toEqual([{ member: "d", score: 3 }]);
    });

    it("minScore between scores, below all (-Infinity, negative) and above all", async () => {
      expect(await h.store.zrangeFromScore("z", 2.5, 10)).toEqual([
        { member: "d", score: 3 },
        { member: "e", score: 5 },
      ]);
      expect(await h.store.zrangeFromScore("z", -Infinity, 2)).toEqual([
        { member: "neg", score: -1.5 },
        { member: "a", score: 1 },
      ]);
      expect((await h.store.zrangeFromScore("z", -1.5, 1))[0]).toEqual({
        member: "neg",
        score: -1.5,
      });
      expect(await h.store.zrangeFromScore("z", 5, 10)).toEqual([{ member: "e", score: 5 }]);
      expect(await h.store.zrangeFromScore("z", 5.000001, 10)).toEqual([]);
    });

    it("[] for a missing key; WrongTypeError for another type", async () => {
      expect(await h.store.zrangeFromScore("missing", 0, 10)).toEqual([]);
      await h.seed.hset("h", { a: "1" });
      await expect(h.store.zrangeFromScore("h", 0, 10)).rejects.toThrow(WrongTypeError);
      await expect(h.store.zrangeFromScore("h", 0, 10)).rejects.toThrow(
        /key h is not a zset \(it is a hash\)/,
      );
    });

    it("refuses a bad count or minScore, naming the argument and value", async () => {
      for (const count of [0, -1, 1.5, Number.NaN]) {
        await expect(h.store.zrangeFromScore("z", 0, count)).rejects.toThrow(InvalidArgumentError);
        await expect(h.store.zrangeFromScore("z", 0, count)).rejects.toThrow(
          `count must be a positive integer (got ${String(count)})`,
        );
      }
      for (const minScore of [Number.NaN, Infinity]) {
        await expect(h.store.zrangeFromScore("z", minScore, 1)).rejects.toThrow(
          `minScore must be a finite number or -Infinity (got ${String(minScore)})`,
        );
      }
    });
  });

  describe("zrangeFromScoreWithin (issue 20: the size and the members in one operation)", () => {
    beforeEach(async () => {
      await h.seed.zadd("z", 1, "a", 2, "b", 3, "c");
    });

    it("within the bound: the key's size (as memoryUsage) and zrangeFromScore's members", async () => {
      const bytes = await h.store.memoryUsage("z");
      expect(bytes).toBeGreaterThan(0);
      expect(await h.store.zrangeFromScoreWithin!("z", 2, 10, bytes!)).toEqual({
        bytes,
        members: [
          { member: "b", score: 2 },
          { member: "c", score: 3 },
        ],
      });
      expect(await h.store.zrangeFromScoreWithin!("z", -Infinity, 1, Infinity)).toEqual({
        bytes,
        members: [{ member: "a", score: 1 }],
      });
      expect(await h.store.zrangeFromScoreWithin!("z", 4, 10, bytes!)).toEqual({
        bytes,
        members: [],
      });
    });

    it("above the bound: the size, no members; a missing key: neither", async () => {
      const bytes = await h.store.memoryUsage("z");
      expect(await h.store.zrangeFromScoreWithin!("z", 0, 10, bytes! - 1)).toEqual({
        bytes,
        members: null,
      });
      expect(await h.store.zrangeFromScoreWithin!("z", 0, 10, 0)).toEqual({ bytes, members: null });
      expect(await h.store.zrangeFromScoreWithin!("missing", 0, 10, 1000)).toEqual({
        bytes: null,
        members: null,
      });
    });

    it("another type: WrongTypeError within the bound, refused by its size above it", async () => {
      await h.seed.hset("h", { a: "1" });
      await expect(h.store.zrangeFromScoreWithin!("h", 0, 10, 1_000_000)).rejects.toThrow(
        /key h is not a zset \(it is a hash\)/,
      );
      await expect(h.store.zrangeFromScoreWithin!("h", 0, 10, 1_000_000)).rejects.toThrow(
        WrongTypeError,
      );
      const bytes = await h.store.memoryUsage("h");
      expect(await h.store.zrangeFromScoreWithin!("h", 0, 10, 0)).toEqual({
        bytes,
        members: null,
      });
    });

    it("refuses a bad count, minScore or maxBytes, naming the argument and value", async () => {
      await expect(h.store.zrangeFromScoreWithin!("z", 0, 0, 10)).rejects.toThrow(
        "count must be a positive integer (got 0)",
      );
      await expect(h.store.zrangeFromScoreWithin!("z", Number.NaN, 1, 10)).rejects.toThrow(
        "minScore must be a finite number or -Infinity (got NaN)",
      );
      for (const maxBytes of [-1, 1.5, Number.NaN, -Infinity]) {
        await expect(h.store.zrangeFromScoreWithin!("z", 0, 1, maxBytes)).rejects.toThrow(
          InvalidArgumentError,
        );
        await expect(h.store.zrangeFromScoreWithin!("z", 0, 1, maxBytes)).rejects.toThrow(
          `maxBytes must be a non-negative integer or Infinity (got ${String(maxBytes)})`,
        );
      }
    });
  });

  describe("deleteOwn", () => {
    const others = [
      "quantum:state:positions:BTCUSDT",
      "quantum:marketstate:BTCUSDT",
      "candles:BTCUSDT:1m",
    ];
    beforeEach(async () => {
      await h.seed.hset("quantum:calc:marketstate:BTCUSDT", { at: "1" });
      await h.seed.xadd("quantum:calc:events", { a: "1" });
      await h.seed.hset("quantum:state:positions:BTCUSDT", { side: "LONG" });
      await h.seed.hset("quantum:marketstate:BTCUSDT", { sigma: "0.01" });
      await h.seed.rpush("candles:BTCUSDT:1m", "c");
    });

    it("deletes our own keys of any type and returns how many existed", async () => {
      expect(
        await h.store.deleteOwn([
          "quantum:calc:marketstate:BTCUSDT",
          "quantum:calc:events",
          "quantum:calc:missing",
        ]),
      ).toBe(2);
      expect(await h.seed.keys("*")).toEqual([...others].sort());
      expect(await h.store.deleteOwn(["quantum:calc:marketstate:BTCUSDT"])).toBe(0);
      expect(await h.store.deleteOwn([])).toBe(0);
    });

    it("refuses the whole call when any key is not ours, deleting nothing", async () => {
      const before = await h.seed.keys("*");
      for (const foreign of [...others, "quantum:calc:", "QUANTUM:calc:x", "xquantum:calc:x"]) {
        const call = h.store.deleteOwn(["quantum:calc:marketstate:BTCUSDT", foreign]);
        await expect(call).rejects.toThrow(ForbiddenKeyError);
        await expect(h.store.deleteOwn([foreign])).rejects.toThrow(
          `refusing to delete ${JSON.stringify(foreign)}`,
        );
      }
      expect(await h.seed.keys("*")).toEqual(before);
    });
  });

  describe("xreadAfter", () => {
    const fieldsOf = (entries: Array<{ fields: Record<string, string> }>): string[] =>
      entries.map((e) => e.fields.i);

    it("entries after an id, oldest first, bounded by count", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i += 1) ids.push(await h.seed.xadd("x", { i: String(i) }));
      const after1 = await h.reader.xreadAfter("x", ids[1], 10, 0);
      expect(fieldsOf(after1)).toEqual(["2", "3", "4"]);
      expect(after1.map((e) => e.id)).toEqual(ids.slice(2));
      expect(after1[0].fields).toEqual({ i: "2" });
      expect(fieldsOf(await h.reader.xreadAfter("x", ids[1], 2, 0))).toEqual(["2", "3"]);
      expect(fieldsOf(await h.reader.xreadAfter("x", ids[1], 2, 1000))).toEqual(["2", "3"]);
      expect(await h.reader.xreadAfter("x", ids[4], 10, 0)).toEqual([]);
    });

    it("afterId '0' and '0-0' read from the beginning; an id before all entries too", async () => {
      for (let i = 0; i < 3; i += 1) await h.seed.xadd("x", { i: String(i) });
      expect(fieldsOf(await h.reader.xreadAfter("x", "0", 10, 0))).toEqual(["0", "1", "2"]);
      expect(fieldsOf(await h.reader.xreadAfter("x", "0-0", 2, 0))).toEqual(["0", "1"]);
      expect(fieldsOf(await h.reader.xreadAfter("x", "1-0", 10, 0))).toEqual(["0", "1", "2"]);
    });

    it("blockMs 0 does not block: [] at once for an idle or missing stream", async () => {
      const id = await h.seed.xadd("x", { i: "0" });
      expect(await h.reader.xreadAfter("x", id, 10, 0)).toEqual([]);
      expect(await h.reader.xreadAfter("missing", "0", 10, 0)).toEqual([]);
    });

    it("[] after the block time on an idle stream", async () => {
      const id = await h.seed.xadd("x", { i: "0" });
      const started = Date.now();
      expect(await h.reader.xreadAfter("x", id, 10, 200)).toEqual([]);
      // It did wait (loosely: timers may fire a little early or late, but not at once).
      expect(Date.now() - started).toBeGreaterThanOrEqual(100);
      expect(await h.reader.xreadAfter("missing", "0", 10, 50)).toEqual([]);
    });

    it("an entry added while the read waits wakes it, long before the block time", async () => {
      const id = await h.seed.xadd("x", { i: "0" });
      const started = Date.now();
      const pending = h.reader.xreadAfter("x", id, 10, 5000);
      await waitForBlockedReaders(h.seed);
      const added = await h.seed.xadd("x", { i: "1" });
      const entries = await pending;
      expect(entries).toEqual([{ id: added, fields: { i: "1" } }]);
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it("a read on a missing stream is woken when the stream is created", async () => {
      const started = Date.now();
      const pending = h.reader.xreadAfter("new", "0", 10, 5000);
      await waitForBlockedReaders(h.seed);
      const added = await h.seed.xadd("new", { i: "first" });
      expect(await pending).toEqual([{ id: added, fields: { i: "first" } }]);
      expect(Date.now() - started).toBeLessThan(5000);
    });

    it("a publish wakes a waiting read, which gets every entry of the batch (served after EXEC)", async () => {
      const pending = h.reader.xreadAfter(MARKETSTATE_STREAM, "0", 10, 5000);
      await waitForBlockedReaders(h.seed);
      await h.store.publish({
        hashes: [{ key: marketStateKey("BTCUSDT"), fields: { sigma: "1" } }],
        streams: [
          { key: MARKETSTATE_STREAM, fields: { symbol: "BTCUSDT" }, maxLen: 10 },
          { key: MARKETSTATE_STREAM, fields: { symbol: "ETHUSDT" }, maxLen: 10 },
        ],
      });
      const entries = await pending;
      expect(entries.map((e) => e.fields)).toEqual([{ symbol: "BTCUSDT" }, { symbol: "ETHUSDT" }]);
    });

    it("WrongTypeError for another type", async () => {
      await h.seed.hset("h", { a: "1" });
      await expect(h.reader.xreadAfter("h", "0", 10, 0)).rejects.toThrow(WrongTypeError);
      await expect(h.reader.xreadAfter("h", "0", 10, 100)).rejects.toThrow(
        /key h is not a stream \(it is a hash\)/,
      );
    });

    it("refuses a bad count, blockMs or afterId, naming the argument and value", async () => {
      for (const count of [0, -1, 2.5]) {
        await expect(h.reader.xreadAfter("x", "0", count, 0)).rejects.toThrow(
          `count must be a positive integer (got ${count})`,
        );
      }
      for (const blockMs of [-1, 0.5, Number.NaN]) {
        await expect(h.reader.xreadAfter("x", "0", 1, blockMs)).rejects.toThrow(
          `blockMs must be a non-negative integer (got ${blockMs})`,
        );
      }
      for (const afterId of ["$", ">", "abc", "1-", "-1", "1-2-3", "", "18446744073709551616-0"]) {
        await expect(h.reader.xreadAfter("x", afterId, 1, 0)).rejects.toThrow(InvalidArgumentError);
        await expect(h.reader.xreadAfter("x", afterId, 1, 0)).rejects.toThrow(
          `afterId must be a stream id`,
        );
      }
    });
  });
});

function compareIds(a: string, b: string): number {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  return am === bm ? Number(as - bs) : Number(am - bm);
}
