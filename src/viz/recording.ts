// The visualizer on a flight recording (`viz --recording DIR`, docs/visualizer.md "On a
// recording"): the recording is replayed through the real publisher machines on their simulated
// clocks (src/recorder/replay.ts), and every publisher's transitions are collected from XState's
// inspection stream — the same observer the live registry uses on the running service — as a list
// of steps, each with its recorded time, the event, the state before and after, and the context
// the machine held after it. The replayed cycles (recorded and replayed outcome, decision, inputs)
// are joined to the steps they span, so the page can show one actor's "why, then?" step by step.
// The observer is handed to replayRecording's `inspect` option, which gives it to every publisher
// it creates (XState's public inspection API, as the live service's createActor does).
import type { InspectionEvent } from "xstate";
import { publisherMachine, type PhaseName } from "../../machines/publisher.js";
import { PHASE_ORDER } from "../../machines/supervisor.js";
import { replayRecording, type ReplayedCycle, type CycleEnd } from "../recorder/replay.js";
import { createEventNamer } from "./machineModel.js";
import { previewValue } from "./preview.js";
import { stateValueText } from "./registry.js";

/** One transition of one replayed publisher. */
export interface ReplayStep {
  /** 1, 2, 3, … over the whole recording, in the order the replay took them. */
  seq: number;
  /** `phase:symbol`, as on the live page. */
  key: string;
  /** The actor's simulated clock (the recorded time, epoch ms). */
  at: number;
  /** Readable event name, as the diagram's edges spell it (`RUN`, `readInputs.done`, …). */
  event: string;
  /** State before; null for an actor's first snapshot. */
  from: string | null;
  to: string;
  /** The actor's cycle (index into its `cycles`) this step belongs to; null before the first. */
  cycle: number | null;
}

/** A replayed cycle as the page shows it: the recorded and replayed ends, a preview of inputs. */
export interface ReplayCycleView {
  cycle: number;
  t: number;
  trigger: string | null;
  recorded: CycleEnd;
  replayed: CycleEnd;
  inputs: unknown;
}

export interface ReplayActorSummary {
  key: string;
  phase: PhaseName;
  symbol: string;
  steps: number;
  cycles: number;
  /** How many cycles ended published, heartbeat, skipped, error (as recorded). */
  outcomes: Record<string, number>;
  /** Cycles whose replayed end differs from the recorded one. */
  diverged: number;
}

/** One step with what the page shows beside it: the context after it and its cycle. */
export interface ReplayStepDetail extends ReplayStep {
  context: unknown;
  cycleView: ReplayCycleView | null;
}

export interface ReplayOverview {
  dir: string;
  /** First and last step's time (epoch ms); null for a recording without cycles. */
  spanMs: [number, number] | null;
  steps: number;
  actors: ReplayActorSummary[];
  dropped: number;
  unreplayable: number;
  badLines: number;
  segments: number;
}

interface ActorSteps {
  summary: ReplayActorSummary;
  steps: ReplayStep[];
  contexts: unknown[];
  cycles: ReplayedCycle[];
}

/** Which part of a recording the page shows. */
export interface ReplayWindow {
  symbols?: readonly string[] | null;
  /** Epoch ms: steps at or after `fromMs` and before `toMs`. */
  fromMs?: number | null;
  toMs?: number | null;
}

export class ReplayModel {
  private constructor(
    private readonly overviewData: ReplayOverview,
    private readonly byKey: Map<string, ActorSteps>,
    /** Every step, in time order (then replay order). */
    private readonly all: ReplayStep[],
  ) {}

  overview(): ReplayOverview {
    return this.overviewData;
  }

  /** One actor's steps (without contexts: those come one step at a time); null if unknown. */
  steps(key: string): { summary: ReplayActorSummary; steps: ReplayStep[] } | null {
    const a = this.byKey.get(key);
    return a ? { summary: a.summary, steps: a.steps } : null;
  }

  /** One step of one actor, with a bounded copy of its context and its cycle's view. */
  step(key: string, index: number): ReplayStepDetail | null {
    const a = this.byKey.get(key);
    if (!a || !Number.isInteger(index) || index < 0 || index >= a.steps.length) return null;
    const s = a.steps[index];
    const c = s.cycle === null ? null : a.cycles[s.cycle];
    return {
      ...s,
      context: previewValue(a.contexts[index]),
      cycleView: c
        ? {
            cycle: c.cycle,
            t: c.t,
            trigger: c.trigger,
            recorded: c.recorded,
            replayed: c.replayed,
            inputs: previewValue(c.inputs),
          }
        : null,
    };
  }

