// `viz --recording` end to end in a real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core, as test/e2e/viz.test.ts): a recording made by the recorder's own test run
// (test/recorder/liveRun.ts) is replayed and served with the replay routes; on the page, choosing
// an actor and scrubbing to a moment shows that actor's step then — its state highlighted in the
// publisher diagram, its context — and stepping back reaches the step into `publishing`, whose
// edge is highlighted; the timeline is every actor's steps up to that moment. No request leaves
// 127.0.0.1.
//
// Screenshot (test-results/ is gitignored): viz-recording.png, a publish step selected.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { CHROMIUM, openIsolatedPage } from "../helpers/chromiumPage.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpServer, type HttpServerHandle } from "../../src/http/server.js";
import { createLogger } from "../../src/log.js";
import { ReplayModel } from "../../src/viz/recording.js";
import { vizReplayRoutes } from "../../src/viz/routes.js";
import { recordRun } from "../recorder/liveRun.js";

/** The little of the DOM the in-page callbacks use (the project type-checks without lib.dom). */
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  value: string;
  dispatchEvent(event: unknown): boolean;
}
interface PageGlobal {
  document: {
    querySelector(selector: string): PageElement | null;
    querySelectorAll(selector: string): ArrayLike<PageElement>;
  };
  Event: new (type: string) => unknown;
}

const hasChromium = existsSync(CHROMIUM);
const resultsDir = fileURLToPath(new URL("../../test-results/", import.meta.url));
const WAIT_MS = 15_000;
const KEY = "harvest:ETHUSDT";

const title = hasChromium
  ? "/viz on a recording in headless Chromium"
  : `/viz on a recording in headless Chromium — SKIPPED: ${CHROMIUM} is not installed (apt-get install -y chromium)`;

describe.skipIf(!hasChromium)(title, () => {
  let dir: string;
  let model: ReplayModel;
  let server: HttpServerHandle;
  let context: BrowserContext;
  let page: Page;
  let profileDir: string;
  const external: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "qc-vizrec-e2e-"));
    await recordRun(dir, 8);
    model = await ReplayModel.load(dir);
    server = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      routes: vizReplayRoutes(model),
      logger: createLogger({ level: "silent", destination: process.stderr }),
    });
    ({ context, page, profileDir } = await openIsolatedPage(external, pageErrors));
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("scrubbing to a moment shows the actor's step then: state highlighted, context, timeline", async () => {
    await page.goto(`http://127.0.0.1:${server.port}/viz`);
    await page.waitForSelector('body[data-mode="replay"][data-live="true"]', { timeout: WAIT_MS });
    expect(await page.locator("#actors tbody tr").count()).toBe(model.overview().actors.length);

    await page.click(`#actors tr[data-key="${KEY}"]`);
    await page.waitForSelector(`body[data-shown^="${KEY}#"]`, { timeout: WAIT_MS });

    const { steps } = model.steps(KEY)!;
    // A publish: the step into `publishing`; scrub to its time (its cycle's later steps share it,
    // so the scrubber shows the cycle's last step there), then step back to it.
    const publish = steps.findIndex((s) => s.from === "deciding" && s.to === "publishing");
    expect(publish).toBeGreaterThan(0);
    const t = steps[publish].at;
    let shown = steps.findLastIndex((s) => s.at <= t);
    await page.evaluate((value: number) => {
      const g = globalThis as unknown as PageGlobal;
      const scrub = g.document.querySelector("#scrub")!;
      scrub.value = String(value);
      scrub.dispatchEvent(new g.Event("input"));
    }, t);
    await page.waitForSelector(`body[data-shown="${KEY}#${shown}"]`, { timeout: WAIT_MS });
    await expectStep(shown);

    while (shown > publish) {
      await page.click("#step-back");
      shown--;
      await page.waitForSelector(`body[data-shown="${KEY}#${shown}"]`, { timeout: WAIT_MS });
    }
    await expectStep(publish);
    // The edge taken is highlighted, and the decision is shown with the cycle.
    expect(
      await page
        .locator('#diagram-publisher .edge.last[data-from="deciding"][data-to="publishing"]')
        .count(),
    ).toBe(1);
    const fields = await page.locator("#detail-fields").textContent();
    expect(fields).toMatch(/recorded\s*published/);
    expect(await page.locator("#detail-inputs").textContent()).toContain("ETHUSDT");

    // Forward again by one: the next step.
    await page.click("#step-fwd");
    await page.waitForSelector(`body[data-shown="${KEY}#${publish + 1}"]`, { timeout: WAIT_MS });
    await expectStep(publish + 1);

    mkdirSync(resultsDir, { recursive: true });
    await page.screenshot({ path: join(resultsDir, "viz-recording.png"), fullPage: true });
    expect(external).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  /** The page shows step `i` of KEY: its state highlighted, its context, the timeline up to it. */
  async function expectStep(i: number): Promise<void> {
    const step = model.steps(KEY)!.steps[i];
    expect(await page.locator("#detail").getAttribute("data-state")).toBe(step.to);
    const current = page.locator("#diagram-publisher .state.current");
    expect(await current.count()).toBe(1);
    expect(await current.getAttribute("data-state")).toBe(step.to);
    const context = JSON.parse((await page.locator("#detail-context").textContent()) ?? "null") as {
      symbol: string;
      phase: string;
    };
    expect(context).toMatchObject({ symbol: "ETHUSDT", phase: "harvest" });
    expect(context).toEqual(model.step(KEY, i)!.context);
    const seqs = await page.evaluate(() =>
      Array.from(
        (globalThis as unknown as PageGlobal).document.querySelectorAll("#timeline tbody tr"),
      ).map((tr) => Number(tr.dataset.seq)),
    );
    expect(seqs).toEqual(model.timeline(step.at, step.seq, 150).map((s) => s.seq));
    // Every actor's state then, in the table.
    const states = await page.evaluate(() =>
      Array.from(
        (globalThis as unknown as PageGlobal).document.querySelectorAll("#actors tbody tr"),
      ).map((tr) => [tr.dataset.key, tr.dataset.state] as const),
    );
    const then = model.statesAt(step.at, step.seq);
    expect(Object.fromEntries(states.filter(([, v]) => v !== ""))).toEqual(then);
    expect(then[KEY]).toBe(step.to);
  }
});
