import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { backoffDelayMs, type CycleDoneEvent } from '../../machines/publisher.js';
import { deferred, flush, scriptedPublisher, scriptedSteps, type ScriptedSteps } from './helpers.js';

function start(steps: ScriptedSteps, opts: { once?: boolean; intervalMs?: number } = {}) {
  const clock = new SimulatedClock();
  const reports: CycleDoneEvent[] = [];
  const machine = scriptedPublisher(steps, {
      reportCycle: ({ context }) => {
        reports.push({
          type: 'CYCLE_DONE', phase: context.phase, symbol: context.symbol, outcome: context.lastOutcome ?? 'error',
          reason: context.lastSkipReason, detail: context.lastError, summary: context.lastSummary, figures: context.lastFigures, labels: context.lastLabels,
          chainStartedAt: context.chainStartedAt, startedAtMs: null, consecutiveFailures: context.consecutiveFailures,
        });
      },
  });
  const actor = createActor(machine, {
    clock,
    input: { phase: 'risk', symbol: 'BTCUSDT', intervalMs: opts.intervalMs ?? 10_000, backoff: { baseMs: 1000, capMs: 8000 }, once: opts.once },
  });
  // Every state entered, including the transient computing/deciding (seen as microsteps).
  const states: string[] = [];
  const note = (value: unknown): void => { if (states[states.length - 1] !== value) states.push(String(value)); };
  actor.system.inspect((ev) => {
    if ((ev.type === '@xstate.microstep' || ev.type === '@xstate.snapshot') && ev.actorRef === actor) {
      if ('value' in ev.snapshot) note(ev.snapshot.value);
    }
  });
  actor.start();
  return { actor, clock, reports, states };
}

describe('backoffDelayMs', () => {
  it('doubles up to the cap, with jitter in the upper half', () => {
    const s = { baseMs: 1000, capMs: 8000 };
    expect(backoffDelayMs(1, s, () => 0)).toBe(500);
    expect(backoffDelayMs(1, s, () => 1)).toBe(1000);
    expect(backoffDelayMs(3, s, () => 1)).toBe(4000);
    expect(backoffDelayMs(10, s, () => 1)).toBe(8000);
    expect(backoffDelayMs(10, s, () => 0)).toBe(4000);
  });
});

