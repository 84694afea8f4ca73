// The /viz page's script, run by the browser (see ../page.ts for the HTML and why it is one
// self-contained document). Type-checked against the DOM and against the server's own message
// types by tsconfig.client.json; `npm run build` compiles it to dist/src/viz/client/page.js,
// which page.ts inlines into the page.
//
// A classic script, not an ES module: the page runs it from an inline <script nonce> (a module
// would need type="module" and a changed page). So no import statement here — the server's types
// come in through `import()` types, which the compiler erases — and the code is wrapped in a
// function so nothing leaks onto `window`.
//
// One table row per actor and per system actor, fed by /viz/events (`init`, then `delta`s of
// changed rows and new timeline records). A click on an actor highlights its current state (and
// its last transition) in its machine's diagram, and shows its fields, its context and its recent
// events from /viz/actor. The timeline lists the newest records of every actor, newest first,
// bounded. Text from the service (symbols, errors, context) only ever reaches the page through
// textContent.

type ActorSummary = import("../registry.js").ActorSummary;
type SystemActorSummary = import("../registry.js").SystemActorSummary;
type SupervisorSummary = import("../registry.js").SupervisorSummary;
type TransitionRecord = import("../registry.js").TransitionRecord;
type TimelineEntry = import("../registry.js").TimelineEntry;
type ActorDetail = import("../registry.js").ActorDetail;
type InitMessage = import("../stream.js").InitMessage;
type DeltaMessage = import("../stream.js").DeltaMessage;

