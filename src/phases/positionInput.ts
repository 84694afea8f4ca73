// The position as risk and harvest see it: the snapshot from the configured source, with the
// position memory (docs/specification.md §4.2) folded in, and the memory's write riding in the cycle's own batch.
import type { TrackedPosition } from "../inputs/positionMemory.js";
import type { Read } from "../inputs/types.js";
import type { PublishBatch, Store } from "../store/types.js";
import type { PhaseDeps } from "./steps.js";

/**
 * Reads and tracks the position of `symbol`. No position (closed, FLAT, no hash) forgets the
 * memory, so a position opened later starts afresh; a stale or broken snapshot keeps it.
 */
export async function readTrackedPosition(
  deps: PhaseDeps,
  symbol: string,
  nowMs: number,
): Promise<Read<TrackedPosition>> {
  const snapshot = await deps.positions.read(symbol, nowMs);
  if (!snapshot.ok) {
    if (snapshot.reason === "no_position") await deps.book.flat(symbol);
    return snapshot;
  }
  return deps.book.observe(snapshot.value, nowMs);
}

/**
 * Publishes `batch` with the symbol's pending position-memory write added, and marks the memory
 * written once the batch landed. Both risk and harvest call it; the memory is one shared copy, so
 * whichever writes first writes the newest state and the other finds nothing pending.
 */
export async function publishWithMemory(
  deps: Pick<PhaseDeps, "book"> & { store: Store },
  symbol: string,
  nowMs: number,
  batch: PublishBatch,
): Promise<void> {
  const pending = deps.book.pendingWrite(symbol, nowMs);
  await deps.store.publish(
    pending === null ? batch : { ...batch, hashes: [...batch.hashes, pending.write] },
  );
  pending?.commit();
}
