import { describe, expect, it } from "vitest";
import { createActor, fromPromise, SimulatedClock } from "xstate";
import { klinesFollowerMachine, type KlinesBatch } from "../../machines/klinesFollower.js";
import { WAKE_SPREAD_MS, type CycleDoneEvent, type PhaseName } from "../../machines/publisher.js";
import {
  KLINES_FOLLOWER_KEY,
  nextPhase,
  supervisorMachine,
  type Escalation,
  type RestartNotice,
  type SymbolChange,
  type WakeNotice,
} from "../../machines/supervisor.js";
import {
  flush,
  scriptedPublisher,
  scriptedSteps,
  type PublisherActions,
  type ScriptedSteps,
  type StepScript,
} from "./helpers.js";

interface Harness {
  steps: Record<PhaseName, ScriptedSteps>;
  cycles: CycleDoneEvent[];
  restarts: RestartNotice[];
  escalations: Escalation[];
  /** What the onSymbols hook was given (its params). */
  symbolChanges: SymbolChange[];
}

function build(
  opts: {
    once?: boolean;
    phases?: PhaseName[];
    symbols?: string[];
    overrides?: Partial<Record<PhaseName, StepScript>>;
    /** Action overrides for the risk publisher (e.g. one that throws, to crash it). */
    riskActions?: PublisherActions;
    now?: () => number;
    restartBudget?: number;
    standby?: boolean;
    /** The service's hand-over after the drain (the lease's release). */
    handOver?: () => Promise<void>;
  } = {},
) {
  const h: Harness = {
    steps: {
      marketstate: scriptedSteps(opts.overrides?.marketstate),
      risk: scriptedSteps(opts.overrides?.risk),
      harvest: scriptedSteps(opts.overrides?.harvest),
    },
    cycles: [],
    restarts: [],
    escalations: [],
    symbolChanges: [],
  };
  const machine = supervisorMachine.provide({
    actors: {
      marketstatePublisher: scriptedPublisher(h.steps.marketstate),
      riskPublisher: scriptedPublisher(h.steps.risk, opts.riskActions),
      harvestPublisher: scriptedPublisher(h.steps.harvest),
      ...(opts.handOver ? { handOver: fromPromise<void>(opts.handOver) } : {}),
    },
    actions: {
      onCycleDone: (_a, e) => {
        h.cycles.push(e);
      },
      onRestart: (_a, r) => {
        h.restarts.push(r);
      },
      onEscalate: (_a, e) => {
        h.escalations.push(e);
      },
      onSymbols: (_a, change) => {
        h.symbolChanges.push(change);
      },
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, {
    clock,
    input: {
      symbols: opts.symbols ?? ["BTCUSDT"],
      phases: opts.phases ?? ["marketstate", "risk", "harvest"],
      intervalsMs: { marketstate: 60_000, risk: 10_000, harvest: 10_000 },
      backoff: { baseMs: 1000, capMs: 8000 },
      once: opts.once,
      restartBudget: opts.restartBudget ?? 5,
      restartWindowMs: 60_000,
      drainTimeoutMs: 5000,
      now: opts.now,
      standby: opts.standby,
    },
  });
  actor.start();
  return { actor, clock, h };
}

describe("nextPhase", () => {
  it("follows marketstate → risk → harvest over the enabled phases", () => {
    expect(nextPhase(["marketstate", "risk", "harvest"], "marketstate")).toBe("risk");
    expect(nextPhase(["harvest", "marketstate"], "marketstate")).toBe("harvest");
    expect(nextPhase(["marketstate", "risk", "harvest"], "harvest")).toBeNull();
  });
});

describe("supervisor", () => {
  it("spawns one publisher per phase and symbol", async () => {
    const { actor } = build({ symbols: ["BTCUSDT", "ETHUSDT"] });
    await flush();
    expect(Object.keys(actor.getSnapshot().children).sort()).toEqual([
      "harvest:BTCUSDT",
      "harvest:ETHUSDT",
      "marketstate:BTCUSDT",
      "marketstate:ETHUSDT",
      "risk:BTCUSDT",
      "risk:ETHUSDT",
    ]);
  });

  it("chains marketstate publish → risk → harvest at once, before any interval", async () => {
    const { actor, h } = build();
    await flush();
    actor.getSnapshot().children["marketstate:BTCUSDT"]!.send({ type: "RUN" });
    await flush(30);
    expect(h.cycles.map((c) => c.phase)).toEqual(["marketstate", "risk", "harvest"]);
    expect(h.cycles[0].chainStartedAt).toBeNull();
    expect(h.cycles[1].chainStartedAt).not.toBeNull();
    expect(h.cycles[2].chainStartedAt).toBe(h.cycles[1].chainStartedAt);
  });

  it("staggers the first interval cycle across symbols within the first second, whatever the interval", async () => {
    const { clock, h } = build({ phases: ["risk"], symbols: ["A", "B"] });
    await flush();
    clock.increment(499);
    await flush(20);
    expect(h.cycles).toEqual([]);
    clock.increment(1); // A at 1/2 of the 1 s window (the interval is 10 s)
    await flush(20);
    expect(h.cycles.map((c) => c.symbol)).toEqual(["A"]);
    clock.increment(500); // B at 2/2
    await flush(20);
    expect(h.cycles.map((c) => c.symbol)).toEqual(["A", "B"]);
    clock.increment(9_499); // A's next cycle comes a whole interval after its first (at 10.5 s)
    await flush(20);
    expect(h.cycles.map((c) => c.symbol)).toEqual(["A", "B"]);
    clock.increment(1);
    await flush(20);
    expect(h.cycles.map((c) => c.symbol)).toEqual(["A", "B", "A"]);
  });

  it("a marketstate skip does not chain in run mode", async () => {
    const { actor, h } = build({
      overrides: {
        marketstate: {
          read: async () => ({
            nowMs: 0,
            read: { ok: false, reason: "insufficient_data", detail: "" },
          }),
        },
      },
    });
    await flush();
    actor.getSnapshot().children["marketstate:BTCUSDT"]!.send({ type: "RUN" });
    await flush(30);
    expect(h.cycles.map((c) => c.phase)).toEqual(["marketstate"]);
  });

  it("once mode runs each phase once per symbol in order and ends with exit code 0", async () => {
    const { actor, h } = build({ once: true, symbols: ["A", "B"] });
    await flush(40);
    expect(actor.getSnapshot().status).toBe("done");
    expect(actor.getSnapshot().output?.exitCode).toBe(0);
    for (const s of ["A", "B"]) {
      expect(h.cycles.filter((c) => c.symbol === s).map((c) => c.phase)).toEqual([
        "marketstate",
        "risk",
        "harvest",
      ]);
    }
  });

  it("once mode exits 1 when any cycle failed, and still runs the rest", async () => {
    const { actor, h } = build({
      once: true,
      overrides: {
        risk: {
          read: async () => {
            throw new Error("io");
          },
        },
      },
    });
    await flush(40);
    expect(actor.getSnapshot().output?.exitCode).toBe(1);
    expect(h.cycles.map((c) => `${c.phase}:${c.outcome}`)).toEqual([
      "marketstate:published",
      "risk:error",
      "harvest:published",
    ]);
  });

  it("once mode with --only risk runs just risk", async () => {
    const { actor, h } = build({ once: true, phases: ["risk"] });
    await flush(40);
    expect(actor.getSnapshot().output?.exitCode).toBe(0);
    expect(h.cycles.map((c) => c.phase)).toEqual(["risk"]);
  });

  it("restarts a crashing actor one-for-one under a new id", async () => {
    let crashes = 0;
    const { actor, clock, h } = build({
      riskActions: {
        startCycle: () => {
          if (crashes === 0) {
            crashes++;
            throw new Error("boom");
          }
        },
      },
    });
    await flush(20);
    clock.increment(10_000); // the risk interval: its first cycle crashes
    await flush(20);
    expect(h.restarts).toHaveLength(1);
    expect(h.restarts[0]).toMatchObject({
      key: "risk:BTCUSDT",
      oldId: "risk:BTCUSDT",
      newId: "risk:BTCUSDT#1",
      error: "boom",
    });
    expect(Object.keys(actor.getSnapshot().children).sort()).toEqual([
      "harvest:BTCUSDT",
      "marketstate:BTCUSDT",
      "risk:BTCUSDT#1",
    ]);
    expect(actor.getSnapshot().status).toBe("active");
  });

  it("escalates with exit code 3 when an actor exhausts its restart budget", async () => {
    const { actor, clock, h } = build({
      restartBudget: 3,
      riskActions: {
        startCycle: () => {
          throw new Error("always");
        },
      },
    });
    // Every cycle of the risk publisher crashes; each restarted one crashes at its first interval.
    for (let i = 0; i < 4; i++) {
      await flush(20);
      clock.increment(10_000);
    }
    await flush(20);
    expect(h.restarts).toHaveLength(3);
    expect(actor.getSnapshot().status).toBe("done");
    expect(actor.getSnapshot().output?.exitCode).toBe(3);
    expect(h.escalations).toHaveLength(1);
    expect(h.escalations[0].actorId).toBe("risk:BTCUSDT#3");
  });

  it("restarts outside the window do not count towards the budget", async () => {
    let t = 0;
    let crash = false;
    const { actor, clock, h } = build({
      phases: ["risk"],
      restartBudget: 1,
      now: () => t,
      riskActions: {
        startCycle: () => {
          if (crash) {
            crash = false;
            throw new Error("x");
          }
        },
      },
    });
    await flush();
    for (let i = 0; i < 3; i++) {
      t += 61_000;
      crash = true;
      clock.increment(10_000);
      await flush(20);
    }
    expect(h.restarts).toHaveLength(3);
    expect(actor.getSnapshot().status).toBe("active");
  });

  it("SHUTDOWN drains every actor and ends with exit code 0", async () => {
    const { actor } = build({ symbols: ["A", "B"] });
    await flush();
    actor.send({ type: "SHUTDOWN" });
    await flush(20);
    expect(actor.getSnapshot().status).toBe("done");
    expect(actor.getSnapshot().output?.exitCode).toBe(0);
  });

  it("SHUTDOWN gives up waiting after drainTimeoutMs", async () => {
    const never = new Promise<never>(() => {});
    const { actor, clock } = build({ overrides: { risk: { publish: () => never } } });
    await flush();
    actor.getSnapshot().children["risk:BTCUSDT"]!.send({ type: "RUN" });
    await flush();
    actor.send({ type: "SHUTDOWN" });
    await flush();
    expect(actor.getSnapshot().status).toBe("active");
    clock.increment(5000);
    await flush();
    expect(actor.getSnapshot().status).toBe("done");
  });
});

describe("the running symbols change live (SYMBOLS.SET)", () => {
  it("spawns publishers for a new symbol and drains those of a removed one; the others run on untouched", async () => {
    const { actor, clock, h } = build({ symbols: ["A", "B"] });
    await flush();
    clock.increment(1000);
    await flush(30);
    const before = actor.getSnapshot().children;
    const aRisk = before["risk:A"];
    actor.send({ type: "SYMBOLS.SET", symbols: ["A", "C"] });
    await flush(30);
    const ctx = actor.getSnapshot().context;
    expect(Object.keys(ctx.actorIds).sort()).toEqual([
      "harvest:A",
      "harvest:C",
      "marketstate:A",
      "marketstate:C",
      "risk:A",
      "risk:C",
    ]);
    expect(ctx.symbols).toEqual(["A", "C"]);
    // B's publishers were idle: they stop at once and are forgotten.
    const children = actor.getSnapshot().children;
    expect(children["risk:B"]).toBeUndefined();
    expect(Object.keys(ctx.retiring)).toEqual([]);
    expect(children["risk:A"]).toBe(aRisk);
    // The onSymbols hook got the change as its params, once.
    expect(h.symbolChanges).toEqual([{ running: ["A", "C"], added: ["C"], removed: ["B"] }]);
    // C's first polls come within the next second.
    const cyclesBefore = h.cycles.filter((c) => c.symbol === "C").length;
    expect(cyclesBefore).toBe(0);
    clock.increment(1000);
    await flush(30);
    expect(
      [...new Set(h.cycles.filter((c) => c.symbol === "C").map((c) => c.phase))].sort(),
    ).toEqual(["harvest", "marketstate", "risk"]);
  });

  it("a removed symbol whose publisher is mid-cycle finishes that cycle first", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { actor, h } = build({
      symbols: ["A", "B"],
      phases: ["risk"],
      overrides: {
        risk: {
          read: async () => {
            await gate;
            return { nowMs: 1, read: { ok: true, value: {} } };
          },
        },
      },
    });
    await flush();
    actor.getSnapshot().children["risk:B"]!.send({ type: "RUN" });
    await flush(10);
    actor.send({ type: "SYMBOLS.SET", symbols: ["A"] });
    await flush(10);
    expect(Object.keys(actor.getSnapshot().context.retiring)).toEqual(["risk:B"]);
    expect(actor.getSnapshot().children["risk:B"]).toBeDefined();
    release();
    await flush(40);
    expect(h.cycles.filter((c) => c.symbol === "B").map((c) => c.outcome)).toEqual(["published"]);
    expect(actor.getSnapshot().children["risk:B"]).toBeUndefined();
    expect(actor.getSnapshot().context.retiring).toEqual({});
    expect(actor.getSnapshot().context.keysById["risk:B"]).toBeUndefined();
  });

  it("a symbol re-added while its old publisher still drains gets a fresh id; shutdown waits for the live ones only", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { actor } = build({
      symbols: ["A"],
      phases: ["risk"],
      overrides: {
        risk: {
          read: async () => {
            await gate;
            return { nowMs: 1, read: { ok: true, value: {} } };
          },
        },
      },
    });
    await flush();
    actor.getSnapshot().children["risk:A"]!.send({ type: "RUN" });
    await flush(10);
    actor.send({ type: "SYMBOLS.SET", symbols: [] });
    actor.send({ type: "SYMBOLS.SET", symbols: ["A"] });
    await flush(10);
    const ids = actor.getSnapshot().context.actorIds;
    expect(ids["risk:A"]).toMatch(/^risk:A~\d+$/);
    release();
    await flush(40);
    actor.send({ type: "SHUTDOWN" });
    await flush(40);
    expect(actor.getSnapshot().status).toBe("done");
  });

  it("--once ignores it", async () => {
    const { actor, h } = build({ once: true, symbols: ["A"] });
    actor.send({ type: "SYMBOLS.SET", symbols: ["A", "B"] });
    await flush(40);
    expect(actor.getSnapshot().context.symbols).toEqual(["A"]);
    expect(h.symbolChanges).toEqual([]);
  });
});

