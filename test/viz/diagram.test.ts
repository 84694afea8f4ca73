// The diagrams are generated from the machine definitions: every test compares against the
// machine's own state nodes (walked here independently, not through xstate/graph), so a state or
// transition added to machines/*.ts without the diagram following fails. The SVG is laid out by
// ELK: the tests check what a reader relies on (every state a box, no two boxes overlapping,
// every connected pair an edge, guards shown by name and never as code).
import { spawnSync } from "node:child_process";
import { and, createMachine, not, type AnyStateMachine, type AnyStateNode } from "xstate";
import { describe, expect, it } from "vitest";
import {
  MACHINES,
  renderDiagram,
  toDot,
  toMermaid,
  type MachineName,
} from "../../src/viz/diagram.js";
import { layoutMachine, type MachineLayout } from "../../src/viz/layout.js";
import { INLINE_GUARD, machineModel } from "../../src/viz/machineModel.js";
import { renderSvg } from "../../src/viz/svg.js";

interface OwnTransition {
  source: string;
  target: string;
  eventType: string;
}

function ownStates(machine: AnyStateMachine): AnyStateNode[] {
  const out: AnyStateNode[] = [];
  const walk = (node: AnyStateNode): void => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      out.push(child);
      walk(child);
    }
  };
  walk(machine.root);
  return out;
}

/** Every transition with a target, straight from the state nodes. */
function ownTransitions(machine: AnyStateMachine): OwnTransition[] {
  const out: OwnTransition[] = [];
  for (const node of [machine.root, ...ownStates(machine)]) {
    const lists = [...node.transitions.values(), node.always ?? []];
    for (const list of lists) {
      for (const t of list) {
        for (const target of t.target ?? []) {
          out.push({
            source: node.path.join("."),
            target: target.path.join("."),
            eventType: t.eventType,
          });
        }
      }
    }
  }
  return out;
}

/**
 * The pairs a diagram draws: every transition with a target, a root one (`on` of the machine
 * itself, taken in any state) from each top-level state that is not final and does not handle
 * that event itself.
 */
function drawnPairs(machine: AnyStateMachine): Set<string> {
  const top = (Object.values(machine.root.states) as AnyStateNode[]).filter(
    (n) => n.type !== "final",
  );
  const out = new Set<string>();
  for (const t of ownTransitions(machine)) {
    if (t.source !== "") out.add(`${t.source}->${t.target}`);
    else
      for (const n of top)
        if (!n.transitions.has(t.eventType)) out.add(`${n.path.join(".")}->${t.target}`);
  }
  return out;
}

/** Guard names of the machine's transitions (strings and `{ type }` objects), straight from the nodes. */
function namedGuards(machine: AnyStateMachine): Set<string> {
  const out = new Set<string>();
  for (const node of [machine.root, ...ownStates(machine)]) {
    for (const list of [...node.transitions.values(), node.always ?? []]) {
      for (const t of list) {
        const g: unknown = t.guard;
        if (typeof g === "string") out.add(g);
        else if (g && typeof g === "object" && typeof (g as { type?: unknown }).type === "string")
          out.add((g as { type: string }).type);
      }
    }
  }
  return out;
}

/** What source code on an edge would look like. */
const CODE = /=>|\bcontext\b|\bevent\.|[!=]==|\?\./;

/** Every pair of boxes that are not one inside the other (a compound state holds its children). */
function boxesApart(layout: MachineLayout): Array<[string, string, boolean]> {
  const byId = new Map(layout.nodes.map((n) => [n.id, n]));
  const ancestor = (a: string, b: string): boolean => {
    for (let p = byId.get(b)?.parent ?? null; p !== null; p = byId.get(p)?.parent ?? null)
      if (p === a) return true;
    return false;
  };
  const out: Array<[string, string, boolean]> = [];
  for (const a of layout.nodes) {
    for (const b of layout.nodes) {
      if (a === b || ancestor(a.id, b.id) || ancestor(b.id, a.id)) continue;
      out.push([
        a.id,
        b.id,
        Math.abs(a.x - b.x) >= (a.width + b.width) / 2 ||
          Math.abs(a.y - b.y) >= (a.height + b.height) / 2,
      ]);
    }
  }
  return out;
}

