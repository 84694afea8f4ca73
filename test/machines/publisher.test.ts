import { describe, expect, it } from "vitest";
import { createActor, SimulatedClock } from "xstate";
import {
  backoffDelayMs,
  CONTEXT_FIELD_BUDGET,
  wakeDelayMs,
  WAKE_SPREAD_MS,
  type CycleDoneEvent,
} from "../../machines/publisher.js";
import {
  deferred,
  flush,
  scriptedPublisher,
  scriptedSteps,
  type ScriptedSteps,
} from "./helpers.js";

function start(
  steps: ScriptedSteps,
  opts: { once?: boolean; intervalMs?: number; baseMs?: number } = {},
) {
  const clock = new SimulatedClock();
  const reports: CycleDoneEvent[] = [];
  const machine = scriptedPublisher(steps, {
    reportCycle: ({ context }) => {
      reports.push({
        type: "CYCLE_DONE",
        phase: context.phase,
        symbol: context.symbol,
        outcome: context.lastOutcome ?? "error",
        reason: context.lastSkipReason,
        detail: context.lastError,
        summary: context.lastSummary,
        figures: context.cycle.figures,
        labels: context.cycle.labels,
        chainStartedAt: context.cycle.chainStartedAt,
        startedAtMs: null,
        consecutiveFailures: context.consecutiveFailures,
      });
    },
  });
  const actor = createActor(machine, {
    clock,
    input: {
      phase: "risk",
      symbol: "BTCUSDT",
      intervalMs: opts.intervalMs ?? 10_000,
      backoff: { baseMs: opts.baseMs ?? 1000, capMs: 8000 },
      once: opts.once,
    },
  });
  // Every state entered, including the transient computing/deciding (seen as microsteps).
  const states: string[] = [];
  const note = (value: unknown): void => {
    if (states[states.length - 1] !== value) states.push(String(value));
  };
  actor.system.inspect((ev) => {
    if (
      (ev.type === "@xstate.microstep" || ev.type === "@xstate.snapshot") &&
      ev.actorRef === actor
    ) {
      if ("value" in ev.snapshot) note(ev.snapshot.value);
    }
  });
  actor.start();
  return { actor, clock, reports, states };
}

describe("backoffDelayMs", () => {
  it("doubles up to the cap, with jitter in the upper half", () => {
    const s = { baseMs: 1000, capMs: 8000 };
    expect(backoffDelayMs(1, s, () => 0)).toBe(500);
    expect(backoffDelayMs(1, s, () => 1)).toBe(1000);
    expect(backoffDelayMs(3, s, () => 1)).toBe(4000);
    expect(backoffDelayMs(10, s, () => 1)).toBe(8000);
    expect(backoffDelayMs(10, s, () => 0)).toBe(4000);
  });
});

