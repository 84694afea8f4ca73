// The diagram model of an XState machine, read from the machine's own state nodes — never written
// by hand — so the mermaid/dot/SVG diagrams cannot drift from machines/*.ts: add a state or a
// transition there and every diagram follows. The walk is XState's own (`toDirectedGraph` from
// `xstate/graph`: the state tree and an edge per transition target); this module adds what that
// walk leaves out — eventless (`always`) transitions, which it does not list, and transitions
// without a target (actions only), which it draws as self-loops — and the reader's names.
//
// XState turns `onDone`, `onError`, `after` and `always` into transitions on internal event types
// (`xstate.done.actor.0.klinesFollower.locating`, `xstate.after.interval.publisher.idle`, …). This
// module names them the way a reader thinks of them (`locateEnd.done`, `after interval`,
// `always`) — and counts the publisher's step answers, events it names itself (`readInputs.done`,
// `publishResult.error`: machines/stepActor.ts), as done/error too — and names guards, so a diagram shows why a branch is taken — by the guard's name
// only: an inline guard's source code is never printed (it shows as `inline guard`).
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from "xstate";
import { toDirectedGraph, type DirectedGraphNode } from "xstate/graph";

export type TransitionKind = "event" | "done" | "error" | "after" | "always";

export interface ModelState {
  /** Path from the root, joined with '.' (e.g. `idle`, or `parent.child` for nested states). */
  id: string;
  key: string;
  /** Parent state's id; null for top-level states. */
  parent: string | null;
  type: "atomic" | "compound" | "parallel" | "final" | "history";
  description: string | null;
  /** `src` of every actor this state invokes (e.g. `readInputs`). */
  invokes: string[];
  /** For compound states: the id of the initial child. */
  initial: string | null;
}

export interface ModelTransition {
  /** Source state id; '' is the machine's root (handlers active in every state). */
  source: string;
  /** Target state id; null = handled without leaving the state (actions only). */
  target: string | null;
  kind: TransitionKind;
  /** XState's own event descriptor (e.g. `xstate.after.interval.publisher.idle`). */
  eventType: string;
  /** What the diagram shows: `RUN`, `readInputs.done`, `after interval`, `always`. */
  event: string;
  /** Guard in words: a named guard, `not(x)`, an inline guard's expression, or `else`. */
  guard: string | null;
  /** Named (non-built-in) actions, e.g. `startCycle`, `reportCycle`. */
  actions: string[];
}

export interface MachineModel {
  machineId: string;
  /** The root's initial state id. */
  initial: string;
  /** Every state node below the root, in document order. */
  states: ModelState[];
  transitions: ModelTransition[];
}

/** Every state node below the root, depth-first in document order. */
export function allStateNodes(machine: AnyStateMachine): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const visit = (node: AnyStateNode): void => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      out.push(child);
      visit(child);
    }
  };
  visit(machine.root);
  return out;
}

const stateIdOf = (node: AnyStateNode): string => node.path.join(".");

/** What an anonymous guard function shows as: its source is code, not a name. */
export const INLINE_GUARD = "inline guard";

/**
 * A guard by name: a named guard (`isOnce`, `{ type: 'isOnce', params }`), xstate's higher-order
 * guards over their operands' names (`not(isOnce)`, `and(a, b)`, `stateIn("x")`), a named
 * function by its name; an anonymous one as `inline guard` — never its source code.
 */
export function describeGuard(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === "string") return guard;
  if (typeof guard === "function") {
    const fn = guard as { check?: unknown; guards?: unknown; stateValue?: unknown; name?: string };
    // xstate's built-in guards (and/or/not, stateIn) are functions named after their kind that
    // carry a `check` and their operands.
    if (typeof fn.check === "function") {
      if (Array.isArray(fn.guards))
        return `${fn.name || "guard"}(${fn.guards.map((g) => describeGuard(g) ?? "?").join(", ")})`;
      if (fn.stateValue !== undefined)
        return `${fn.name || "stateIn"}(${JSON.stringify(fn.stateValue)})`;
    }
    // `guard: ({ context }) => …` is named `guard` after its property: that is no name.
    return fn.name && fn.name !== "guard" ? fn.name : INLINE_GUARD;
  }
  if (typeof guard === "object" && typeof (guard as { type?: unknown }).type === "string") {
    return (guard as { type: string }).type;
  }
  return INLINE_GUARD;
}