const mermaidId = (id: string): string => id.replace(/[^A-Za-z0-9_]/g, "_");

/** A structural reading of the subset of Mermaid stateDiagram-v2 we emit; throws on anything else. */
function parseMermaid(text: string): {
  initial: string[];
  finals: string[];
  edges: Array<{ from: string; to: string; label: string }>;
  notes: string[];
} {
  const lines = text.split("\n");
  expect(lines[0]).toBe("stateDiagram-v2");
  const result = {
    initial: [] as string[],
    finals: [] as string[],
    edges: [] as Array<{ from: string; to: string; label: string }>,
    notes: [] as string[],
  };
  let inNote = false;
  let depth = 0;
  for (const raw of lines.slice(1)) {
    const line = raw.trim();
    if (line === "") continue;
    if (inNote) {
      if (line === "end note") inNote = false;
      continue;
    }
    let m: RegExpExecArray | null;
    if (line.startsWith("%%")) continue;
    if ((m = /^\[\*\] --> (\w+)$/.exec(line))) result.initial.push(m[1]);
    else if ((m = /^(\w+) --> \[\*\]$/.exec(line))) result.finals.push(m[1]);
    else if ((m = /^(\w+) --> (\w+) : ([^;#<>]+)$/.exec(line)))
      result.edges.push({ from: m[1], to: m[2], label: m[3] });
    else if ((m = /^note right of (\w+)$/.exec(line))) {
      result.notes.push(m[1]);
      inNote = true;
    } else if (/^state \w+ \{$/.test(line)) depth++;
    else if (line === "}") depth--;
    else throw new Error(`unexpected mermaid line: ${JSON.stringify(raw)}`);
  }
  expect(inNote).toBe(false);
  expect(depth).toBe(0);
  return result;
}

function parseDotEdges(text: string): Array<{ from: string; to: string; attrs: string }> {
  const edges: Array<{ from: string; to: string; attrs: string }> = [];
  for (const m of text.matchAll(/^\s*"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?;$/gm))
    edges.push({ from: m[1], to: m[2], attrs: m[3] ?? "" });
  return edges;
}

const hasDot = spawnSync("dot", ["-V"], { encoding: "utf8" }).status === 0;

describe.each(Object.keys(MACHINES) as MachineName[])("viz diagrams of the %s machine", (name) => {
  const machine: AnyStateMachine = MACHINES[name];
  const states = ownStates(machine).map((n) => n.path.join("."));
  const transitions = ownTransitions(machine);
  const pairs = new Set(transitions.map((t) => `${t.source}->${t.target}`));
  const drawn = drawnPairs(machine);
  const finals = ownStates(machine)
    .filter((n) => n.type === "final")
    .map((n) => n.path.join("."));
  const initial = machine.root.initial.target[0].path.join(".");

  it("the model lists every state and every transition of the machine", () => {
    const model = machineModel(machine);
    expect(model.states.map((s) => s.id)).toEqual(states);
    expect(
      new Set(
        model.transitions.filter((t) => t.target !== null).map((t) => `${t.source}->${t.target}`),
      ),
    ).toEqual(pairs);
    expect(model.initial).toBe(initial);
    // Every transition of the machine, counted one by one (guarded branches are separate).
    expect(model.transitions.filter((t) => t.target !== null)).toHaveLength(transitions.length);
  });

  it("mermaid: stateDiagram-v2 with every state, every transition, the initial and the final states", async () => {
    const text = await renderDiagram(name, "mermaid");
    const parsed = parseMermaid(text);
    expect(parsed.initial).toEqual([mermaidId(initial)]);
    expect(parsed.finals.sort()).toEqual(finals.map(mermaidId).sort());
    expect(new Set(parsed.edges.map((e) => `${e.from}->${e.to}`))).toEqual(
      new Set([...drawn].map((p) => p.split("->").map(mermaidId).join("->"))),
    );
    const mentioned = new Set([
      ...parsed.initial,
      ...parsed.finals,
      ...parsed.edges.flatMap((e) => [e.from, e.to]),
    ]);
    for (const s of states)
      expect(mentioned, `state ${s} missing from the mermaid diagram`).toContain(mermaidId(s));
    // Labels name the events: plain event types verbatim, invoke results by the invoked actor.
    for (const t of transitions.filter((x) => x.source !== "")) {
      const labels = parsed.edges
        .filter((e) => e.from === mermaidId(t.source) && e.to === mermaidId(t.target))
        .map((e) => e.label);
      if (t.eventType === "") expect(labels.some((l) => l.startsWith("always"))).toBe(true);
      else if (!t.eventType.startsWith("xstate."))
        expect(labels.some((l) => l.startsWith(t.eventType))).toBe(true);
      else if (t.eventType.startsWith("xstate.after."))
        expect(labels.some((l) => l.startsWith("after "))).toBe(true);
    }
    // Descriptions become notes.
    for (const node of ownStates(machine))
      if (node.description) expect(parsed.notes).toContain(mermaidId(node.path.join(".")));
  });

  it("dot: a digraph with a node per state and an edge per connected pair", async () => {
    const text = await renderDiagram(name, "dot");
    expect(text).toMatch(new RegExp(`^// .*\\ndigraph "${machine.id}" \\{\\n`));
    expect(text.trimEnd().endsWith("}")).toBe(true);
    for (const s of states) expect(text).toMatch(new RegExp(`^\\s*"${s}" \\[label=`, "m"));
    const edges = parseDotEdges(text).filter(
      (e) => e.from !== "__initial" && !e.attrs.includes("style=dashed"),
    );
    expect(new Set(edges.map((e) => `${e.from}->${e.to}`))).toEqual(drawn);
    expect(
      parseDotEdges(text)
        .filter((e) => e.from === "__initial")
        .map((e) => e.to),
    ).toEqual([initial]);
  });

  it.skipIf(!hasDot)("dot: Graphviz accepts it", async () => {
    const r = spawnSync("dot", ["-Tsvg"], {
      input: await renderDiagram(name, "dot"),
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("<svg");
    for (const s of states) expect(r.stdout).toContain(`<title>${s}</title>`);
  });

  it("json: the machine's own toJSON, serialisable", async () => {
    const parsed = JSON.parse(await renderDiagram(name, "json")) as {
      id: string;
      states: Record<string, unknown>;
    };
    expect(parsed).toEqual(JSON.parse(JSON.stringify(machine.toJSON())));
    expect(parsed.id).toBe(machine.id);
    expect(Object.keys(parsed.states)).toEqual(Object.keys(machine.root.states));
  });

  it("layout (ELK) and SVG: a box per state, no two boxes overlap, every connected pair drawn, the initial marked", async () => {
    const layout = await layoutMachine(machineModel(machine));
    expect(layout.nodes.map((n) => n.id)).toEqual(states);
    for (const n of layout.nodes) {
      expect(n.width).toBeGreaterThan(0);
      expect(n.x - n.width / 2).toBeGreaterThanOrEqual(0);
      expect(n.x + n.width / 2).toBeLessThanOrEqual(layout.width);
      expect(n.y - n.height / 2).toBeGreaterThanOrEqual(0);
      expect(n.y + n.height / 2).toBeLessThanOrEqual(layout.height);
    }
    for (const [a, b, apart] of boxesApart(layout)) expect(apart, `${a} overlaps ${b}`).toBe(true);
    expect(new Set(layout.edges.map((e) => `${e.source}->${e.target}`))).toEqual(drawn);
    for (const e of layout.edges) {
      expect(e.path).toMatch(/^M[\d.]+,[\d.]+ /);
      expect(e.lines.length).toBeGreaterThan(0);
      expect(e.labelX).toBeGreaterThanOrEqual(0);
      expect(e.labelX).toBeLessThanOrEqual(layout.width);
      expect(e.labelY).toBeLessThanOrEqual(layout.height);
    }
    // The initial dot sits above the initial state and points at it.
    expect(layout.initials[0]).toMatchObject({ scope: null });
    const first = layout.nodes.find((n) => n.id === initial)!;
    expect(layout.initials[0].y).toBeLessThan(first.y);
    expect(layout.initials[0].path).toMatch(/^M[\d.]+,[\d.]+ /);
    const svg = renderSvg(layout, { standalone: true });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    for (const s of states) expect(svg).toContain(`data-state="${s}"`);
    // Nothing external: the only URL is the SVG namespace.
    expect(svg.match(/https?:\/\/[^"\s]+/g)).toEqual(["http://www.w3.org/2000/svg"]);
  });

  it("guards are shown by name on the edges — in the SVG, Mermaid and dot — and never as source code", async () => {
    const model = machineModel(machine);
    for (const t of model.transitions)
      if (t.guard !== null) expect(t.guard, `${t.source} ${t.event}`).not.toMatch(CODE);
    const layout = await layoutMachine(model);
    const svgLabels = layout.edges.flatMap((e) => e.lines);
    for (const guard of namedGuards(machine)) {
      expect(
        svgLabels.some((l) => l.includes(`[${guard}]`)),
        `guard ${guard} on an SVG edge`,
      ).toBe(true);
    }
    for (const line of svgLabels) expect(line).not.toMatch(CODE);
    for (const format of ["mermaid", "dot", "svg"] as const) {
      const text = await renderDiagram(name, format);
      for (const guard of namedGuards(machine))
        expect(text, `${format} names ${guard}`).toContain(`[${guard}]`);
      // Labels only (the dot/mermaid headers and the SVG's CSS are not labels).
      const labels =
        format === "svg"
          ? [...text.matchAll(/<tspan[^>]*>([^<]*)<\/tspan>/g)].map((m) => m[1])
          : format === "mermaid"
            ? [...text.matchAll(/^\s*\w+ --> \w+ : (.*)$/gm)].map((m) => m[1])
            : [...text.matchAll(/^\s*"[^"]+" -> "[^"]+" \[(.*)\];$/gm)].map((m) => m[1]);
      expect(labels.length).toBeGreaterThan(0);
      for (const label of labels) expect(label, `${format} label`).not.toMatch(CODE);
    }
  });
});

describe("viz diagrams follow any definition", () => {
  const machine = createMachine({
    id: "sample",
    initial: "off",
    on: { PING: { actions: "pong" } },
    states: {
      off: { description: 'Nothing runs; a "quoted" word & <angle> text.', on: { TOGGLE: "on" } },
      on: {
        initial: "warming",
        states: {
          warming: { after: { 500: "hot" } },
          hot: {
            always: [
              { guard: not("cool"), target: "hot" },
              { guard: and(["a", "b"]), target: "#sample.done" },
            ],
          },
        },
        on: {
          TOGGLE: [
            { guard: ({ context }) => context === undefined, target: "off" },
            { target: "off", actions: "note" },
          ],
          KEEP: { actions: "keep" },
        },
      },
      done: { type: "final" },
    },
  });

  it("names nested states, numeric delays, higher-order and inline guards, else branches and handlers", () => {
    const model = machineModel(machine);
    expect(model.states.map((s) => s.id)).toEqual(["off", "on", "on.warming", "on.hot", "done"]);
    expect(model.states.find((s) => s.id === "on")).toMatchObject({
      type: "compound",
      initial: "on.warming",
    });
    expect(model.states.find((s) => s.id === "on.hot")).toMatchObject({ parent: "on" });
    const find = (source: string, target: string | null) =>
      model.transitions.filter((t) => t.source === source && t.target === target);
    expect(find("on.warming", "on.hot")).toMatchObject([{ kind: "after", event: "after 500ms" }]);
    expect(find("on.hot", "on.hot")).toMatchObject([{ kind: "always", guard: "not(cool)" }]);
    expect(find("on.hot", "done")).toMatchObject([{ guard: "and(a, b)" }]);
    // An inline guard has no name: it shows as such, never as its source code.
    expect(find("on", "off").map((t) => t.guard)).toEqual([INLINE_GUARD, "else"]);
    expect(find("on", "off")[1].actions).toEqual(["note"]);
    expect(find("", null)).toMatchObject([{ event: "PING", actions: ["pong"] }]);
    expect(find("on", null)).toMatchObject([{ event: "KEEP", actions: ["keep"] }]);
  });

  it("mermaid nests compound states and stays within the plain-text subset", () => {
    const text = toMermaid(machineModel(machine));
    const parsed = parseMermaid(text);
    expect(text).toContain("  state on {\n    [*] --> on_warming\n");
    expect(parsed.initial).toEqual(["off", "on_warming"]);
    expect(parsed.finals).toEqual(["done"]);
    expect(text).toContain("%% in every state, without a state change: PING / pong");
    expect(text).toContain("stays on: KEEP / keep");
  });

  it.skipIf(!hasDot)("dot with clusters and escaped text is accepted by Graphviz", () => {
    const r = spawnSync("dot", ["-Tsvg"], {
      input: toDot(machineModel(machine)),
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("layout nests compound states: children inside their parent, an initial dot in each scope", async () => {
    const layout = await layoutMachine(machineModel(machine));
    const byId = new Map(layout.nodes.map((n) => [n.id, n]));
    const parent = byId.get("on")!;
    expect(parent.compound).toBe(true);
    for (const id of ["on.warming", "on.hot"]) {
      const child = byId.get(id)!;
      expect(child.parent).toBe("on");
      expect(child.x - child.width / 2).toBeGreaterThanOrEqual(parent.x - parent.width / 2);
      expect(child.x + child.width / 2).toBeLessThanOrEqual(parent.x + parent.width / 2);
      expect(child.y - child.height / 2).toBeGreaterThanOrEqual(parent.y - parent.height / 2);
      expect(child.y + child.height / 2).toBeLessThanOrEqual(parent.y + parent.height / 2);
    }
    for (const [a, b, apart] of boxesApart(layout)) expect(apart, `${a} overlaps ${b}`).toBe(true);
    expect(layout.initials.map((i) => i.scope)).toEqual([null, "on"]);
    const inner = layout.initials[1];
    expect(
      Math.abs(inner.x - parent.x) <= parent.width / 2 &&
        Math.abs(inner.y - parent.y) <= parent.height / 2,
    ).toBe(true);
    expect(layout.edges.find((e) => e.source === "on" && e.target === "off")?.lines).toEqual([
      `TOGGLE [${INLINE_GUARD}]`,
      "TOGGLE [else]",
    ]);
    const svg = renderSvg(layout);
    expect(svg).toContain('class="state compound" data-state="on"');
    // The container is drawn before (under) the edges and states inside it.
    expect(svg.indexOf('data-state="on"')).toBeLessThan(svg.indexOf('class="edge"'));
    expect(svg.indexOf('class="edge"')).toBeLessThan(svg.indexOf('data-state="on.warming"'));
  });

  it("a root transition with a target is drawn from every top-level state that does not handle the event", async () => {
    const m = createMachine({
      id: "root",
      initial: "a",
      on: { STOP: ".stopped" },
      states: { a: { on: { GO: "b" } }, b: { on: { STOP: "a" } }, stopped: { type: "final" } },
    });
    const model = machineModel(m);
    expect(model.transitions.filter((t) => t.source === "")).toMatchObject([
      { target: "stopped", event: "STOP" },
    ]);
    expect(toMermaid(model)).toContain("a --> stopped : STOP");
    expect(toMermaid(model)).toContain("b --> a : STOP");
    expect(toMermaid(model)).not.toContain("b --> stopped");
    expect(
      new Set((await layoutMachine(model)).edges.map((e) => `${e.source}->${e.target}`)),
    ).toEqual(new Set(["a->b", "b->a", "a->stopped"]));
  });

  it("adding a state changes every output", async () => {
    const base = { id: "grow", initial: "a", states: { a: { on: { GO: "b" } }, b: {} } } as const;
    const grown = createMachine({
      ...base,
      states: { ...base.states, b: { on: { GO: "c" } }, c: { type: "final" } },
    });
    const before = machineModel(createMachine(base));
    const after = machineModel(grown);
    expect(toMermaid(after)).not.toBe(toMermaid(before));
    expect(toMermaid(after)).toContain("b --> c : GO");
    expect(toMermaid(after)).toContain("c --> [*]");
    expect(toDot(after)).toContain('"b" -> "c" [label="GO"];');
    expect((await layoutMachine(after)).nodes.map((n) => n.id)).toEqual(["a", "b", "c"]);
  });
});
