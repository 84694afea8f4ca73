// Readiness as a resource: the supervisor is woken when a connection is ready again after an
// outage (issue 10: each actor retries at once instead of at its next backoff), and systemd hears
// READY=1 once the publishers' store is first ready, then WATCHDOG=1 pings from the event loop
// and a STATUS= line that follows the role (src/systemd/notify.ts). Never with --once.
import type { SupervisorActor } from "../../machines/supervisor.js";
import type { Logger } from "../log.js";
import type { Store } from "../store/types.js";
import { createSystemdNotifier, type SystemdNotifier } from "../systemd/notify.js";
import { followReadiness, type KlinesConnection } from "./connections.js";
import type { ServiceResources } from "./resources.js";

export interface Readiness {
  /** systemd's STATUS= line changed (the role did). */
  statusChanged(): void;
}

export function startReadiness(
  parts: {
    logger: Logger;
    once: boolean;
    /** ServiceOptions.systemd: undefined → from the environment, null → none. */
    systemd: SystemdNotifier | null | undefined;
    store: Store;
    klines: KlinesConnection | null;
    actor: SupervisorActor;
    /** What systemd's STATUS= line says now. */
    status: () => string;
  },
  resources: ServiceResources,
): Readiness {
  const { actor } = parts;
  const notifier = parts.once
    ? null
    : parts.systemd === undefined
      ? createSystemdNotifier({ logger: parts.logger })
      : parts.systemd;
  const wakeOnReady = (connection: "main" | "klines") => (): void => {
    if (actor.getSnapshot().status === "active") actor.send({ type: "STORE.READY", connection });
  };
  const stops = [
    followReadiness(parts.store, wakeOnReady("main"), () => notifier?.ready(parts.status())),
    ...(parts.klines?.own === true
      ? [followReadiness(parts.klines.store, wakeOnReady("klines"))]
      : []),
  ];
  notifier?.startWatchdog();
  resources.addCleanup(() => {
    for (const stop of stops) stop();
    notifier?.close();
  });
  return { statusChanged: () => notifier?.status(parts.status()) };
}