describe("supervisor, STORE.READY (wake on reconnect)", () => {
  it("wakes every publisher in backoff (main) or the klines follower (klines): each retries within WAKE_SPREAD_MS", async () => {
    const down = { value: true };
    const read = async () => {
      if (down.value) throw new Error("not connected");
      return { nowMs: 1, read: { ok: true as const, value: 1 } };
    };
    let locates = 0;
    const machine = supervisorMachine.provide({
      actors: {
        marketstatePublisher: scriptedPublisher(scriptedSteps({ read })),
        riskPublisher: scriptedPublisher(scriptedSteps({ read })),
        harvestPublisher: scriptedPublisher(scriptedSteps({ read })),
        klinesFollower: klinesFollowerMachine.provide({
          actors: {
            locateEnd: fromPromise(async () => {
              locates++;
              if (down.value) throw new Error("not connected");
              return "0-0";
            }),
            readBatch: fromPromise<KlinesBatch, { afterId: string }>(
              () => new Promise(() => undefined),
            ),
          },
        }),
      },
    });
    const cycles: CycleDoneEvent[] = [];
    const wakes: WakeNotice[] = [];
    const clock = new SimulatedClock();
    const actor = createActor(
      machine.provide({
        actions: {
          onCycleDone: (_a, e) => {
            cycles.push(e);
          },
          onWake: (_a, w) => {
            wakes.push(w);
          },
        },
      }),
      {
        clock,
        input: {
          symbols: ["BTCUSDT", "ETHUSDT"],
          phases: ["marketstate", "risk", "harvest"],
          intervalsMs: { marketstate: 60_000, risk: 10_000, harvest: 10_000 },
          backoff: { baseMs: 1000, capMs: 30_000 },
          restartBudget: 5,
          restartWindowMs: 60_000,
          drainTimeoutMs: 5000,
          followKlines: true,
        },
      },
    );
    actor.start();
    await flush(20);
    // The outage: every actor fails again and again, its backoff growing towards the cap.
    for (let t = 0; t < 60_000; t += 500) {
      clock.increment(500);
      await flush(5);
    }
    const children = () =>
      actor.getSnapshot().children as unknown as Record<
        string,
        { getSnapshot(): { value: unknown; context: Record<string, unknown> } }
      >;
    const publisherIds = Object.keys(children()).filter((id) => id !== KLINES_FOLLOWER_KEY);
    expect(publisherIds).toHaveLength(6);
    for (const id of [...publisherIds, KLINES_FOLLOWER_KEY]) {
      expect(children()[id].getSnapshot().value, id).toBe("backoff");
      expect(children()[id].getSnapshot().context.retryDelayMs, id).toBeGreaterThan(2000);
    }
    down.value = false;
    const before = cycles.length;
    const locatesBefore = locates;
    actor.send({ type: "STORE.READY", connection: "main" });
    expect(wakes).toEqual([{ connection: "main", actors: 6 }]);
    clock.increment(WAKE_SPREAD_MS);
    await flush(20);
    const after = cycles.slice(before);
    expect(new Set(after.map((c) => `${c.phase}:${c.symbol}`)).size).toBe(6);
    // Each publisher's first cycle after the wake was started by it (the chain then runs more).
    const first = new Map<string, CycleDoneEvent>();
    for (const c of after)
      if (!first.has(`${c.phase}:${c.symbol}`)) first.set(`${c.phase}:${c.symbol}`, c);
    expect([...first.values()].map((c) => [c.outcome, c.trigger])).toEqual(
      [...first.values()].map(() => ["published", "wake"]),
    );
    // The follower uses a connection of its own: only its own STORE.READY wakes it.
    expect(locates).toBe(locatesBefore);
    expect(children()[KLINES_FOLLOWER_KEY].getSnapshot().value).toBe("backoff");
    actor.send({ type: "STORE.READY", connection: "klines" });
    expect(wakes).toEqual([
      { connection: "main", actors: 6 },
      { connection: "klines", actors: 1 },
    ]);
    clock.increment(WAKE_SPREAD_MS);
    await flush(20);
    expect(locates).toBe(locatesBefore + 1);
    expect(children()[KLINES_FOLLOWER_KEY].getSnapshot()).toMatchObject({
      value: "following",
      context: { lastRetry: "wake", consecutiveFailures: 0 },
    });
    actor.stop();
  });
});

