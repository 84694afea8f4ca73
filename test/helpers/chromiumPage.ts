// A headless Chromium page for the /viz end-to-end tests (Debian's /usr/bin/chromium driven by
// playwright-core, never a downloaded browser): a fresh profile, every request that is not to
// 127.0.0.1 (or a data: URL) refused and noted, and every console error or page error noted — so
// a test can assert the page fetched nothing from outside and broke nothing (a CSP violation is a
// console error too).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export interface IsolatedPage {
  context: BrowserContext;
  page: Page;
  /** The fresh profile directory (playwright passes it as --user-data-dir); remove it after. */
  profileDir: string;
}

/** Opens the page; refused URLs go to `external`, console and page errors to `pageErrors`. */
export async function openIsolatedPage(
  external: string[],
  pageErrors: string[],
): Promise<IsolatedPage> {
  const profileDir = mkdtempSync(join(tmpdir(), "viz-chromium-"));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 900 },
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
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === "data:" || url.hostname === "127.0.0.1") return route.continue();
    external.push(route.request().url());
    return route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error") pageErrors.push(msg.text());
  });
  page.on("pageerror", (err) => pageErrors.push(err.message));
  return { context, page, profileDir };
}