  /**
   * The system timeline at a moment: the newest `limit` steps of every actor up to step `seq`
   * (when given) or time `at`, newest first.
   */
  timeline(at: number, seq: number | null, limit: number): ReplayStep[] {
    const upTo =
      seq === null
        ? (s: ReplayStep) => s.at <= at
        : (s: ReplayStep) => s.at < at || (s.at === at && s.seq <= seq);
    // Binary search for the last step at or before `at`, then walk back.
    let lo = 0;
    let hi = this.all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.all[mid].at <= at) lo = mid + 1;
      else hi = mid;
    }
    const out: ReplayStep[] = [];
    for (let i = lo - 1; i >= 0 && out.length < limit; i--) {
      if (upTo(this.all[i])) out.push(this.all[i]);
    }
    return out;
  }

  /**
   * Every actor's state at a moment: after its last step at or before time `at` (and, at `at`
   * itself, up to step `seq` when given); actors with no step yet are absent.
   */
  statesAt(at: number, seq: number | null): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, a] of this.byKey) {
      let lo = 0;
      let hi = a.steps.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (a.steps[mid].at <= at) lo = mid + 1;
        else hi = mid;
      }
      let i = lo - 1;
      while (i >= 0 && seq !== null && a.steps[i].at === at && a.steps[i].seq > seq) i--;
      if (i >= 0) out[key] = a.steps[i].to;
    }
    return out;
  }

  /**
   * Replays the recording in `dir` and collects every publisher's steps — of `symbols` only, and
   * only those in [fromMs, toMs) when given (the replay still runs from the recording's start:
   * the machines carry their memory from cycle to cycle). A long recording of many symbols is
   * many steps, all held in memory: narrow it with these.
   */
  static async load(dir: string, window: ReplayWindow = {}): Promise<ReplayModel> {
    const fromMs = window.fromMs ?? null;
    const toMs = window.toMs ?? null;
    const inWindow = (t: number) => (fromMs === null || t >= fromMs) && (toMs === null || t < toMs);
    const nameEvent = createEventNamer(publisherMachine);
    const byKey = new Map<string, ActorSteps>();
    const last = new Map<object, { value: string; context: unknown }>();
    const all: ReplayStep[] = [];
    let seq = 0;

    // Microsteps are the machine's own transitions, eventless (`always`) ones included: a cycle's
    // computing → deciding → publishing runs inside the macrostep of readInputs.done, and only
    // microsteps show it. A snapshot adds a step only where no microstep did (the first one).
    const observe = (ev: InspectionEvent): void => {
      if (ev.type !== "@xstate.snapshot" && ev.type !== "@xstate.microstep") return;
      const taken: unknown = (ev as { _transitions?: unknown })._transitions;
      const eventless =
        ev.type === "@xstate.microstep" &&
        Array.isArray(taken) &&
        taken.length > 0 &&
        taken.every((t) => (t as { eventType?: unknown }).eventType === "");
      const snap = ev.snapshot as { value?: unknown; context?: unknown };
      const ctx = snap.context as { phase?: unknown; symbol?: unknown } | undefined;
      // Only the publishers: their step actors and timers carry no such context.
      if (snap.value === undefined || typeof ctx?.phase !== "string") return;
      if (typeof ctx.symbol !== "string") return;
      const ref = ev.actorRef;
      const value = stateValueText(snap.value);
      const before = last.get(ref);
      // A step is a change of state, or an event that changed the context in place (a
      // self-transition with actions); snapshots that change nothing are not steps.
      if (before && before.value === value && before.context === snap.context) return;
      last.set(ref, { value, context: snap.context });
      const clock = (ref as unknown as { clock?: { now?: () => number } }).clock;
      const at = typeof clock?.now === "function" ? clock.now() : Number.NaN;
      if (!inWindow(at)) return;
      const key = `${ctx.phase}:${ctx.symbol}`;
      let a = byKey.get(key);
      if (a === undefined) {
        a = {
          summary: {
            key,
            phase: ctx.phase as PhaseName,
            symbol: ctx.symbol,
            steps: 0,
            cycles: 0,
            outcomes: {},
            diverged: 0,
          },
          steps: [],
          contexts: [],
          cycles: [],
        };
        byKey.set(key, a);
      }
      const event = (eventless ? { type: "" } : ev.event) as { type: string; delay?: unknown };
      const step: ReplayStep = {
        seq: ++seq,
        key,
        at,
        event: nameEvent(event.type, event.delay).label,
        from: before ? before.value : null,
        to: value,
        cycle: null,
      };
      a.steps.push(step);
      a.contexts.push(snap.context);
      all.push(step);
    };

    const result = await replayRecording({
      dir,
      fromMs,
      toMs,
      symbols: window.symbols ?? null,
      inspect: observe,
    });

    // Join each replayed cycle to the steps from its start to the next cycle's.
    for (const c of result.cycles) byKey.get(`${c.phase}:${c.symbol}`)?.cycles.push(c);
    let first = Number.POSITIVE_INFINITY;
    let lastAt = Number.NEGATIVE_INFINITY;
    for (const a of byKey.values()) {
      let ci = -1;
      for (const s of a.steps) {
        if (!Number.isFinite(s.at))
          throw new Error(`viz --recording: ${s.key} step ${s.seq} has no simulated clock time`);
        while (ci + 1 < a.cycles.length && a.cycles[ci + 1].t <= s.at) ci++;
        s.cycle = ci >= 0 ? ci : null;
        first = Math.min(first, s.at);
        lastAt = Math.max(lastAt, s.at);
      }
      a.summary.steps = a.steps.length;
      a.summary.cycles = a.cycles.length;
      for (const c of a.cycles) {
        a.summary.outcomes[c.recorded.outcome] = (a.summary.outcomes[c.recorded.outcome] ?? 0) + 1;
        if (c.recorded.outcome !== c.replayed.outcome || c.recorded.why !== c.replayed.why)
          a.summary.diverged++;
      }
    }
    all.sort((x, y) => x.at - y.at || x.seq - y.seq);
    const actors = [...byKey.values()]
      .map((a) => a.summary)
      .sort(
        (x, y) =>
          (x.symbol < y.symbol ? -1 : x.symbol > y.symbol ? 1 : 0) ||
          PHASE_ORDER.indexOf(x.phase) - PHASE_ORDER.indexOf(y.phase),
      );
    return new ReplayModel(
      {
        dir,
        spanMs: all.length === 0 ? null : [first, lastAt],
        steps: all.length,
        actors,
        dropped: result.dropped,
        unreplayable: result.unreplayable,
        badLines: result.report.badLines,
        segments: result.report.segments,
      },
      byKey,
      all,
    );
  }
}
