// The layout of a state diagram, computed in Node by ELK (elkjs — the Eclipse Layout Kernel,
// what Stately's own visualizer uses) from the machine model, so the /viz page and
// `quantum-calc viz --format svg` draw the machine without a diagram library in the browser
// (air-gapped VPS: no CDN, no bundle shipped to the page).
//
// ELK's layered algorithm ranks the states top to bottom, breaks cycles, orders states within a
// rank to cut crossings, routes every edge orthogonally around the boxes, and places each edge's
// label (event and guard name) in a gap of its own. Compound states are laid out with their
// children inside (hierarchy handled in one pass). Every coordinate comes back absolute
// (`elk.json.*Coords: ROOT`), so the SVG writer needs no transforms.
//
// ELK is loaded on first use: the CLI commands that draw nothing never pay for it.
import type { ELK, ElkExtendedEdge, ElkNode, ElkPoint } from "elkjs/lib/elk-api.js";
import {
  drawnTransitions,
  mergeEdges,
  type MachineModel,
  type ModelTransition,
} from "./machineModel.js";

export interface LayoutNode {
  id: string;
  label: string;
  /** Parent state's id; null for top-level states. */
  parent: string | null;
  /** Centre. */
  x: number;
  y: number;
  width: number;
  height: number;
  final: boolean;
  /** A compound state: drawn as a container around its children, its label at the top. */
  compound: boolean;
  description: string | null;
}

export interface LayoutEdge {
  source: string;
  target: string;
  /** What the edge shows, one line per transition: `event [guard]`. */
  lines: string[];
  /** The lines joined, for a tooltip-less reader (JSON consumers). */
  label: string;
  /** Tooltip: source → target and every transition with its actions. */
  title: string;
  /** SVG path data. */
  path: string;
  /** Centre of the label's first line's box top, as ELK placed it. */
  labelX: number;
  labelY: number;
  labelAnchor: "start" | "middle" | "end";
}

/** The initial-state marker of the machine (scope null) or of a compound state. */
export interface LayoutInitial {
  scope: string | null;
  /** Centre of the dot. */
  x: number;
  y: number;
  /** The arrow from the dot to the initial state. */
  path: string;
}

export interface MachineLayout {
  machineId: string;
  width: number;
  height: number;
  /** The root's marker first. */
  initials: LayoutInitial[];
  /** Every state, in document order (a parent before its children). */
  nodes: LayoutNode[];
  edges: LayoutEdge[];
}

const NODE_HEIGHT = 32;
const NODE_CHAR_PX = 7.4; // 13px sans-serif, average glyph
export const LABEL_CHAR_PX = 6; // 10px sans-serif, average glyph (guard names have capitals)
export const LABEL_LINE_PX = 12;
const INITIAL_SIZE = 10;
const CORNER = 6;

const textWidth = (text: string, charPx: number): number => Math.ceil(text.length * charPx);
const fmt = (n: number): string => String(Math.round(n * 10) / 10);

type ElkConstructor = new () => ELK;
let elk: Promise<ELK> | null = null;

/** One ELK instance for the process (the bundled build: pure JS, no worker thread). */
function engine(): Promise<ELK> {
  elk ??= import("elkjs/lib/elk.bundled.js").then((mod) => {
    // A CommonJS module: Node's default export is its module.exports, the constructor itself.
    const exported = mod.default as unknown as ElkConstructor | { default: ElkConstructor };
    const ELKConstructor = typeof exported === "function" ? exported : exported.default;
    return new ELKConstructor();
  });
  return elk;
}

const ROOT_OPTIONS: Record<string, string> = {
  "elk.algorithm": "layered",
  "elk.direction": "DOWN",
  "elk.hierarchyHandling": "INCLUDE_CHILDREN",
  "elk.edgeRouting": "ORTHOGONAL",
  // Cycles are broken against the definition's order (an edge back to an earlier state is the
  // back edge), and that order is kept where it costs no crossings: the diagram reads like the
  // code, from the initial state down.
  "elk.layered.cycleBreaking.strategy": "MODEL_ORDER",
  "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
  "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX",
  "elk.layered.spacing.nodeNodeBetweenLayers": "28",
  "elk.layered.spacing.edgeNodeBetweenLayers": "14",
  "elk.layered.spacing.edgeEdgeBetweenLayers": "10",
  "elk.spacing.nodeNode": "20",
  "elk.spacing.edgeNode": "10",
  "elk.spacing.edgeEdge": "8",
  "elk.spacing.edgeLabel": "3",
  "elk.edgeLabels.placement": "CENTER",
  "elk.padding": "[top=16,left=16,bottom=16,right=16]",
  "elk.json.edgeCoords": "ROOT",
  "elk.json.shapeCoords": "ROOT",
};

