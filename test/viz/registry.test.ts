// The visualizer's registry: inspection events → one summary row per phase:symbol, restart
// counting across `#n` ids, and the per-actor ring of recent transitions. Mostly synthetic
// inspection events (exact control), plus one pass of the real service on the embedded store.
import type { AnyEventObject, InspectionEvent } from "xstate";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { CandleFeed, DEMO_SYMBOLS } from "../../src/demo/feed.js";
import { createLogger } from "../../src/log.js";
import { startService } from "../../src/service/service.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { previewValue } from "../../src/viz/preview.js";
import { RingBuffer } from "../../src/viz/ringBuffer.js";
import { VizRegistry, stateValueText, type RegistryChange } from "../../src/viz/registry.js";

const ROOT = "x:0";
let session = 1;
const refs = new Map<string, { id: string; sessionId: string }>();
function ref(id: string): { id: string; sessionId: string } {
  let r = refs.get(id);
  if (!r) {
    r = { id, sessionId: id === "supervisor" ? ROOT : `x:${session++}` };
    refs.set(id, r);
  }
  return r;
}

const ctx = (over: Record<string, unknown> = {}) => ({
  lastOutcome: null,
  lastPublishedAt: null,
  lastSkipReason: null,
  lastSkipDetail: null,
  lastError: null,
  lastSummary: null,
  consecutiveFailures: 0,
  cycles: 0,
  ...over,
});

function snapshot(
  id: string,
  value: unknown,
  context: Record<string, unknown> = ctx(),
  event: AnyEventObject = { type: "xstate.init" },
  status = "active",
  error?: unknown,
): InspectionEvent {
  return {
    type: "@xstate.snapshot",
    rootId: ROOT,
    actorRef: ref(id),
    event,
    snapshot: { value, context, status, error },
  } as unknown as InspectionEvent;
}
function microstep(
  id: string,
  value: unknown,
  eventType: string,
  takenEventTypes: string[] = [eventType],
): InspectionEvent {
  const _transitions = takenEventTypes.map((t) => ({ eventType: t }));
  return {
    type: "@xstate.microstep",
    rootId: ROOT,
    actorRef: ref(id),
    event: { type: eventType },
    snapshot: { value, context: ctx(), status: "active" },
    _transitions,
  } as unknown as InspectionEvent;
}
function actorEvent(id: string): InspectionEvent {
  return { type: "@xstate.actor", rootId: ROOT, actorRef: ref(id) } as unknown as InspectionEvent;
}
function cycleDone(id: string, fields: Record<string, unknown>): InspectionEvent {
  return {
    type: "@xstate.event",
    rootId: ROOT,
    actorRef: ref("supervisor"),
    sourceRef: ref(id),
    event: { type: "CYCLE_DONE", ...fields },
  } as unknown as InspectionEvent;
}
function supervisorSnapshot(
  value: string,
  restartTotal = 0,
  status = "active",
  context: Record<string, unknown> = {},
): InspectionEvent {
  return {
    type: "@xstate.snapshot",
    rootId: ROOT,
    actorRef: ref("supervisor"),
    event: { type: "CYCLE_DONE" },
    snapshot: { value, status, context: { restartTotal, ...context } },
  } as unknown as InspectionEvent;
}
function sentToSupervisor(from: string, event: AnyEventObject): InspectionEvent {
  return {
    type: "@xstate.event",
    rootId: ROOT,
    actorRef: ref("supervisor"),
    sourceRef: ref(from),
    event,
  } as unknown as InspectionEvent;
}

