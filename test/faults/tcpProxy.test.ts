// The fault proxy itself, against a loopback echo server: each mode does what the fault tests
// rely on.
import { createServer, connect, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasCommand, startTcpProxy, type ProxyEvent } from "../helpers/tcpProxy.js";
import { until } from "../helpers/serviceHarness.js";

let echo: Server;
let echoPort: number;

beforeAll(async () => {
  echo = createServer((socket) => socket.on("data", (d) => socket.write(d)));
  await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", () => resolve()));
  echoPort = (echo.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

async function client(port: number): Promise<{ socket: Socket; received: () => string }> {
  const socket = connect(port, "127.0.0.1");
  let text = "";
  socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
  socket.on("error", () => undefined);
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  return { socket, received: () => text };
}

describe("tcp proxy", () => {
  it("forward, then blackhole (nothing passes), then forward again", async () => {
    const proxy = await startTcpProxy(echoPort);
    const c = await client(proxy.port);
    c.socket.write("one");
    await until("the echo", () => c.received() === "one");
    proxy.setMode({ kind: "blackhole" });
    const events: ProxyEvent[] = [];
    proxy.onChunk((e) => events.push(e));
    c.socket.write("two");
    await until("the chunk to be swallowed", () => events.some((e) => e.action === "blackholed"));
    proxy.setMode({ kind: "forward" });
    c.socket.write("three");
    await until("the echo after blackhole", () => c.received() === "onethree");
    expect(proxy.open).toBe(1);
    c.socket.destroy();
    await proxy.close();
  });

  it("dropReplies after a matching request: the request passes, every later reply is swallowed; once per proxy", async () => {
    const proxy = await startTcpProxy(echoPort, {
      kind: "dropReplies",
      request: (t) => hasCommand(t, "EXEC"),
    });
    const events: ProxyEvent[] = [];
    proxy.onChunk((e) => events.push(e));
    const a = await client(proxy.port);
    a.socket.write("*1\r\n$4\r\nPING\r\n");
    await until("the first reply", () => a.received().includes("PING"));
    a.socket.write("*1\r\n$4\r\nEXEC\r\n");
    await until("the EXEC reply to be swallowed", () =>
      events.some((e) => e.action === "swallowed"),
    );
    expect(a.received()).not.toContain("EXEC");
    // a second connection is not affected (once)
    const b = await client(proxy.port);
    b.socket.write("*1\r\n$4\r\nEXEC\r\n");
    await until("the second connection to get its reply", () => b.received().includes("EXEC"));
    a.socket.destroy();
    b.socket.destroy();
    await proxy.close();
  });

  it("dropReplies after N reply bytes: exactly N bytes pass", async () => {
    const proxy = await startTcpProxy(echoPort, { kind: "dropReplies", afterBytes: 5 });
    const c = await client(proxy.port);
    c.socket.write("abc");
    await until("3 bytes", () => c.received() === "abc");
    c.socket.write("defgh");
    await until("2 more bytes", () => c.received() === "abcde");
    c.socket.write("ijk");
    const events: ProxyEvent[] = [];
    proxy.onChunk((e) => events.push(e));
    await until("the rest to be swallowed", () => events.some((e) => e.action === "swallowed"));
    expect(c.received()).toBe("abcde");
    c.socket.destroy();
    await proxy.close();
  });

  it("delay keeps order, and held bytes are discarded when the connection closes first", async () => {
    const proxy = await startTcpProxy(echoPort, {
      kind: "delay",
      ms: 150,
      of: "requests",
      when: (t) => t === "slow",
    });
    const events: ProxyEvent[] = [];
    proxy.onChunk((e) => events.push(e));
    const c = await client(proxy.port);
    c.socket.write("slow");
    await until("the slow chunk to be held", () => events.some((e) => e.action === "delayed"));
    c.socket.write("fast"); // queued behind the held chunk
    await until("both, in order", () => c.received() === "slowfast");
    const d = await client(proxy.port);
    d.socket.write("slow");
    await until("held", () => events.filter((e) => e.action === "delayed").length >= 3);
    d.socket.destroy();
    await until("discarded", () => events.some((e) => e.action === "discarded"));
    c.socket.destroy();
    await proxy.close();
  });
});