const COMPOUND_OPTIONS: Record<string, string> = {
  "elk.padding": "[top=30,left=14,bottom=14,right=14]",
};

const INITIAL_OPTIONS: Record<string, string> = {
  "elk.layered.layering.layerConstraint": "FIRST_SEPARATE",
};

const initialId = (scope: string | null): string => `__initial__${scope ?? ""}`;

/** Orthogonal polyline with rounded corners, as SVG path data. */
function roundedPath(points: ElkPoint[]): string {
  if (points.length === 0) return "";
  const out = [`M${fmt(points[0].x)},${fmt(points[0].y)}`];
  for (let i = 1; i < points.length - 1; i++) {
    const [a, b, c] = [points[i - 1], points[i], points[i + 1]];
    const inLen = Math.hypot(b.x - a.x, b.y - a.y);
    const outLen = Math.hypot(c.x - b.x, c.y - b.y);
    const r = Math.min(CORNER, inLen / 2, outLen / 2);
    if (r < 0.5) {
      out.push(`L${fmt(b.x)},${fmt(b.y)}`);
      continue;
    }
    const p1 = { x: b.x - ((b.x - a.x) / inLen) * r, y: b.y - ((b.y - a.y) / inLen) * r };
    const p2 = { x: b.x + ((c.x - b.x) / outLen) * r, y: b.y + ((c.y - b.y) / outLen) * r };
    out.push(`L${fmt(p1.x)},${fmt(p1.y)} Q${fmt(b.x)},${fmt(b.y)} ${fmt(p2.x)},${fmt(p2.y)}`);
  }
  const last = points[points.length - 1];
  out.push(`L${fmt(last.x)},${fmt(last.y)}`);
  return out.join(" ");
}

function edgePoints(edge: ElkExtendedEdge): ElkPoint[] {
  const points: ElkPoint[] = [];
  for (const section of edge.sections ?? []) {
    for (const p of [section.startPoint, ...(section.bendPoints ?? []), section.endPoint]) {
      const prev = points[points.length - 1];
      if (!prev || Math.abs(prev.x - p.x) > 0.01 || Math.abs(prev.y - p.y) > 0.01) points.push(p);
    }
  }
  return points;
}

/**
 * What an edge shows for one transition: the event and the guard's name. A step's result is
 * `done`/`error` (the state says which step; the tooltip names it), to keep the drawing narrow.
 */
export function edgeLine(t: ModelTransition): string {
  const event =
    t.kind === "done" && !t.eventType.startsWith("xstate.done.state.")
      ? "done"
      : t.kind === "error"
        ? "error"
        : t.event;
  return t.guard === null ? event : `${event} [${t.guard}]`;
}