function clock(start = 1_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe("RingBuffer", () => {
  it("keeps the newest items in order", () => {
    const ring = new RingBuffer<number>(3);
    expect(ring.toArray()).toEqual([]);
    expect(ring.last()).toBeUndefined();
    for (let i = 1; i <= 7; i++) ring.push(i);
    expect(ring.toArray()).toEqual([5, 6, 7]);
    expect(ring.size).toBe(3);
    expect(ring.last()).toBe(7);
  });

  it("refuses a capacity that is not a positive integer", () => {
    expect(() => new RingBuffer(0)).toThrow(/capacity must be an integer >= 1 \(got 0\)/);
    expect(() => new RingBuffer(2.5)).toThrow(/got 2.5/);
  });
});

describe("stateValueText", () => {
  it("flattens nested and parallel values", () => {
    expect(stateValueText("idle")).toBe("idle");
    expect(stateValueText({ on: "hot" })).toBe("on.hot");
    expect(stateValueText({ a: { b: "c" }, x: "y" })).toBe("a.b.c,x.y");
  });
});

describe("VizRegistry from inspection events", () => {
  it("one row per publisher with its state and context; step actors and unknown events ignored", () => {
    const c = clock();
    const reg = new VizRegistry({ now: c.now });
    reg.inspect(snapshot("risk:BTCUSDT", "seeding"));
    reg.inspect(snapshot("0.publisher.reading", "whatever"));
    reg.inspect({
      type: "@xstate.action",
      rootId: ROOT,
      actorRef: ref("risk:BTCUSDT"),
      action: { type: "x", params: {} },
    } as unknown as InspectionEvent);
    expect(reg.size).toBe(1);
    c.advance(500);
    reg.inspect(
      snapshot(
        "risk:BTCUSDT",
        "idle",
        ctx({
          lastOutcome: "published",
          lastPublishedAt: 1_400,
          lastSummary: "SL=1 TP=2",
          cycles: 1,
        }),
        { type: "publishResult.done" },
      ),
    );
    expect(reg.actor("risk:BTCUSDT")?.summary).toMatchObject({
      key: "risk:BTCUSDT",
      phase: "risk",
      symbol: "BTCUSDT",
      actorId: "risk:BTCUSDT",
      state: "idle",
      status: "active",
      lastOutcome: "published",
      lastPublishedAt: 1_400,
      lastSummary: "SL=1 TP=2",
      cycles: 1,
      restarts: 0,
      updatedAt: 1_500,
    });
    expect(reg.actor("harvest:BTCUSDT")).toBeNull();
  });

  it("a skip shows its reason; a later publish clears it but keeps the last publish time", () => {
    const reg = new VizRegistry();
    reg.inspect(
      snapshot("harvest:ETHUSDT", "idle", ctx({ lastOutcome: "published", lastPublishedAt: 10 })),
    );
    reg.inspect(
      snapshot(
        "harvest:ETHUSDT",
        "idle",
        ctx({
          lastOutcome: "skipped",
          lastPublishedAt: 10,
          lastSkipReason: "no_position",
          lastSkipDetail: "no open position",
        }),
      ),
    );
    expect(reg.actor("harvest:ETHUSDT")?.summary).toMatchObject({
      lastOutcome: "skipped",
      lastSkipReason: "no_position",
      lastSkipDetail: "no open position",
      lastPublishedAt: 10,
    });
    reg.inspect(
      snapshot("harvest:ETHUSDT", "idle", ctx({ lastOutcome: "published", lastPublishedAt: 20 })),
    );
    expect(reg.actor("harvest:ETHUSDT")?.summary).toMatchObject({
      lastOutcome: "published",
      lastSkipReason: null,
      lastPublishedAt: 20,
    });
  });

  it("records transitions with readable event names, from → to and time", () => {
    const c = clock(0);
    const reg = new VizRegistry({ now: c.now });
    reg.inspect(snapshot("marketstate:SOLUSDT", "seeding"));
    c.advance(10);
    reg.inspect(microstep("marketstate:SOLUSDT", "idle", "seedMemory.done"));
    reg.inspect(snapshot("marketstate:SOLUSDT", "idle", ctx(), { type: "seedMemory.done" }));
    c.advance(10);
    reg.inspect(microstep("marketstate:SOLUSDT", "reading", "INTERVAL"));
    // A RUN that arrives mid-cycle is handled in place: recorded, no state change.
    reg.inspect(microstep("marketstate:SOLUSDT", "reading", "RUN"));
    // Internal events that change nothing are not news.
    reg.inspect(microstep("marketstate:SOLUSDT", "reading", "xstate.done.actor.0.publisher.idle"));
    c.advance(10);
    // Eventless steps in the same macrostep are named `always`, not after the triggering event.
    reg.inspect(microstep("marketstate:SOLUSDT", "computing", "readInputs.done"));
    reg.inspect(microstep("marketstate:SOLUSDT", "deciding", "readInputs.done", [""]));
    reg.inspect(microstep("marketstate:SOLUSDT", "deciding", "readInputs.done", [""]));
    reg.inspect(microstep("marketstate:SOLUSDT", "reading", "RUN"));
    c.advance(10);
    reg.inspect(
      cycleDone("marketstate:SOLUSDT", {
        outcome: "skipped",
        reason: "stale_input",
        detail: "candles 900 s old",
        summary: null,
      }),
    );
    const recent = reg.actor("marketstate:SOLUSDT")?.recent ?? [];
    expect(recent.map((r) => [r.at, r.event, r.from, r.to, r.detail])).toEqual([
      [0, "init", null, "seeding", null],
      [10, "seedMemory.done", "seeding", "idle", null],
      [20, "INTERVAL", "idle", "reading", null],
      [20, "RUN", "reading", "reading", null],
      [30, "readInputs.done", "reading", "computing", null],
      [30, "always", "computing", "deciding", null],
      [30, "RUN", "deciding", "reading", null],
      [40, "cycle: skipped", "reading", "reading", "stale_input: candles 900 s old"],
    ]);
    expect(reg.actor("marketstate:SOLUSDT")?.summary).toMatchObject({
      lastReason: "stale_input",
      lastCycleAt: 40,
    });
  });

  it("keeps only the newest transitions per actor", () => {
    const reg = new VizRegistry({ recentSize: 4 });
    reg.inspect(snapshot("risk:X", "idle"));
    for (let i = 0; i < 50; i++) {
      reg.inspect(microstep("risk:X", "reading", "INTERVAL"));
      reg.inspect(microstep("risk:X", "idle", "readInputs.done"));
    }
    const recent = reg.actor("risk:X")?.recent ?? [];
    expect(recent).toHaveLength(4);
    expect(recent.map((r) => `${r.from}>${r.to}`)).toEqual([
      "idle>reading",
      "reading>idle",
      "idle>reading",
      "reading>idle",
    ]);
  });

  it("a restarted actor (risk:SYM#n) stays the same row and counts its restarts", () => {
    const reg = new VizRegistry();
    reg.inspect(actorEvent("risk:BTCUSDT"));
    reg.inspect(
      snapshot("risk:BTCUSDT", "idle", ctx({ lastOutcome: "published", lastPublishedAt: 5 })),
    );
    reg.inspect(
      snapshot(
        "risk:BTCUSDT",
        "reading",
        ctx({ lastOutcome: "published", lastPublishedAt: 5 }),
        { type: "RUN" },
        "error",
        new Error("boom"),
      ),
    );
    expect(reg.actor("risk:BTCUSDT")?.summary).toMatchObject({
      status: "error",
      lastError: "crashed: boom",
      restarts: 0,
    });

    reg.inspect(actorEvent("risk:BTCUSDT#1"));
    reg.inspect(snapshot("risk:BTCUSDT#1", "seeding"));
    let row = reg.actor("risk:BTCUSDT");
    expect(row?.summary).toMatchObject({
      actorId: "risk:BTCUSDT#1",
      state: "seeding",
      status: "active",
      restarts: 1,
      lastPublishedAt: 5,
      lastError: null,
    });
    // The replaced incarnation's late events change nothing.
    reg.inspect(snapshot("risk:BTCUSDT", "stopped", ctx(), { type: "xstate.stop" }, "stopped"));
    expect(reg.actor("risk:BTCUSDT")?.summary).toMatchObject({
      actorId: "risk:BTCUSDT#1",
      state: "seeding",
      status: "active",
    });

    // Restart ids are numbered across the whole supervisor, so they need not be consecutive.
    reg.inspect(snapshot("risk:BTCUSDT#7", "seeding"));
    row = reg.actor("risk:BTCUSDT");
    expect(row?.summary).toMatchObject({ actorId: "risk:BTCUSDT#7", restarts: 2 });
    expect(reg.size).toBe(1);
    expect(row?.recent.map((r) => r.event)).toEqual([
      "init",
      "RUN",
      "crash",
      "restart",
      "init",
      "restart",
      "init",
    ]);
    expect(row?.recent.find((r) => r.event === "crash")?.detail).toBe("boom");
    expect(row?.recent.find((r) => r.event === "restart")?.detail).toBe(
      "risk:BTCUSDT replaced by risk:BTCUSDT#1",
    );
  });

  it("tracks the supervisor, reporting only real changes", () => {
    const reg = new VizRegistry();
    const changes: RegistryChange[] = [];
    reg.subscribe((c) => changes.push(c));
    reg.inspect(supervisorSnapshot("running"));
    reg.inspect(supervisorSnapshot("running"));
    reg.inspect(supervisorSnapshot("running"));
    reg.inspect(supervisorSnapshot("running", 1));
    reg.inspect(supervisorSnapshot("stopped", 1, "done"));
    expect(changes).toEqual([
      { kind: "supervisor" },
      { kind: "supervisor" },
      { kind: "supervisor" },
    ]);
    expect(reg.supervisor()).toMatchObject({ state: "stopped", status: "done", restartTotal: 1 });
  });

  it("lists rows by symbol, then in phase order; subscribers hear of each change until they leave", () => {
    const reg = new VizRegistry();
    const keys: string[] = [];
    const leave = reg.subscribe((c) => {
      if (c.kind === "actor") keys.push(c.key);
    });
    for (const id of [
      "harvest:ETHUSDT",
      "risk:BTCUSDT",
      "marketstate:ETHUSDT",
      "harvest:BTCUSDT",
      "marketstate:BTCUSDT",
    ])
      reg.inspect(snapshot(id, "idle"));
    expect(reg.actors().map((a) => a.key)).toEqual([
      "marketstate:BTCUSDT",
      "risk:BTCUSDT",
      "harvest:BTCUSDT",
      "marketstate:ETHUSDT",
      "harvest:ETHUSDT",
    ]);
    expect(new Set(keys).size).toBe(5);
    leave();
    reg.inspect(snapshot("risk:ETHUSDT", "idle"));
    expect(keys).not.toContain("risk:ETHUSDT");
  });

  it("never throws into the actor system, whatever it is fed", () => {
    const reg = new VizRegistry();
    reg.subscribe(() => {
      throw new Error("listener bug");
    });
    expect(() =>
      reg.inspect({ type: "@xstate.snapshot" } as unknown as InspectionEvent),
    ).not.toThrow();
    expect(() => reg.inspect(snapshot("risk:A", "idle"))).not.toThrow();
    expect(() => reg.inspect(null as unknown as InspectionEvent)).not.toThrow();
  });
});

describe("previewValue", () => {
  it("copies a context within bounds and names what JSON cannot carry", () => {
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const shared = { x: 1 };
    const preview = previewValue(
      {
        closes: Array.from({ length: 300 }, (_, i) => i),
        nested: { a: { b: { c: { d: { e: { f: 1 } } } } } },
        now: Date.now,
        big: 12n,
        inf: Number.POSITIVE_INFINITY,
        missing: undefined,
        when: new Date(0),
        error: new Error("boom"),
        ids: new Map([["risk:A", "risk:A#2"]]),
        set: new Set(["x"]),
        long: "y".repeat(300),
        cyclic,
        twice: [shared, shared],
      },
      { depth: 4, items: 3, keys: 20, chars: 10 },
    ) as Record<string, unknown>;
    expect(preview.closes).toEqual([0, 1, 2, "… 297 more"]);
    expect(preview.nested).toEqual({ a: { b: { c: "[object]" } } });
    expect(preview).toMatchObject({
      now: "[function now]",
      big: "12n",
      inf: "Infinity",
      missing: "[undefined]",
      when: "1970-01-01T00:00:00.000Z",
      error: { error: "boom" },
      ids: { "risk:A": "risk:A#2" },
      set: ["x"],
      long: "yyyyyyyyyy… (300 chars)",
      cyclic: { name: "loop", self: "[circular]" },
      twice: [{ x: 1 }, { x: 1 }],
    });
    expect(() => JSON.stringify(preview)).not.toThrow();
    const many = previewValue(
      Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])),
      { depth: 3, items: 3, keys: 2, chars: 10 },
    );
    expect(many).toEqual({ k0: 0, k1: 1, "…": "48 more keys" });
  });
});

