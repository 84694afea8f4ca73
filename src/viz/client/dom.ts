// The DOM helpers both /viz page scripts use: client/page.ts (the live service) and
// client/replay.ts (a recording). A classic script like them: src/viz/page.ts inlines it before
// either, so its top-level functions are the page's globals — each named viz… so that it never
// meets a name of the scripts' own (their code sits inside a function each).
/* eslint-disable @typescript-eslint/no-unused-vars -- globals of a classic script, used by client/page.ts and client/replay.ts (the rule sees one file at a time) */

/** An element the page's HTML always has; its absence is a bug in src/viz/page.ts, said plainly. */
function vizRequired<E extends Element>(found: E | null, selector: string): E {
  if (found === null) throw new Error(`/viz page: no ${selector} in the document`);
  return found;
}

function vizById<E extends HTMLElement>(id: string): E {
  return vizRequired(document.getElementById(id) as E | null, `#${id}`);
}

/** The body of the table `selector` names (e.g. "#actors"). */
function vizTableBody(selector: string): HTMLTableSectionElement {
  return vizRequired(
    document.querySelector<HTMLTableSectionElement>(`${selector} tbody`),
    `${selector} tbody`,
  );
}

/** A cell of `tr` holding `text` (as text: never parsed as HTML). */
function vizCell(tr: HTMLTableRowElement, className: string, text: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text;
  tr.appendChild(td);
  return td;
}

/** hh:mm:ss.mmm (UTC) of an epoch-ms time. */
function vizTimeOfDay(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/** A transition as the tables show it: "→ to", "to" (a self-transition) or "from → to". */
function vizStateChange(step: { from: string | null; to: string }): string {
  return step.from === null
    ? `→ ${step.to}`
    : step.from === step.to
      ? step.to
      : `${step.from} → ${step.to}`;
}

/** `dl` holding one term and value per pair, as text (its earlier content removed). */
function vizDefinitionList(dl: HTMLElement, pairs: Iterable<[string, string]>): void {
  dl.textContent = "";
  for (const [term, value] of pairs) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.appendChild(dt);
    dl.appendChild(dd);
  }
}