describe("publisher machine", () => {
  it("walks seeding → idle → reading → computing → deciding → publishing → idle", async () => {
    const steps = scriptedSteps();
    const { actor, clock, reports, states } = start(steps);
    await flush();
    expect(actor.getSnapshot().value).toBe("idle");
    clock.increment(10_000);
    await flush();
    expect(states).toEqual([
      "seeding",
      "idle",
      "reading",
      "computing",
      "deciding",
      "publishing",
      "idle",
    ]);
    expect(reports.map((r) => r.outcome)).toEqual(["published"]);
    expect(actor.getSnapshot().context.rateLimit.memory).toEqual({ published: true });
  });

  it("rate-limited cycles heartbeat instead of publishing", async () => {
    const steps = scriptedSteps({ decide: () => ({ publish: false, why: "rate_limited" }) });
    const { actor, reports, states } = start(steps);
    await flush();
    actor.send({ type: "RUN" });
    await flush();
    expect(states).toContain("heartbeating");
    expect(steps.calls.publish).toBe(0);
    expect(steps.calls.heartbeat).toBe(1);
    expect(reports.map((r) => r.outcome)).toEqual(["heartbeat"]);
  });

  it("a skip returns to idle without backoff and records the reason", async () => {
    const steps = scriptedSteps({
      read: async () => ({ nowMs: 0, read: { ok: false, reason: "no_position", detail: "none" } }),
    });
    const { actor, reports, states } = start(steps);
    await flush();
    actor.send({ type: "RUN" });
    await flush();
    expect(states).not.toContain("backoff");
    expect(actor.getSnapshot().value).toBe("idle");
    expect(actor.getSnapshot().context.lastSkipReason).toBe("no_position");
    expect(actor.getSnapshot().context.consecutiveFailures).toBe(0);
    expect(reports.map((r) => r.outcome)).toEqual(["skipped"]);
  });

  it("an I/O failure backs off with growing delays and resets after a success", async () => {
    let failing = true;
    const steps = scriptedSteps({
      read: async () => {
        if (failing) throw new Error("ECONNREFUSED");
        return { nowMs: 0, read: { ok: true, value: 1 } };
      },
    });
    const { actor, clock } = start(steps);
    await flush();
    actor.send({ type: "RUN" });
    await flush();
    expect(actor.getSnapshot().value).toBe("backoff");
    expect(actor.getSnapshot().context.consecutiveFailures).toBe(1);
    // failure 1: delay in [500, 1000]
    clock.increment(499);
    await flush();
    expect(steps.calls.read).toBe(1);
    clock.increment(501);
    await flush();
    expect(steps.calls.read).toBe(2);
    expect(actor.getSnapshot().context.consecutiveFailures).toBe(2);
    // failure 2: delay in [1000, 2000] — not retried after 999 ms
    clock.increment(999);
    await flush();
    expect(steps.calls.read).toBe(2);
    clock.increment(1001);
    await flush();
    expect(steps.calls.read).toBe(3);
    expect(actor.getSnapshot().context.consecutiveFailures).toBe(3);
    failing = false;
    clock.increment(4000);
    await flush();
    expect(steps.calls.read).toBe(4);
    expect(actor.getSnapshot().value).toBe("idle");
    expect(actor.getSnapshot().context.consecutiveFailures).toBe(0);
  });

  it("never overlaps cycles: a RUN during a cycle is run once right after it", async () => {
    const gate = deferred<{ memory: unknown; summary: string; figures: Record<string, number> }>();
    let publishes = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const steps = scriptedSteps({
      publish: async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        publishes++;
        const out =
          publishes === 1 ? await gate.promise : { memory: 2, summary: "two", figures: {} };
        inFlight--;
        return out;
      },
    });
    const { actor } = start(steps);
    await flush();
    actor.send({ type: "RUN" });
    await flush();
    expect(actor.getSnapshot().value).toBe("publishing");
    actor.send({ type: "RUN" });
    actor.send({ type: "RUN" });
    await flush();
    expect(steps.calls.read).toBe(1);
    gate.resolve({ memory: 1, summary: "one", figures: {} });
    await flush();
    expect(steps.calls.read).toBe(2);
    expect(maxInFlight).toBe(1);
    expect(actor.getSnapshot().value).toBe("idle");
  });

  it("a compute error is reported as an error without backoff", async () => {
    const steps = scriptedSteps({
      compute: () => {
        throw new Error("bug");
      },
    });
    const { actor, reports } = start(steps);
    await flush();
    actor.send({ type: "RUN" });
    await flush();
    expect(actor.getSnapshot().value).toBe("idle");
    expect(reports.map((r) => r.outcome)).toEqual(["error"]);
  });

  it("once mode: no interval cycles, and a failure is reported without retry", async () => {
    const steps = scriptedSteps({
      publish: async () => {
        throw new Error("timeout");
      },
    });
    const { actor, clock, reports } = start(steps, { once: true });
    await flush();
    clock.increment(60_000);
    await flush();
    expect(steps.calls.read).toBe(0);
    actor.send({ type: "RUN" });
    await flush();
    clock.increment(60_000);
    await flush();
    expect(reports.map((r) => r.outcome)).toEqual(["error"]);
    expect(steps.calls.read).toBe(1);
    expect(actor.getSnapshot().value).toBe("idle");
  });

  it("DRAIN lets the cycle under way finish, then stops", async () => {
    const gate = deferred<{ memory: unknown; summary: string; figures: Record<string, number> }>();
    const steps = scriptedSteps({ publish: () => gate.promise });
    const { actor } = start(steps);
    await flush();
    actor.send({ type: "RUN" });
    await flush();
    actor.send({ type: "DRAIN" });
    await flush();
    expect(actor.getSnapshot().value).toBe("publishing");
    gate.resolve({ memory: 1, summary: "x", figures: {} });
    await flush();
    expect(actor.getSnapshot().status).toBe("done");
    expect(steps.calls.publish).toBe(1);
  });

  it("seeding failures back off and retry seeding", async () => {
    let fail = true;
    const steps = scriptedSteps({
      seed: async () => {
        if (fail) throw new Error("down");
        return { seeded: 1 };
      },
    });
    const { actor, clock } = start(steps);
    await flush();
    expect(actor.getSnapshot().value).toBe("backoff");
    fail = false;
    clock.increment(1000);
    await flush();
    expect(actor.getSnapshot().value).toBe("idle");
    expect(actor.getSnapshot().context.rateLimit.memory).toEqual({ seeded: 1 });
  });
});