/** Named actions; built-ins (assign, raise, sendTo, …) and inline functions are left out. */
export function describeActions(actions: readonly unknown[]): string[] {
  const names: string[] = [];
  for (const action of actions) {
    let name: string | null = null;
    if (typeof action === "string") name = action;
    else if (
      action &&
      typeof action === "object" &&
      typeof (action as { type?: unknown }).type === "string"
    ) {
      name = (action as { type: string }).type;
    }
    if (name !== null && !name.startsWith("xstate.")) names.push(name);
  }
  return names;
}

/** Maps every invoke id of the machine to its `src`, to name done/error events. */
function invokeSources(machine: AnyStateMachine): Map<string, string> {
  const byId = new Map<string, string>();
  for (const node of [machine.root, ...allStateNodes(machine)]) {
    for (const inv of node.invoke) {
      byId.set(inv.id, typeof inv.src === "string" ? inv.src : inv.id);
    }
  }
  return byId;
}

/** `<step>.done` / `<step>.error`: what a step actor sends back (machines/stepActor.ts). */
const STEP_ANSWER = /^[A-Za-z]\w*\.(done|error)$/;

export interface EventName {
  kind: TransitionKind;
  label: string;
}

/**
 * Turns XState event types into names a reader recognises. Works for descriptors in a
 * definition and for events seen at run time (the visualizer's recent-event list).
 */
export function createEventNamer(
  machine: AnyStateMachine,
): (eventType: string, delay?: unknown) => EventName {
  const sources = invokeSources(machine);
  return (eventType, delay) => {
    if (eventType === "") return { kind: "always", label: "always" };
    // A long-lived step actor's answer (the publisher's `readInputs.done`): already a reader's name.
    const answer = STEP_ANSWER.exec(eventType);
    if (answer) return { kind: answer[1] as "done" | "error", label: eventType };
    const actor = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType);
    if (actor) {
      const kind = actor[1] as "done" | "error";
      if (actor[2] === "*") return { kind, label: `${kind}: any child` };
      const src = sources.get(actor[2]);
      return { kind, label: `${src ?? actor[2]}.${kind}` };
    }
    if (eventType.startsWith("xstate.after.")) {
      const d = delay ?? /^xstate\.after\.([^.]+)\./.exec(eventType)?.[1] ?? "?";
      return {
        kind: "after",
        label: `after ${typeof d === "number" ? `${d}ms` : typeof d === "string" ? d : "delay"}`,
      };
    }
    if (eventType.startsWith("xstate.done.state."))
      return { kind: "done", label: `done: ${eventType.slice("xstate.done.state.".length)}` };
    if (eventType === "xstate.init") return { kind: "event", label: "init" };
    return { kind: "event", label: eventType };
  };
}

