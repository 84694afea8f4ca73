// The live visualizer's memory, built from XState's inspection events (startService's
// `inspect`): one summary row per publisher (phase:symbol), one per system actor (the supervisor
// and the klines follower), a small ring of each actor's recent transitions, and one system-wide
// timeline (every actor's records, in order, numbered, bounded).
//
// Why here and not by asking the actors: the inspection stream already carries every snapshot of
// the supervisor and each child, in order, without touching the machines. The summaries are
// scalars; of each snapshot only a reference to its context is kept (the object the actor holds
// anyway), and it is copied — bounded, see preview.ts — only when the page asks for that actor.
// It is cheap when nobody is watching: a regex per new actor id (cached), a few field copies per
// snapshot and one shared record per transition.
//
// Restarts: the supervisor respawns a crashed `risk:BTC` as `risk:BTC#n`. Both ids map to the
// same row; each new id seen for a row is one restart, and events from a replaced incarnation
// that still trickle in are ignored.
import type { AnyEventObject, InspectionEvent } from "xstate";
import { klinesFollowerMachine } from "../../machines/klinesFollower.js";
import { publisherMachine, type PhaseName } from "../../machines/publisher.js";
import { KLINES_FOLLOWER_KEY, PHASE_ORDER, supervisorMachine } from "../../machines/supervisor.js";
import type { MachineName } from "./diagram.js";
import { createEventNamer, type EventName } from "./machineModel.js";
import { previewValue } from "./preview.js";
import { RingBuffer } from "./ringBuffer.js";
import { errorMessage } from "../core/errors.js";

export type ActorStatus = "active" | "done" | "error" | "stopped";

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

/** A record as the system-wide timeline holds it: numbered, with the actor it belongs to. */
export interface TimelineEntry extends TransitionRecord {
  /** 1, 2, 3, … in the order recorded (the page drops what it already has). */
  seq: number;
  /** The actor's row: `risk:BTCUSDT`, `supervisor`, `follower:klines`. */
  key: string;
  machine: MachineName;
}

/** The supervisor and the klines follower: one of each, each drawn by its own diagram. */
export type SystemMachine = Exclude<MachineName, "publisher">;

export interface SystemActorSummary {
  /** `supervisor`, or `follower:klines` (stable across the follower's restarts). */
  key: string;
  machine: SystemMachine;
  /** Id of the live incarnation (`follower:klines#4` after a restart); null before the first event. */
  actorId: string | null;
  state: string | null;
  status: ActorStatus | null;
  /** The follower: its own restarts. The supervisor: restarts it made of its children. */
  restarts: number;
  updatedAt: number | null;
}

/** What /viz/actor answers: the row, its recent records and its context (bounded copy). */
export type ActorDetail =
  | { kind: "publisher"; summary: ActorSummary; recent: TransitionRecord[]; context: unknown }
  | { kind: "system"; summary: SystemActorSummary; recent: TransitionRecord[]; context: unknown };

export interface SupervisorSummary {
  state: string | null;
  status: ActorStatus | null;
  restartTotal: number;
  updatedAt: number | null;
  /** The harvest theta in force and why (docs/specification.md §9), when the service gave a policy probe. */
  theta?: { source: "policy" | "config"; version: string; why: string | null } | null;
  /** The role under the single-writer lease and who holds it, when the service gave a role probe. */
  role?: { role: string; holder: string | null; self: string | null } | null;
}

export type RegistryChange =
  { kind: "actor"; key: string } | { kind: "supervisor" } | { kind: "system"; key: string };

export interface VizRegistryOptions {
  /** Clock for timestamps (ms since epoch). */
  now?: () => number;
  /** Recent transitions kept per actor. */
  recentSize?: number;
  /** Records kept in the system-wide timeline. */
  timelineSize?: number;
}

interface Entry {
  summary: ActorSummary;
  recent: RingBuffer<TimelineEntry>;
  /** Every incarnation id seen for this key. */
  ids: Set<string>;
  /** State after the last microstep/snapshot of the live incarnation; null before its first. */
  lastValue: string | null;
  /** The live incarnation's last snapshot context (a reference, never copied here). */
  context: unknown;
}

