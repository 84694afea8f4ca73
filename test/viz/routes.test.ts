// The /viz routes on the real HTTP server, and the event stream's throttling, without a browser.
import { EventEmitter } from "node:events";
import { get, type IncomingMessage, type ServerResponse } from "node:http";
import type { InspectionEvent } from "xstate";
import { afterEach, describe, expect, it } from "vitest";
import { klinesFollowerMachine } from "../../machines/klinesFollower.js";
import { publisherMachine } from "../../machines/publisher.js";
import { supervisorMachine } from "../../machines/supervisor.js";
import { startHttpServer, type HttpServerHandle } from "../../src/http/server.js";
import { createLogger } from "../../src/log.js";
import { VizRegistry } from "../../src/viz/registry.js";
import { vizRoutes } from "../../src/viz/routes.js";
import { VizStream } from "../../src/viz/stream.js";

const logger = createLogger({ level: "silent", destination: process.stderr });

function snap(id: string, value: string, context: Record<string, unknown> = {}): InspectionEvent {
  return {
    type: "@xstate.snapshot",
    rootId: "root",
    actorRef: { id, sessionId: `s-${id}` },
    event: { type: "xstate.init" },
    snapshot: {
      value,
      status: "active",
      context: { consecutiveFailures: 0, cycles: 0, ...context },
    },
  } as unknown as InspectionEvent;
}

interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads an SSE response into events; `next(name)` waits for the next one of that name. */
function sseReader(res: IncomingMessage) {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let buffer = "";
  let waiters: Array<() => void> = [];
  res.setEncoding("utf8");
  res.on("data", (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) comments.push(line);
        else if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length > 0) events.push({ event: name, data: JSON.parse(data.join("\n")) });
      for (const w of waiters) w();
      waiters = [];
    }
  });
  let taken = 0;
  return {
    events,
    comments,
    async next(name: string, timeoutMs = 5000): Promise<SseEvent> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = events.findIndex((e, idx) => idx >= taken && e.event === name);
        if (i >= 0) {
          taken = i + 1;
          return events[i];
        }
        if (Date.now() > deadline)
          throw new Error(
            `no '${name}' event within ${timeoutMs} ms; got ${JSON.stringify(events.map((e) => e.event))}`,
          );
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
    },
  };
}

function open(port: number, path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) =>
    get({ host: "127.0.0.1", port, path }, resolve).on("error", reject),
  );
}

