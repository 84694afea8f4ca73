// Draws a machine layout as SVG markup. Every state is a `<g class="state" data-state="…">` and
// every edge a `<g class="edge" data-from="…" data-to="…">`, so the /viz page highlights the
// selected actor's current state and last transition by toggling classes — no drawing code in
// the browser. Styling is by CSS classes; the standalone file carries its own <style>.
import { LABEL_LINE_PX, type MachineLayout } from "./layout.js";

const fmt = (n: number): string => String(Math.round(n * 10) / 10);

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** The default look; the /viz page overrides colours for the highlight. */
export const DIAGRAM_CSS = `
.viz-diagram { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
.viz-diagram .state rect { fill: #f5f7fa; stroke: #5b6b7f; stroke-width: 1.2; }
.viz-diagram .state.final rect.outer { fill: none; }
.viz-diagram .state.compound > rect { fill: #fbfcfd; stroke-dasharray: none; }
.viz-diagram .state text.compound-label { text-anchor: start; font-weight: 600; font-size: 12px; }
.viz-diagram .state text { font-size: 13px; fill: #1d2733; text-anchor: middle; dominant-baseline: central; }
.viz-diagram .edge path { fill: none; stroke: #8a97a8; stroke-width: 1.2; }
.viz-diagram .edge text { font-size: 10px; fill: #4a5666; dominant-baseline: central; }
.viz-diagram .edge text.halo { stroke: #ffffff; stroke-width: 3px; stroke-linejoin: round; fill: #ffffff; }
.viz-diagram .initial { fill: #1d2733; }
.viz-diagram .initial-edge { stroke: #1d2733; stroke-width: 1.2; fill: none; }
.viz-diagram .state.current rect { fill: #ffe08a; stroke: #c27c00; stroke-width: 2.4; }
.viz-diagram .edge.last path { stroke: #c27c00; stroke-width: 2.4; }
.viz-diagram .edge.last text { fill: #8a5500; font-weight: 600; }
.viz-diagram .state text.count { font-size: 10px; fill: #3b5bdb; text-anchor: end; font-weight: 600; }
`;

/** The look of diagrams drawn with these id prefixes (the highlighted edge's arrow is per diagram). */
export function diagramCss(prefixes: readonly string[] = ["viz"]): string {
  return (
    DIAGRAM_CSS +
    prefixes.map((p) => `#${p} .edge.last path { marker-end: url(#${p}-arrow-last); }\n`).join("")
  );
}

export interface SvgOptions {
  /** Standalone file: add the XML namespace and the stylesheet. */
  standalone?: boolean;
  /** Prefix for element ids, so two diagrams on a page do not clash. */
  idPrefix?: string;
  /** An empty `<text class="count">` badge per state, for the page to fill (actors in it). */
  counts?: boolean;
}

export function renderSvg(layout: MachineLayout, options: SvgOptions = {}): string {
  const prefix = options.idPrefix ?? "viz";
  const marker = `${prefix}-arrow`;
  const markerLast = `${prefix}-arrow-last`;
  const out: string[] = [];
  const ns = options.standalone ? ' xmlns="http://www.w3.org/2000/svg"' : "";
  out.push(
    `<svg${ns} id="${prefix}" class="viz-diagram" viewBox="0 0 ${layout.width} ${layout.height}" width="${layout.width}" height="${layout.height}" role="img" aria-label="${escapeXml(`${layout.machineId} state machine`)}">`,
  );
  if (options.standalone) out.push(`<style>${diagramCss([prefix])}</style>`);
  out.push("<defs>");
  out.push(
    `<marker id="${marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a97a8"/></marker>`,
  );
  out.push(
    `<marker id="${markerLast}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c27c00"/></marker>`,
  );
  out.push("</defs>");

  // Containers (compound states) first, so edges and states inside them are drawn on top.
  for (const n of layout.nodes) {
    if (!n.compound) continue;
    const x = n.x - n.width / 2;
    const y = n.y - n.height / 2;
    out.push(`<g class="state compound" data-state="${escapeXml(n.id)}">`);
    out.push(
      `<title>${escapeXml(n.description ? `${n.label}: ${n.description}` : n.label)}</title>`,
    );
    out.push(`<rect x="${x}" y="${y}" width="${n.width}" height="${n.height}" rx="10"/>`);
    out.push(
      `<text class="compound-label" x="${x + 10}" y="${y + 15}">${escapeXml(n.label)}</text>`,
    );
    if (options.counts) out.push(`<text class="count" x="${x + n.width - 4}" y="${y - 5}"></text>`);
    out.push("</g>");
  }

  for (const i of layout.initials) {
    out.push(`<circle class="initial" cx="${i.x}" cy="${i.y}" r="5"/>`);
    if (i.path !== "")
      out.push(`<path class="initial-edge" d="${i.path}" marker-end="url(#${marker})"/>`);
  }

  for (const e of layout.edges) {
    out.push(
      `<g class="edge" data-from="${escapeXml(e.source)}" data-to="${escapeXml(e.target)}">`,
    );
    out.push(`<title>${escapeXml(e.title)}</title>`);
    out.push(`<path d="${e.path}" marker-end="url(#${marker})"/>`);
    // One line per transition; the halo (a wide white stroke under the text) keeps a label
    // readable where it crosses an edge.
    const lines = e.lines
      .map(
        (line, k) =>
          `<tspan x="${fmt(e.labelX)}" y="${fmt(e.labelY + LABEL_LINE_PX * k + LABEL_LINE_PX / 2)}">${escapeXml(line)}</tspan>`,
      )
      .join("");
    const anchor = `text-anchor="${e.labelAnchor}"`;
    out.push(
      `<text class="halo" ${anchor}>${lines}</text><text class="label" ${anchor}>${lines}</text>`,
    );
    out.push("</g>");
  }

  for (const n of layout.nodes) {
    if (n.compound) continue;
    const x = n.x - n.width / 2;
    const y = n.y - n.height / 2;
    out.push(`<g class="state${n.final ? " final" : ""}" data-state="${escapeXml(n.id)}">`);
    out.push(
      `<title>${escapeXml(n.description ? `${n.label}: ${n.description}` : n.label)}</title>`,
    );
    if (n.final) {
      out.push(
        `<rect class="outer" x="${x - 3}" y="${y - 3}" width="${n.width + 6}" height="${n.height + 6}" rx="10"/>`,
      );
    }
    out.push(`<rect x="${x}" y="${y}" width="${n.width}" height="${n.height}" rx="8"/>`);
    out.push(`<text x="${n.x}" y="${n.y}">${escapeXml(n.label)}</text>`);
    if (options.counts) out.push(`<text class="count" x="${x + n.width - 4}" y="${y - 5}"></text>`);
    out.push("</g>");
  }
  out.push("</svg>");
  return out.join("\n");
}