interface SystemEntry {
  summary: SystemActorSummary;
  recent: RingBuffer<TimelineEntry>;
  ids: Set<string>;
  lastValue: string | null;
  context: unknown;
  nameEvent: (eventType: string) => EventName;
}

interface ParsedId {
  key: string;
  phase: PhaseName;
  symbol: string;
}

const ACTOR_ID = /^(marketstate|risk|harvest):([^#]+)(?:#\d+)?$/;
const isFollowerId = (id: string): boolean =>
  id === KLINES_FOLLOWER_KEY || id.startsWith(`${KLINES_FOLLOWER_KEY}#`);
const SUPERVISOR_KEY = "supervisor";

/** `idle`, or `parent.child` for nested values, `a.x,b.y` for parallel ones. */
export function stateValueText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value && typeof value === "object") {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => {
        const inner = stateValueText(v);
        return inner === "" ? k : `${k}.${inner}`;
      })
      .join(",");
  }
  return "";
}

/** Inspection types promise only `sessionId`; the refs are actors, which carry their `id`. */
const idOf = (ref: unknown): string => {
  const id = (ref as { id?: unknown }).id;
  return typeof id === "string" ? id : "";
};
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

export class VizRegistry {
  private readonly now: () => number;
  private readonly recentSize: number;
  private readonly entries = new Map<string, Entry>();
  /** Actor id → parsed key (null: not a publisher, e.g. a step actor). */
  private readonly idCache = new Map<string, ParsedId | null>();
  private readonly listeners = new Set<(change: RegistryChange) => void>();
  private readonly nameEvent = createEventNamer(publisherMachine);
  private sup: SupervisorSummary = { state: null, status: null, restartTotal: 0, updatedAt: null };
  private readonly systemEntries = new Map<string, SystemEntry>();
  private readonly log: RingBuffer<TimelineEntry>;
  private seq = 0;

  constructor(options: VizRegistryOptions = {}) {
    this.now = options.now ?? Date.now;
    this.recentSize = options.recentSize ?? 25;
    this.log = new RingBuffer<TimelineEntry>(options.timelineSize ?? 200);
    // The supervisor's row exists from the start (the page shows it as not started yet).
    this.systemEntry(SUPERVISOR_KEY, "supervisor").summary.actorId = null;
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
    let theta: SupervisorSummary["theta"] = null;
    try {
      const d = this.policyProbe?.();
      if (d) theta = { source: d.source, version: d.version, why: d.why };
    } catch {
      // A probe must not break the page.
    }
    let role: SupervisorSummary["role"] = null;
    try {
      const r = this.roleProbe?.();
      if (r) role = { role: r.role, holder: r.holder, self: r.self };
    } catch {
      // A probe must not break the page.
    }
    return { ...this.sup, theta, role };
  }

  private roleProbe: (() => { role: string; holder: string | null; self: string | null }) | null =
    null;

  /** Where the page's header reads the role (leader / standby) and the lease holder (ServiceHandle.role). */
  setRoleProbe(probe: () => { role: string; holder: string | null; self: string | null }): void {
    this.roleProbe = probe;
  }

  private policyProbe:
    (() => { source: "policy" | "config"; version: string; why: string | null }) | null = null;

  /** Where the page's header reads which harvest theta is in force (the service's PolicyBook). */
  setPolicyProbe(
    probe: () => { source: "policy" | "config"; version: string; why: string | null },
  ): void {
    this.policyProbe = probe;
  }

  /** The supervisor, then the klines follower once it has been seen. */
  system(): SystemActorSummary[] {
    return [...this.systemEntries.values()].map((e) => ({ ...e.summary }));
  }

