// The live visualizer's memory: one summary row per publisher (phase:symbol) and a small ring of
// its recent transitions, built from XState's inspection events (startService's `inspect`).
//
// Why here and not by asking the actors: the inspection stream already carries every snapshot of
// the supervisor and each child, in order, without touching the machines. The registry keeps
// only scalars (never the snapshot itself, which holds inputs and results), and it is cheap when
// nobody is watching: a regex per new actor id (cached) and a few field copies per snapshot.
//
// Restarts: the supervisor respawns a crashed `risk:BTC` as `risk:BTC#n`. Both ids map to the
// same row; each new id seen for a row is one restart, and events from a replaced incarnation
// that still trickle in are ignored.
import type { AnyEventObject, InspectionEvent } from 'xstate';
import { publisherMachine, type PhaseName } from '../../machines/publisher.js';
import { PHASE_ORDER } from '../../machines/supervisor.js';
import { createEventNamer } from './machineModel.js';
import { RingBuffer } from './ringBuffer.js';

export type ActorStatus = 'active' | 'done' | 'error' | 'stopped';

export interface ActorSummary {
  /** `phase:symbol`, stable across restarts. */
  key: string;
  phase: PhaseName;
  symbol: string;
  /** Id of the live incarnation (`risk:BTC`, then `risk:BTC#3` after a restart). */
  actorId: string;
  /** Current state of the publisher machine, e.g. `idle`, `backoff`. */
  state: string;
  status: ActorStatus;
  lastOutcome: string | null;
  /** The last cycle's reason: the publish decision (`first_publish`, …), skip reason, or `error`. */
  lastReason: string | null;
  lastPublishedAt: number | null;
  lastSkipReason: string | null;
  lastSkipDetail: string | null;
  lastError: string | null;
  lastSummary: string | null;
  consecutiveFailures: number;
  cycles: number;
  restarts: number;
  lastCycleAt: number | null;
  updatedAt: number;
}

export interface TransitionRecord {
  at: number;
  actorId: string;
  /** Readable event name (`RUN`, `readInputs.done`, `after interval`, `cycle: skipped`, …). */
  event: string;
  /** State before; null for an incarnation's first snapshot. */
  from: string | null;
  to: string;
  /** Cycle outcomes: reason and summary; crashes: the error. */
  detail: string | null;
}

export interface SupervisorSummary {
  state: string | null;
  status: ActorStatus | null;
  restartTotal: number;
  updatedAt: number | null;
}

export type RegistryChange = { kind: 'actor'; key: string } | { kind: 'supervisor' };

export interface VizRegistryOptions {
  /** Clock for timestamps (ms since epoch). */
  now?: () => number;
  /** Recent transitions kept per actor. */
  recentSize?: number;
}

interface Entry {
  summary: ActorSummary;
  recent: RingBuffer<TransitionRecord>;
  /** Every incarnation id seen for this key. */
  ids: Set<string>;
  /** State after the last microstep/snapshot of the live incarnation; null before its first. */
  lastValue: string | null;
}

interface ParsedId {
  key: string;
  phase: PhaseName;
  symbol: string;
}

const ACTOR_ID = /^(marketstate|risk|harvest):([^#]+)(?:#\d+)?$/;

/** `idle`, or `parent.child` for nested values, `a.x,b.y` for parallel ones. */
export function stateValueText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => {
        const inner = stateValueText(v);
        return inner === '' ? k : `${k}.${inner}`;
      })
      .join(',');
  }
  return '';
}