describe("the single-writer lease (standby, LEASE.ACQUIRED, LEASE.LOST)", () => {
  it("a standby runs no publisher; it follows SYMBOLS.SET and runs them all once the lease is its own", async () => {
    const { actor, clock, h } = build({ symbols: ["A"], standby: true });
    await flush();
    expect(actor.getSnapshot().value).toBe("standby");
    expect(actor.getSnapshot().children).toEqual({});
    clock.increment(60_000);
    await flush(30);
    expect(h.cycles).toEqual([]);
    actor.send({ type: "SYMBOLS.SET", symbols: ["A", "B"] });
    await flush();
    expect(actor.getSnapshot().context.symbols).toEqual(["A", "B"]);
    expect(actor.getSnapshot().children).toEqual({});
    expect(h.symbolChanges).toEqual([{ running: ["A", "B"], added: ["B"], removed: [] }]);
    // The same set again is no change: the hook is not called.
    actor.send({ type: "SYMBOLS.SET", symbols: ["B", "A"] });
    await flush();
    expect(h.symbolChanges).toHaveLength(1);

    actor.send({ type: "LEASE.ACQUIRED" });
    await flush();
    expect(actor.getSnapshot().value).toBe("running");
    expect(Object.keys(actor.getSnapshot().context.actorIds).sort()).toEqual([
      "harvest:A",
      "harvest:B",
      "marketstate:A",
      "marketstate:B",
      "risk:A",
      "risk:B",
    ]);
    clock.increment(1000);
    await flush(30);
    expect(new Set(h.cycles.map((c) => `${c.phase}:${c.symbol}`)).size).toBe(6);
  });

  it("LEASE.LOST stops every publisher at once, mid-cycle included; nothing more is reported until the lease is back", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let reads = 0;
    const { actor, clock, h } = build({
      symbols: ["A", "B"],
      phases: ["risk"],
      overrides: {
        risk: {
          read: async () => {
            if (++reads === 1) await gate;
            return { nowMs: 1, read: { ok: true, value: {} } };
          },
        },
      },
    });
    await flush();
    actor.getSnapshot().children["risk:A"]!.send({ type: "RUN" });
    await flush(10);
    actor.send({
      type: "LEASE.LOST",
      reason: "the lease was taken over by h:1:abcdef12",
      holder: "h:1:abcdef12",
    });
    await flush(10);
    expect(actor.getSnapshot().value).toBe("standby");
    expect(actor.getSnapshot().children).toEqual({});
    expect(actor.getSnapshot().context.actorIds).toEqual({});
    const before = h.cycles.length;
    release();
    clock.increment(60_000);
    await flush(40);
    // The cycle that was under way never reports (its publish would have been refused by the fence).
    expect(h.cycles.length).toBe(before);

    actor.send({ type: "LEASE.ACQUIRED" });
    await flush();
    clock.increment(1000);
    await flush(30);
    expect(new Set(h.cycles.slice(before).map((c) => c.symbol))).toEqual(new Set(["A", "B"]));
    expect(h.restarts).toEqual([]);
  });

  it("after the drain the lease is handed over first, while the drained children are still there; then they are torn down", async () => {
    let release!: () => void;
    const handed = new Promise<void>((resolve) => (release = resolve));
    const seen: Array<{ state: string; children: number }> = [];
    let supervisor: {
      getSnapshot(): { value: unknown; children: Record<string, unknown> };
    } | null = null;
    const { actor } = build({
      symbols: ["A", "B"],
      handOver: async () => {
        // The publishers (phase:symbol), beside the invoked hand-over itself.
        seen.push({
          state: String(supervisor!.getSnapshot().value),
          children: Object.keys(supervisor!.getSnapshot().children).filter((id) => id.includes(":"))
            .length,
        });
        await handed;
      },
    });
    supervisor = actor;
    await flush();
    actor.send({ type: "SHUTDOWN" });
    await flush(20);
    expect(actor.getSnapshot().value).toBe("handingOver");
    expect(seen).toEqual([{ state: "handingOver", children: 6 }]);
    expect(actor.getSnapshot().status).toBe("active");
    release();
    await flush(20);
    expect(actor.getSnapshot().status).toBe("done");
    expect(actor.getSnapshot().output).toMatchObject({ exitCode: 0, reason: "shut down" });
  });

  it("SHUTDOWN of a standby ends at once with exit 0", async () => {
    const { actor } = build({ standby: true });
    await flush();
    actor.send({ type: "SHUTDOWN" });
    await flush();
    expect(actor.getSnapshot().status).toBe("done");
    expect(actor.getSnapshot().output).toMatchObject({ exitCode: 0, reason: "shut down" });
  });

  it("--once never stands by (it takes the lease before the supervisor starts, or does not run); a loss mid-pass leaves it to the fence", async () => {
    const { actor } = build({ once: true, standby: true });
    await flush();
    expect(actor.getSnapshot().value).not.toBe("standby");
    const lost = build({ once: true, phases: ["risk"], symbols: ["A", "B"] });
    await flush();
    lost.actor.send({ type: "LEASE.LOST", reason: "taken over", holder: "h:1:abcdef12" });
    await flush(40);
    // The pass goes on (its writes would be refused by the fence) and ends: no hang in standby.
    expect(lost.actor.getSnapshot().status).toBe("done");
    expect(lost.h.cycles.map((c) => c.symbol).sort()).toEqual(["A", "B"]);
  });
});
