// The /viz page's script is a typed browser module (src/viz/client/page.ts, tsconfig.client.json),
// compiled by `npm run build`; page.ts inlines the built file and holds no code of its own.
// (What the script does is tested in a real browser: test/e2e/viz.test.ts.)
import { readFileSync } from "node:fs";
import { Script } from "node:vm";
import { describe, expect, it } from "vitest";
import { clientScriptPath, vizPageTemplate } from "../../src/viz/page.js";

const inlined = (page: string): string =>
  /<script nonce="__NONCE__">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? "";

describe("the /viz page script", () => {
  it("is found beside the built page module, and in dist when the page runs from its source", () => {
    expect(clientScriptPath("file:///repo/dist/src/viz/page.js")).toBe(
      "/repo/dist/src/viz/client/page.js",
    );
    expect(clientScriptPath("file:///repo/src/viz/page.ts")).toBe(
      "/repo/dist/src/viz/client/page.js",
    );
  });

  it("is inlined as built, without its source-map comment, as a classic script (no import or export)", () => {
    const script = inlined(vizPageTemplate({ title: "t", diagrams: [] }));
    // client/dom.ts's helpers, then client/page.ts, each as built without its source-map line.
    const dom = readFileSync(clientScriptPath(undefined, "dom"), "utf8");
    const built = readFileSync(clientScriptPath(), "utf8");
    expect(script.length).toBeGreaterThan(1000);
    expect(dom).toMatch(/\/\/# sourceMappingURL=dom\.js\.map\s*$/);
    expect(built).toMatch(/\/\/# sourceMappingURL=page\.js\.map\s*$/);
    const strip = (text: string): string => text.replace(/\/\/# sourceMappingURL=\S+\s*$/, "");
    expect(script).toBe(strip(dom) + strip(built));
    expect(script).not.toContain("sourceMappingURL");
    // A classic <script> cannot hold module syntax: compiling it as one is the check.
    expect(() => new Script(script, { filename: "viz-page.js" })).not.toThrow();
    expect(script).not.toMatch(/^\s*(import|export)\b/m);
    // It listens to the page's event stream.
    expect(script).toContain('new EventSource("/viz/events")');
  });

  it("page.ts itself holds no browser code, only the HTML around it", () => {
    const source = readFileSync(new URL("../../src/viz/page.ts", import.meta.url), "utf8");
    expect(source).not.toMatch(/addEventListener|EventSource|document\.|querySelector/);
  });
});
