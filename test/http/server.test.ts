import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import {
  sendJson,
  sendText,
  startHttpServer,
  type HttpServerHandle,
  type Route,
} from "../../src/http/server.js";

const logger = pino({ level: "silent" });

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function call(port: number, path: string, method = "GET"): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

let server: HttpServerHandle | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

const routes: Route[] = [
  {
    method: "GET",
    path: "/hello",
    handler: (_req, res, url) => sendText(res, 200, `hi ${url.searchParams.get("name") ?? ""}`),
  },
  { method: "GET", path: "/json", handler: (_req, res) => sendJson(res, 201, { a: 1 }) },
  {
    method: "GET",
    path: "/throws",
    handler: () => {
      throw new Error("boom");
    },
  },
  { method: "GET", path: "/rejects", handler: async () => Promise.reject(new Error("async boom")) },
  {
    method: "GET",
    path: "/partial",
    handler: (_req, res) => {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.write("half");
      throw new Error("after headers");
    },
  },
  {
    method: "GET",
    path: "/stream",
    handler: (_req, res) => {
      // Never ends: close() must still return.
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      res.write("data: 1\n\n");
    },
  },
];

describe("startHttpServer", () => {
  it("routes by exact path and passes the parsed URL (query included)", async () => {
    server = await startHttpServer({ host: "127.0.0.1", port: 0, routes, logger });
    expect(server.port).toBeGreaterThan(0);
    const r = await call(server.port, "/hello?name=ops");
    expect(r.status).toBe(200);
    expect(r.body).toBe("hi ops");
    const j = await call(server.port, "/json");
    expect(j.status).toBe(201);
    expect(j.headers["content-type"]).toMatch(/^application\/json/);
    expect(JSON.parse(j.body)).toEqual({ a: 1 });
  });

  it("answers 404 for unknown paths and 405 (with Allow) for other methods", async () => {
    server = await startHttpServer({ host: "127.0.0.1", port: 0, routes, logger });
    const nf = await call(server.port, "/nope");
    expect(nf.status).toBe(404);
    expect(JSON.parse(nf.body)).toMatchObject({ error: "not found", path: "/nope" });
    expect((await call(server.port, "/hello/")).status).toBe(404);
    const na = await call(server.port, "/hello", "POST");
    expect(na.status).toBe(405);
    expect(na.headers.allow).toBe("GET");
    expect((await call(server.port, "/nope", "DELETE")).status).toBe(404);
  });

  it("turns a throwing or rejecting handler into a 500 and keeps serving", async () => {
    const lines: string[] = [];
    const captured = pino({ level: "error" }, { write: (l: string) => lines.push(l) });
    server = await startHttpServer({ host: "127.0.0.1", port: 0, routes, logger: captured });
    const t = await call(server.port, "/throws");
    expect(t.status).toBe(500);
    expect(JSON.parse(t.body)).toEqual({ error: "internal error" });
    expect((await call(server.port, "/rejects")).status).toBe(500);
    // Headers already sent: the connection is cut instead (the client sees an error or a short body).
    await call(server.port, "/partial").then(
      (r) => expect(r.body).toBe("half"),
      (err: Error) => expect(err.message).toMatch(/socket hang up|aborted|ECONNRESET/),
    );
    expect((await call(server.port, "/hello")).status).toBe(200);
    expect(lines.join("")).toContain("http handler failed");
    expect(lines.join("")).toContain("boom");
  });

  it("close() ends open streaming responses and frees the port", async () => {
    server = await startHttpServer({ host: "127.0.0.1", port: 0, routes, logger });
    const port = server.port;
    const streaming = new Promise<void>((resolve) => {
      const req = request({ host: "127.0.0.1", port, path: "/stream", agent: false }, (res) => {
        res.once("data", () => resolve());
        res.on("error", () => undefined);
      });
      req.on("error", () => undefined);
      req.end();
    });
    await streaming;
    await server.close();
    await server.close(); // idempotent
    server = null;
    await expect(call(port, "/hello")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("rejects duplicate paths and a port already in use", async () => {
    await expect(
      startHttpServer({ host: "127.0.0.1", port: 0, routes: [routes[0], routes[0]], logger }),
    ).rejects.toThrow(/duplicate route/);
    server = await startHttpServer({ host: "127.0.0.1", port: 0, routes, logger });
    await expect(
      startHttpServer({ host: "127.0.0.1", port: server.port, routes, logger }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