describe('publisher machine', () => {
  it('walks seeding → idle → reading → computing → deciding → publishing → idle', async () => {
    const steps = scriptedSteps();
    const { actor, clock, reports, states } = start(steps);
    await flush();
    expect(actor.getSnapshot().value).toBe('idle');
    clock.increment(10_000);
    await flush();
    expect(states).toEqual(['seeding', 'idle', 'reading', 'computing', 'deciding', 'publishing', 'idle']);
    expect(reports.map((r) => r.outcome)).toEqual(['published']);
    expect(actor.getSnapshot().context.memory).toEqual({ published: true });
  });

  it('rate-limited cycles heartbeat instead of publishing', async () => {
    const steps = scriptedSteps({ decide: () => ({ publish: false, why: 'rate_limited' }) });
    const { actor, reports, states } = start(steps);
    await flush();
    actor.send({ type: 'RUN' });
    await flush();
    expect(states).toContain('heartbeating');
    expect(steps.calls.publish).toBe(0);
    expect(steps.calls.heartbeat).toBe(1);
    expect(reports.map((r) => r.outcome)).toEqual(['heartbeat']);
  });

  it('a skip returns to idle without backoff and records the reason', async () => {
    const steps = scriptedSteps({ read: async () => ({ nowMs: 0, read: { ok: false, reason: 'no_position', detail: 'none' } }) });
    const { actor, reports, states } = start(steps);
    await flush();
    actor.send({ type: 'RUN' });
    await flush();
    expect(states).not.toContain('backoff');
    expect(actor.getSnapshot().value).toBe('idle');
    expect(actor.getSnapshot().context.lastSkipReason).toBe('no_position');
    expect(actor.getSnapshot().context.consecutiveFailures).toBe(0);
    expect(reports.map((r) => r.outcome)).toEqual(['skipped']);
  });

  it('an I/O failure backs off with growing delays and resets after a success', async () => {
    let failing = true;
    const steps = scriptedSteps({
      read: async () => {
        if (failing) throw new Error('ECONNREFUSED');
        return { nowMs: 0, read: { ok: true, value: 1 } };
      },
    });
    const { actor, clock } = start(steps);
    await flush();
    actor.send({ type: 'RUN' });
    await flush();
    expect(actor.getSnapshot().value).toBe('backoff');
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
    expect(actor.getSnapshot().value).toBe('idle');
    expect(actor.getSnapshot().context.consecutiveFailures).toBe(0);
  });

  it('never overlaps cycles: a RUN during a cycle is run once right after it', async () => {
    const gate = deferred<{ memory: unknown; summary: string; figures: Record<string, number> }>();
    let publishes = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const steps = scriptedSteps({
      publish: async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        publishes++;
        const out = publishes === 1 ? await gate.promise : { memory: 2, summary: 'two', figures: {} };
        inFlight--;
        return out;
      },
    });
    const { actor } = start(steps);
    await flush();
    actor.send({ type: 'RUN' });
    await flush();
    expect(actor.getSnapshot().value).toBe('publishing');
    actor.send({ type: 'RUN' });
    actor.send({ type: 'RUN' });
    await flush();
    expect(steps.calls.read).toBe(1);
    gate.resolve({ memory: 1, summary: 'one', figures: {} });
    await flush();
    expect(steps.calls.read).toBe(2);
    expect(maxInFlight).toBe(1);
    expect(actor.getSnapshot().value).toBe('idle');
  });

  it('a compute error is reported as an error without backoff', async () => {
    const steps = scriptedSteps({ compute: () => { throw new Error('bug'); } });
    const { actor, reports } = start(steps);
    await flush();
    actor.send({ type: 'RUN' });
    await flush();
    expect(actor.getSnapshot().value).toBe('idle');
    expect(reports.map((r) => r.outcome)).toEqual(['error']);
  });

  it('once mode: no interval cycles, and a failure is reported without retry', async () => {
    const steps = scriptedSteps({ publish: async () => { throw new Error('timeout'); } });
    const { actor, clock, reports } = start(steps, { once: true });
    await flush();
    clock.increment(60_000);
    await flush();
    expect(steps.calls.read).toBe(0);
    actor.send({ type: 'RUN' });
    await flush();
    clock.increment(60_000);
    await flush();
    expect(reports.map((r) => r.outcome)).toEqual(['error']);
    expect(steps.calls.read).toBe(1);
    expect(actor.getSnapshot().value).toBe('idle');
  });

  it('DRAIN lets the cycle under way finish, then stops', async () => {
    const gate = deferred<{ memory: unknown; summary: string; figures: Record<string, number> }>();
    const steps = scriptedSteps({ publish: () => gate.promise });
    const { actor } = start(steps);
    await flush();
    actor.send({ type: 'RUN' });
    await flush();
    actor.send({ type: 'DRAIN' });
    await flush();
    expect(actor.getSnapshot().value).toBe('publishing');
    gate.resolve({ memory: 1, summary: 'x', figures: {} });
    await flush();
    expect(actor.getSnapshot().status).toBe('done');
    expect(steps.calls.publish).toBe(1);
  });

  it('seeding failures back off and retry seeding', async () => {
    let fail = true;
    const steps = scriptedSteps({ seed: async () => { if (fail) throw new Error('down'); return { seeded: 1 }; } });
    const { actor, clock } = start(steps);
    await flush();
    expect(actor.getSnapshot().value).toBe('backoff');
    fail = false;
    clock.increment(1000);
    await flush();
    expect(actor.getSnapshot().value).toBe('idle');
    expect(actor.getSnapshot().context.memory).toEqual({ seeded: 1 });
  });
});

describe('publisher machine, --once seeding failure', () => {
  it('reports exactly one error for a RUN that arrived while seeding failed', async () => {
    const steps = scriptedSteps({ seed: async () => { throw new Error('down'); } });
    const { actor, reports } = start(steps, { once: true });
    actor.send({ type: 'RUN' });
    await flush();
    expect(reports.map((r) => r.outcome)).toEqual(['error']);
    expect(steps.calls.read).toBe(0);
    expect(actor.getSnapshot().value).toBe('idle');
  });
});
