// A small layered layout for state diagrams, computed from the machine model so the /viz page
// can draw the machine without a diagram library (air-gapped VPS: no CDN, no mermaid bundle).
//
// Ranks top to bottom by longest path from the initial state, back edges (cycles) found by a
// depth-first walk and left out of the ranking. Edges between neighbouring ranks are drawn
// directly; every other edge — back to an earlier state, or skipping ranks — is routed around
// the nodes through a vertical lane on the left or right, one lane per (side, target), so the
// many "… → idle" edges of the publisher merge into one readable bus instead of crossing nodes.
import { mergeEdges, type MachineModel, type ModelTransition } from './machineModel.js';

export interface LayoutNode {
  id: string;
  label: string;
  rank: number;
  /** Centre. */
  x: number;
  y: number;
  width: number;
  height: number;
  final: boolean;
  description: string | null;
}

export interface LayoutEdge {
  source: string;
  target: string;
  /** Short visible label (event names), and the full one with guards for a tooltip. */
  label: string;
  title: string;
  /** SVG path data. */
  path: string;
  labelX: number;
  labelY: number;
  labelAnchor: 'start' | 'middle' | 'end';
  routed: 'direct' | 'left' | 'right' | 'self';
}

export interface MachineLayout {
  machineId: string;
  width: number;
  height: number;
  initial: { x: number; y: number };
  nodes: LayoutNode[];
  edges: LayoutEdge[];
}

const NODE_HEIGHT = 32;
const RANK_GAP = 58;
const NODE_GAP = 36;
const MARGIN = 16;
const TOP = 40; // room for the initial marker
const LANE_GAP = 14;
const NODE_CHAR_PX = 7.4; // 13px sans-serif, average glyph
export const LABEL_CHAR_PX = 5.8; // 10px sans-serif

const textWidth = (text: string, charPx: number): number => Math.ceil(text.length * charPx);

/** Short, visible label: what happened, not why (the guard is in the tooltip). */
function shortLabel(transitions: ModelTransition[]): string {
  const names: string[] = [];
  for (const t of transitions) {
    const name = t.kind === 'done' ? 'done' : t.kind === 'error' ? 'error' : t.event;
    if (!names.includes(name)) names.push(name);
  }
  return names.join(', ');
}