describe("VizRegistry: contexts, system actors and the timeline", () => {
  it("keeps each actor's last context and hands out a bounded copy of it", () => {
    const reg = new VizRegistry();
    const inputs = { closes: Array.from({ length: 300 }, (_, i) => i) };
    reg.inspect(
      snapshot(
        "risk:BTCUSDT",
        "computing",
        ctx({ phase: "risk", symbol: "BTCUSDT", inputs, cycles: 3 }),
      ),
    );
    const detail = reg.detail("risk:BTCUSDT");
    expect(detail).toMatchObject({
      kind: "publisher",
      summary: { key: "risk:BTCUSDT", state: "computing" },
      context: { phase: "risk", symbol: "BTCUSDT", cycles: 3 },
    });
    const closes = (detail?.context as { inputs: { closes: unknown[] } }).inputs.closes;
    expect(closes).toHaveLength(13);
    expect(closes[12]).toBe("… 288 more");
    expect(reg.detail("risk:NOPE")).toBeNull();
  });

  it("one timeline across actors: numbered, in order, newest kept, the same records as each actor's ring", () => {
    const c = clock(0);
    const reg = new VizRegistry({ now: c.now, timelineSize: 5 });
    expect(reg.timelineSeq).toBe(0);
    expect(reg.timeline()).toEqual([]);
    reg.inspect(snapshot("risk:A", "idle"));
    c.advance(1);
    reg.inspect(snapshot("harvest:A", "idle"));
    c.advance(1);
    reg.inspect(microstep("risk:A", "reading", "RUN"));
    expect(reg.timeline().map((t) => [t.seq, t.at, t.key, t.machine, t.event, t.to])).toEqual([
      [1, 0, "risk:A", "publisher", "init", "idle"],
      [2, 1, "harvest:A", "publisher", "init", "idle"],
      [3, 2, "risk:A", "publisher", "RUN", "reading"],
    ]);
    expect(reg.timelineSince(1).map((t) => t.seq)).toEqual([2, 3]);
    expect(reg.timelineSince(3)).toEqual([]);
    for (let i = 0; i < 10; i++)
      reg.inspect(microstep("harvest:A", i % 2 === 0 ? "reading" : "idle", "RUN"));
    expect(reg.timelineSeq).toBe(13);
    expect(reg.timeline().map((t) => t.seq)).toEqual([9, 10, 11, 12, 13]);
    // Older than the ring holds: what is left.
    expect(reg.timelineSince(2).map((t) => t.seq)).toEqual([9, 10, 11, 12, 13]);
    expect(reg.actor("risk:A")?.recent.map((r) => r.event)).toEqual(["init", "RUN"]);
  });

  it("the supervisor: its transitions, the events it receives and its context", () => {
    const reg = new VizRegistry();
    expect(reg.system()).toMatchObject([
      { key: "supervisor", machine: "supervisor", actorId: null, state: null },
    ]);
    expect(reg.detail("supervisor")).toBeNull();
    reg.inspect(supervisorSnapshot("running", 0, "active", { symbols: ["BTCUSDT"] }));
    reg.inspect(
      sentToSupervisor("follower:klines", {
        type: "KLINES.CANDLES",
        symbols: ["BTCUSDT", "ETHUSDT"],
      }),
    );
    reg.inspect(
      sentToSupervisor("follower:klines", {
        type: "KLINES.FAILED",
        error: "ECONNREFUSED",
        consecutiveFailures: 1,
      }),
    );
    // XState's own events and the cycle reports are not the supervisor's news.
    reg.inspect(sentToSupervisor("risk:BTCUSDT", { type: "xstate.done.actor.risk:BTCUSDT" }));
    reg.inspect(microstep("supervisor", "draining", "SHUTDOWN"));
    reg.inspect(
      supervisorSnapshot("draining", 0, "active", { symbols: ["BTCUSDT"], drainRemaining: 3 }),
    );
    reg.inspect(supervisorSnapshot("stopped", 0, "done"));
    const detail = reg.detail("supervisor");
    expect(detail).toMatchObject({
      kind: "system",
      summary: { key: "supervisor", state: "stopped", status: "done", actorId: "supervisor" },
    });
    expect(detail?.recent.map((r) => [r.event, r.from, r.to, r.detail])).toEqual([
      ["CYCLE_DONE", null, "running", null],
      ["KLINES.CANDLES", "running", "running", "from follower:klines; 2 symbols: BTCUSDT, ETHUSDT"],
      ["KLINES.FAILED", "running", "running", "from follower:klines; ECONNREFUSED"],
      ["SHUTDOWN", "running", "draining", null],
      ["CYCLE_DONE", "draining", "stopped", null],
      ["done", "stopped", "stopped", null],
    ]);
    expect(reg.timeline().every((t) => t.key === "supervisor" && t.machine === "supervisor")).toBe(
      true,
    );
  });

  it("the klines follower: one row across restarts, its transitions, its context", () => {
    const reg = new VizRegistry();
    const changes: RegistryChange[] = [];
    reg.subscribe((c) => changes.push(c));
    reg.inspect(actorEvent("follower:klines"));
    reg.inspect(snapshot("follower:klines", "locating", { lastId: null, consecutiveFailures: 0 }));
    reg.inspect(
      microstep("follower:klines", "following", "xstate.done.actor.0.klinesFollower.locating"),
    );
    reg.inspect(
      snapshot("follower:klines", "following", { lastId: "1-0", consecutiveFailures: 0 }),
    );
    expect(reg.system().map((s) => s.key)).toEqual(["supervisor", "follower:klines"]);
    expect(reg.detail("follower:klines")).toMatchObject({
      kind: "system",
      summary: { machine: "klinesFollower", state: "following", restarts: 0 },
      context: { lastId: "1-0" },
    });
    reg.inspect(snapshot("follower:klines#4", "locating", { lastId: null }));
    reg.inspect(snapshot("follower:klines", "stopped", {}, { type: "xstate.stop" }, "stopped"));
    const detail = reg.detail("follower:klines");
    expect(detail?.summary).toMatchObject({
      actorId: "follower:klines#4",
      state: "locating",
      status: "active",
      restarts: 1,
    });
    expect(detail?.recent.map((r) => r.event)).toEqual([
      "init",
      "locateEnd.done",
      "restart",
      "init",
    ]);
    expect(changes.every((c) => c.kind === "system")).toBe(true);
    expect(changes.length).toBeGreaterThanOrEqual(3);
    // Not a publisher row.
    expect(reg.actors()).toEqual([]);
  });
});