describe("publisher machine, --once seeding failure", () => {
  it("reports exactly one error for a RUN that arrived while seeding failed", async () => {
    const steps = scriptedSteps({
      seed: async () => {
        throw new Error("down");
      },
    });
    const { actor, reports } = start(steps, { once: true });
    actor.send({ type: "RUN" });
    await flush();
    expect(reports.map((r) => r.outcome)).toEqual(["error"]);
    expect(steps.calls.read).toBe(0);
    expect(actor.getSnapshot().value).toBe("idle");
  });
});

describe("wakeDelayMs", () => {
  it("is uniform in [0, WAKE_SPREAD_MS)", () => {
    expect(WAKE_SPREAD_MS).toBe(250);
    expect(wakeDelayMs(250, () => 0)).toBe(0);
    expect(wakeDelayMs(250, () => 0.5)).toBe(125);
    expect(wakeDelayMs(250, () => 0.999_999)).toBe(249);
    expect(wakeDelayMs(250, () => 1)).toBe(249);
    for (let i = 0; i < 1000; i++) {
      const ms = wakeDelayMs();
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(WAKE_SPREAD_MS);
    }
  });
});

describe("publisher machine, WAKE (the store is ready again)", () => {
  /** A publisher whose reads fail while `down.value`; after `failures` failures it sits in backoff. */
  async function inLongBackoff(failures: number) {
    const down = { value: true };
    const steps = scriptedSteps({
      read: async () => {
        if (down.value) throw new Error("not connected");
        return { nowMs: 1, read: { ok: true, value: 1 } };
      },
    });
    const run = start(steps);
    await flush();
    run.actor.send({ type: "RUN" });
    await flush();
    while (run.actor.getSnapshot().context.consecutiveFailures < failures) {
      run.clock.increment(run.actor.getSnapshot().context.retryDelayMs ?? 0);
      await flush();
    }
    return { ...run, steps, down };
  }

  it("cuts a long backoff short: the retry comes within WAKE_SPREAD_MS, as a wake cycle", async () => {
    const { actor, clock, steps, down, reports } = await inLongBackoff(4);
    const snapshot = actor.getSnapshot();
    expect(snapshot.value).toBe("backoff");
    // Failure 4: a delay in [4000, 8000] ms; the retry would come seconds from now.
    expect(snapshot.context.retryDelayMs).toBeGreaterThanOrEqual(4000);
    const reads = steps.calls.read;
    down.value = false;
    actor.send({ type: "WAKE" });
    expect(actor.getSnapshot().value).toBe("backoff");
    expect(actor.getSnapshot().context.woken).toBe(true);
    expect(actor.getSnapshot().context.retryDelayMs).toBeLessThan(WAKE_SPREAD_MS);
    clock.increment(WAKE_SPREAD_MS - 1);
    await flush();
    expect(steps.calls.read).toBe(reads + 1);
    expect(actor.getSnapshot().value).toBe("idle");
    expect(actor.getSnapshot().context).toMatchObject({
      cycle: { trigger: "wake" },
      consecutiveFailures: 0,
      woken: false,
      pending: { wake: false },
    });
    expect(reports.at(-1)?.outcome).toBe("published");
  });

  it("a second WAKE does not re-arm (the retry is never pushed later), nor does one into a short backoff", async () => {
    const { actor, clock, steps } = await inLongBackoff(3);
    actor.send({ type: "WAKE" });
    const armed = actor.getSnapshot().context.retryDelayMs;
    actor.send({ type: "WAKE" });
    expect(actor.getSnapshot().context.retryDelayMs).toBe(armed);
    const reads = steps.calls.read;
    clock.increment(armed ?? 0);
    await flush();
    expect(steps.calls.read).toBe(reads + 1);

    // Base 100 ms: the first backoff is 50–100 ms, shorter than any wake delay could be.
    const short = start(
      scriptedSteps({
        read: async () => {
          throw new Error("down");
        },
      }),
      { baseMs: 100 },
    );
    await flush();
    short.actor.send({ type: "RUN" });
    await flush();
    const before = short.actor.getSnapshot().context;
    expect(before.retryDelayMs).toBeLessThanOrEqual(100);
    short.actor.send({ type: "WAKE" });
    expect(short.actor.getSnapshot().context.retryDelayMs).toBe(before.retryDelayMs);
    expect(short.actor.getSnapshot().context.woken).toBe(false);
  });

  it("a WAKE during a cycle that then fails makes its retry the wake delay", async () => {
    const gate = deferred<never>();
    let calls = 0;
    const steps = scriptedSteps({
      read: async () => {
        calls++;
        if (calls === 1) return await gate.promise;
        return { nowMs: 1, read: { ok: true, value: 1 } };
      },
    });
    const { actor, clock } = start(steps);
    await flush();
    actor.send({ type: "RUN" });
    await flush();
    expect(actor.getSnapshot().value).toBe("reading");
    actor.send({ type: "WAKE" });
    expect(actor.getSnapshot().context.pending.wake).toBe(true);
    gate.reject(new Error("not connected"));
    await flush();
    expect(actor.getSnapshot().value).toBe("backoff");
    expect(actor.getSnapshot().context.woken).toBe(true);
    expect(actor.getSnapshot().context.retryDelayMs).toBeLessThan(WAKE_SPREAD_MS);
    clock.increment(WAKE_SPREAD_MS);
    await flush();
    expect(actor.getSnapshot().context).toMatchObject({
      cycle: { trigger: "wake" },
      lastOutcome: "published",
    });
  });

  it("a WAKE during a cycle that succeeds is forgotten: a later failure backs off as usual", async () => {
    const gate = deferred<{ nowMs: number; read: { ok: true; value: number } }>();
    let calls = 0;
    const steps = scriptedSteps({
      read: async () => {
        calls++;
        if (calls === 1) return await gate.promise;
        throw new Error("down again");
      },
    });
    const { actor } = start(steps);
    await flush();
    actor.send({ type: "RUN" });
    await flush();
    actor.send({ type: "WAKE" });
    gate.resolve({ nowMs: 1, read: { ok: true, value: 1 } });
    await flush();
    expect(actor.getSnapshot().value).toBe("idle");
    expect(actor.getSnapshot().context.pending.wake).toBe(false);
    // A WAKE while idle is forgotten as the next cycle starts.
    actor.send({ type: "WAKE" });
    actor.send({ type: "RUN" });
    await flush();
    expect(actor.getSnapshot().value).toBe("backoff");
    expect(actor.getSnapshot().context.woken).toBe(false);
    expect(actor.getSnapshot().context.retryDelayMs).toBeGreaterThanOrEqual(500);
  });

  it("after a failed publish the wake retry re-seeds, then runs the cycle at once, as a wake cycle", async () => {
    let failing = true;
    const steps = scriptedSteps({
      publish: async () => {
        if (failing) throw new Error("connection lost before the reply");
        return { memory: { published: true }, summary: "ok", figures: {} };
      },
    });
    const { actor, clock } = start(steps);
    await flush();
    actor.send({ type: "RUN" });
    await flush();
    expect(actor.getSnapshot().value).toBe("backoff");
    expect(actor.getSnapshot().context.rateLimit.seeded).toBe(false);
    failing = false;
    actor.send({ type: "WAKE" });
    clock.increment(WAKE_SPREAD_MS);
    await flush();
    expect(steps.calls.seed).toBe(2);
    expect(steps.calls.publish).toBe(2);
    expect(actor.getSnapshot().context).toMatchObject({
      cycle: { trigger: "wake" },
      lastOutcome: "published",
      rateLimit: { seeded: true },
    });
  });

  it("reports what started each cycle", async () => {
    const steps = scriptedSteps();
    const { actor, clock } = start(steps);
    await flush();
    clock.increment(10_000);
    await flush();
    expect(actor.getSnapshot().context.cycle.trigger).toBe("interval");
    actor.send({ type: "RUN" });
    await flush();
    expect(actor.getSnapshot().context.cycle.trigger).toBe("run");
  });
});

