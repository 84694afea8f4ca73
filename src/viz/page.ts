// The /viz page: one self-contained HTML document — styles and script inline, the diagrams of
// the publisher, the supervisor and the klines follower as inline SVG laid out on the server
// (ELK, see layout.ts), system fonts only — so it works on an air-gapped VPS through an SSH
// tunnel. A Content-Security-Policy with a per-response nonce makes "no external resource"
// enforced by the browser, not just a promise.
//
// `viz --recording DIR` serves the same page in replay mode (data-mode="replay"): a scrubber and
// step buttons over the recording in place of the live connection, the step's cycle inputs under
// its context, and the script client/replay.ts instead of client/page.ts.
//
// The script is client/page.ts, a typed browser module (tsconfig.client.json) that `npm run build`
// compiles to dist/src/viz/client/page.js, after client/dom.ts (the DOM helpers both modes'
// scripts share); they are read from there once, when the page is first built, and inlined. Text from the service (symbols, errors, context) only ever reaches the page
// through textContent.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { diagramCss } from "./svg.js";

const PAGE_CSS = `
:root { color-scheme: light; --fg: #1d2733; --muted: #6b7785; --line: #dde3ea; --accent: #c27c00; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: #fbfcfd; }
header { display: flex; gap: 18px; align-items: baseline; padding: 10px 16px; border-bottom: 1px solid var(--line); background: #fff; position: sticky; top: 0; z-index: 2; }
header h1 { font-size: 15px; margin: 0; }
header .muted, .muted { color: var(--muted); }
header .standby { color: var(--accent); font-weight: 600; }
#conn { margin-left: auto; font-weight: 600; }
#conn.live { color: #2b8a3e; }
#conn.down { color: #c92a2a; }
main { display: grid; grid-template-columns: minmax(0, 23fr) minmax(0, 27fr); gap: 16px; padding: 12px 16px; align-items: start; }
.left, .right { display: grid; gap: 12px; min-width: 0; }
.pane { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; min-width: 0; }
.diagram-pane { overflow-x: auto; }
.actors-box { max-height: 70vh; overflow: auto; }
#detail-hint { margin: 0; }
.detail-grid { display: grid; grid-template-columns: minmax(180px, 260px) minmax(0, 1fr); gap: 16px; align-items: start; }
.recent-box { max-height: 260px; overflow: auto; }
h2 { font-size: 13px; margin: 0 0 8px; }
h3 { font-size: 12px; margin: 12px 0 4px; }
.toolbar { display: flex; gap: 10px; align-items: center; margin-bottom: 8px; }
.toolbar h2 { margin: 0; }
.toolbar label { margin-left: auto; color: var(--muted); }
.diagrams { display: flex; flex-wrap: wrap; gap: 12px 20px; align-items: flex-start; }
figure.diagram { margin: 0; min-width: 0; }
figure.diagram.main { flex: 1 1 100%; }
figure.diagram.system { cursor: pointer; }
figcaption { margin: 0 0 4px; }
figcaption b { font-size: 13px; }
.fit figure.diagram svg { display: block; max-width: 100%; height: auto; }
figure.diagram svg { display: block; }
#filter { font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; width: 260px; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; white-space: nowrap; font-weight: 600; color: var(--muted); border-bottom: 1px solid var(--line); padding: 4px 6px; position: sticky; top: 0; background: #fff; }
td { padding: 3px 6px; border-bottom: 1px solid #f0f3f6; white-space: nowrap; }
#actors tbody tr, #system tbody tr, #timeline tbody tr { cursor: pointer; }
#actors tbody tr:hover, #system tbody tr:hover, #timeline tbody tr:hover { background: #f3f6fa; }
#actors tbody tr.selected, #system tbody tr.selected { background: #fff3c4; }
#timeline tbody tr.mine { background: #fff8dc; }
td.state { font-weight: 600; }
tr.st-idle td.state { color: #5c6b7a; }
tr.st-reading td.state, tr.st-computing td.state, tr.st-deciding td.state { color: #1c7ed6; }
tr.st-publishing td.state, tr.st-heartbeating td.state { color: #2b8a3e; }
tr.st-failed td.state, tr.st-backoff td.state, tr.status-error td.state { color: #c92a2a; }
tr.out-published td.outcome { color: #2b8a3e; }
tr.out-error td.outcome, tr.failing td.failures { color: #c92a2a; font-weight: 600; }
td.failures, td.restarts, th.num { text-align: right; }
td.skip, td.outcome { max-width: 180px; overflow: hidden; text-overflow: ellipsis; }
#detail dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0; }
#detail dt { color: var(--muted); }
#detail dd { margin: 0; overflow-wrap: anywhere; }
#detail-context { margin: 0; max-height: 320px; overflow: auto; background: #f7f9fb; border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; font: 11.5px/1.35 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre; }
#recent td { white-space: normal; vertical-align: top; padding: 2px 6px; }
#recent td.r-state { white-space: nowrap; }
#recent .r-detail, #timeline .r-detail { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
#recent th { padding: 2px 6px; }
#recent td.r-time, #timeline td.r-time { white-space: nowrap; color: var(--muted); }
.timeline-box { max-height: 360px; overflow: auto; }
#timeline td { padding: 2px 6px; vertical-align: top; }
#timeline td.r-event { white-space: normal; }
#timeline td.r-actor { font-weight: 600; }
.scrubber { display: flex; gap: 8px; align-items: center; }
.scrubber button { font: inherit; padding: 2px 10px; }
#scrub { flex: 1; }
#scrub-time { font-weight: 600; }
#recent tbody tr.current { background: #fff3c4; }
#recent tbody tr { cursor: pointer; }
#detail-inputs { margin: 0; max-height: 320px; overflow: auto; background: #f7f9fb; border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; font: 11.5px/1.35 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre; }
`;

