// `quantum-calc viz --format mermaid` output rendered by Mermaid itself (the npm package's
// browser bundle, loaded from node_modules into Debian's headless Chromium; nothing downloaded):
// a syntax error or a diagram Mermaid cannot lay out fails here, not in an operator's notebook.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MACHINES, renderDiagram, type MachineName } from "../../src/viz/diagram.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
const mermaidBundle = join(
  createRequire(import.meta.url).resolve("mermaid/package.json"),
  "..",
  "dist",
  "mermaid.min.js",
);

const title = hasChromium
  ? "Mermaid renders the generated diagrams"
  : `Mermaid render — SKIPPED: ${CHROMIUM} is not installed`;

describe.skipIf(!hasChromium)(title, () => {
  let context: BrowserContext;
  let profileDir: string;

  beforeAll(async () => {
    profileDir = mkdtempSync(join(tmpdir(), "mermaid-chromium-"));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  afterAll(async () => {
    await context?.close();
    rmSync(profileDir, { recursive: true, force: true });
  });

  for (const name of Object.keys(MACHINES) as MachineName[]) {
    it(`${name}: parses and renders to an SVG naming every state`, async () => {
      const page = await context.newPage();
      try {
        await page.setContent("<!doctype html><html><body></body></html>");
        await page.addScriptTag({ path: mermaidBundle });
        const text = await renderDiagram(name, "mermaid");
        const svg = await page.evaluate(async (source: string) => {
          const m = (
            globalThis as unknown as {
              mermaid: {
                initialize(o: object): void;
                render(id: string, text: string): Promise<{ svg: string }>;
              };
            }
          ).mermaid;
          m.initialize({ startOnLoad: false });
          return (await m.render("diagram", source)).svg;
        }, text);
        expect(svg).toMatch(/^<svg/);
        // Every state of the machine definition is drawn (labels are the state keys).
        for (const state of Object.keys(MACHINES[name].root.states)) expect(svg).toContain(state);
      } finally {
        await page.close();
      }
    });
  }
});