// XState's assign copies the context with Object.assign({}, context, update); past 19 top-level
// properties V8 makes that copy a dictionary (slow to copy and read, ~1 KB of garbage per copy),
// and the publisher assigns about five times a cycle. The budget keeps a margin below 19.
describe("publisher context", () => {
  it(`keeps at most ${CONTEXT_FIELD_BUDGET} top-level fields in every state it passes`, async () => {
    expect(CONTEXT_FIELD_BUDGET).toBeLessThanOrEqual(16);
    let failRead = false;
    const steps = scriptedSteps({
      read: async () => {
        if (failRead) throw new Error("down");
        return { nowMs: 5, read: { ok: true, value: { x: 1 } } };
      },
    });
    const { actor, clock } = start(steps);
    const widest = { n: 0, keys: [] as string[] };
    actor.subscribe((snapshot) => {
      const keys = Object.keys(snapshot.context);
      if (keys.length > widest.n) Object.assign(widest, { n: keys.length, keys });
    });
    await flush();
    actor.send({ type: "RUN" });
    await flush();
    failRead = true;
    actor.send({ type: "RUN" });
    actor.send({ type: "WAKE" });
    await flush();
    expect(actor.getSnapshot().value).toBe("backoff");
    failRead = false;
    clock.increment(10_000);
    await flush();
    expect(actor.getSnapshot().context.lastOutcome).toBe("published");
    expect(widest.n, widest.keys.join(", ")).toBeGreaterThan(0);
    expect(widest.n, widest.keys.join(", ")).toBeLessThanOrEqual(CONTEXT_FIELD_BUDGET);
  });
});