  /** Any actor's row, recent records and a bounded copy of its context; null for an unknown key. */
  detail(key: string): ActorDetail | null {
    const entry = this.entries.get(key);
    if (entry)
      return {
        kind: "publisher",
        summary: { ...entry.summary },
        recent: entry.recent.toArray(),
        context: previewValue(entry.context),
      };
    const sys = this.systemEntries.get(key);
    if (sys && sys.summary.actorId !== null) {
      return {
        kind: "system",
        summary: { ...sys.summary },
        recent: sys.recent.toArray(),
        context: previewValue(sys.context),
      };
    }
    return null;
  }

  /** The system-wide timeline, oldest first (at most `timelineSize` records). */
  timeline(): TimelineEntry[] {
    return this.log.toArray();
  }

  /** Number of the newest record (0: none yet). */
  get timelineSeq(): number {
    return this.seq;
  }

  /** Records newer than `seq`, oldest first (those still in the timeline). */
  timelineSince(seq: number): TimelineEntry[] {
    if (seq >= this.seq) return [];
    const all = this.log.toArray();
    let i = all.length;
    while (i > 0 && all[i - 1].seq > seq) i--;
    return all.slice(i);
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
    return event ? this.nameEvent(event.type).label : "?";
  }

  private handle(event: InspectionEvent): void {
    switch (event.type) {
      case "@xstate.snapshot": {
        if (event.actorRef.sessionId === event.rootId) {
          this.onSupervisorSnapshot(idOf(event.actorRef), event.snapshot, event.event);
          return;
        }
        const id = idOf(event.actorRef);
        const parsed = this.parse(id);
        if (parsed) this.onPublisherSnapshot(parsed, id, event.snapshot, event.event);
        else if (isFollowerId(id))
          this.onSystemSnapshot(this.followerFor(id), id, event.snapshot, event.event);
        return;
      }
      case "@xstate.microstep": {
        const id = idOf(event.actorRef);
        const root = event.actorRef.sessionId === event.rootId;
        const parsed = root ? null : this.parse(id);
        if (!parsed && !root && !isFollowerId(id)) return;
        // Eventless (`always`) steps run inside the macrostep of the event that started it: name
        // them for what they are, not after that event.
        const taken: unknown = (event as { _transitions?: unknown })._transitions;
        const eventless =
          Array.isArray(taken) &&
          taken.length > 0 &&
          taken.every((t) => (t as { eventType?: unknown }).eventType === "");
        const cause = eventless ? { type: "" } : event.event;
        if (parsed) this.onPublisherMicrostep(parsed, id, event.snapshot, cause);
        else
          this.onSystemMicrostep(
            root ? this.supervisorEntry(id) : this.followerFor(id),
            id,
            event.snapshot,
            cause,
          );
        return;
      }
      case "@xstate.event": {
        const type = event.event.type;
        if (type === "CYCLE_DONE") {
          // The publisher's end-of-cycle report to the supervisor: outcome and reason, for the log.
          if (!event.sourceRef) return;
          const parsed = this.parse(idOf(event.sourceRef));
          if (parsed) this.onCycleDone(parsed, idOf(event.sourceRef), event.event);
          return;
        }
        // What else reaches the supervisor from outside (SHUTDOWN, the follower's KLINES.*) is
        // news for the timeline; XState's own events are seen as their transitions.
        if (event.actorRef.sessionId === event.rootId && !type.startsWith("xstate.")) {
          this.onSupervisorEvent(
            idOf(event.actorRef),
            event.event,
            event.sourceRef ? idOf(event.sourceRef) : null,
          );
        }
        return;
      }
      case "@xstate.actor": {
        const id = idOf(event.actorRef);
        const parsed = this.parse(id);
        if (parsed) this.entryFor(parsed, id);
        else if (isFollowerId(id)) this.followerFor(id);
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
          state: "starting",
          status: "active",
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
        recent: new RingBuffer<TimelineEntry>(this.recentSize),
        ids: new Set([actorId]),
        lastValue: null,
        context: null,
      };
      this.entries.set(parsed.key, entry);
      this.notify({ kind: "actor", key: parsed.key });
      return entry;
    }
    if (entry.summary.actorId === actorId) return entry;
    if (entry.ids.has(actorId)) return null; // a replaced incarnation's late event
    this.restarted(entry, parsed.key, "publisher", actorId, at);
    this.notify({ kind: "actor", key: parsed.key });
    return entry;
  }

