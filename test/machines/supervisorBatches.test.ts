// A large SYMBOLS.SET is applied in batches of SYMBOL_BATCH symbols, the next batch after a timer
// (SYMBOLS.BATCH), so the event loop runs in between (real clock: one batch per timer); a newer set replaces the one being worked
// towards; a loss of the lease mid-way leaves the newest set as the set to run on takeover.
import { describe, expect, it } from "vitest";
import { createActor, SimulatedClock } from "xstate";
import { SYMBOL_BATCH, supervisorMachine, type SymbolChange } from "../../machines/supervisor.js";
import { flush, scriptedPublisher, scriptedSteps } from "./helpers.js";

const names = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, "0")}`);

function build(symbols: string[]) {
  const changes: SymbolChange[] = [];
  const machine = supervisorMachine.provide({
    actors: {
      marketstatePublisher: scriptedPublisher(scriptedSteps()),
      riskPublisher: scriptedPublisher(scriptedSteps()),
      harvestPublisher: scriptedPublisher(scriptedSteps()),
    },
    actions: {
      onSymbols: (_a, change) => {
        changes.push(change);
      },
    },
  });
  const clock = new SimulatedClock();
  const actor = createActor(machine, {
    clock,
    input: {
      symbols,
      phases: ["marketstate", "risk", "harvest"],
      intervalsMs: { marketstate: 60_000, risk: 60_000, harvest: 60_000 },
      backoff: { baseMs: 1000, capMs: 8000 },
      restartBudget: 5,
      restartWindowMs: 60_000,
      drainTimeoutMs: 5000,
      now: () => clock.now(),
    },
  });
  actor.start();
  return { actor, clock, changes };
}

const publishersOf = (actor: ReturnType<typeof build>["actor"]): number =>
  Object.keys(actor.getSnapshot().context.actorIds).length;

describe("a large symbol-set change is applied in batches", () => {
  it(`swapping 120 symbols for 120 others takes ceil(120 / ${SYMBOL_BATCH}) batches, the later ones after a timer`, async () => {
    const before = names("A", 120);
    const after = names("B", 120);
    const { actor, clock, changes } = build(before);
    await flush();
    actor.send({ type: "SYMBOLS.SET", symbols: after });
    await flush();
    // The first batch at once: 50 out, 50 in; the rest waits for the timer.
    expect(changes).toHaveLength(1);
    expect(changes[0].removed).toHaveLength(SYMBOL_BATCH);
    expect(changes[0].added).toHaveLength(SYMBOL_BATCH);
    expect(changes[0].pending).toBe(2 * (120 - SYMBOL_BATCH));
    expect(actor.getSnapshot().context.symbols).toHaveLength(120);
    await flush(30);
    expect(changes).toHaveLength(1);
    // The timer (the simulated clock runs every timer that falls due, those they set included).
    clock.increment(0);
    await flush();
    expect(changes).toHaveLength(3);
    expect(changes[1].pending).toBe(2 * (120 - 2 * SYMBOL_BATCH));
    expect(changes[2].pending).toBeUndefined();
    expect([...actor.getSnapshot().context.symbols].sort()).toEqual(after);
    expect(actor.getSnapshot().context.wantedSymbols).toBeNull();
    expect(publishersOf(actor)).toBe(3 * 120);
    // Nothing more is scheduled.
    clock.increment(1000);
    await flush();
    expect(changes).toHaveLength(3);
  });

  it("the newest set wins: a set sent mid-way replaces the one being applied", async () => {
    const { actor, clock, changes } = build(names("A", 10));
    await flush();
    actor.send({ type: "SYMBOLS.SET", symbols: names("B", 200) });
    await flush();
    expect(actor.getSnapshot().context.symbols).toHaveLength(10 - 10 + SYMBOL_BATCH);
    actor.send({ type: "SYMBOLS.SET", symbols: names("C", 20) });
    await flush();
    for (let i = 0; i < 5 && actor.getSnapshot().context.wantedSymbols !== null; i++) {
      clock.increment(0);
      await flush();
    }
    expect([...actor.getSnapshot().context.symbols].sort()).toEqual(names("C", 20));
    expect(publishersOf(actor)).toBe(3 * 20);
    // Never more than one batch's worth of symbols in a change.
    for (const change of changes) {
      expect(change.added.length).toBeLessThanOrEqual(SYMBOL_BATCH);
      expect(change.removed.length).toBeLessThanOrEqual(SYMBOL_BATCH);
    }
  });

  it("a lease lost mid-way: the standby keeps the newest set and runs it all on takeover", async () => {
    const { actor, clock } = build(names("A", 10));
    await flush();
    actor.send({ type: "SYMBOLS.SET", symbols: names("B", 150) });
    await flush();
    actor.send({ type: "LEASE.LOST", reason: "taken over", holder: "other" });
    await flush();
    expect(actor.getSnapshot().matches("standby")).toBe(true);
    expect([...actor.getSnapshot().context.symbols].sort()).toEqual(names("B", 150));
    clock.increment(0);
    await flush();
    actor.send({ type: "LEASE.ACQUIRED" });
    await flush();
    expect(publishersOf(actor)).toBe(3 * 150);
    // A later change is batched again (the pending flag was reset with the standby).
    actor.send({ type: "SYMBOLS.SET", symbols: names("C", 100) });
    await flush();
    for (let i = 0; i < 10 && actor.getSnapshot().context.wantedSymbols !== null; i++) {
      clock.increment(0);
      await flush();
    }
    expect([...actor.getSnapshot().context.symbols].sort()).toEqual(names("C", 100));
  });
});