/**
 * The compiled page script. Beside this module's own output in dist; when this module runs from
 * its TypeScript source (the tests), the build's copy in dist, so run `npm run build` first.
 */
export function clientScriptPath(
  moduleUrl: string = import.meta.url,
  name: "page" | "replay" | "dom" = "page",
): string {
  const fromSource = moduleUrl.endsWith(".ts");
  return fileURLToPath(
    new URL(fromSource ? `../../dist/src/viz/client/${name}.js` : `./client/${name}.js`, moduleUrl),
  );
}

/** live: the running service (`run --inspect`); replay: a recording (`viz --recording`). */
export type PageMode = "live" | "replay";

const scripts = new Map<PageMode, string>();

/**
 * The script as the page inlines it: client/dom.ts's helpers, then the mode's own script, each as
 * built and without its source-map comment (no map is served); read once.
 */
function clientScript(mode: PageMode): string {
  const cached = scripts.get(mode);
  if (cached !== undefined) return cached;
  const text = builtScript("dom") + builtScript(mode === "live" ? "page" : "replay");
  scripts.set(mode, text);
  return text;
}

function builtScript(name: "page" | "replay" | "dom"): string {
  const path = clientScriptPath(import.meta.url, name);
  if (!existsSync(path))
    throw new Error(`the /viz page script ${path} is missing: run \`npm run build\``);
  const text = readFileSync(path, "utf8").replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n");
  // Inline, "</script" would end the element early; tsc never writes it, this says so if it did.
  if (/<\/script/i.test(text))
    throw new Error(`the /viz page script ${path} contains "</script": it cannot be inlined`);
  return text;
}

/** One diagram on the page: the machine's name (element ids) and its server-drawn SVG. */
export interface PageDiagram {
  name: string;
  machineId: string;
  svg: string;
}

const CAPTIONS: Record<string, { note: string; key?: string }> = {
  publisher: { note: "one per phase × symbol · badges: actors in each state" },
  supervisor: { note: "one · click to see its context", key: "supervisor" },
  klinesFollower: {
    note: "one, when following the klines stream · click to see its context",
    key: "follower:klines",
  },
};

const escapeHtml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const LIVE_ACTORS_HEAD = `<tr><th>phase</th><th>symbol</th><th>state</th><th>last outcome</th><th>last publish</th><th>last skip / error</th><th class="num">failures</th><th class="num">restarts</th></tr>`;
const REPLAY_ACTORS_HEAD = `<tr><th>phase</th><th>symbol</th><th>state then</th><th class="num">cycles</th><th>recorded outcomes</th><th class="num">steps</th><th class="num">diverged</th></tr>`;

// The supervisor and the klines follower are not replayed (the recording says when cycles ran),
// so replay mode has no system actors; the pane is hidden.
const REPLAY_PANE = `
    <section class="pane replay-pane" id="replay">
      <div class="toolbar"><h2>Recording</h2><span id="rec-info" class="muted"></span></div>
      <div class="scrubber">
        <button id="step-back" type="button" title="the selected actor's previous step">◀ step</button>
        <input id="scrub" type="range" min="0" max="0" step="any" value="0" aria-label="time in the recording">
        <button id="step-fwd" type="button" title="the selected actor's next step">step ▶</button>
      </div>
      <div><span id="scrub-time">—</span> <span id="step-pos" class="muted"></span></div>
    </section>`;

