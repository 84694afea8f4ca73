// The /viz page: one self-contained HTML document — styles and script inline, the diagrams of
// the publisher, the supervisor and the klines follower as inline SVG laid out on the server
// (ELK, see layout.ts), system fonts only — so it works on an air-gapped VPS through an SSH
// tunnel. A Content-Security-Policy with a per-response nonce makes "no external resource"
// enforced by the browser, not just a promise.
//
// The script keeps one table row per actor and per system actor, fed by /viz/events (`init`,
// then `delta`s of changed rows and new timeline records). A click on an actor highlights its
// current state (and its last transition) in its machine's diagram, and shows its fields, its
// context and its recent events from /viz/actor. The timeline lists the newest records of every
// actor, newest first, bounded. Text from the service (symbols, errors, context) only ever
// reaches the page through textContent.
import { diagramCss } from './svg.js';
import { PHASE_NAMES } from '../core/phases.js';

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
`;

const CLIENT_JS = String.raw`
(function () {
  'use strict';
  var PHASES = ${JSON.stringify(PHASE_NAMES)};
  var TIMELINE_MAX = 150;
  var rows = new Map();
  var system = new Map();
  var selected = null;
  var detailBusy = false;
  var detailAgain = false;
  var tbody = document.querySelector('#actors tbody');
  var systemBody = document.querySelector('#system tbody');
  var timelineBody = document.querySelector('#timeline tbody');
  var filterInput = document.getElementById('filter');
  var diagrams = document.getElementById('diagrams');
  var timelineSeq = 0;

  function diagramOf(machine) { return document.getElementById('diagram-' + machine); }
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function clock(ms) {
    if (ms === null || ms === undefined) return '—';
    var d = new Date(ms);
    return pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
  }
  function order(a, b) {
    if (a.symbol !== b.symbol) return a.symbol < b.symbol ? -1 : 1;
    return PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase);
  }
  function setText(el, text) { if (el.textContent !== text) el.textContent = text; }
  function cell(tr, className, text) {
    var td = document.createElement('td');
    td.className = className;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function stateChange(r) { return r.from === null ? '→ ' + r.to : r.from === r.to ? r.to : r.from + ' → ' + r.to; }

  // ---- publishers ------------------------------------------------------------------------
  var COLUMNS = ['phase', 'symbol', 'state', 'outcome', 'published', 'skip', 'failures', 'restarts'];
  function makeRow(key) {
    var tr = document.createElement('tr');
    tr.dataset.key = key;
    COLUMNS.forEach(function (c) {
      var td = document.createElement('td');
      td.className = c;
      tr.appendChild(td);
    });
    tr.addEventListener('click', function () { select(key); });
    return tr;
  }
  function matches(s) {
    var words = filterInput.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (words.length === 0) return true;
    var hay = (s.key + ' ' + s.state + ' ' + (s.lastOutcome || '') + ' ' + (s.lastSkipReason || '')).toLowerCase();
    return words.every(function (w) { return hay.indexOf(w) >= 0; });
  }
  function fill(tr, s) {
    var c = tr.children;
    setText(c[0], s.phase);
    setText(c[1], s.symbol);
    setText(c[2], s.status === 'active' ? s.state : s.state + ' (' + s.status + ')');
    setText(c[3], s.lastOutcome || '—');
    c[3].title = s.lastReason || '';
    setText(c[4], clock(s.lastPublishedAt));
    c[4].title = s.lastPublishedAt ? new Date(s.lastPublishedAt).toISOString() : '';
    setText(c[5], s.lastSkipReason || (s.lastError ? 'error: ' + s.lastError : '—'));
    c[5].title = s.lastSkipDetail || s.lastError || '';
    setText(c[6], String(s.consecutiveFailures));
    setText(c[7], String(s.restarts));
    tr.dataset.state = s.state;
    tr.className = 'st-' + s.state + ' out-' + (s.lastOutcome || 'none') +
      (s.status !== 'active' ? ' status-' + s.status : '') +
      (s.consecutiveFailures > 0 ? ' failing' : '') +
      (selected === s.key ? ' selected' : '');
    tr.hidden = !matches(s);
  }
  function insertSorted(row) {
    // Rows arrive sorted (init) or rarely (a new actor): scan from the end.
    var next = null;
    for (var el = tbody.lastElementChild; el; el = el.previousElementSibling) {
      var other = rows.get(el.dataset.key);
      if (other && order(other.summary, row.summary) > 0) next = el; else break;
    }
    tbody.insertBefore(row.tr, next);
  }
  function upsert(s) {
    var row = rows.get(s.key);
    if (!row) {
      row = { tr: makeRow(s.key), summary: s };
      rows.set(s.key, row);
      insertSorted(row);
    }
    row.summary = s;
    fill(row.tr, s);
  }

  // ---- system actors (the supervisor, the klines follower) -------------------------------
  function upsertSystem(s) {
    var row = system.get(s.key);
    if (!row) {
      var tr = document.createElement('tr');
      tr.dataset.key = s.key;
      ['actor', 'machine', 'state', 'restarts', 'updated'].forEach(function (c) { cell(tr, c, ''); });
      tr.addEventListener('click', function () { select(s.key); });
      systemBody.appendChild(tr);
      row = { tr: tr, summary: s };
      system.set(s.key, row);
    }
    row.summary = s;
    var c = row.tr.children;
    setText(c[0], s.key);
    setText(c[1], s.machine);
    setText(c[2], s.state === null ? 'not started' : s.state + (s.status && s.status !== 'active' ? ' (' + s.status + ')' : ''));
    setText(c[3], String(s.restarts));
    setText(c[4], clock(s.updatedAt));
    row.tr.dataset.state = s.state || '';
    row.tr.classList.toggle('selected', selected === s.key);
  }

  function updateCounts() {
    var counts = {};
    var shown = 0;
    rows.forEach(function (r) {
      counts[r.summary.state] = (counts[r.summary.state] || 0) + 1;
      if (!r.tr.hidden) shown++;
    });
    var badges = { publisher: counts };
    system.forEach(function (r) {
      var m = badges[r.summary.machine] || (badges[r.summary.machine] = {});
      if (r.summary.state !== null) m[r.summary.state] = (m[r.summary.state] || 0) + 1;
    });
    diagrams.querySelectorAll('figure.diagram').forEach(function (fig) {
      var byState = badges[fig.dataset.machine] || {};
      fig.querySelectorAll('.state').forEach(function (g) {
        var badge = g.querySelector('.count');
        if (badge) setText(badge, byState[g.dataset.state] ? String(byState[g.dataset.state]) : '');
      });
    });
    setText(document.getElementById('count'), rows.size + ' actors' + (shown !== rows.size ? ' (' + shown + ' shown)' : ''));
  }

  // ---- selection: highlight, detail ------------------------------------------------------
  function selectedRow() {
    if (!selected) return null;
    var r = rows.get(selected);
    if (r) return { machine: 'publisher', summary: r.summary };
    var s = system.get(selected);
    return s ? { machine: s.summary.machine, summary: s.summary } : null;
  }
  function highlight(recent) {
    diagrams.querySelectorAll('.state.current, .edge.last').forEach(function (el) { el.classList.remove('current', 'last'); });
    var row = selectedRow();
    if (!row || row.summary.state === null) return;
    var fig = diagramOf(row.machine);
    if (!fig) return;
    var node = fig.querySelector('.state[data-state="' + CSS.escape(row.summary.state) + '"]');
    if (node) node.classList.add('current');
    if (!recent) return;
    for (var i = recent.length - 1; i >= 0; i--) {
      var r = recent[i];
      if (r.from !== null && r.from !== r.to) {
        var edge = fig.querySelector('.edge[data-from="' + CSS.escape(r.from) + '"][data-to="' + CSS.escape(r.to) + '"]');
        if (edge) edge.classList.add('last');
        break;
      }
    }
  }

  var lastRecent = null;
  function renderDetail(d) {
    var panel = document.getElementById('detail');
    document.getElementById('detail-hint').hidden = true;
    panel.hidden = false;
    panel.dataset.key = d.summary.key;
    var s = d.summary;
    setText(document.getElementById('detail-title'), s.key + (s.actorId && s.actorId !== s.key ? '  (' + s.actorId + ')' : ''));
    var fields;
    if (d.kind === 'publisher') {
      fields = [
        ['state', s.state + (s.status !== 'active' ? ' (' + s.status + ')' : '')],
        ['last outcome', (s.lastOutcome || '—') + (s.lastReason ? ' — ' + s.lastReason : '')],
        ['last publish', s.lastPublishedAt ? new Date(s.lastPublishedAt).toISOString() : '—'],
        ['last summary', s.lastSummary || '—'],
        ['last skip', s.lastSkipReason ? s.lastSkipReason + (s.lastSkipDetail ? ': ' + s.lastSkipDetail : '') : '—'],
        ['last error', s.lastError || '—'],
        ['failures in a row', String(s.consecutiveFailures)],
        ['cycles', String(s.cycles)],
        ['restarts', String(s.restarts)]
      ];
    } else {
      fields = [
        ['machine', s.machine],
        ['state', (s.state || '—') + (s.status && s.status !== 'active' ? ' (' + s.status + ')' : '')],
        ['actor id', s.actorId || '—'],
        [s.machine === 'supervisor' ? 'children restarted' : 'restarts', String(s.restarts)],
        ['updated', s.updatedAt ? new Date(s.updatedAt).toISOString() : '—']
      ];
    }
    var dl = document.getElementById('detail-fields');
    dl.textContent = '';
    fields.forEach(function (f) {
      var dt = document.createElement('dt');
      dt.textContent = f[0];
      var dd = document.createElement('dd');
      dd.textContent = f[1];
      dl.appendChild(dt);
      dl.appendChild(dd);
    });
    setText(document.getElementById('detail-context'), JSON.stringify(d.context, null, 2));
    var body = document.querySelector('#recent tbody');
    body.textContent = '';
    d.recent.slice().reverse().forEach(function (r) {
      var tr = document.createElement('tr');
      cell(tr, 'r-time', new Date(r.at).toISOString().slice(11, 23));
      var what = cell(tr, 'r-event', '');
      var name = document.createElement('div');
      name.textContent = r.event;
      what.appendChild(name);
      if (r.detail) {
        var more = document.createElement('div');
        more.className = 'r-detail';
        more.textContent = r.detail;
        what.appendChild(more);
      }
      cell(tr, 'r-state', stateChange(r));
      body.appendChild(tr);
    });
    lastRecent = d.recent;
    highlight(lastRecent);
  }
  function loadDetail() {
    if (!selected) return;
    if (detailBusy) { detailAgain = true; return; }
    detailBusy = true;
    var key = selected;
    fetch('/viz/actor?key=' + encodeURIComponent(key), { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d && key === selected) renderDetail(d); })
      .catch(function () {})
      .then(function () {
        detailBusy = false;
        if (detailAgain) { detailAgain = false; loadDetail(); }
      });
  }
  function select(key) {
    selected = key;
    rows.forEach(function (r, k) { r.tr.classList.toggle('selected', k === key); });
    system.forEach(function (r, k) { r.tr.classList.toggle('selected', k === key); });
    timelineBody.querySelectorAll('tr').forEach(function (tr) { tr.classList.toggle('mine', tr.dataset.key === key); });
    document.body.dataset.selected = key;
    lastRecent = null;
    highlight(null);
    loadDetail();
  }

  // ---- the system-wide timeline ----------------------------------------------------------
  function timelineRow(r) {
    var tr = document.createElement('tr');
    tr.dataset.seq = String(r.seq);
    tr.dataset.key = r.key;
    if (r.key === selected) tr.className = 'mine';
    cell(tr, 'r-time', new Date(r.at).toISOString().slice(11, 23));
    cell(tr, 'r-actor', r.key);
    var what = cell(tr, 'r-event', r.event);
    if (r.detail) {
      var more = document.createElement('div');
      more.className = 'r-detail';
      more.textContent = r.detail;
      what.appendChild(more);
    }
    cell(tr, 'r-state', stateChange(r));
    tr.addEventListener('click', function () { select(r.key); });
    return tr;
  }
  /** Records oldest first; those already shown are dropped (a new client's init overlaps). */
  function addTimeline(records) {
    var fresh = records.filter(function (r) { return r.seq > timelineSeq; });
    if (fresh.length === 0) return false;
    var frag = document.createDocumentFragment();
    var mine = false;
    for (var i = fresh.length - 1; i >= 0 && frag.childNodes.length < TIMELINE_MAX; i--) {
      frag.appendChild(timelineRow(fresh[i]));
      if (fresh[i].key === selected) mine = true;
    }
    timelineSeq = fresh[fresh.length - 1].seq;
    timelineBody.insertBefore(frag, timelineBody.firstChild);
    while (timelineBody.childElementCount > TIMELINE_MAX) timelineBody.removeChild(timelineBody.lastElementChild);
    setText(document.getElementById('timeline-count'), timelineBody.childElementCount + ' newest records');
    return mine;
  }

  function showSupervisor(s) {
    var text = s.state === null ? 'not started' : s.state + (s.status !== 'active' ? ' (' + s.status + ')' : '') + ' · restarts ' + s.restartTotal;
    setText(document.getElementById('sup'), 'supervisor: ' + text);
    var t = s.theta;
    setText(document.getElementById('theta'), !t ? '' : t.source === 'policy' ? 'harvest theta: policy ' + t.version : 'harvest theta: configured' + (t.why ? ' (' + t.why + ')' : ''));
    var r = s.role;
    var roleEl = document.getElementById('role');
    roleEl.className = r && r.role === 'standby' ? 'standby' : 'muted';
    setText(roleEl, !r ? '' : r.role === 'leader' ? 'role: leader (writes; lease held by ' + r.self + ')' : r.role === 'standby' ? 'role: STANDBY (writes nothing; lease held by ' + (r.holder || 'nobody yet') + ')' : 'role: no lease');
  }
  function setConn(live) {
    var el = document.getElementById('conn');
    el.className = live ? 'live' : 'down';
    setText(el, live ? '● live' : '○ reconnecting…');
    document.body.dataset.live = live ? 'true' : 'false';
  }

  filterInput.addEventListener('input', function () {
    rows.forEach(function (r) { r.tr.hidden = !matches(r.summary); });
    updateCounts();
  });
  document.getElementById('fit').addEventListener('change', function (e) {
    diagrams.classList.toggle('fit', e.target.checked);
  });
  diagrams.querySelectorAll('figure.diagram.system').forEach(function (fig) {
    fig.addEventListener('click', function () { if (fig.dataset.key && system.has(fig.dataset.key)) select(fig.dataset.key); });
  });

  var deltas = 0;
  var es = new EventSource('/viz/events');
  es.addEventListener('init', function (e) {
    var m = JSON.parse(e.data);
    rows.clear();
    tbody.textContent = '';
    m.actors.forEach(upsert);
    m.system.forEach(upsertSystem);
    addTimeline(m.timeline);
    showSupervisor(m.supervisor);
    updateCounts();
    setConn(true);
    if (selected) { highlight(lastRecent); loadDetail(); }
  });
  es.addEventListener('delta', function (e) {
    var m = JSON.parse(e.data);
    var touched = false;
    m.actors.forEach(function (s) { upsert(s); if (s.key === selected) touched = true; });
    if (m.system) m.system.forEach(function (s) { upsertSystem(s); if (s.key === selected) touched = true; });
    if (m.supervisor) showSupervisor(m.supervisor);
    if (m.timeline && addTimeline(m.timeline)) touched = true;
    updateCounts();
    document.body.dataset.deltas = String(++deltas);
    if (touched) { highlight(lastRecent); loadDetail(); }
  });
  es.onerror = function () { setConn(false); };
})();
`;

/** One diagram on the page: the machine's name (element ids) and its server-drawn SVG. */
export interface PageDiagram {
  name: string;
  machineId: string;
  svg: string;
}

const CAPTIONS: Record<string, { note: string; key?: string }> = {
  publisher: { note: 'one per phase × symbol · badges: actors in each state' },
  supervisor: { note: 'one · click to see its context', key: 'supervisor' },
  klinesFollower: { note: 'one, when following the klines stream · click to see its context', key: 'follower:klines' },
};

const escapeHtml = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The page with `__NONCE__` where the per-response CSP nonce goes. */
export function vizPageTemplate(options: { title: string; diagrams: PageDiagram[] }): string {
  const figures = options.diagrams
    .map((d, i) => {
      const caption = CAPTIONS[d.name] ?? { note: '' };
      const key = caption.key ? ` data-key="${escapeHtml(caption.key)}"` : '';
      return `<figure class="diagram ${i === 0 ? 'main' : 'system'}" id="diagram-${escapeHtml(d.name)}" data-machine="${escapeHtml(d.name)}"${key}>
      <figcaption><b>${escapeHtml(d.machineId)}</b> <span class="muted">${escapeHtml(caption.note)}</span></figcaption>
      ${d.svg}
    </figure>`;
    })
    .join('\n    ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title}</title>
<link rel="icon" href="data:,">
<style nonce="__NONCE__">${diagramCss(options.diagrams.map((d) => `viz-${d.name}`))}${PAGE_CSS}</style>
</head>
<body data-live="false">
<header>
  <h1>${options.title}</h1>
  <span id="sup" class="muted">supervisor: …</span>
  <span id="theta" class="muted"></span>
  <span id="role" class="muted"></span>
  <span class="muted">times in UTC</span>
  <span id="conn" class="down">○ connecting…</span>
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
  <div class="right">
    <section class="pane detail-pane">
      <p id="detail-hint" class="muted">Click an actor (a row, or the supervisor or follower diagram) to highlight its current state and last transition in its diagram and see its context and recent events.</p>
      <section id="detail" hidden>
        <h2 id="detail-title"></h2>
        <div class="detail-grid">
          <dl id="detail-fields"></dl>
          <div class="recent-box">
            <table id="recent"><thead><tr><th>time</th><th>event</th><th>state</th></tr></thead><tbody></tbody></table>
          </div>
        </div>
        <h3>context</h3>
        <pre id="detail-context"></pre>
      </section>
    </section>
    <section class="pane system-pane">
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
          <thead><tr><th>phase</th><th>symbol</th><th>state</th><th>last outcome</th><th>last publish</th><th>last skip / error</th><th class="num">failures</th><th class="num">restarts</th></tr></thead>
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
<script nonce="__NONCE__">${CLIENT_JS}</script>
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
  ].join('; ');
}