/** Inspection types promise only `sessionId`; the refs are actors, which carry their `id`. */
const idOf = (ref: unknown): string => {
  const id = (ref as { id?: unknown }).id;
  return typeof id === 'string' ? id : '';
};
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class VizRegistry {
  private readonly now: () => number;
  private readonly recentSize: number;
  private readonly entries = new Map<string, Entry>();
  /** Actor id → parsed key (null: not a publisher, e.g. a step actor). */
  private readonly idCache = new Map<string, ParsedId | null>();
  private readonly listeners = new Set<(change: RegistryChange) => void>();
  private readonly nameEvent = createEventNamer(publisherMachine);
  private sup: SupervisorSummary = { state: null, status: null, restartTotal: 0, updatedAt: null };

  constructor(options: VizRegistryOptions = {}) {
    this.now = options.now ?? Date.now;
    this.recentSize = options.recentSize ?? 25;
  }

  /** Pass as startService's `inspect`. Never throws: a visualizer bug must not stop the service. */
  readonly inspect = (event: InspectionEvent): void => {
    try {
      this.handle(event);
    } catch {
      // Deliberately swallowed: inspection runs inside the actors' event processing.
    }
  };

  /** Every publisher row, by symbol then phase order. */
  actors(): ActorSummary[] {
    return [...this.entries.values()].map((e) => ({ ...e.summary })).sort(compareSummaries);
  }

  actor(key: string): { summary: ActorSummary; recent: TransitionRecord[] } | null {
    const entry = this.entries.get(key);
    return entry ? { summary: { ...entry.summary }, recent: entry.recent.toArray() } : null;
  }

  /** The current summary of one row (no copy of the ring), for streaming deltas. */
  summaryOf(key: string): ActorSummary | null {
    const entry = this.entries.get(key);
    return entry ? { ...entry.summary } : null;
  }

  supervisor(): SupervisorSummary {
    return { ...this.sup };
  }

  get size(): number {
    return this.entries.size;
  }

  subscribe(listener: (change: RegistryChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(change: RegistryChange): void {
    for (const listener of this.listeners) listener(change);
  }

  private parse(id: string): ParsedId | null {
    let parsed = this.idCache.get(id);
    if (parsed === undefined) {
      const m = ACTOR_ID.exec(id);
      parsed = m ? { key: `${m[1]}:${m[2]}`, phase: m[1] as PhaseName, symbol: m[2] } : null;
      this.idCache.set(id, parsed);
    }
    return parsed;
  }

  private label(event: AnyEventObject | undefined): string {
    return event ? this.nameEvent(event.type).label : '?';
  }

  private handle(event: InspectionEvent): void {
    switch (event.type) {
      case '@xstate.snapshot': {
        if (event.actorRef.sessionId === event.rootId) {
          this.onSupervisorSnapshot(event.snapshot);
          return;
        }
        const parsed = this.parse(idOf(event.actorRef));
        if (parsed) this.onPublisherSnapshot(parsed, idOf(event.actorRef), event.snapshot, event.event);
        return;
      }
      case '@xstate.microstep': {
        const parsed = this.parse(idOf(event.actorRef));
        if (!parsed) return;
        // Eventless (`always`) steps run inside the macrostep of the event that started it: name
        // them for what they are, not after that event.
        const taken: unknown = (event as { _transitions?: unknown })._transitions;
        const eventless = Array.isArray(taken) && taken.length > 0 && taken.every((t) => (t as { eventType?: unknown }).eventType === '');
        this.onPublisherMicrostep(parsed, idOf(event.actorRef), event.snapshot, eventless ? { type: '' } : event.event);
        return;
      }
      case '@xstate.event': {
        // The publisher's end-of-cycle report to the supervisor: outcome and reason, for the log.
        if (event.event.type !== 'CYCLE_DONE' || !event.sourceRef) return;
        const parsed = this.parse(idOf(event.sourceRef));
        if (parsed) this.onCycleDone(parsed, idOf(event.sourceRef), event.event);
        return;
      }
      case '@xstate.actor': {
        const parsed = this.parse(idOf(event.actorRef));
        if (parsed) this.entryFor(parsed, idOf(event.actorRef));
        return;
      }
      default:
        return;
    }
  }

  /** The row for this key with `actorId` as its live incarnation; null for a replaced one. */
  private entryFor(parsed: ParsedId, actorId: string): Entry | null {
    let entry = this.entries.get(parsed.key);
    const at = this.now();
    if (!entry) {
      entry = {
        summary: {
          key: parsed.key,
          phase: parsed.phase,
          symbol: parsed.symbol,
          actorId,
          state: 'starting',
          status: 'active',
          lastOutcome: null,
          lastReason: null,
          lastPublishedAt: null,
          lastSkipReason: null,
          lastSkipDetail: null,
          lastError: null,
          lastSummary: null,
          consecutiveFailures: 0,
          cycles: 0,
          restarts: 0,
          lastCycleAt: null,
          updatedAt: at,
        },
        recent: new RingBuffer<TransitionRecord>(this.recentSize),
        ids: new Set([actorId]),
        lastValue: null,
      };
      this.entries.set(parsed.key, entry);
      this.notify({ kind: 'actor', key: parsed.key });
      return entry;
    }
    if (entry.summary.actorId === actorId) return entry;
    if (entry.ids.has(actorId)) return null; // a replaced incarnation's late event
    entry.ids.add(actorId);
    entry.recent.push({ at, actorId, event: 'restart', from: entry.lastValue, to: 'starting', detail: `${entry.summary.actorId} replaced by ${actorId}` });
    entry.summary.actorId = actorId;
    entry.summary.restarts++;
    entry.summary.state = 'starting';
    entry.summary.status = 'active';
    entry.summary.updatedAt = at;
    entry.lastValue = null;
    this.notify({ kind: 'actor', key: parsed.key });
    return entry;
  }

  private onPublisherMicrostep(parsed: ParsedId, actorId: string, snapshot: unknown, event: AnyEventObject): void {
    const entry = this.entryFor(parsed, actorId);
    if (!entry) return;
    const value = stateValueText((snapshot as { value?: unknown }).value);
    // Record state changes, and outside events handled in place (a RUN queued during a cycle).
    if (value !== entry.lastValue || (event.type !== '' && !event.type.startsWith('xstate.'))) {
      entry.recent.push({ at: this.now(), actorId, event: this.label(event), from: entry.lastValue, to: value, detail: null });
    }
    entry.lastValue = value;
  }

  private onPublisherSnapshot(parsed: ParsedId, actorId: string, snapshot: unknown, event: AnyEventObject): void {
    const entry = this.entryFor(parsed, actorId);
    if (!entry) return;
    const snap = snapshot as { value?: unknown; status?: unknown; context?: Record<string, unknown>; error?: unknown };
    const value = stateValueText(snap.value);
    const at = this.now();
    const s = entry.summary;
    if (entry.lastValue === null || entry.lastValue !== value) {
      // First snapshot of an incarnation (no microstep for the initial state), or a change we
      // did not see as a microstep.
      entry.recent.push({ at, actorId, event: this.label(event), from: entry.lastValue, to: value, detail: null });
      entry.lastValue = value;
    }
    const status: ActorStatus = snap.status === 'done' || snap.status === 'error' || snap.status === 'stopped' ? snap.status : 'active';
    if (status === 'error' && s.status !== 'error') {
      s.lastError = `crashed: ${errorText(snap.error)}`;
      entry.recent.push({ at, actorId, event: 'crash', from: value, to: value, detail: errorText(snap.error) });
    }
    s.state = value;
    s.status = status;
    const c = snap.context;
    if (c && typeof c === 'object') {
      s.lastOutcome = str(c.lastOutcome) ?? s.lastOutcome;
      s.lastPublishedAt = num(c.lastPublishedAt) ?? s.lastPublishedAt;
      s.lastSkipReason = str(c.lastSkipReason);
      s.lastSkipDetail = str(c.lastSkipDetail);
      if (status !== 'error') s.lastError = str(c.lastError);
      s.lastSummary = str(c.lastSummary) ?? s.lastSummary;
      s.consecutiveFailures = num(c.consecutiveFailures) ?? s.consecutiveFailures;
      s.cycles = num(c.cycles) ?? s.cycles;
    }
    s.updatedAt = at;
    this.notify({ kind: 'actor', key: parsed.key });
  }

  private onCycleDone(parsed: ParsedId, actorId: string, event: AnyEventObject): void {
    const entry = this.entryFor(parsed, actorId);
    if (!entry) return;
    const outcome = str(event.outcome) ?? '?';
    const reason = str(event.reason);
    const detail = [reason, str(event.outcome) === 'published' ? str(event.summary) : str(event.detail)].filter((x) => x !== null).join(': ');
    const at = this.now();
    const state = entry.lastValue ?? entry.summary.state;
    entry.recent.push({ at, actorId, event: `cycle: ${outcome}`, from: state, to: state, detail: detail === '' ? null : detail });
    entry.summary.lastReason = reason;
    entry.summary.lastCycleAt = at;
    entry.summary.updatedAt = at;
    this.notify({ kind: 'actor', key: parsed.key });
  }

  private onSupervisorSnapshot(snapshot: unknown): void {
    const snap = snapshot as { value?: unknown; status?: unknown; context?: { restartTotal?: unknown } };
    const state = stateValueText(snap.value);
    const status: ActorStatus = snap.status === 'done' || snap.status === 'error' || snap.status === 'stopped' ? snap.status : 'active';
    const restartTotal = num(snap.context?.restartTotal) ?? this.sup.restartTotal;
    // The supervisor takes a snapshot per CYCLE_DONE: only real changes are news.
    if (state === this.sup.state && status === this.sup.status && restartTotal === this.sup.restartTotal) return;
    this.sup = { state, status, restartTotal, updatedAt: this.now() };
    this.notify({ kind: 'supervisor' });
  }
}

const phaseRank = (phase: string): number => PHASE_ORDER.indexOf(phase as PhaseName);

export function compareSummaries(a: ActorSummary, b: ActorSummary): number {
  return a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : phaseRank(a.phase) - phaseRank(b.phase);
}