/** The page with `__NONCE__` where the per-response CSP nonce goes. */
export function vizPageTemplate(options: {
  title: string;
  diagrams: PageDiagram[];
  mode?: PageMode;
}): string {
  const mode = options.mode ?? "live";
  const replay = mode === "replay";
  const figures = options.diagrams
    .map((d, i) => {
      const caption = CAPTIONS[d.name] ?? { note: "" };
      const key = caption.key ? ` data-key="${escapeHtml(caption.key)}"` : "";
      return `<figure class="diagram ${i === 0 ? "main" : "system"}" id="diagram-${escapeHtml(d.name)}" data-machine="${escapeHtml(d.name)}"${key}>
      <figcaption><b>${escapeHtml(d.machineId)}</b> <span class="muted">${escapeHtml(caption.note)}</span></figcaption>
      ${d.svg}
    </figure>`;
    })
    .join("\n    ");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title}</title>
<link rel="icon" href="data:,">
<style nonce="__NONCE__">${diagramCss(options.diagrams.map((d) => `viz-${d.name}`))}${PAGE_CSS}</style>
</head>
<body data-live="false" data-mode="${mode}">
<header>
  <h1>${options.title}</h1>
  <span id="sup" class="muted">supervisor: …</span>
  <span id="theta" class="muted"></span>
  <span id="role" class="muted"></span>
  <span class="muted">times in UTC</span>
  <span id="conn" class="down">${replay ? "○ replaying the recording…" : "○ connecting…"}</span>
</header>
<main>
  <div class="left">
    <section class="pane diagram-pane">
      <div class="toolbar">
        <h2>State machines <span class="muted">(edges: event [guard])</span></h2>
        <label><input id="fit" type="checkbox" checked> fit to width</label>
      </div>
      <div id="diagrams" class="diagrams fit">
    ${figures}
      </div>
    </section>
  </div>
  <div class="right">${replay ? REPLAY_PANE : ""}
    <section class="pane detail-pane">
      <p id="detail-hint" class="muted">${
        replay
          ? "Click an actor (a row, or a timeline record) to step through its transitions: the step's state and edge highlighted in the diagram, its context, its cycle's inputs and decision."
          : "Click an actor (a row, or the supervisor or follower diagram) to highlight its current state and last transition in its diagram and see its context and recent events."
      }</p>
      <section id="detail" hidden>
        <h2 id="detail-title"></h2>
        <div class="detail-grid">
          <dl id="detail-fields"></dl>
          <div class="recent-box">
            <table id="recent"><thead><tr><th>time</th><th>event</th><th>state</th></tr></thead><tbody></tbody></table>
          </div>
        </div>
        <h3>context</h3>
        <pre id="detail-context"></pre>${replay ? '\n        <h3>cycle inputs <span class="muted">(as replayed)</span></h3>\n        <pre id="detail-inputs"></pre>' : ""}
      </section>
    </section>
    <section class="pane system-pane"${replay ? " hidden" : ""}>
      <h2>System actors</h2>
      <table id="system">
        <thead><tr><th>actor</th><th>machine</th><th>state</th><th class="num">restarts</th><th>updated</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>
    <section class="pane actors-pane">
      <div class="toolbar">
        <input id="filter" type="search" placeholder="filter: symbol, phase, state, reason" autocomplete="off">
        <span id="count" class="muted"></span>
      </div>
      <div class="actors-box">
        <table id="actors">
          <thead>${replay ? REPLAY_ACTORS_HEAD : LIVE_ACTORS_HEAD}</thead>
          <tbody></tbody>
        </table>
      </div>
    </section>
    <section class="pane timeline-pane">
      <div class="toolbar"><h2>Timeline <span class="muted">every actor, newest first</span></h2><span id="timeline-count" class="muted"></span></div>
      <div class="timeline-box">
        <table id="timeline"><thead><tr><th>time</th><th>actor</th><th>event</th><th>state</th></tr></thead><tbody></tbody></table>
      </div>
    </section>
  </div>
</main>
<script nonce="__NONCE__">${clientScript(mode)}</script>
</body>
</html>
`;
}

export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}