(function vizPage(): void {
  // The chain order, for placing a new actor's row; the type-check holds it equal to the server's.
  const PHASES = [
    "marketstate",
    "risk",
    "harvest",
  ] as const satisfies typeof import("../../core/phases.js").PHASE_NAMES;
  const TIMELINE_MAX = 150;

  interface Row<S> {
    tr: HTMLTableRowElement;
    summary: S;
  }

  const rows = new Map<string, Row<ActorSummary>>();
  const system = new Map<string, Row<SystemActorSummary>>();
  let selected: string | null = null;
  let detailBusy = false;
  let detailAgain = false;
  let timelineSeq = 0;

  // vizRequired, vizById, vizTableBody, vizCell, vizTimeOfDay, vizStateChange, vizDefinitionList:
  // client/dom.ts.
  const byId = vizById;
  const tbody = vizTableBody("#actors");
  const systemBody = vizTableBody("#system");
  const timelineBody = vizTableBody("#timeline");
  const filterInput = byId<HTMLInputElement>("filter");
  const fitInput = byId<HTMLInputElement>("fit");
  const diagrams = byId<HTMLElement>("diagrams");

  const diagramOf = (machine: string): HTMLElement | null =>
    document.getElementById(`diagram-${machine}`);
  const pad = (n: number): string => (n < 10 ? `0${n}` : String(n));
  function clock(ms: number | null): string {
    if (ms === null || ms === undefined) return "—";
    const d = new Date(ms);
    return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  }
  function order(a: ActorSummary, b: ActorSummary): number {
    if (a.symbol !== b.symbol) return a.symbol < b.symbol ? -1 : 1;
    return PHASES.indexOf(a.phase) - PHASES.indexOf(b.phase);
  }
  function setText(el: Element, text: string): void {
    if (el.textContent !== text) el.textContent = text;
  }
  const cell = vizCell;
  const stateChange = vizStateChange;
  /** ` (done)` after a state when the actor is not active. */
  const statusNote = (status: string | null): string =>
    status && status !== "active" ? ` (${status})` : "";

  // ---- publishers ------------------------------------------------------------------------
  const COLUMNS = [
    "phase",
    "symbol",
    "state",
    "outcome",
    "published",
    "skip",
    "failures",
    "restarts",
  ];
  function makeRow(key: string): HTMLTableRowElement {
    const tr = document.createElement("tr");
    tr.dataset.key = key;
    for (const c of COLUMNS) cell(tr, c, "");
    tr.addEventListener("click", () => select(key));
    return tr;
  }
  function matches(s: ActorSummary): boolean {
    const words = filterInput.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (words.length === 0) return true;
    const hay =
      `${s.key} ${s.state} ${s.lastOutcome || ""} ${s.lastSkipReason || ""}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  }
  function fill(tr: HTMLTableRowElement, s: ActorSummary): void {
    const c = tr.cells;
    setText(c[0], s.phase);
    setText(c[1], s.symbol);
    setText(c[2], s.state + statusNote(s.status));
    setText(c[3], s.lastOutcome || "—");
    c[3].title = s.lastReason || "";
    setText(c[4], clock(s.lastPublishedAt));
    c[4].title = s.lastPublishedAt ? new Date(s.lastPublishedAt).toISOString() : "";
    setText(c[5], s.lastSkipReason || (s.lastError ? `error: ${s.lastError}` : "—"));
    c[5].title = s.lastSkipDetail || s.lastError || "";
    setText(c[6], String(s.consecutiveFailures));
    setText(c[7], String(s.restarts));
    tr.dataset.state = s.state;
    tr.className =
      `st-${s.state} out-${s.lastOutcome || "none"}` +
      (s.status !== "active" ? ` status-${s.status}` : "") +
      (s.consecutiveFailures > 0 ? " failing" : "") +
      (selected === s.key ? " selected" : "");
    tr.hidden = !matches(s);
  }
  function insertSorted(row: Row<ActorSummary>): void {
    // Rows arrive sorted (init) or rarely (a new actor): scan from the end.
    let next: HTMLTableRowElement | null = null;
    for (let i = tbody.rows.length - 1; i >= 0; i--) {
      const el = tbody.rows[i];
      const other = rows.get(el.dataset.key ?? "");
      if (other && order(other.summary, row.summary) > 0) next = el;
      else break;
    }
    tbody.insertBefore(row.tr, next);
  }
  function upsert(s: ActorSummary): void {
    let row = rows.get(s.key);
    if (!row) {
      row = { tr: makeRow(s.key), summary: s };
      rows.set(s.key, row);
      insertSorted(row);
    }
    row.summary = s;
    fill(row.tr, s);
  }

  // ---- system actors (the supervisor, the klines follower) -------------------------------
  function upsertSystem(s: SystemActorSummary): void {
    let row = system.get(s.key);
    if (!row) {
      const tr = document.createElement("tr");
      tr.dataset.key = s.key;
      for (const c of ["actor", "machine", "state", "restarts", "updated"]) cell(tr, c, "");
      tr.addEventListener("click", () => select(s.key));
      systemBody.appendChild(tr);
      row = { tr, summary: s };
      system.set(s.key, row);
    }
    row.summary = s;
    const c = row.tr.cells;
    setText(c[0], s.key);
    setText(c[1], s.machine);
    setText(c[2], s.state === null ? "not started" : s.state + statusNote(s.status));
    setText(c[3], String(s.restarts));
    setText(c[4], clock(s.updatedAt));
    row.tr.dataset.state = s.state || "";
    row.tr.classList.toggle("selected", selected === s.key);
  }

  /** Per machine, how many actors are in each state: the badges on the diagrams. */
  type StateCounts = Record<string, number>;
  function updateCounts(): void {
    const counts: StateCounts = {};
    let shown = 0;
    rows.forEach((r) => {
      counts[r.summary.state] = (counts[r.summary.state] || 0) + 1;
      if (!r.tr.hidden) shown++;
    });
    const badges: Record<string, StateCounts> = { publisher: counts };
    system.forEach((r) => {
      const m = (badges[r.summary.machine] ??= {});
      if (r.summary.state !== null) m[r.summary.state] = (m[r.summary.state] || 0) + 1;
    });
    diagrams.querySelectorAll<HTMLElement>("figure.diagram").forEach((fig) => {
      const byState = badges[fig.dataset.machine ?? ""] || {};
      fig.querySelectorAll<SVGElement>(".state").forEach((g) => {
        const badge = g.querySelector(".count");
        const n = byState[g.dataset.state ?? ""];
        if (badge) setText(badge, n ? String(n) : "");
      });
    });
    setText(
      byId("count"),
      `${rows.size} actors` + (shown !== rows.size ? ` (${shown} shown)` : ""),
    );
  }

  // ---- selection: highlight, detail ------------------------------------------------------
  function selectedRow(): { machine: string; summary: ActorSummary | SystemActorSummary } | null {
    if (!selected) return null;
    const r = rows.get(selected);
    if (r) return { machine: "publisher", summary: r.summary };
    const s = system.get(selected);
    return s ? { machine: s.summary.machine, summary: s.summary } : null;
  }
  function highlight(recent: TransitionRecord[] | null): void {
    diagrams
      .querySelectorAll(".state.current, .edge.last")
      .forEach((el) => el.classList.remove("current", "last"));
    const row = selectedRow();
    if (!row || row.summary.state === null) return;
    const fig = diagramOf(row.machine);
    if (!fig) return;
    const node = fig.querySelector(`.state[data-state="${CSS.escape(row.summary.state)}"]`);
    if (node) node.classList.add("current");
    if (!recent) return;
    // The newest record that moved the actor: its edge is the last transition taken.
    for (let i = recent.length - 1; i >= 0; i--) {
      const r = recent[i];
      if (r.from !== null && r.from !== r.to) {
        const edge = fig.querySelector(
          `.edge[data-from="${CSS.escape(r.from)}"][data-to="${CSS.escape(r.to)}"]`,
        );
        if (edge) edge.classList.add("last");
        break;
      }
    }
  }

  /** A record's event name, and its detail (reason, error) below it when it has one. */
  function eventCell(tr: HTMLTableRowElement, r: TransitionRecord): void {
    const what = cell(tr, "r-event", "");
    const name = document.createElement("div");
    name.textContent = r.event;
    what.appendChild(name);
    if (r.detail) {
      const more = document.createElement("div");
      more.className = "r-detail";
      more.textContent = r.detail;
      what.appendChild(more);
    }
  }
  const timeOfDay = vizTimeOfDay;

  function detailFields(d: ActorDetail): Array<[string, string]> {
    if (d.kind === "publisher") {
      const s = d.summary;
      return [
        ["state", s.state + statusNote(s.status)],
        ["last outcome", (s.lastOutcome || "—") + (s.lastReason ? ` — ${s.lastReason}` : "")],
        ["last publish", s.lastPublishedAt ? new Date(s.lastPublishedAt).toISOString() : "—"],
        ["last summary", s.lastSummary || "—"],
        [
          "last skip",
          s.lastSkipReason
            ? s.lastSkipReason + (s.lastSkipDetail ? `: ${s.lastSkipDetail}` : "")
            : "—",
        ],
        ["last error", s.lastError || "—"],
        ["failures in a row", String(s.consecutiveFailures)],
        ["cycles", String(s.cycles)],
        ["restarts", String(s.restarts)],
      ];
    }
    const s = d.summary;
    return [
      ["machine", s.machine],
      ["state", (s.state || "—") + statusNote(s.status)],
      ["actor id", s.actorId || "—"],
      [s.machine === "supervisor" ? "children restarted" : "restarts", String(s.restarts)],
      ["updated", s.updatedAt ? new Date(s.updatedAt).toISOString() : "—"],
    ];
  }

  let lastRecent: TransitionRecord[] | null = null;
  function renderDetail(d: ActorDetail): void {
    const panel = byId("detail");
    byId("detail-hint").hidden = true;
    panel.hidden = false;
    panel.dataset.key = d.summary.key;
    const s = d.summary;
    setText(
      byId("detail-title"),
      s.key + (s.actorId && s.actorId !== s.key ? `  (${s.actorId})` : ""),
    );
    vizDefinitionList(byId("detail-fields"), detailFields(d));
    setText(byId("detail-context"), JSON.stringify(d.context, null, 2));
    const body = vizRequired(
      document.querySelector<HTMLTableSectionElement>("#recent tbody"),
      "#recent tbody",
    );
    body.textContent = "";
    for (const r of d.recent.slice().reverse()) {
      const tr = document.createElement("tr");
      cell(tr, "r-time", timeOfDay(r.at));
      eventCell(tr, r);
      cell(tr, "r-state", stateChange(r));
      body.appendChild(tr);
    }
    lastRecent = d.recent;
    highlight(lastRecent);
  }
  /** Asks /viz/actor for the selected actor; one request at a time, the latest wish wins. */
  async function loadDetail(): Promise<void> {
    if (!selected) return;
    if (detailBusy) {
      detailAgain = true;
      return;
    }
    detailBusy = true;
    const key = selected;
    try {
      const res = await fetch(`/viz/actor?key=${encodeURIComponent(key)}`, { cache: "no-store" });
      const d = res.ok ? ((await res.json()) as ActorDetail) : null;
      if (d && key === selected) renderDetail(d);
    } catch {
      // The service went away or the actor with it: the next delta or reconnect asks again.
    }
    detailBusy = false;
    if (detailAgain) {
      detailAgain = false;
      void loadDetail();
    }
  }
  function select(key: string): void {
    selected = key;
    rows.forEach((r, k) => r.tr.classList.toggle("selected", k === key));
    system.forEach((r, k) => r.tr.classList.toggle("selected", k === key));
    timelineBody
      .querySelectorAll("tr")
      .forEach((tr) => tr.classList.toggle("mine", tr.dataset.key === key));
    document.body.dataset.selected = key;
    lastRecent = null;
    highlight(null);
    void loadDetail();
  }

  // ---- the system-wide timeline ----------------------------------------------------------
  function timelineRow(r: TimelineEntry): HTMLTableRowElement {
    const tr = document.createElement("tr");
    tr.dataset.seq = String(r.seq);
    tr.dataset.key = r.key;
    if (r.key === selected) tr.className = "mine";
    cell(tr, "r-time", timeOfDay(r.at));
    cell(tr, "r-actor", r.key);
    const what = cell(tr, "r-event", r.event);
    if (r.detail) {
      const more = document.createElement("div");
      more.className = "r-detail";
      more.textContent = r.detail;
      what.appendChild(more);
    }
    cell(tr, "r-state", stateChange(r));
    tr.addEventListener("click", () => select(r.key));
    return tr;
  }
  /** Records oldest first; those already shown are dropped (a new client's init overlaps). True when one is the selected actor's. */
  function addTimeline(records: TimelineEntry[]): boolean {
    const fresh = records.filter((r) => r.seq > timelineSeq);
    if (fresh.length === 0) return false;
    const frag = document.createDocumentFragment();
    let mine = false;
    for (let i = fresh.length - 1; i >= 0 && frag.childNodes.length < TIMELINE_MAX; i--) {
      frag.appendChild(timelineRow(fresh[i]));
      if (fresh[i].key === selected) mine = true;
    }
    timelineSeq = fresh[fresh.length - 1].seq;
    timelineBody.insertBefore(frag, timelineBody.firstChild);
    while (timelineBody.rows.length > TIMELINE_MAX)
      timelineBody.rows[timelineBody.rows.length - 1].remove();
    setText(byId("timeline-count"), `${timelineBody.rows.length} newest records`);
    return mine;
  }

  function roleText(r: SupervisorSummary["role"]): string {
    if (!r) return "";
    if (r.role === "leader") return `role: leader (writes; lease held by ${r.self})`;
    if (r.role === "standby")
      return `role: STANDBY (writes nothing; lease held by ${r.holder || "nobody yet"})`;
    return "role: no lease";
  }
  function showSupervisor(s: SupervisorSummary): void {
    const text =
      s.state === null
        ? "not started"
        : `${s.state}${s.status !== "active" ? ` (${s.status})` : ""} · restarts ${s.restartTotal}`;
    setText(byId("sup"), `supervisor: ${text}`);
    const t = s.theta;
    setText(
      byId("theta"),
      !t
        ? ""
        : t.source === "policy"
          ? `harvest theta: policy ${t.version}`
          : `harvest theta: configured${t.why ? ` (${t.why})` : ""}`,
    );
    const roleEl = byId("role");
    // A standby writes nothing: it must stand out.
    roleEl.className = s.role && s.role.role === "standby" ? "standby" : "muted";
    setText(roleEl, roleText(s.role));
  }
  function setConn(live: boolean): void {
    const el = byId("conn");
    el.className = live ? "live" : "down";
    setText(el, live ? "● live" : "○ reconnecting…");
    document.body.dataset.live = live ? "true" : "false";
  }

  filterInput.addEventListener("input", () => {
    rows.forEach((r) => {
      r.tr.hidden = !matches(r.summary);
    });
    updateCounts();
  });
  fitInput.addEventListener("change", () => diagrams.classList.toggle("fit", fitInput.checked));
  diagrams.querySelectorAll<HTMLElement>("figure.diagram.system").forEach((fig) => {
    fig.addEventListener("click", () => {
      const key = fig.dataset.key;
      if (key && system.has(key)) select(key);
    });
  });

  let deltas = 0;
  const es = new EventSource("/viz/events");
  es.addEventListener("init", (e) => {
    const m = JSON.parse(e.data as string) as InitMessage;
    rows.clear();
    tbody.textContent = "";
    m.actors.forEach(upsert);
    m.system.forEach(upsertSystem);
    addTimeline(m.timeline);
    showSupervisor(m.supervisor);
    updateCounts();
    setConn(true);
    if (selected) {
      highlight(lastRecent);
      void loadDetail();
    }
  });
  es.addEventListener("delta", (e) => {
    const m = JSON.parse(e.data as string) as DeltaMessage;
    let touched = false;
    for (const s of m.actors) {
      upsert(s);
      if (s.key === selected) touched = true;
    }
    for (const s of m.system ?? []) {
      upsertSystem(s);
      if (s.key === selected) touched = true;
    }
    if (m.supervisor) showSupervisor(m.supervisor);
    if (m.timeline && addTimeline(m.timeline)) touched = true;
    updateCounts();
    document.body.dataset.deltas = String(++deltas);
    if (touched) {
      highlight(lastRecent);
      void loadDetail();
    }
  });
  es.onerror = () => setConn(false);
})();
