// A small HTTP server with a fixed route list (node:http only). It serves the operator endpoints
// (/metrics, /healthz) and whatever other parts mount on it (the live visualizer). Routing is an
// exact path match on the URL's pathname; anything unknown is 404, a known path with another
// method is 405, and a handler that throws or rejects gets a 500 — the process keeps running.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Logger } from "../log.js";

export interface Route {
  method: "GET";
  path: string;
  handler(req: IncomingMessage, res: ServerResponse, url: URL): void | Promise<void>;
}

export interface HttpServerOptions {
  host: string;
  /** 0 = pick a free port (tests); the bound port is returned. */
  port: number;
  routes: Route[];
  logger: Logger;
}

export interface HttpServerHandle {
  /** The port actually bound (differs from options.port when that was 0). */
  port: number;
  /** Stop accepting, end idle and in-flight connections, resolve when the socket is closed. */
  close(): Promise<void>;
}

/** Send a complete response with a body; sets Content-Length so keep-alive clients can reuse the socket. */
export function sendText(
  res: ServerResponse,
  status: number,
  body: string,
  contentType = "text/plain; charset=utf-8",
): void {
  res.writeHead(status, {
    "Content-Type": contentType,
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
  });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendText(res, status, `${JSON.stringify(value)}\n`, "application/json; charset=utf-8");
}

export function startHttpServer(options: HttpServerOptions): Promise<HttpServerHandle> {
  const { logger } = options;
  const byPath = new Map<string, Route>();
  for (const route of options.routes) {
    // Two routes on one path would make one of them silently unreachable: refuse at start.
    if (byPath.has(route.path))
      return Promise.reject(
        new Error(`http: duplicate route for path ${JSON.stringify(route.path)}`),
      );
    byPath.set(route.path, route);
  }

  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    void dispatch(req, res);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      // The Host header is client-controlled; only the path and query matter here.
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      sendJson(res, 400, { error: "bad request URL" });
      return;
    }
    const route = byPath.get(url.pathname);
    if (!route) {
      sendJson(res, 404, { error: "not found", path: url.pathname });
      return;
    }
    // HEAD is not offered: routes are GET only (streaming routes could not answer HEAD honestly).
    if (req.method !== route.method) {
      res.setHeader("Allow", route.method);
      sendJson(res, 405, {
        error: "method not allowed",
        method: req.method ?? null,
        allow: route.method,
      });
      return;
    }
    try {
      await route.handler(req, res, url);
    } catch (err) {
      logger.error({ err, path: url.pathname }, "http handler failed");
      if (!res.headersSent) {
        sendJson(res, 500, { error: "internal error" });
      } else {
        // Part of a response already went out: the only honest signal left is cutting the socket.
        res.destroy();
      }
    }
  }

  return new Promise((resolve, reject) => {
    const onStartError = (err: Error): void => reject(err);
    server.once("error", onStartError);
    server.listen(options.port, options.host, () => {
      server.off("error", onStartError);
      server.on("error", (err) => logger.error({ err }, "http server error"));
      const bound = (server.address() as AddressInfo).port;
      logger.info(
        { host: options.host, port: bound, routes: [...byPath.keys()] },
        "http server listening",
      );
      let closing: Promise<void> | null = null;
      resolve({
        port: bound,
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            // Long-lived responses (event streams) and idle keep-alive sockets would hold
            // close() open forever: end them.
            for (const socket of sockets) socket.destroy();
          });
          return closing;
        },
      });
    });
  });
}