/** Lays the machine out with ELK. The result is plain data (the SVG writer draws it). */
export async function layoutMachine(model: MachineModel): Promise<MachineLayout> {
  const stateById = new Map(model.states.map((s) => [s.id, s]));
  const drawn = drawnTransitions(model);
  const visible = mergeEdges(drawn).map((e) => ({
    ...e,
    labels: [
      ...new Set(drawn.filter((t) => t.source === e.source && t.target === e.target).map(edgeLine)),
    ],
  }));
  const detailed = new Map(
    mergeEdges(drawn, true).map((e) => [`${e.source}\u0000${e.target}`, e.labels]),
  );

  // The ELK graph: states nested as in the machine, an initial dot in each scope.
  const elkNodes = new Map<string, ElkNode>();
  const scopeChildren = (scope: string | null): ElkNode[] => {
    if (scope === null) return root.children!;
    const parent = elkNodes.get(scope)!;
    parent.children ??= [];
    return parent.children;
  };
  const root: ElkNode = { id: "__root__", layoutOptions: ROOT_OPTIONS, children: [], edges: [] };
  for (const s of model.states) {
    const compound = s.type === "compound" || s.type === "parallel";
    const node: ElkNode = compound
      ? { id: s.id, layoutOptions: COMPOUND_OPTIONS, children: [] }
      : { id: s.id, width: Math.max(86, textWidth(s.key, NODE_CHAR_PX) + 28), height: NODE_HEIGHT };
    elkNodes.set(s.id, node);
    scopeChildren(s.parent).push(node);
  }
  const scopes: Array<{ scope: string | null; initial: string }> = [];
  if (stateById.has(model.initial)) scopes.push({ scope: null, initial: model.initial });
  for (const s of model.states)
    if (s.initial !== null && stateById.has(s.initial))
      scopes.push({ scope: s.id, initial: s.initial });
  for (const { scope, initial } of scopes) {
    scopeChildren(scope).unshift({
      id: initialId(scope),
      width: INITIAL_SIZE,
      height: INITIAL_SIZE,
      layoutOptions: INITIAL_OPTIONS,
    });
    root.edges!.push({
      id: `init:${scope ?? ""}`,
      sources: [initialId(scope)],
      targets: [initial],
    });
  }
  visible.forEach((e, i) => {
    const lines = e.labels;
    root.edges!.push({
      id: `e${i}`,
      sources: [e.source],
      targets: [e.target],
      labels: [
        {
          text: lines.join("\n"),
          width: Math.max(...lines.map((l) => textWidth(l, LABEL_CHAR_PX))) + 4,
          height: lines.length * LABEL_LINE_PX + 2,
        },
      ],
    });
  });

  const laid = await (await engine()).layout(root);

  // Read back: absolute boxes of every node, the path and label box of every edge.
  const boxes = new Map<string, { x: number; y: number; width: number; height: number }>();
  const collect = (node: ElkNode): void => {
    for (const child of node.children ?? []) {
      boxes.set(child.id, {
        x: child.x ?? 0,
        y: child.y ?? 0,
        width: child.width ?? 0,
        height: child.height ?? 0,
      });
      collect(child);
    }
  };
  collect(laid);
  const laidEdges = new Map<string, ElkExtendedEdge>();
  const collectEdges = (node: ElkNode): void => {
    for (const edge of node.edges ?? []) laidEdges.set(edge.id, edge);
    for (const child of node.children ?? []) collectEdges(child);
  };
  collectEdges(laid);

  const nodes: LayoutNode[] = model.states.map((s) => {
    const box = boxes.get(s.id) ?? { x: 0, y: 0, width: 0, height: 0 };
    return {
      id: s.id,
      label: s.key,
      parent: s.parent,
      x: box.x + box.width / 2,
      y: box.y + box.height / 2,
      width: box.width,
      height: box.height,
      final: s.type === "final",
      compound: s.type === "compound" || s.type === "parallel",
      description: s.description,
    };
  });

  const edges: LayoutEdge[] = visible.map((e, i) => {
    const laidEdge = laidEdges.get(`e${i}`);
    const label = laidEdge?.labels?.[0];
    const points = laidEdge ? edgePoints(laidEdge) : [];
    const mid = points[Math.floor(points.length / 2)] ?? { x: 0, y: 0 };
    return {
      source: e.source,
      target: e.target,
      lines: e.labels,
      label: e.labels.join(" · "),
      title: `${e.source} → ${e.target}: ${(detailed.get(`${e.source}\u0000${e.target}`) ?? e.labels).join(" · ")}`,
      path: roundedPath(points),
      labelX: label ? (label.x ?? 0) + (label.width ?? 0) / 2 : mid.x,
      labelY: label ? (label.y ?? 0) + 1 : mid.y,
      labelAnchor: "middle",
    };
  });

  const initials: LayoutInitial[] = scopes.map(({ scope }) => {
    const dot = boxes.get(initialId(scope)) ?? {
      x: 0,
      y: 0,
      width: INITIAL_SIZE,
      height: INITIAL_SIZE,
    };
    const edge = laidEdges.get(`init:${scope ?? ""}`);
    return {
      scope,
      x: dot.x + dot.width / 2,
      y: dot.y + dot.height / 2,
      path: edge ? roundedPath(edgePoints(edge)) : "",
    };
  });

  return {
    machineId: model.machineId,
    width: Math.ceil(laid.width ?? 0),
    height: Math.ceil(laid.height ?? 0),
    initials,
    nodes,
    edges,
  };
}