describe("/viz routes", () => {
  let server: HttpServerHandle | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  async function serve(reg: VizRegistry, intervalMs = 50) {
    server = await startHttpServer({
      host: "127.0.0.1",
      port: 0,
      routes: vizRoutes(reg, { intervalMs }),
      logger,
    });
    return `http://127.0.0.1:${server.port}`;
  }

  it("/viz is one self-contained page: inline diagrams of the three machines, nonce CSP, nothing external", async () => {
    const base = await serve(new VizRegistry());
    const res = await fetch(`${base}/viz`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = res.headers.get("content-security-policy") ?? "";
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const html = await res.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).toContain(`<style nonce="${nonce}">`);
    for (const [name, machine] of [
      ["publisher", publisherMachine],
      ["supervisor", supervisorMachine],
      ["klinesFollower", klinesFollowerMachine],
    ] as const) {
      const figure =
        new RegExp(`<figure [^>]*id="diagram-${name}"[^>]*>([\\s\\S]*?)</figure>`).exec(
          html,
        )?.[1] ?? "";
      expect(figure, `${name} diagram`).toContain("<svg");
      for (const state of Object.keys(machine.root.states))
        expect(figure).toContain(`data-state="${state}"`);
    }
    // Guards by name on the edges.
    expect(html).toContain("[isDraining]");
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="(?!data:)/);
    expect(html).not.toContain("__NONCE__");
    // A fresh nonce per response.
    const again = await fetch(`${base}/viz`);
    expect(again.headers.get("content-security-policy")).not.toBe(csp);
  });

  it("/viz/machine.json carries the definition, the model and the layout; /viz/machine.svg the drawing", async () => {
    const base = await serve(new VizRegistry());
    const body = (await (await fetch(`${base}/viz/machine.json`)).json()) as {
      machine: { id: string };
      model: { states: Array<{ id: string }> };
      layout: { nodes: Array<{ id: string }>; edges: unknown[] };
    };
    expect(body.machine.id).toBe("publisher");
    const states = Object.keys(publisherMachine.root.states);
    expect(body.model.states.map((s) => s.id)).toEqual(states);
    expect(body.layout.nodes.map((n) => n.id)).toEqual(states);
    expect(body.layout.edges.length).toBeGreaterThan(states.length);
    const svg = await fetch(`${base}/viz/machine.svg`);
    expect(svg.headers.get("content-type")).toBe("image/svg+xml; charset=utf-8");
    expect(await svg.text()).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    const sup = (await (await fetch(`${base}/viz/machine.json?machine=supervisor`)).json()) as {
      machine: { id: string };
      layout: { nodes: Array<{ id: string }> };
    };
    expect(sup.machine.id).toBe("supervisor");
    expect(sup.layout.nodes.map((n) => n.id)).toEqual(Object.keys(supervisorMachine.root.states));
    expect(await (await fetch(`${base}/viz/machine.svg?machine=klinesFollower`)).text()).toContain(
      'data-state="following"',
    );
    const bad = await fetch(`${base}/viz/machine.json?machine=nope`);
    expect(bad.status).toBe(400);
  });

  it("/viz/actors and /viz/actor?key= report the registry", async () => {
    const reg = new VizRegistry();
    reg.inspect(snap("risk:BTCUSDT", "idle", { lastOutcome: "published", lastPublishedAt: 42 }));
    const base = await serve(reg);
    const all = (await (await fetch(`${base}/viz/actors`)).json()) as {
      actors: Array<{ key: string; lastPublishedAt: number }>;
    };
    expect(all.actors).toMatchObject([{ key: "risk:BTCUSDT", lastPublishedAt: 42 }]);
    const one = await fetch(`${base}/viz/actor?key=${encodeURIComponent("risk:BTCUSDT")}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({
      kind: "publisher",
      summary: { key: "risk:BTCUSDT" },
      recent: [{ event: "init", to: "idle" }],
      context: { lastOutcome: "published", lastPublishedAt: 42 },
    });
    const missing = await fetch(`${base}/viz/actor?key=risk:NOPE`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: "no such actor", key: "risk:NOPE" });
    const noKey = await fetch(`${base}/viz/actor`);
    expect(noKey.status).toBe(400);
    // The supervisor answers once seen; the timeline lists every actor's records, newest first.
    expect((await fetch(`${base}/viz/actor?key=supervisor`)).status).toBe(404);
    reg.inspect({
      type: "@xstate.snapshot",
      rootId: "root",
      actorRef: { id: "supervisor", sessionId: "root" },
      event: { type: "xstate.init" },
      snapshot: {
        value: "running",
        status: "active",
        context: { restartTotal: 0, symbols: ["BTCUSDT"], now: Date.now },
      },
    } as unknown as InspectionEvent);
    const sup = (await (await fetch(`${base}/viz/actor?key=supervisor`)).json()) as {
      kind: string;
      summary: { state: string };
      context: Record<string, unknown>;
    };
    expect(sup).toMatchObject({
      kind: "system",
      summary: { key: "supervisor", machine: "supervisor", state: "running" },
    });
    expect(sup.context).toEqual({ restartTotal: 0, symbols: ["BTCUSDT"], now: "[function now]" });
    const timeline = (await (await fetch(`${base}/viz/timeline`)).json()) as {
      timeline: Array<{ key: string; seq: number }>;
    };
    expect(timeline.timeline.map((t) => t.key)).toEqual(["supervisor", "risk:BTCUSDT"]);
    expect(all).toMatchObject({ actors: [{ key: "risk:BTCUSDT" }] });
  });

  it("/viz/events: init with every row, then deltas of the changed rows only", async () => {
    const reg = new VizRegistry();
    reg.inspect(snap("marketstate:BTCUSDT", "idle"));
    reg.inspect(snap("risk:BTCUSDT", "idle"));
    await serve(reg, 30);
    const res = await open(server!.port, "/viz/events");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    const sse = sseReader(res);
    const init = (await sse.next("init")).data as {
      actors: Array<{ key: string }>;
      supervisor: unknown;
      system: Array<{ key: string }>;
      timeline: Array<{ seq: number; key: string; to: string }>;
      intervalMs: number;
    };
    expect(init.actors.map((a) => a.key)).toEqual(["marketstate:BTCUSDT", "risk:BTCUSDT"]);
    expect(init.system.map((a) => a.key)).toEqual(["supervisor"]);
    expect(init.timeline.map((t) => [t.seq, t.key, t.to])).toEqual([
      [1, "marketstate:BTCUSDT", "idle"],
      [2, "risk:BTCUSDT", "idle"],
    ]);
    expect(init.intervalMs).toBe(30);
    reg.inspect(snap("risk:BTCUSDT", "reading"));
    reg.inspect(snap("risk:BTCUSDT", "computing"));
    const delta = (await sse.next("delta")).data as {
      actors: Array<{ key: string; state: string }>;
      timeline: Array<{ seq: number; from: string; to: string }>;
    };
    expect(delta.actors).toEqual([
      expect.objectContaining({ key: "risk:BTCUSDT", state: "computing" }),
    ]);
    // Only the records since the last message.
    expect(delta.timeline.map((t) => [t.seq, t.from, t.to])).toEqual([
      [3, "idle", "reading"],
      [4, "reading", "computing"],
    ]);
    res.destroy();
  });
});

/** A stand-in for a response: records writes; `writableLength` is settable to simulate a slow client. */
class FakeResponse extends EventEmitter {
  chunks: string[] = [];
  writableLength = 0;
  destroyed = false;
  ended = false;
  writeHead(): this {
    return this;
  }
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  deltas(): Array<{ actors: Array<{ key: string; state: string }>; supervisor?: unknown }> {
    return this.chunks
      .filter((c) => c.startsWith("event: delta"))
      .map((c) => JSON.parse(c.split("\n")[1].slice("data: ".length)));
  }
}

function attach(stream: VizStream): FakeResponse {
  const res = new FakeResponse();
  stream.attach(new EventEmitter() as unknown as IncomingMessage, res as unknown as ServerResponse);
  return res;
}

describe("VizStream throttling", () => {
  it("1,000 symbols × 3 phases changing many times between flushes: one delta, one row per actor, latest state", () => {
    const reg = new VizRegistry();
    const stream = new VizStream(reg, { intervalMs: 60_000 });
    const res = attach(stream);
    const phases = ["marketstate", "risk", "harvest"];
    for (const state of ["reading", "computing", "deciding", "publishing", "idle"]) {
      for (let s = 0; s < 1000; s++)
        for (const p of phases) reg.inspect(snap(`${p}:SYM${s}`, state));
    }
    stream.flush();
    const deltas = res.deltas();
    expect(deltas).toHaveLength(1);
    expect(deltas[0].actors).toHaveLength(3000);
    expect(new Set(deltas[0].actors.map((a) => a.state))).toEqual(new Set(["idle"]));
    stream.flush();
    expect(res.deltas()).toHaveLength(1); // nothing changed, nothing sent
    stream.close();
  });

  it("sends a keep-alive comment when quiet, cuts a client that cannot keep up, stops listening when alone", () => {
    const reg = new VizRegistry();
    const stream = new VizStream(reg, {
      intervalMs: 1000,
      keepAliveMs: 3000,
      maxBufferedBytes: 1000,
    });
    const slow = attach(stream);
    const fine = attach(stream);
    expect(stream.clientCount).toBe(2);
    for (let i = 0; i < 3; i++) stream.flush();
    expect(fine.chunks.filter((c) => c.startsWith(":"))).toHaveLength(1);
    slow.writableLength = 5000;
    reg.inspect(snap("risk:A", "idle"));
    stream.flush();
    expect(slow.destroyed).toBe(true);
    expect(fine.deltas()).toHaveLength(1);
    expect(stream.clientCount).toBe(1);
    fine.emit("close");
    expect(stream.clientCount).toBe(0);
    // Nobody is listening: changes are not collected.
    reg.inspect(snap("risk:B", "idle"));
    const late = attach(stream);
    stream.flush();
    expect(late.deltas()).toHaveLength(0);
    expect(late.chunks[0]).toContain("event: init");
    stream.close();
    expect(late.ended).toBe(true);
  });
});
