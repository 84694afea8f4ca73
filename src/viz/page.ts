// The /viz page: one self-contained HTML document — styles and script inline, the publisher
// diagram as inline SVG drawn on the server, system fonts only — so it works on an air-gapped
// VPS through an SSH tunnel. A Content-Security-Policy with a per-response nonce makes "no
// external resource" enforced by the browser, not just a promise.
//
// The script keeps one table row per actor, fed by /viz/events (`init`, then `delta`s of changed
// rows), and on a click highlights the actor's current state (and its last transition) in the
// diagram and lists its recent events from /viz/actor. Text from the service (symbols, errors)
// only ever reaches the page through textContent.
import { DIAGRAM_CSS } from './svg.js';

const PAGE_CSS = `
:root { color-scheme: light; --fg: #1d2733; --muted: #6b7785; --line: #dde3ea; --accent: #c27c00; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: #fbfcfd; }
header { display: flex; gap: 18px; align-items: baseline; padding: 10px 16px; border-bottom: 1px solid var(--line); background: #fff; position: sticky; top: 0; z-index: 2; }
header h1 { font-size: 15px; margin: 0; }
header .muted, .muted { color: var(--muted); }
#conn { margin-left: auto; font-weight: 600; }
#conn.live { color: #2b8a3e; }
#conn.down { color: #c92a2a; }
main { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 16px; padding: 12px 16px; align-items: start; }
.right { display: grid; gap: 12px; min-width: 0; }
.pane { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; min-width: 0; }
.diagram-pane { position: sticky; top: 52px; max-height: calc(100vh - 64px); overflow: auto; }
.actors-pane { overflow-x: auto; }
#detail-hint { margin: 0; }
.detail-grid { display: grid; grid-template-columns: minmax(220px, 320px) minmax(0, 1fr); gap: 16px; align-items: start; }
.recent-box { max-height: 260px; overflow: auto; }
h2 { font-size: 13px; margin: 0 0 8px; }
h3 { font-size: 12px; margin: 12px 0 4px; }
#diagram svg { display: block; max-width: 100%; height: auto; }
.toolbar { display: flex; gap: 10px; align-items: center; margin-bottom: 8px; }
#filter { font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px; width: 260px; }
table { border-collapse: collapse; width: 100%; }
th { text-align: left; white-space: nowrap; font-weight: 600; color: var(--muted); border-bottom: 1px solid var(--line); padding: 4px 8px; position: sticky; top: 0; background: #fff; }
td { padding: 3px 8px; border-bottom: 1px solid #f0f3f6; white-space: nowrap; }
#actors tbody tr { cursor: pointer; }
#actors tbody tr:hover { background: #f3f6fa; }
#actors tbody tr.selected { background: #fff3c4; }
td.state { font-weight: 600; }
tr.st-idle td.state { color: #5c6b7a; }
tr.st-reading td.state, tr.st-computing td.state, tr.st-deciding td.state { color: #1c7ed6; }
tr.st-publishing td.state, tr.st-heartbeating td.state { color: #2b8a3e; }
tr.st-failed td.state, tr.st-backoff td.state, tr.status-error td.state { color: #c92a2a; }
tr.out-published td.outcome { color: #2b8a3e; }
tr.out-error td.outcome, tr.failing td.failures { color: #c92a2a; font-weight: 600; }
td.failures, td.restarts, th.num { text-align: right; }
td.skip, td.outcome { max-width: 220px; overflow: hidden; text-overflow: ellipsis; }
#detail dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0; }
#detail dt { color: var(--muted); }
#detail dd { margin: 0; overflow-wrap: anywhere; }
#recent td { white-space: normal; vertical-align: top; padding: 2px 6px; }
#recent td.r-state { white-space: nowrap; }
#recent .r-detail { color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
#recent th { padding: 2px 6px; }
#recent td.r-time { white-space: nowrap; color: var(--muted); }
`;

