// The /viz page's script in replay mode (`viz --recording DIR`; see ../page.ts and
// ../recording.ts). A classic script like page.ts, and in the same compiler program: so its
// types are declared inside the function (top-level names would collide with page.ts's).
//
// The recording's overview fills the actors table and the time scrubber. Clicking an actor loads
// its steps; the scrubber picks the actor's last step at or before the chosen time, the step
// buttons move one step at a time (several steps share a recorded time: a cycle runs at one clock
// reading). For the step: its state and edge are highlighted in the publisher diagram, its fields,
// context and cycle (recorded and replayed decision, inputs) shown, and the system timeline is
// every actor's steps up to that moment. Text from the recording only reaches the page through
// textContent.

(function vizReplayPage(): void {
  type Overview = import("../recording.js").ReplayOverview;
  type ActorRow = import("../recording.js").ReplayActorSummary;
  type Step = import("../recording.js").ReplayStep;
  type StepDetail = import("../recording.js").ReplayStepDetail;

  // vizById, vizTableBody, vizCell, vizTimeOfDay, vizStateChange, vizDefinitionList: client/dom.ts.
  const byId = vizById;
  const tbody = vizTableBody("#actors");
  const timelineBody = vizTableBody("#timeline");
  const recentBody = vizTableBody("#recent");
  const scrub = byId<HTMLInputElement>("scrub");
  const filterInput = byId<HTMLInputElement>("filter");
  const fitInput = byId<HTMLInputElement>("fit");
  const diagrams = byId<HTMLElement>("diagrams");
  const publisherFigure = byId<HTMLElement>("diagram-publisher");

  const rows = new Map<string, { tr: HTMLTableRowElement; actor: ActorRow }>();
  let selected: string | null = null;
  let steps: Step[] = [];
  let index = -1;
  /** The moment shown: the scrubber's time, and the step order within it when a step is chosen. */
  let at = 0;
  let atSeq: number | null = null;
  /** Every request is numbered; an answer to an older one than the latest is dropped. */
  let generation = 0;

  const iso = (ms: number): string => new Date(ms).toISOString();
  const timeOfDay = vizTimeOfDay;
  const stateChange = vizStateChange;
  const cell = vizCell;
  async function getJson<T>(path: string): Promise<T> {
    const res = await fetch(path, { cache: "no-store" });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }

  // ---- the actors table --------------------------------------------------------------------
  function matches(a: ActorRow): boolean {
    const words = filterInput.value.toLowerCase().split(/\s+/).filter(Boolean);
    const hay = `${a.key} ${Object.keys(a.outcomes).join(" ")}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  }
  function fillActors(o: Overview): void {
    tbody.textContent = "";
    rows.clear();
    for (const a of o.actors) {
      const tr = document.createElement("tr");
      tr.dataset.key = a.key;
      cell(tr, "phase", a.phase);
      cell(tr, "symbol", a.symbol);
      cell(tr, "state", "—");
      cell(tr, "cycles", String(a.cycles)).style.textAlign = "right";
      cell(
        tr,
        "outcome",
        Object.entries(a.outcomes)
          .map(([k, n]) => `${k} ${n}`)
          .join(", ") || "—",
      );
      cell(tr, "steps", String(a.steps)).style.textAlign = "right";
      const d = cell(tr, "failures", String(a.diverged));
      d.style.textAlign = "right";
      if (a.diverged > 0) tr.classList.add("failing");
      tr.hidden = !matches(a);
      tr.addEventListener("click", () => void select(a.key));
      tbody.appendChild(tr);
      rows.set(a.key, { tr, actor: a });
    }
    byId("count").textContent = `${o.actors.length} actors`;
  }

  // ---- the selected actor's step -----------------------------------------------------------
  function highlight(step: Step | null): void {
    diagrams
      .querySelectorAll(".state.current, .edge.last")
      .forEach((el) => el.classList.remove("current", "last"));
    if (step === null) return;
    const node = publisherFigure.querySelector(`.state[data-state="${CSS.escape(step.to)}"]`);
    if (node) node.classList.add("current");
    if (step.from !== null && step.from !== step.to) {
      const edge = publisherFigure.querySelector(
        `.edge[data-from="${CSS.escape(step.from)}"][data-to="${CSS.escape(step.to)}"]`,
      );
      if (edge) edge.classList.add("last");
    }
  }
  function fields(d: StepDetail): Array<[string, string]> {
    const out: Array<[string, string]> = [
      ["time", iso(d.at)],
      ["step", `${index + 1} of ${steps.length}`],
      ["event", d.event],
      ["state", stateChange(d)],
    ];
    const c = d.cycleView;
    if (c) {
      out.push(
        ["cycle", `${c.cycle} at ${iso(c.t)}${c.trigger ? ` (${c.trigger})` : ""}`],
        ["recorded", `${c.recorded.outcome} — ${c.recorded.why}`],
        ["replayed", `${c.replayed.outcome} — ${c.replayed.why}`],
      );
    } else out.push(["cycle", "— (before the first recorded cycle)"]);
    return out;
  }
  function renderStep(d: StepDetail): void {
    byId("detail-hint").hidden = true;
    const panel = byId("detail");
    panel.hidden = false;
    panel.dataset.key = d.key;
    panel.dataset.state = d.to;
    panel.dataset.index = String(index);
    byId("detail-title").textContent = d.key;
    vizDefinitionList(byId("detail-fields"), fields(d));
    byId("detail-context").textContent = JSON.stringify(d.context, null, 2);
    byId("detail-inputs").textContent = d.cycleView
      ? JSON.stringify(d.cycleView.inputs, null, 2)
      : "—";
  }
  /** The actor's steps around the current one, the current one marked; a click goes there. */
  function renderRecent(): void {
    recentBody.textContent = "";
    // Newest first: a few steps after the current one, then those that led to it (in view).
    const from = Math.max(0, index - 16);
    const to = Math.min(steps.length, index + 4);
    for (let i = to - 1; i >= from; i--) {
      const s = steps[i];
      const tr = document.createElement("tr");
      tr.dataset.index = String(i);
      if (i === index) tr.className = "current";
      cell(tr, "r-time", timeOfDay(s.at));
      cell(tr, "r-event", s.event);
      cell(tr, "r-state", stateChange(s));
      tr.addEventListener("click", () => void goTo(i));
      recentBody.appendChild(tr);
    }
  }
  function showPosition(): void {
    byId("scrub-time").textContent = at ? iso(at) : "—";
    byId("step-pos").textContent =
      selected === null
        ? "select an actor to step through its transitions"
        : index < 0
          ? `${selected}: no step yet at this time`
          : `${selected}: step ${index + 1} of ${steps.length}`;
    byId<HTMLButtonElement>("step-back").disabled = selected === null || index <= 0;
    byId<HTMLButtonElement>("step-fwd").disabled = selected === null || index >= steps.length - 1;
    document.body.dataset.index = String(index);
  }

  /** Shows step `i` of the selected actor (or no step, -1) and the timeline then. */
  async function goTo(i: number): Promise<void> {
    const mine = ++generation;
    index = i;
    const step = i >= 0 ? steps[i] : null;
    if (step) {
      at = step.at;
      atSeq = step.seq;
      scrub.value = String(step.at);
    }
    highlight(step);
    renderRecent();
    showPosition();
    const key = selected;
    const [detail] = await Promise.all([
      step && key
        ? getJson<StepDetail>(
            `/viz/recording/step?key=${encodeURIComponent(key)}&index=${String(i)}`,
          )
        : Promise.resolve(null),
      loadTimeline(mine),
    ]);
    if (mine !== generation) return;
    if (detail) renderStep(detail);
    document.body.dataset.shown = `${key ?? ""}#${String(i)}`;
  }

  // ---- the system timeline at the moment shown ---------------------------------------------
  async function loadTimeline(mine: number): Promise<void> {
    const q = `at=${String(at)}` + (atSeq === null ? "" : `&seq=${String(atSeq)}`);
    const { timeline, states } = await getJson<{
      timeline: Step[];
      states: Record<string, string>;
    }>(`/viz/recording/timeline?${q}`);
    if (mine !== generation) return;
    showStates(states);
    timelineBody.textContent = "";
    for (const r of timeline) {
      const tr = document.createElement("tr");
      tr.dataset.seq = String(r.seq);
      tr.dataset.key = r.key;
      if (r.key === selected) tr.className = "mine";
      cell(tr, "r-time", timeOfDay(r.at));
      cell(tr, "r-actor", r.key);
      cell(tr, "r-event", r.event);
      cell(tr, "r-state", stateChange(r));
      tr.addEventListener("click", () => void select(r.key, r.seq));
      timelineBody.appendChild(tr);
    }
    byId("timeline-count").textContent = `${timeline.length} records up to ${iso(at)}`;
  }

  /** Every actor's state at the moment shown: the table's column and the diagram's badges. */
  function showStates(states: Record<string, string>): void {
    const counts: Record<string, number> = {};
    rows.forEach((r, key) => {
      const state = states[key];
      r.tr.cells[2].textContent = state ?? "—";
      r.tr.dataset.state = state ?? "";
      if (state !== undefined) counts[state] = (counts[state] ?? 0) + 1;
    });
    publisherFigure.querySelectorAll<SVGElement>(".state").forEach((g) => {
      const badge = g.querySelector(".count");
      const n = counts[g.dataset.state ?? ""];
      if (badge) badge.textContent = n ? String(n) : "";
    });
  }

  /** The index of the selected actor's last step at or before the moment shown. */
  function indexAt(t: number): number {
    let i = -1;
    while (i + 1 < steps.length && steps[i + 1].at <= t) i++;
    return i;
  }

  async function select(key: string, seq?: number): Promise<void> {
    selected = key;
    document.body.dataset.selected = key;
    rows.forEach((r, k) => r.tr.classList.toggle("selected", k === key));
    const data = await getJson<{ steps: Step[] }>(
      `/viz/recording/steps?key=${encodeURIComponent(key)}`,
    );
    if (selected !== key) return;
    steps = data.steps;
    const bySeq = seq === undefined ? -1 : steps.findIndex((s) => s.seq === seq);
    await goTo(bySeq >= 0 ? bySeq : indexAt(at));
  }

  scrub.addEventListener("input", () => {
    at = Number(scrub.value);
    atSeq = null;
    if (selected === null) {
      showPosition();
      void loadTimeline(++generation);
      return;
    }
    void goTo(indexAt(at)).then(() => {
      // goTo moved the scrubber to the step's own time; the time chosen is what the timeline shows.
      if (index < 0 || steps[index].at !== at) scrub.value = String(at);
    });
  });
  byId("step-back").addEventListener("click", () => {
    if (index > 0) void goTo(index - 1);
  });
  byId("step-fwd").addEventListener("click", () => {
    if (index < steps.length - 1) void goTo(index + 1);
  });
  filterInput.addEventListener("input", () => {
    rows.forEach((r) => {
      r.tr.hidden = !matches(r.actor);
    });
  });
  fitInput.addEventListener("change", () => diagrams.classList.toggle("fit", fitInput.checked));

  void (async () => {
    const conn = byId("conn");
    try {
      const o = await getJson<Overview>("/viz/recording");
      fillActors(o);
      const span = o.spanMs;
      byId("rec-info").textContent =
        `${o.dir} · ${o.steps} steps · ${o.segments} segments` +
        (span ? ` · ${iso(span[0])} → ${iso(span[1])}` : " · no cycles") +
        (o.dropped ? ` · ${o.dropped} records dropped by the recorder` : "") +
        (o.unreplayable ? ` · ${o.unreplayable} cycles not replayable` : "") +
        (o.badLines ? ` · ${o.badLines} bad lines` : "");
      if (span) {
        scrub.min = String(span[0]);
        scrub.max = String(span[1]);
        scrub.value = String(span[0]);
        at = span[0];
      }
      conn.className = "live";
      conn.textContent = "● recording (replayed)";
      // Only the publishers are replayed: the recording already says when cycles ran.
      byId("sup").textContent = "supervisor: not replayed";
      showPosition();
      await loadTimeline(++generation);
      document.body.dataset.live = "true";
    } catch (err) {
      conn.className = "down";
      conn.textContent = `○ ${err instanceof Error ? err.message : String(err)}`;
    }
  })();
})();
