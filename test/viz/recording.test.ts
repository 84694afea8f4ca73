// `viz --recording`: a recording made by the recorder's own test run (real machines, memory
// store), replayed through the publisher machines with XState's inspection, gives each actor's
// steps with their recorded times, and the routes serve them (the page, the overview, one
// actor's steps, one step's context and cycle, the timeline at a moment).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpServer, type HttpServerHandle } from "../../src/http/server.js";
import { createLogger } from "../../src/log.js";
import { ReplayModel } from "../../src/viz/recording.js";
import { vizReplayRoutes } from "../../src/viz/routes.js";
import { recordRun } from "../recorder/liveRun.js";

let dir: string;
let model: ReplayModel;
let server: HttpServerHandle;
let base: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "qc-vizrec-"));
  await recordRun(dir, 6);
  model = await ReplayModel.load(dir);
  server = await startHttpServer({
    host: "127.0.0.1",
    port: 0,
    routes: vizReplayRoutes(model),
    logger: createLogger({ level: "error" }),
  });
  base = `http://127.0.0.1:${server.port}`;
}, 60_000);
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const get = async (path: string) => {
  const res = await fetch(base + path);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe("the visualizer on a recording", () => {
  it("collects every replayed publisher's transitions, in recorded time", () => {
    const o = model.overview();
    expect(o.actors.length).toBeGreaterThan(2);
    expect(o.spanMs).not.toBeNull();
    // ETHUSDT's long is opened, moved and closed in the run: harvest publishes for it.
    const { steps } = model.steps("harvest:ETHUSDT")!;
    // The machine's own path: seeding first, then cycles RUN → reading → … → idle.
    expect(steps[0]).toMatchObject({ from: null, to: "seeding", event: "init" });
    expect(steps[1]).toMatchObject({ from: "seeding", to: "idle", event: "seedMemory.done" });
    expect(steps.some((s) => s.event === "RUN" && s.from === "idle" && s.to === "reading")).toBe(
      true,
    );
    // Eventless steps too (microsteps): computing → deciding → publishing, each its own step.
    expect(steps.some((s) => s.from === "computing" && s.to === "deciding")).toBe(true);
    expect(steps.some((s) => s.from === "deciding" && s.to === "publishing")).toBe(true);
    for (let i = 1; i < steps.length; i++)
      expect(steps[i].at).toBeGreaterThanOrEqual(steps[i - 1].at);
    expect(o.actors.every((a) => a.diverged === 0)).toBe(true);
  });

  it("serves the page in replay mode and the JSON routes", async () => {
    const page = await fetch(`${base}/viz`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('data-mode="replay"');
    expect(html).toContain('id="scrub"');

    const over = await get("/viz/recording");
    const actors = over.body.actors as { key: string; steps: number }[];
    const key = "harvest:ETHUSDT";

    const steps = await get(`/viz/recording/steps?key=${encodeURIComponent(key)}`);
    expect(steps.status).toBe(200);
    const list = steps.body.steps as {
      seq: number;
      at: number;
      to: string;
      cycle: number | null;
    }[];
    expect(list.length).toBe(actors.find((a) => a.key === key)!.steps);

    const i = list.findIndex((s) => s.to === "deciding");
    const step = await get(`/viz/recording/step?key=${encodeURIComponent(key)}&index=${i}`);
    expect(step.status).toBe(200);
    expect(step.body).toMatchObject({ to: "deciding", key });
    expect((step.body.context as { symbol: string }).symbol).toBe(key.split(":")[1]);
    expect(step.body.cycleView).toMatchObject({ recorded: { outcome: expect.any(String) } });

    const tl = await get(`/viz/recording/timeline?at=${list[i].at}&seq=${list[i].seq}`);
    const entries = tl.body.timeline as { seq: number; at: number }[];
    expect(entries[0].at).toBeLessThanOrEqual(list[i].at);
    expect(entries.some((e) => e.seq === list[i].seq)).toBe(true);
    expect(entries.every((e) => e.at <= list[i].at)).toBe(true);
    // Every actor's state then: this one's is the step's.
    expect((tl.body.states as Record<string, string>)[key]).toBe("deciding");

    expect((await get("/viz/recording/steps?key=nope")).status).toBe(404);
    expect((await get(`/viz/recording/step?key=${encodeURIComponent(key)}&index=-1`)).status).toBe(
      404,
    );
    expect((await get("/viz/recording/timeline?at=abc")).status).toBe(400);
  });

  it("--symbols, --from, --to: only those symbols' steps in the window, their memory carried", async () => {
    const all = model.steps("harvest:ETHUSDT")!.steps;
    const fromMs = all[Math.floor(all.length / 2)].at;
    const narrow = await ReplayModel.load(dir, { symbols: ["ETHUSDT"], fromMs });
    expect(narrow.overview().actors.map((a) => a.key)).toEqual([
      "marketstate:ETHUSDT",
      "risk:ETHUSDT",
      "harvest:ETHUSDT",
    ]);
    const steps = narrow.steps("harvest:ETHUSDT")!.steps;
    expect(steps.length).toBeGreaterThan(0);
    expect(steps.every((s) => s.at >= fromMs)).toBe(true);
    // The same transitions as the whole replay's from then on (the machines ran from the start).
    const strip = (s: { event: string; from: string | null; to: string; at: number }) =>
      `${s.at} ${s.event} ${String(s.from)}→${s.to}`;
    expect(steps.map(strip)).toEqual(all.filter((s) => s.at >= fromMs).map(strip));
    expect(narrow.overview().actors.every((a) => a.diverged === 0)).toBe(true);
  });
});