const CLIENT_JS = String.raw`
(function () {
  'use strict';
  var PHASES = ['marketstate', 'risk', 'harvest'];
  var rows = new Map();
  var selected = null;
  var detailBusy = false;
  var detailAgain = false;
  var tbody = document.querySelector('#actors tbody');
  var filterInput = document.getElementById('filter');
  var diagram = document.getElementById('diagram');

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

  function updateCounts() {
    var counts = {};
    var shown = 0;
    rows.forEach(function (r) {
      counts[r.summary.state] = (counts[r.summary.state] || 0) + 1;
      if (!r.tr.hidden) shown++;
    });
    diagram.querySelectorAll('.state').forEach(function (g) {
      var badge = g.querySelector('.count');
      if (badge) setText(badge, counts[g.dataset.state] ? String(counts[g.dataset.state]) : '');
    });
    setText(document.getElementById('count'), rows.size + ' actors' + (shown !== rows.size ? ' (' + shown + ' shown)' : ''));
  }

  function highlight(recent) {
    diagram.querySelectorAll('.state.current, .edge.last').forEach(function (el) { el.classList.remove('current', 'last'); });
    var row = selected && rows.get(selected);
    if (!row) return;
    var node = diagram.querySelector('.state[data-state="' + CSS.escape(row.summary.state) + '"]');
    if (node) node.classList.add('current');
    if (!recent) return;
    for (var i = recent.length - 1; i >= 0; i--) {
      var r = recent[i];
      if (r.from !== null && r.from !== r.to) {
        var edge = diagram.querySelector('.edge[data-from="' + CSS.escape(r.from) + '"][data-to="' + CSS.escape(r.to) + '"]');
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
    var s = d.summary;
    setText(document.getElementById('detail-title'), s.key + (s.actorId !== s.key ? '  (' + s.actorId + ')' : ''));
    var fields = [
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
    var body = document.querySelector('#recent tbody');
    body.textContent = '';
    d.recent.slice().reverse().forEach(function (r) {
      var tr = document.createElement('tr');
      var time = document.createElement('td');
      time.className = 'r-time';
      time.textContent = new Date(r.at).toISOString().slice(11, 23);
      var what = document.createElement('td');
      what.className = 'r-event';
      var name = document.createElement('div');
      name.textContent = r.event;
      what.appendChild(name);
      if (r.detail) {
        var more = document.createElement('div');
        more.className = 'r-detail';
        more.textContent = r.detail;
        what.appendChild(more);
      }
      var state = document.createElement('td');
      state.className = 'r-state';
      state.textContent = r.from === null ? '→ ' + r.to : r.from === r.to ? r.to : r.from + ' → ' + r.to;
      tr.appendChild(time);
      tr.appendChild(what);
      tr.appendChild(state);
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
    document.body.dataset.selected = key;
    lastRecent = null;
    highlight(null);
    loadDetail();
  }

  function showSupervisor(s) {
    var text = s.state === null ? 'not started' : s.state + (s.status !== 'active' ? ' (' + s.status + ')' : '') + ' · restarts ' + s.restartTotal;
    setText(document.getElementById('sup'), 'supervisor: ' + text);
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

  var deltas = 0;
  var es = new EventSource('/viz/events');
  es.addEventListener('init', function (e) {
    var m = JSON.parse(e.data);
    rows.clear();
    tbody.textContent = '';
    m.actors.forEach(upsert);
    showSupervisor(m.supervisor);
    updateCounts();
    setConn(true);
    if (selected) { highlight(lastRecent); loadDetail(); }
  });
  es.addEventListener('delta', function (e) {
    var m = JSON.parse(e.data);
    var touched = false;
    m.actors.forEach(function (s) { upsert(s); if (s.key === selected) touched = true; });
    if (m.supervisor) showSupervisor(m.supervisor);
    updateCounts();
    document.body.dataset.deltas = String(++deltas);
    if (touched) { highlight(lastRecent); loadDetail(); }
  });
  es.onerror = function () { setConn(false); };
})();
`;

/** The page with `__NONCE__` where the per-response CSP nonce goes. */
export function vizPageTemplate(options: { title: string; machineId: string; svg: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title}</title>
<link rel="icon" href="data:,">
<style nonce="__NONCE__">${DIAGRAM_CSS}${PAGE_CSS}</style>
</head>
<body data-live="false">
<header>
  <h1>${options.title}</h1>
  <span id="sup" class="muted">supervisor: …</span>
  <span class="muted">times in UTC</span>
  <span id="conn" class="down">○ connecting…</span>
</header>
<main>
  <section class="pane diagram-pane">
    <h2>${options.machineId} machine <span class="muted">(badges: actors in each state)</span></h2>
    <div id="diagram">${options.svg}</div>
  </section>
  <div class="right">
    <section class="pane detail-pane">
      <p id="detail-hint" class="muted">Click an actor to highlight its current state and last transition in the diagram and see its recent events.</p>
      <section id="detail" hidden>
        <h2 id="detail-title"></h2>
        <div class="detail-grid">
          <dl id="detail-fields"></dl>
          <div class="recent-box">
            <table id="recent"><thead><tr><th>time</th><th>event</th><th>state</th></tr></thead><tbody></tbody></table>
          </div>
        </div>
      </section>
    </section>
    <section class="pane actors-pane">
      <div class="toolbar">
        <input id="filter" type="search" placeholder="filter: symbol, phase, state, reason" autocomplete="off">
        <span id="count" class="muted"></span>
      </div>
      <table id="actors">
        <thead><tr><th>phase</th><th>symbol</th><th>state</th><th>last outcome</th><th>last publish</th><th>last skip / error</th><th class="num">failures</th><th class="num">restarts</th></tr></thead>
        <tbody></tbody>
      </table>
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
