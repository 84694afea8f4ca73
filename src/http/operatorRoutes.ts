// The operator endpoints of a running service: GET /metrics (Prometheus text) and GET /healthz
// (200/503 + JSON). Other parts (the visualizer) add their own routes next to these.
import type { ServiceHandle } from "../service/service.js";
import type { ServiceMetrics } from "../metrics/serviceMetrics.js";
import { createHealthChecker, createStoreProbe, type HealthChecker } from "./health.js";
import { sendJson, sendText, type Route } from "./server.js";

export function metricsRoute(metrics: ServiceMetrics): Route {
  return {
    method: "GET",
    path: "/metrics",
    async handler(_req, res) {
      const { contentType, body } = await metrics.render();
      sendText(res, 200, body, contentType);
    },
  };
}

export function healthRoute(health: HealthChecker, path = "/healthz"): Route {
  return {
    method: "GET",
    path,
    async handler(_req, res) {
      const report = await health.check();
      sendJson(res, report.status === "ok" ? 200 : 503, report);
    },
  };
}

/**
 * /metrics and /healthz for a started service. The store PING behind /healthz is shared with the
 * `quantum_calc_redis_up` gauge, so a scrape and a health poll never cost two PINGs a second.
 */
export function operatorRoutes(deps: {
  handle: ServiceHandle;
  metrics: ServiceMetrics;
  now: () => number;
}): {
  routes: Route[];
  health: HealthChecker;
} {
  const probe = createStoreProbe(deps.handle.store);
  deps.metrics.setRedisProbe(async () => (await probe.check()).up);
  deps.metrics.setPolicyProbe(() => deps.handle.policy.describe(deps.now()));
  deps.metrics.setRoleProbe(() => deps.handle.role());
  const health = createHealthChecker({
    supervisor: deps.handle.actor,
    storeKind: deps.handle.store.kind,
    probe,
    startedAtMs: deps.now(),
    now: deps.now,
    role: () => deps.handle.role(),
  });
  // /health: the retired harvest exporter's path, so its checks keep working against our port.
  return {
    routes: [metricsRoute(deps.metrics), healthRoute(health), healthRoute(health, "/health")],
    health,
  };
}