/** The diagram model of a machine: XState's directed graph of it, named for a reader. */
export function machineModel(machine: AnyStateMachine): MachineModel {
  const nameEvent = createEventNamer(machine);
  const states: ModelState[] = [];
  const transitions: ModelTransition[] = [];

  const add = (
    node: AnyStateNode,
    source: string,
    t: AnyTransitionDefinition,
    targets: readonly AnyStateNode[],
    delay: unknown,
  ): void => {
    // XState types a definition's eventType by its machine's events; over any machine it is any.
    const eventType = t.eventType as string;
    const name = nameEvent(eventType, delay);
    // Branches of one event are tried in order: a branch after a guarded one is its `else`.
    const branches: readonly AnyTransitionDefinition[] =
      eventType === "" ? (node.always ?? []) : (node.transitions.get(eventType) ?? []);
    const index = branches.indexOf(t);
    const guarded = branches
      .slice(0, index < 0 ? 0 : index)
      .some((prev) => prev.guard !== undefined);
    const guard = describeGuard(t.guard) ?? (guarded ? "else" : null);
    const actions = describeActions(t.actions);
    if (targets.length === 0)
      transitions.push({
        source,
        target: null,
        kind: name.kind,
        eventType,
        event: name.label,
        guard,
        actions,
      });
    for (const target of targets) {
      transitions.push({
        source,
        target: stateIdOf(target),
        kind: name.kind,
        eventType,
        event: name.label,
        guard,
        actions,
      });
    }
  };

  const visit = (graph: DirectedGraphNode, isRoot: boolean): void => {
    const node = graph.stateNode;
    const source = isRoot ? "" : stateIdOf(node);
    if (!isRoot) {
      states.push({
        id: source,
        key: node.key,
        parent: node.parent && node.parent !== machine.root ? stateIdOf(node.parent) : null,
        type: node.type,
        description: node.description ?? null,
        invokes: node.invoke.map((inv) => (typeof inv.src === "string" ? inv.src : inv.id)),
        initial:
          node.type === "compound" && node.initial.target.length > 0
            ? stateIdOf(node.initial.target[0])
            : null,
      });
    }
    const delays = new Map<string, unknown>(node.after.map((t) => [t.eventType, t.delay]));
    // One graph edge per (transition, target); a transition without a target is drawn by the
    // walk as an edge back to its own node: here it is a handler that changes no state.
    const seen = new Set<AnyTransitionDefinition>();
    for (const edge of graph.edges) {
      const t = edge.transition;
      if (seen.has(t)) continue;
      seen.add(t);
      add(node, source, t, t.target ?? [], delays.get(t.eventType as string));
    }
    for (const t of node.always ?? []) add(node, source, t, t.target ?? [], undefined);
    for (const child of graph.children) visit(child, false);
  };
  visit(toDirectedGraph(machine), true);

  const initialTarget = machine.root.initial.target[0];
  return {
    machineId: machine.id,
    initial: initialTarget ? stateIdOf(initialTarget) : (states[0]?.id ?? ""),
    states,
    transitions,
  };
}

/** `event [guard]`, the label every renderer starts from. */
export function transitionLabel(t: ModelTransition, withActions = false): string {
  let label = t.event;
  if (t.guard !== null) label += ` [${t.guard}]`;
  if (withActions && t.actions.length > 0) label += ` / ${t.actions.join(", ")}`;
  return label;
}

/**
 * The transitions a diagram draws as arrows: every one with a target, and a root handler with a
 * target (`on: { DRAIN: '.stopped' }` on the machine itself, taken in any state) once from each
 * top-level state that is not final and does not handle that event itself.
 */
export function drawnTransitions(model: MachineModel): ModelTransition[] {
  const handled = new Set(model.transitions.map((t) => `${t.source}\u0000${t.eventType}`));
  const top = model.states.filter((s) => s.parent === null && s.type !== "final");
  const out: ModelTransition[] = [];
  for (const t of model.transitions) {
    if (t.target === null) continue;
    if (t.source !== "") {
      out.push(t);
      continue;
    }
    for (const s of top)
      if (!handled.has(`${s.id}\u0000${t.eventType}`)) out.push({ ...t, source: s.id });
  }
  return out;
}

/** Transitions with the same source, target and kind of handling, drawn as one edge. */
export interface MergedEdge {
  source: string;
  target: string;
  labels: string[];
}

/** Parallel transitions between the same two states become one edge with every label. */
export function mergeEdges(transitions: ModelTransition[], withActions = false): MergedEdge[] {
  const byPair = new Map<string, MergedEdge>();
  for (const t of transitions) {
    if (t.target === null || t.source === "") continue;
    const pair = `${t.source}\u0000${t.target}`;
    let edge = byPair.get(pair);
    if (!edge) {
      edge = { source: t.source, target: t.target, labels: [] };
      byPair.set(pair, edge);
    }
    const label = transitionLabel(t, withActions);
    if (!edge.labels.includes(label)) edge.labels.push(label);
  }
  return [...byPair.values()];
}

/** Handlers that change no state, keyed by state id ('' = the root, i.e. every state). */
export function internalHandlers(model: MachineModel): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const t of model.transitions) {
    if (t.target !== null) continue;
    const list = out.get(t.source) ?? [];
    list.push(transitionLabel(t, true));
    out.set(t.source, list);
  }
  return out;
}