  private onPublisherMicrostep(
    parsed: ParsedId,
    actorId: string,
    snapshot: unknown,
    event: AnyEventObject,
  ): void {
    const entry = this.entryFor(parsed, actorId);
    if (!entry) return;
    const value = stateValueText((snapshot as { value?: unknown }).value);
    // Record state changes, and outside events handled in place (a RUN queued during a cycle).
    if (value !== entry.lastValue || (event.type !== "" && !event.type.startsWith("xstate."))) {
      this.record(entry.recent, parsed.key, "publisher", {
        at: this.now(),
        actorId,
        event: this.label(event),
        from: entry.lastValue,
        to: value,
        detail: null,
      });
    }
    entry.lastValue = value;
  }

  private onPublisherSnapshot(
    parsed: ParsedId,
    actorId: string,
    snapshot: unknown,
    event: AnyEventObject,
  ): void {
    const entry = this.entryFor(parsed, actorId);
    if (!entry) return;
    const snap = snapshot as {
      value?: unknown;
      status?: unknown;
      context?: Record<string, unknown>;
      error?: unknown;
    };
    const value = stateValueText(snap.value);
    const at = this.now();
    const s = entry.summary;
    if (entry.lastValue === null || entry.lastValue !== value) {
      // First snapshot of an incarnation (no microstep for the initial state), or a change we
      // did not see as a microstep.
      this.record(entry.recent, parsed.key, "publisher", {
        at,
        actorId,
        event: this.label(event),
        from: entry.lastValue,
        to: value,
        detail: null,
      });
      entry.lastValue = value;
    }
    const status: ActorStatus =
      snap.status === "done" || snap.status === "error" || snap.status === "stopped"
        ? snap.status
        : "active";
    if (status === "error" && s.status !== "error") {
      s.lastError = `crashed: ${errorMessage(snap.error)}`;
      this.record(entry.recent, parsed.key, "publisher", {
        at,
        actorId,
        event: "crash",
        from: value,
        to: value,
        detail: errorMessage(snap.error),
      });
    }
    s.state = value;
    s.status = status;
    const c = snap.context;
    entry.context = c ?? null;
    if (c && typeof c === "object") {
      s.lastOutcome = str(c.lastOutcome) ?? s.lastOutcome;
      s.lastPublishedAt = num(c.lastPublishedAt) ?? s.lastPublishedAt;
      s.lastSkipReason = str(c.lastSkipReason);
      s.lastSkipDetail = str(c.lastSkipDetail);
      if (status !== "error") s.lastError = str(c.lastError);
      s.lastSummary = str(c.lastSummary) ?? s.lastSummary;
      s.consecutiveFailures = num(c.consecutiveFailures) ?? s.consecutiveFailures;
      s.cycles = num(c.cycles) ?? s.cycles;
    }
    s.updatedAt = at;
    this.notify({ kind: "actor", key: parsed.key });
  }

  private onCycleDone(parsed: ParsedId, actorId: string, event: AnyEventObject): void {
    const entry = this.entryFor(parsed, actorId);
    if (!entry) return;
    const outcome = str(event.outcome) ?? "?";
    const reason = str(event.reason);
    const detail = [
      reason,
      str(event.outcome) === "published" ? str(event.summary) : str(event.detail),
    ]
      .filter((x) => x !== null)
      .join(": ");
    const at = this.now();
    const state = entry.lastValue ?? entry.summary.state;
    this.record(entry.recent, parsed.key, "publisher", {
      at,
      actorId,
      event: `cycle: ${outcome}`,
      from: state,
      to: state,
      detail: detail === "" ? null : detail,
    });
    entry.summary.lastReason = reason;
    entry.summary.lastCycleAt = at;
    entry.summary.updatedAt = at;
    this.notify({ kind: "actor", key: parsed.key });
  }

