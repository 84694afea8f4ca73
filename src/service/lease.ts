// The single-writer lease as a resource of the service (src/lease/serviceLease.ts is the lease
// itself, behind one interface): which one the service uses — none in shadow mode, on the memory
// store, with `lease: false`, or on a given store without a writer connection — its first attempt
// at start-up, and its two close() steps: "lease" (released right after the drain, so a standby
// takes over at once) and "writer" (its connection, closed after the store).
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import {
  createServiceLease,
  whyNoLease,
  type ServiceLease,
  type WriterConnection,
} from "../lease/index.js";
import type { Store } from "../store/types.js";
import type { ServiceResources } from "./resources.js";
import type { Startup } from "./startup.js";

export async function startLease(
  parts: {
    config: Config;
    logger: Logger;
    once: boolean;
    /** The store behind the fence. */
    inner: Store;
    /** ServiceOptions.store was given (tests, the demo). */
    storeGiven: boolean;
    writer: WriterConnection | undefined;
    shadow: boolean;
  },
  startup: Startup,
  resources: ServiceResources,
): Promise<ServiceLease> {
  const { config, once } = parts;
  const noLease =
    whyNoLease(config, parts.inner.kind, parts.shadow) ??
    (parts.storeGiven && parts.writer === undefined
      ? "the store was given without a writer connection"
      : null);
  const lease = createServiceLease({
    config,
    logger: parts.logger,
    inner: parts.inner,
    noLease,
    once,
    ...(parts.writer !== undefined ? { writer: parts.writer } : {}),
  });
  if (lease.lease === null) return lease;
  // --once takes it for its pass or ends here naming the holder; the service starts as leader
  // or standby and follows the lease.
  startup.step(`taking the single-writer lease ${config.leaseKey} (first attempt)`);
  await lease.take(
    (work) => startup.wait(work),
    () => startup.aborted,
  );
  resources.add("lease", { close: () => lease.release() });
  resources.add("writer", { close: () => lease.close() });
  resources.addCleanup(() => lease.stopLog());
  return lease;
}