describe("VizRegistry on the real service", () => {
  it("a --once pass on the embedded store fills a row per phase and symbol", async () => {
    const symbols = DEMO_SYMBOLS.slice(0, 2);
    const { config } = loadConfig({
      env: {},
      flags: { store: "memory", symbols: symbols.map((s) => s.symbol), logLevel: "silent" },
    });
    const store = new MemoryStore();
    new CandleFeed(store, symbols, 60_000).backfill(300);
    const reg = new VizRegistry();
    const handle = await startService({
      config,
      logger: createLogger({ level: "silent", destination: process.stderr }),
      store,
      once: true,
      inspect: reg.inspect,
    });
    const output = await handle.done;
    expect(output.exitCode).toBe(0);
    const rows = reg.actors();
    expect(rows.map((r) => r.key)).toEqual(
      symbols.flatMap((s) => ["marketstate", "risk", "harvest"].map((p) => `${p}:${s.symbol}`)),
    );
    for (const row of rows) {
      expect(row.restarts).toBe(0);
      expect(row.cycles).toBe(1);
      expect(row.lastOutcome, row.key).toBe("published");
      expect(row.lastPublishedAt).toEqual(expect.any(Number));
      const recent = reg.actor(row.key)?.recent ?? [];
      expect(recent[0]).toMatchObject({ event: "init", from: null, to: "seeding" });
      expect(recent.some((r) => r.event === "cycle: published")).toBe(true);
    }
    expect(reg.supervisor()).toMatchObject({ status: "done", restartTotal: 0 });
    // The supervisor's row and context, and a timeline of every actor.
    const sup = reg.detail("supervisor");
    expect(sup).toMatchObject({ kind: "system", summary: { state: "done", status: "done" } });
    expect((sup?.context as { symbols: string[] }).symbols).toEqual(symbols.map((s) => s.symbol));
    const keys = new Set(reg.timeline().map((t) => t.key));
    expect(keys.has("supervisor")).toBe(true);
    for (const row of rows) expect(keys.has(row.key), row.key).toBe(true);
    const seqs = reg.timeline().map((t) => t.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const risk = reg.detail(rows[1].key);
    expect(risk?.context).toMatchObject({ phase: "risk", symbol: symbols[0].symbol });
  });
});
