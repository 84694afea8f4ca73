// The position as risk and harvest see it: the snapshot from the configured source, with the
// position memory (docs/specification.md §4.2) folded in, and the memory's write riding in the cycle's own batch.
import type { TrackedPosition } from "../inputs/positionMemory.js";
import type { FetchedPosition, PositionSnapshot } from "../inputs/positions.js";
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
  return (await trackPosition(deps, symbol, nowMs, null)).tracked;
}

/**
 * readTrackedPosition, judging `handed` (the snapshot the chain's risk fetched,
 * src/inputs/handoff.ts) at `nowMs` instead of reading it again: the book sees the same
 * observation a read of the same data would give it. Also answers with what was fetched (null
 * when the source cannot fetch apart from judging), for the chain's next phase.
 */
export async function trackPosition(
  deps: PhaseDeps,
  symbol: string,
  nowMs: number,
  handed: FetchedPosition | null,
): Promise<{ tracked: Read<TrackedPosition>; fetched: FetchedPosition | null }> {
  let fetched = handed;
  if (fetched === null && deps.positions.fetch !== undefined)
    fetched = await deps.positions.fetch(symbol);
  const snapshot: Read<PositionSnapshot> =
    fetched !== null ? fetched.at(nowMs) : await deps.positions.read(symbol, nowMs);
  if (!snapshot.ok) {
    if (snapshot.reason === "no_position") await deps.book.flat(symbol);
    return { tracked: snapshot, fetched };
  }
  return { tracked: await deps.book.observe(snapshot.value, nowMs), fetched };
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