describe("publisher machinery per cycle", () => {
  /** A publisher on a simulated clock, with every actor created and every context it held. */
  function observed(steps: ScriptedSteps) {
    const created: string[] = [];
    const contexts = new Set<unknown>();
    const clock = new SimulatedClock();
    const actor = createActor(scriptedPublisher(steps, { reportCycle: () => undefined }), {
      clock,
      input: {
        phase: "risk",
        symbol: "BTCUSDT",
        intervalMs: 10_000,
        backoff: { baseMs: 1000, capMs: 8000 },
      },
      inspect: (ev) => {
        if (ev.type === "@xstate.actor") created.push(ev.actorRef.sessionId);
        if (
          (ev.type === "@xstate.microstep" || ev.type === "@xstate.snapshot") &&
          ev.actorRef === actor &&
          "context" in ev.snapshot
        )
          contexts.add(ev.snapshot.context);
      },
    });
    actor.start();
    return { actor, clock, created, contexts };
  }

  it("spawns no actor per cycle: its timer and its step actor live as long as it does", async () => {
    let fail = false;
    const steps = scriptedSteps({
      publish: async () => {
        if (fail) throw new Error("down");
        return { memory: { published: true }, summary: "ok", figures: {} };
      },
    });
    const { actor, clock, created } = observed(steps);
    await flush();
    // The publisher, its timer and its step actor.
    expect(created).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      actor.send({ type: "RUN" });
      await flush();
    }
    fail = true;
    actor.send({ type: "RUN" });
    await flush();
    expect(actor.getSnapshot().value).toBe("backoff");
    fail = false;
    clock.increment(10_000); // the retry re-seeds (a failed publish), then runs the cycle
    await flush();
    expect(actor.getSnapshot().context.lastOutcome).toBe("published");
    expect(steps.calls.seed).toBe(2);
    expect(steps.calls.publish).toBe(5);
    expect(created).toHaveLength(3);
  });

  it("copies the context three times per published cycle: its start, read + compute + decide, its end", async () => {
    const steps = scriptedSteps();
    const { actor, contexts } = observed(steps);
    await flush();
    contexts.clear();
    contexts.add(actor.getSnapshot().context);
    actor.send({ type: "RUN" });
    await flush();
    expect(actor.getSnapshot().context.lastOutcome).toBe("published");
    expect(contexts.size - 1).toBe(3);
  });
});
