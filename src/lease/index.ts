// The single-writer lease as the rest of the service sees it (README "Code map", CONTRACT.md):
// one interface, ServiceLease (serviceLease.ts) — taken at start-up, followed by the supervisor,
// released and closed at shutdown, or absent ("no-lease") behind the same interface — its role
// and write problems, and the holder's name. The pieces behind it — the lease manager (lease.ts), the fenced publishes
// (fencedStore.ts), their writer connection (writerConnection.ts) and what Redis answered to
// each write (writeHealth.ts) — are imported directly only by this folder and its tests.
export {
  createServiceLease,
  LeaseHeldError,
  noLeaseRole,
  whyNoLease,
  type LeaseFollower,
  type RoleDescription,
  type ServiceLease,
  type ServiceRole,
  type WriteProblem,
} from "./serviceLease.js";
export { formatHolder, type LeaseManager, type LeaseState } from "./lease.js";
export type { WriterConnection } from "./writerConnection.js";