  private onSupervisorSnapshot(
    actorId: string,
    snapshot: unknown,
    event: AnyEventObject | undefined,
  ): void {
    const snap = snapshot as {
      value?: unknown;
      status?: unknown;
      context?: { restartTotal?: unknown };
    };
    const state = stateValueText(snap.value);
    const status: ActorStatus =
      snap.status === "done" || snap.status === "error" || snap.status === "stopped"
        ? snap.status
        : "active";
    const restartTotal = num(snap.context?.restartTotal) ?? this.sup.restartTotal;
    const entry = this.supervisorEntry(actorId);
    // The supervisor takes a snapshot per CYCLE_DONE: keep its context, but only real changes are news.
    entry.context = snap.context ?? null;
    if (
      state === this.sup.state &&
      status === this.sup.status &&
      restartTotal === this.sup.restartTotal
    )
      return;
    const at = this.now();
    this.sup = { state, status, restartTotal, updatedAt: at };
    this.applySystemSnapshot(entry, actorId, state, status, event, at);
    entry.summary.restarts = restartTotal;
    this.notify({ kind: "supervisor" });
  }

  /** The follower's (or any system actor's) snapshot: state, status and context. */
  private onSystemSnapshot(
    entry: SystemEntry | null,
    actorId: string,
    snapshot: unknown,
    event: AnyEventObject | undefined,
  ): void {
    if (!entry) return;
    const snap = snapshot as { value?: unknown; status?: unknown; context?: unknown };
    const status: ActorStatus =
      snap.status === "done" || snap.status === "error" || snap.status === "stopped"
        ? snap.status
        : "active";
    entry.context = snap.context ?? null;
    const state = stateValueText(snap.value);
    if (
      state === entry.summary.state &&
      status === entry.summary.status &&
      entry.lastValue === state
    )
      return;
    this.applySystemSnapshot(entry, actorId, state, status, event, this.now());
    this.notify({ kind: "system", key: entry.summary.key });
  }

  private applySystemSnapshot(
    entry: SystemEntry,
    actorId: string,
    state: string,
    status: ActorStatus,
    event: AnyEventObject | undefined,
    at: number,
  ): void {
    if (entry.lastValue === null || entry.lastValue !== state) {
      this.record(entry.recent, entry.summary.key, entry.summary.machine, {
        at,
        actorId,
        event: event ? entry.nameEvent(event.type).label : "?",
        from: entry.lastValue,
        to: state,
        detail: null,
      });
      entry.lastValue = state;
    }
    if (status !== entry.summary.status && status !== "active") {
      this.record(entry.recent, entry.summary.key, entry.summary.machine, {
        at,
        actorId,
        event: status,
        from: state,
        to: state,
        detail: null,
      });
    }
    entry.summary.state = state;
    entry.summary.status = status;
    entry.summary.updatedAt = at;
  }

  private onSystemMicrostep(
    entry: SystemEntry | null,
    actorId: string,
    snapshot: unknown,
    event: AnyEventObject,
  ): void {
    if (!entry) return;
    const value = stateValueText((snapshot as { value?: unknown }).value);
    if (value === entry.lastValue) return;
    this.record(entry.recent, entry.summary.key, entry.summary.machine, {
      at: this.now(),
      actorId,
      event: entry.nameEvent(event.type).label,
      from: entry.lastValue,
      to: value,
      detail: null,
    });
    entry.lastValue = value;
  }

