// A MONITOR connection that never surfaces ioredis' "Command queue state error".
//
// ioredis' client.monitor() switches its new connection to monitoring one microtask after
// MONITOR's OK, so lines that arrive in the same socket read as the OK are taken for replies to
// no command and emitted as 'error' — while client.monitor() has attached only a once('error')
// listener until it resolves: a second such error had no listener and surfaced as an unhandled
// error failing whichever test ran (seen under load). Here the listener is on the connection
// before it sends MONITOR. The few lines of that first read are lost, not thrown: tests assert on
// what they record after start (with an ECHO marker to know they have caught up).
import type { Redis } from "ioredis";

export async function monitorOf(client: Redis): Promise<Redis> {
  const monitor = client.duplicate({ monitor: true, lazyConnect: false });
  monitor.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    monitor.once("monitoring", () => resolve());
    monitor.once("end", () => reject(new Error("the MONITOR connection ended before monitoring")));
  });
  return monitor;
}