export function layoutMachine(model: MachineModel): MachineLayout {
  const ids = model.states.map((s) => s.id);
  const merged = mergeEdges(model.transitions);
  const between = (a: string, b: string): ModelTransition[] =>
    model.transitions.filter((t) => t.source === a && t.target === b);

  // 1. Back edges: depth-first from the initial state, then from any state not reached.
  const out = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of merged) if (e.source !== e.target) out.get(e.source)?.push(e.target);
  const back = new Set<string>();
  const visited = new Set<string>();
  const onStack = new Set<string>();
  const finishOrder: string[] = [];
  const dfs = (id: string): void => {
    visited.add(id);
    onStack.add(id);
    for (const next of out.get(id) ?? []) {
      if (onStack.has(next)) back.add(`${id}\u0000${next}`);
      else if (!visited.has(next)) dfs(next);
    }
    onStack.delete(id);
    finishOrder.push(id);
  };
  if (ids.includes(model.initial)) dfs(model.initial);
  for (const id of ids) if (!visited.has(id)) dfs(id);
  const isBack = (a: string, b: string): boolean => back.has(`${a}\u0000${b}`);

  // 2. Longest-path ranks over the forward edges (reverse finishing order is topological).
  const rank = new Map<string, number>(ids.map((id) => [id, 0]));
  for (const id of [...finishOrder].reverse()) {
    for (const next of out.get(id) ?? []) {
      if (!isBack(id, next)) rank.set(next, Math.max(rank.get(next) ?? 0, (rank.get(id) ?? 0) + 1));
    }
  }
  const rankCount = Math.max(0, ...rank.values()) + 1;
  const byRank: string[][] = Array.from({ length: rankCount }, () => []);
  for (const id of ids) byRank[rank.get(id) ?? 0].push(id);

  // 3. Order within ranks: a few barycentre sweeps over neighbouring-rank edges.
  const position = new Map<string, number>();
  const reindex = (): void => byRank.forEach((row) => row.forEach((id, i) => position.set(id, i)));
  reindex();
  const neighbours = (id: string, dir: -1 | 1): string[] =>
    merged
      .filter((e) => (dir === -1 ? e.target === id : e.source === id))
      .map((e) => (dir === -1 ? e.source : e.target))
      .filter((other) => (rank.get(other) ?? 0) === (rank.get(id) ?? 0) + dir);
  for (let sweep = 0; sweep < 4; sweep++) {
    const dir: -1 | 1 = sweep % 2 === 0 ? -1 : 1;
    const rows = dir === -1 ? byRank.slice(1) : byRank.slice(0, -1).reverse();
    for (const row of rows) {
      const centre = new Map<string, number>();
      for (const id of row) {
        const ns = neighbours(id, dir);
        centre.set(id, ns.length > 0 ? ns.reduce((s, n) => s + (position.get(n) ?? 0), 0) / ns.length : (position.get(id) ?? 0));
      }
      row.sort((a, b) => (centre.get(a) ?? 0) - (centre.get(b) ?? 0) || ids.indexOf(a) - ids.indexOf(b));
      reindex();
    }
  }

  // 4. Node sizes and positions (centred rows).
  const stateById = new Map(model.states.map((s) => [s.id, s]));
  const widthOf = (id: string): number => Math.max(86, textWidth(stateById.get(id)?.key ?? id, NODE_CHAR_PX) + 28);
  const rowWidth = (row: string[]): number => row.reduce((w, id) => w + widthOf(id), 0) + NODE_GAP * Math.max(0, row.length - 1);
  const coreWidth = Math.max(...byRank.map(rowWidth), 0);

  // Which edges need a lane, and on which side.
  const nodes = new Map<string, LayoutNode>();
  const placeRows = (left: number): void => {
    byRank.forEach((row, r) => {
      let x = left + (coreWidth - rowWidth(row)) / 2;
      for (const id of row) {
        const w = widthOf(id);
        const state = stateById.get(id);
        nodes.set(id, {
          id,
          label: state?.key ?? id,
          rank: r,
          x: x + w / 2,
          y: TOP + r * (NODE_HEIGHT + RANK_GAP) + NODE_HEIGHT / 2,
          width: w,
          height: NODE_HEIGHT,
          final: state?.type === 'final',
          description: state?.description ?? null,
        });
        x += w + NODE_GAP;
      }
    });
  };
  placeRows(0);
  const coreCentre = coreWidth / 2;

  interface Routed {
    source: string;
    target: string;
    label: string;
    title: string;
    side: 'left' | 'right';
  }
  const routed: Routed[] = [];
  const laneCount = { left: 0, right: 0 };
  const direct: Array<{ source: string; target: string; label: string; title: string }> = [];
  const selfLoops: Array<{ id: string; label: string; title: string }> = [];
  for (const e of merged) {
    const ts = between(e.source, e.target);
    const label = shortLabel(ts);
    const title = `${e.source} → ${e.target}: ${e.labels.join(' · ')}`;
    if (e.source === e.target) {
      selfLoops.push({ id: e.source, label, title });
      continue;
    }
    const span = (rank.get(e.target) ?? 0) - (rank.get(e.source) ?? 0);
    if (span === 1 && !isBack(e.source, e.target)) {
      direct.push({ source: e.source, target: e.target, label, title });
      continue;
    }
    const src = nodes.get(e.source);
    const rowSize = byRank[rank.get(e.source) ?? 0].length;
    let side: 'left' | 'right';
    if (src && rowSize > 1 && Math.abs(src.x - coreCentre) > 1) side = src.x < coreCentre ? 'left' : 'right';
    else side = laneCount.left < laneCount.right ? 'left' : 'right';
    laneCount[side]++;
    routed.push({ source: e.source, target: e.target, label, title, side });
  }

  // Lanes: one per (side, target); the label gutter between the nodes and the lanes fits the
  // longest routed label on that side.
  // Shorter lanes sit closer to the nodes, so long ones do not cut through their ends.
  const lanes = { left: new Map<string, number>(), right: new Map<string, number>() };
  for (const side of ['left', 'right'] as const) {
    const extent = new Map<string, { top: number; bottom: number }>();
    for (const r of routed) {
      if (r.side !== side) continue;
      const ys = [rank.get(r.source) ?? 0, rank.get(r.target) ?? 0];
      const e = extent.get(r.target) ?? { top: Infinity, bottom: -Infinity };
      extent.set(r.target, { top: Math.min(e.top, ...ys), bottom: Math.max(e.bottom, ...ys) });
    }
    [...extent.entries()]
      .sort(([a, ea], [b, eb]) => ea.bottom - ea.top - (eb.bottom - eb.top) || ids.indexOf(a) - ids.indexOf(b))
      .forEach(([target], i) => lanes[side].set(target, i));
  }
  const gutter = (side: 'left' | 'right'): number =>
    Math.max(24, ...routed.filter((r) => r.side === side).map((r) => textWidth(r.label, LABEL_CHAR_PX) + 12));
  const leftGutter = lanes.left.size > 0 ? gutter('left') : 0;
  const rightGutter = lanes.right.size > 0 ? gutter('right') : 0;
  const leftLanesWidth = lanes.left.size * LANE_GAP;
  const rightLanesWidth = lanes.right.size * LANE_GAP;
  const selfLoopWidth = selfLoops.length > 0 ? Math.max(...selfLoops.map((s) => textWidth(s.label, LABEL_CHAR_PX))) + 40 : 0;
  const coreLeft = MARGIN + leftLanesWidth + leftGutter;
  placeRows(coreLeft);
  const coreRight = coreLeft + coreWidth;

  const edges: LayoutEdge[] = [];
  const fmt = (n: number): string => String(Math.round(n * 10) / 10);

  // Direct edges: spread the ports of nodes with several edges along their bottom/top sides.
  const outPorts = new Map<string, string[]>();
  const inPorts = new Map<string, string[]>();
  for (const d of direct) {
    outPorts.set(d.source, [...(outPorts.get(d.source) ?? []), d.target]);
    inPorts.set(d.target, [...(inPorts.get(d.target) ?? []), d.source]);
  }
  const portX = (node: LayoutNode, list: string[], other: string): number => {
    const sorted = [...list].sort((a, b) => (nodes.get(a)?.x ?? 0) - (nodes.get(b)?.x ?? 0));
    const i = sorted.indexOf(other);
    return node.x + ((i + 1) / (sorted.length + 1) - 0.5) * node.width * 0.8;
  };
  for (const d of direct) {
    const a = nodes.get(d.source);
    const b = nodes.get(d.target);
    if (!a || !b) continue;
    const x1 = portX(a, outPorts.get(d.source) ?? [], d.target);
    const y1 = a.y + a.height / 2;
    const x2 = portX(b, inPorts.get(d.target) ?? [], d.source);
    const y2 = b.y - b.height / 2;
    const my = (y1 + y2) / 2;
    edges.push({
      source: d.source,
      target: d.target,
      label: d.label,
      title: d.title,
      path: `M${fmt(x1)},${fmt(y1)} C${fmt(x1)},${fmt(my)} ${fmt(x2)},${fmt(my)} ${fmt(x2)},${fmt(y2)}`,
      labelX: (x1 + x2) / 2 + 6,
      labelY: my + 3,
      labelAnchor: 'start',
      routed: 'direct',
    });
  }

  // Routed edges: out of the source's side, along the lane, into the target's side. Ports are
  // offset vertically so an edge leaving and one arriving at the same side do not overlap.
  for (const r of routed) {
    const a = nodes.get(r.source);
    const b = nodes.get(r.target);
    if (!a || !b) continue;
    const lane = lanes[r.side].get(r.target) ?? 0;
    const sign = r.side === 'left' ? -1 : 1;
    const laneX =
      r.side === 'left' ? coreLeft - leftGutter - lane * LANE_GAP - LANE_GAP / 2 : coreRight + rightGutter + lane * LANE_GAP + LANE_GAP / 2;
    const x1 = a.x + sign * (a.width / 2);
    const y1 = a.y + 6;
    const x2 = b.x + sign * (b.width / 2);
    const y2 = b.y - 6;
    const radius = 6;
    const down = y2 > y1 ? 1 : -1;
    const path =
      `M${fmt(x1)},${fmt(y1)} H${fmt(laneX - sign * radius)} Q${fmt(laneX)},${fmt(y1)} ${fmt(laneX)},${fmt(y1 + down * radius)} ` +
      `V${fmt(y2 - down * radius)} Q${fmt(laneX)},${fmt(y2)} ${fmt(laneX - sign * radius)},${fmt(y2)} H${fmt(x2)}`;
    edges.push({
      source: r.source,
      target: r.target,
      label: r.label,
      title: r.title,
      path,
      labelX: x1 + sign * 5,
      labelY: y1 - 4,
      labelAnchor: r.side === 'left' ? 'end' : 'start',
      routed: r.side,
    });
  }

  for (const s of selfLoops) {
    const n = nodes.get(s.id);
    if (!n) continue;
    const x = n.x + n.width / 2;
    edges.push({
      source: s.id,
      target: s.id,
      label: s.label,
      title: s.title,
      path: `M${fmt(x)},${fmt(n.y - 8)} C${fmt(x + 30)},${fmt(n.y - 22)} ${fmt(x + 30)},${fmt(n.y + 22)} ${fmt(x)},${fmt(n.y + 8)}`,
      labelX: x + 28,
      labelY: n.y + 3,
      labelAnchor: 'start',
      routed: 'self',
    });
  }

  const initialNode = nodes.get(model.initial);
  const width = Math.ceil(coreRight + rightGutter + rightLanesWidth + selfLoopWidth + MARGIN);
  const height = Math.ceil(TOP + rankCount * (NODE_HEIGHT + RANK_GAP) - RANK_GAP + MARGIN);
  return {
    machineId: model.machineId,
    width,
    height,
    initial: initialNode ? { x: initialNode.x, y: initialNode.y - initialNode.height / 2 - 24 } : { x: MARGIN, y: MARGIN },
    nodes: ids.map((id) => nodes.get(id)).filter((n): n is LayoutNode => n !== undefined),
    edges,
  };
}