  /** An outside event the supervisor received (SHUTDOWN, KLINES.CANDLES, …), with who sent it. */
  private onSupervisorEvent(actorId: string, event: AnyEventObject, sender: string | null): void {
    const entry = this.supervisorEntry(actorId);
    const parts: string[] = [];
    if (sender !== null && sender !== actorId) parts.push(`from ${sender}`);
    const symbols = (event as { symbols?: unknown }).symbols;
    if (Array.isArray(symbols)) {
      const shown = symbols.slice(0, 5).map(String).join(", ");
      parts.push(
        `${symbols.length} symbol${symbols.length === 1 ? "" : "s"}${symbols.length > 0 ? `: ${shown}${symbols.length > 5 ? ", …" : ""}` : ""}`,
      );
    }
    const error = str((event as { error?: unknown }).error);
    if (error !== null) parts.push(error);
    const state = entry.lastValue ?? entry.summary.state ?? "?";
    this.record(entry.recent, SUPERVISOR_KEY, "supervisor", {
      at: this.now(),
      actorId,
      event: event.type,
      from: state,
      to: state,
      detail: parts.length > 0 ? parts.join("; ") : null,
    });
  }

  private systemEntry(key: string, machine: SystemMachine): SystemEntry {
    let entry = this.systemEntries.get(key);
    if (!entry) {
      entry = {
        summary: {
          key,
          machine,
          actorId: key,
          state: null,
          status: null,
          restarts: 0,
          updatedAt: null,
        },
        recent: new RingBuffer<TimelineEntry>(this.recentSize),
        ids: new Set(),
        lastValue: null,
        context: null,
        nameEvent: createEventNamer(
          machine === "supervisor" ? supervisorMachine : klinesFollowerMachine,
        ),
      };
      this.systemEntries.set(key, entry);
    }
    return entry;
  }

  private supervisorEntry(actorId: string): SystemEntry {
    const entry = this.systemEntry(SUPERVISOR_KEY, "supervisor");
    if (entry.summary.actorId === null) {
      entry.summary.actorId = actorId;
      entry.ids.add(actorId);
    }
    return entry;
  }

  /** The follower's entry with `actorId` as its live incarnation; null for a replaced one. */
  private followerFor(actorId: string): SystemEntry | null {
    const known = this.systemEntries.has(KLINES_FOLLOWER_KEY);
    const entry = this.systemEntry(KLINES_FOLLOWER_KEY, "klinesFollower");
    if (!known) {
      entry.summary.actorId = actorId;
      entry.ids.add(actorId);
      entry.summary.updatedAt = this.now();
      this.notify({ kind: "system", key: KLINES_FOLLOWER_KEY });
      return entry;
    }
    if (entry.summary.actorId === actorId) return entry;
    if (entry.ids.has(actorId)) return null;
    const at = this.now();
    this.restarted(entry, KLINES_FOLLOWER_KEY, "klinesFollower", actorId, at);
    this.notify({ kind: "system", key: KLINES_FOLLOWER_KEY });
    return entry;
  }

  /** A row's actor was replaced (a supervisor restart): a new incarnation, starting afresh. */
  private restarted(
    entry: Entry | SystemEntry,
    key: string,
    machine: MachineName,
    actorId: string,
    at: number,
  ): void {
    entry.ids.add(actorId);
    this.record(entry.recent, key, machine, {
      at,
      actorId,
      event: "restart",
      from: entry.lastValue,
      to: "starting",
      detail: `${entry.summary.actorId} replaced by ${actorId}`,
    });
    entry.summary.actorId = actorId;
    entry.summary.restarts++;
    entry.summary.state = "starting";
    entry.summary.status = "active";
    entry.summary.updatedAt = at;
    entry.lastValue = null;
    entry.context = null;
  }

  /** One record, in the actor's ring and the system-wide timeline (the same object). */
  private record(
    ring: RingBuffer<TimelineEntry>,
    key: string,
    machine: MachineName,
    record: TransitionRecord,
  ): void {
    const entry: TimelineEntry = { seq: ++this.seq, key, machine, ...record };
    ring.push(entry);
    this.log.push(entry);
  }
}

const phaseRank = (phase: string): number => PHASE_ORDER.indexOf(phase as PhaseName);

export function compareSummaries(a: ActorSummary, b: ActorSummary): number {
  return a.symbol < b.symbol
    ? -1
    : a.symbol > b.symbol
      ? 1
      : phaseRank(a.phase) - phaseRank(b.phase);
}
