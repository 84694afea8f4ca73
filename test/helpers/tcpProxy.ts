// A loopback TCP proxy between the service and a test redis-server, for faults a real server
// cannot be asked to produce: a server that accepts and never answers, a reply lost after the
// server ran the command, replies or requests that arrive late. Listens on 127.0.0.1 only and
// connects only to 127.0.0.1.
//
// The mode is read when each chunk arrives, so a test can switch it mid-run. What a mode does to
// a connection that already exists:
//   forward      bytes pass both ways;
//   blackhole    nothing passes either way (the connection stays open, silent);
//   dropReplies  once the trigger fires on a connection (a request chunk matching `request`, or
//                `afterBytes` reply bytes passed), every later reply on that connection is
//                swallowed — requests still reach the server, so it runs them;
//   delay        chunks in the chosen direction(s) are held `ms` (order is kept).
// When either side closes, the other is destroyed and bytes still held are discarded, as a
// real network path that breaks would.
import { createServer, connect, type Server, type Socket } from "node:net";

export type ProxyDirection = "requests" | "replies";

export type ProxyMode =
  | { kind: "forward" }
  | { kind: "blackhole" }
  | {
      kind: "dropReplies";
      /** Start swallowing replies after a request chunk for which this returns true. */
      request?: (chunk: string) => boolean;
      /** …or after this many reply bytes passed on the connection. */
      afterBytes?: number;
      /** Fire on one connection only; later connections forward normally. Default true. */
      once?: boolean;
    }
  | {
      kind: "delay";
      ms: number;
      /** Which direction(s) to hold. Default both. */
      of?: ProxyDirection | "both";
      /** Hold only chunks for which this returns true (a held chunk also holds those after it). */
      when?: (chunk: string) => boolean;
    };

export interface ProxyEvent {
  connection: number;
  direction: ProxyDirection;
  /** The chunk as latin1 text (RESP is ASCII apart from values). */
  text: string;
  /**
   * What the proxy did with it. A delayed chunk is reported again when its time comes:
   * 'released' (written on) or 'discarded' (the connection had closed meanwhile).
   */
  action: "forwarded" | "swallowed" | "delayed" | "released" | "discarded" | "blackholed";
}

export interface TcpProxy {
  readonly port: number;
  /** redis://127.0.0.1:<proxy port>, with optional userinfo ("user:pw@"). */
  url(userinfo?: string): string;
  setMode(mode: ProxyMode): void;
  /** Called for every chunk, after the mode decided what to do with it. Must not throw. */
  onChunk(listener: (event: ProxyEvent) => void): () => void;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /** Destroys every open connection (both sides); the listener stays. */
  dropConnections(): void;
  close(): Promise<void>;
}

/** True when the RESP text holds the command `name` (case-insensitive), e.g. hasCommand(t, 'EXEC'). */
export function hasCommand(text: string, name: string): boolean {
  return new RegExp(`\\$${name.length}\\r\\n${name}\\r\\n`, "i").test(text);
}

export async function startTcpProxy(
  targetPort: number,
  initial: ProxyMode = { kind: "forward" },
): Promise<TcpProxy> {
  let mode: ProxyMode = initial;
  let dropFired = false;
  let accepted = 0;
  const listeners = new Set<(event: ProxyEvent) => void>();
  const sockets = new Set<Socket>();

  const notify = (event: ProxyEvent): void => {
    for (const listener of listeners) listener(event);
  };

  const server: Server = createServer((client) => {
    const id = ++accepted;
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    let swallowing = false;
    let replyBytes = 0;
    let closed = false;
    // Per-direction promise chains keep delayed chunks in order behind each other.
    const chains: Record<ProxyDirection, Promise<void>> = {
      requests: Promise.resolve(),
      replies: Promise.resolve(),
    };
    const held: Record<ProxyDirection, boolean> = { requests: false, replies: false };

    const teardown = (): void => {
      if (closed) return;
      closed = true;
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", teardown);
    upstream.on("error", teardown);
    client.on("close", teardown);
    upstream.on("close", teardown);

    const pass = (direction: ProxyDirection, chunk: Buffer): void => {
      const text = chunk.toString("latin1");
      const to = direction === "requests" ? upstream : client;
      const current = mode;
      if (current.kind === "blackhole") {
        notify({ connection: id, direction, text, action: "blackholed" });
        return;
      }
      if (current.kind === "dropReplies") {
        if (
          direction === "requests" &&
          !swallowing &&
          current.request?.(text) &&
          !(current.once !== false && dropFired)
        ) {
          swallowing = true;
          dropFired = true;
        }
        if (direction === "replies") {
          if (
            !swallowing &&
            current.afterBytes !== undefined &&
            !(current.once !== false && dropFired)
          ) {
            const room = current.afterBytes - replyBytes;
            if (room <= 0) {
              swallowing = true;
              dropFired = true;
            } else if (chunk.length > room) {
              // Let exactly `afterBytes` through, swallow the rest.
              replyBytes += room;
              swallowing = true;
              dropFired = true;
              if (!closed) to.write(chunk.subarray(0, room));
              notify({ connection: id, direction, text, action: "swallowed" });
              return;
            }
          }
          if (swallowing) {
            notify({ connection: id, direction, text, action: "swallowed" });
            return;
          }
          replyBytes += chunk.length;
        }
      }
      const delayed =
        current.kind === "delay" &&
        (current.of === undefined || current.of === "both" || current.of === direction) &&
        (current.when === undefined || current.when(text));
      if (delayed || held[direction]) {
        const ms = current.kind === "delay" ? current.ms : 0;
        held[direction] = true;
        notify({ connection: id, direction, text, action: "delayed" });
        chains[direction] = chains[direction].then(
          () =>
            new Promise<void>((resolve) => {
              setTimeout(
                () => {
                  if (!closed) to.write(chunk);
                  notify({
                    connection: id,
                    direction,
                    text,
                    action: closed ? "discarded" : "released",
                  });
                  resolve();
                },
                delayed ? ms : 0,
              );
            }),
        );
        // Once the chain drains, later chunks pass straight through again.
        const tail = chains[direction];
        void tail.then(() => {
          if (chains[direction] === tail) held[direction] = false;
        });
        return;
      }
      if (!closed) to.write(chunk);
      notify({ connection: id, direction, text, action: "forwarded" });
    };

    client.on("data", (chunk: Buffer) => pass("requests", chunk));
    upstream.on("data", (chunk: Buffer) => pass("replies", chunk));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("tcp proxy: no port");
  const port = address.port;

  return {
    port,
    url: (userinfo) => `redis://${userinfo ?? ""}127.0.0.1:${port}`,
    setMode: (next) => {
      mode = next;
      dropFired = false;
    },
    onChunk: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return sockets.size / 2;
    },
    dropConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
