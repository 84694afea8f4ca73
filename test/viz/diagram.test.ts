// The diagrams are generated from the machine definitions: every test compares against the
// machine's own state nodes (walked here independently), so a state or transition added to
// machines/*.ts without the diagram following fails.
import { spawnSync } from 'node:child_process';
import { and, createMachine, not, type AnyStateMachine, type AnyStateNode } from 'xstate';
import { describe, expect, it } from 'vitest';
import { MACHINES, renderDiagram, toDot, toMermaid, type MachineName } from '../../src/viz/diagram.js';
import { layoutMachine } from '../../src/viz/layout.js';
import { machineModel } from '../../src/viz/machineModel.js';
import { renderSvg } from '../../src/viz/svg.js';

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
          out.push({ source: node.path.join('.'), target: target.path.join('.'), eventType: t.eventType });
        }
      }
    }
  }
  return out;
}

const mermaidId = (id: string): string => id.replace(/[^A-Za-z0-9_]/g, '_');

/** A structural reading of the subset of Mermaid stateDiagram-v2 we emit; throws on anything else. */
function parseMermaid(text: string): { initial: string[]; finals: string[]; edges: Array<{ from: string; to: string; label: string }>; notes: string[] } {
  const lines = text.split('\n');
  expect(lines[0]).toBe('stateDiagram-v2');
  const result = { initial: [] as string[], finals: [] as string[], edges: [] as Array<{ from: string; to: string; label: string }>, notes: [] as string[] };
  let inNote = false;
  let depth = 0;
  for (const raw of lines.slice(1)) {
    const line = raw.trim();
    if (line === '') continue;
    if (inNote) {
      if (line === 'end note') inNote = false;
      continue;
    }
    let m: RegExpExecArray | null;
    if (line.startsWith('%%')) continue;
    if ((m = /^\[\*\] --> (\w+)$/.exec(line))) result.initial.push(m[1]);
    else if ((m = /^(\w+) --> \[\*\]$/.exec(line))) result.finals.push(m[1]);
    else if ((m = /^(\w+) --> (\w+) : ([^;#<>]+)$/.exec(line))) result.edges.push({ from: m[1], to: m[2], label: m[3] });
    else if ((m = /^note right of (\w+)$/.exec(line))) {
      result.notes.push(m[1]);
      inNote = true;
    } else if (/^state \w+ \{$/.test(line)) depth++;
    else if (line === '}') depth--;
    else throw new Error(`unexpected mermaid line: ${JSON.stringify(raw)}`);
  }
  expect(inNote).toBe(false);
  expect(depth).toBe(0);
  return result;
}

function parseDotEdges(text: string): Array<{ from: string; to: string; attrs: string }> {
  const edges: Array<{ from: string; to: string; attrs: string }> = [];
  for (const m of text.matchAll(/^\s*"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?;$/gm)) edges.push({ from: m[1], to: m[2], attrs: m[3] ?? '' });
  return edges;
}

const hasDot = spawnSync('dot', ['-V'], { encoding: 'utf8' }).status === 0;

describe.each(Object.keys(MACHINES) as MachineName[])('viz diagrams of the %s machine', (name) => {
  const machine: AnyStateMachine = MACHINES[name];
  const states = ownStates(machine).map((n) => n.path.join('.'));
  const transitions = ownTransitions(machine);
  const pairs = new Set(transitions.map((t) => `${t.source}->${t.target}`));
  const finals = ownStates(machine).filter((n) => n.type === 'final').map((n) => n.path.join('.'));
  const initial = machine.root.initial.target[0].path.join('.');

  it('the model lists every state and every transition of the machine', () => {
    const model = machineModel(machine);
    expect(model.states.map((s) => s.id)).toEqual(states);
    expect(new Set(model.transitions.filter((t) => t.target !== null).map((t) => `${t.source}->${t.target}`))).toEqual(pairs);
    expect(model.initial).toBe(initial);
    // Every transition of the machine, counted one by one (guarded branches are separate).
    expect(model.transitions.filter((t) => t.target !== null)).toHaveLength(transitions.length);
  });

  it('mermaid: stateDiagram-v2 with every state, every transition, the initial and the final states', () => {
    const text = renderDiagram(name, 'mermaid');
    const parsed = parseMermaid(text);
    expect(parsed.initial).toEqual([mermaidId(initial)]);
    expect(parsed.finals.sort()).toEqual(finals.map(mermaidId).sort());
    expect(new Set(parsed.edges.map((e) => `${e.from}->${e.to}`))).toEqual(new Set([...pairs].map((p) => p.split('->').map(mermaidId).join('->'))));
    const mentioned = new Set([...parsed.initial, ...parsed.finals, ...parsed.edges.flatMap((e) => [e.from, e.to])]);
    for (const s of states) expect(mentioned, `state ${s} missing from the mermaid diagram`).toContain(mermaidId(s));
    // Labels name the events: plain event types verbatim, invoke results by the invoked actor.
    for (const t of transitions) {
      const labels = parsed.edges.filter((e) => e.from === mermaidId(t.source) && e.to === mermaidId(t.target)).map((e) => e.label);
      if (t.eventType === '') expect(labels.some((l) => l.startsWith('always'))).toBe(true);
      else if (!t.eventType.startsWith('xstate.')) expect(labels.some((l) => l.startsWith(t.eventType))).toBe(true);
      else if (t.eventType.startsWith('xstate.after.')) expect(labels.some((l) => l.startsWith('after '))).toBe(true);
    }
    // Descriptions become notes.
    for (const node of ownStates(machine)) if (node.description) expect(parsed.notes).toContain(mermaidId(node.path.join('.')));
  });

  it('dot: a digraph with a node per state and an edge per connected pair', () => {
    const text = renderDiagram(name, 'dot');
    expect(text).toMatch(new RegExp(`^// .*\\ndigraph "${machine.id}" \\{\\n`));
    expect(text.trimEnd().endsWith('}')).toBe(true);
    for (const s of states) expect(text).toMatch(new RegExp(`^\\s*"${s}" \\[label=`, 'm'));
    const edges = parseDotEdges(text).filter((e) => e.from !== '__initial' && !e.attrs.includes('style=dashed'));
    expect(new Set(edges.map((e) => `${e.from}->${e.to}`))).toEqual(pairs);
    expect(parseDotEdges(text).filter((e) => e.from === '__initial').map((e) => e.to)).toEqual([initial]);
  });

  it.skipIf(!hasDot)('dot: Graphviz accepts it', () => {
    const r = spawnSync('dot', ['-Tsvg'], { input: renderDiagram(name, 'dot'), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('<svg');
    for (const s of states) expect(r.stdout).toContain(`<title>${s}</title>`);
  });

  it('json: the machine\'s own toJSON, serialisable', () => {
    const parsed = JSON.parse(renderDiagram(name, 'json')) as { id: string; states: Record<string, unknown> };
    expect(parsed).toEqual(JSON.parse(JSON.stringify(machine.toJSON())));
    expect(parsed.id).toBe(machine.id);
    expect(Object.keys(parsed.states)).toEqual(Object.keys(machine.root.states));
  });

  it('layout and SVG: a box per state, no two boxes overlap, every connected pair drawn', () => {
    const layout = layoutMachine(machineModel(machine));
    expect(layout.nodes.map((n) => n.id)).toEqual(states);
    for (const n of layout.nodes) {
      expect(n.x - n.width / 2).toBeGreaterThanOrEqual(0);
      expect(n.x + n.width / 2).toBeLessThanOrEqual(layout.width);
      expect(n.y + n.height / 2).toBeLessThanOrEqual(layout.height);
    }
    for (const a of layout.nodes) {
      for (const b of layout.nodes) {
        if (a === b) continue;
        const apart = Math.abs(a.x - b.x) >= (a.width + b.width) / 2 || Math.abs(a.y - b.y) >= (a.height + b.height) / 2;
        expect(apart, `${a.id} overlaps ${b.id}`).toBe(true);
      }
    }
    expect(new Set(layout.edges.map((e) => `${e.source}->${e.target}`))).toEqual(pairs);
    for (const e of layout.edges) expect(e.path).toMatch(/^M[\d.]+,[\d.]+ /);
    const svg = renderSvg(layout, { standalone: true });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    for (const s of states) expect(svg).toContain(`data-state="${s}"`);
    // Nothing external: the only URL is the SVG namespace.
    expect(svg.match(/https?:\/\/[^"\s]+/g)).toEqual(['http://www.w3.org/2000/svg']);
  });
});

describe('viz diagrams follow any definition', () => {
  const machine = createMachine({
    id: 'sample',
    initial: 'off',
    on: { PING: { actions: 'pong' } },
    states: {
      off: { description: 'Nothing runs; a "quoted" word & <angle> text.', on: { TOGGLE: 'on' } },
      on: {
        initial: 'warming',
        states: {
          warming: { after: { 500: 'hot' } },
          hot: { always: [{ guard: not('cool'), target: 'hot' }, { guard: and(['a', 'b']), target: '#sample.done' }] },
        },
        on: {
          TOGGLE: [{ guard: ({ context }) => context === undefined, target: 'off' }, { target: 'off', actions: 'note' }],
          KEEP: { actions: 'keep' },
        },
      },
      done: { type: 'final' },
    },
  });

  it('names nested states, numeric delays, higher-order and inline guards, else branches and handlers', () => {
    const model = machineModel(machine);
    expect(model.states.map((s) => s.id)).toEqual(['off', 'on', 'on.warming', 'on.hot', 'done']);
    expect(model.states.find((s) => s.id === 'on')).toMatchObject({ type: 'compound', initial: 'on.warming' });
    expect(model.states.find((s) => s.id === 'on.hot')).toMatchObject({ parent: 'on' });
    const find = (source: string, target: string | null) => model.transitions.filter((t) => t.source === source && t.target === target);
    expect(find('on.warming', 'on.hot')).toMatchObject([{ kind: 'after', event: 'after 500ms' }]);
    expect(find('on.hot', 'on.hot')).toMatchObject([{ kind: 'always', guard: 'not(cool)' }]);
    expect(find('on.hot', 'done')).toMatchObject([{ guard: 'and(a, b)' }]);
    expect(find('on', 'off').map((t) => t.guard)).toEqual(['context === undefined', 'else']);
    expect(find('on', 'off')[1].actions).toEqual(['note']);
    expect(find('', null)).toMatchObject([{ event: 'PING', actions: ['pong'] }]);
    expect(find('on', null)).toMatchObject([{ event: 'KEEP', actions: ['keep'] }]);
  });

  it('mermaid nests compound states and stays within the plain-text subset', () => {
    const text = toMermaid(machineModel(machine));
    const parsed = parseMermaid(text);
    expect(text).toContain('  state on {\n    [*] --> on_warming\n');
    expect(parsed.initial).toEqual(['off', 'on_warming']);
    expect(parsed.finals).toEqual(['done']);
    expect(text).toContain('%% in every state, without a state change: PING / pong');
    expect(text).toContain('stays on: KEEP / keep');
  });

  it.skipIf(!hasDot)('dot with clusters and escaped text is accepted by Graphviz', () => {
    const r = spawnSync('dot', ['-Tsvg'], { input: toDot(machineModel(machine)), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('adding a state changes every output', () => {
    const base = { id: 'grow', initial: 'a', states: { a: { on: { GO: 'b' } }, b: {} } } as const;
    const grown = createMachine({ ...base, states: { ...base.states, b: { on: { GO: 'c' } }, c: { type: 'final' } } });
    const before = machineModel(createMachine(base));
    const after = machineModel(grown);
    expect(toMermaid(after)).not.toBe(toMermaid(before));
    expect(toMermaid(after)).toContain('b --> c : GO');
    expect(toMermaid(after)).toContain('c --> [*]');
    expect(toDot(after)).toContain('"b" -> "c" [label="GO"];');
    expect(layoutMachine(after).nodes.map((n) => n.id)).toEqual(['a', 'b', 'c']);
  });
});
