// /healthz and /health from the moment the process starts (issue 21): `run` binds its HTTP port
// before the service's start-up (the wait for Redis, the lease's first attempt, the first policy
// read), so a health check or a scrape during a slow start gets an answer — 503 `starting`,
// naming what start-up waits for — instead of "connection refused", which reads like a dead
// process. Once the service is up, the same routes answer with its HealthChecker (health.ts).
import { startingReport, type HealthChecker } from "./health.js";
import { sendJson, type Route } from "./server.js";

export interface StartupHealth {
  /** /healthz and /health. */
  routes: Route[];
  /** What start-up waits for now (ServiceOptions.onStartup). */
  waitingFor(what: string): void;
  /** The service has started: its checker answers from now on. */
  started(checker: HealthChecker): void;
}

export function startupHealth(options: { now: () => number; startedAtMs: number }): StartupHealth {
  let checker: HealthChecker | null = null;
  let waiting = "starting";
  const route = (path: string): Route => ({
    method: "GET",
    path,
    async handler(_req, res) {
      if (checker === null) {
        sendJson(
          res,
          503,
          startingReport(waiting, Math.round((options.now() - options.startedAtMs) / 1000)),
        );
        return;
      }
      const report = await checker.check();
      sendJson(res, report.status === "ok" ? 200 : 503, report);
    },
  });
  return {
    // /health: the retired harvest exporter's path (operatorRoutes.ts).
    routes: [route("/healthz"), route("/health")],
    waitingFor(what) {
      waiting = what;
    },
    started(next) {
      checker = next;
    },
  };
}
