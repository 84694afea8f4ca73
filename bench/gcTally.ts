// What the collector did over a stretch of a benchmark (a burst): how much was allocated, how much
// of it the scavenges promoted to the old generation, the collections and their pauses — read from
// V8's GCProfiler (the heap's figures before and after every collection), in the process itself.
//
// Why the benchmarks print it: on the shared 2-core VM the CPU time of the same run varies by
// ±20 % from one process to the next, while the bytes allocated and promoted a burst vary by a
// few per cent. A scavenge costs in proportion to what survives it, and every megabyte allocated
// during the burst brings the next scavenge closer, so whatever the service has in flight is
// copied and promoted more: the flight recorder's cost showed here (+3.5 MB promoted a burst)
// long before CPU times could tell it from noise (docs/performance.md, "Flight recorder cost").
import { GCProfiler, getHeapStatistics } from "node:v8";

export interface GcTally {
  /** Bytes allocated in the JS heap (what every collection found used, less what the last left). */
  allocatedBytes: number;
  /** Bytes the scavenges moved into the old generation (its growth across each scavenge). */
  promotedBytes: number;
  scavenges: number;
  /** Mark-compact (full) collections, incremental or not. */
  fullCollections: number;
  /** The collections' main-thread pauses (their helper threads' work is not in it). */
  pauseMs: number;
}

interface HeapFigures {
  heapStatistics: { usedHeapSize: number };
  heapSpaceStatistics: Array<{ spaceName: string; spaceUsedSize: number }>;
}

interface GcStatistic {
  gcType: string;
  /** µs */
  cost: number;
  beforeGC: HeapFigures;
  afterGC: HeapFigures;
}

/** The old generation's used bytes (regular and large objects). */
function oldBytes(figures: HeapFigures): number {
  let used = 0;
  for (const space of figures.heapSpaceStatistics)
    if (space.spaceName === "old_space" || space.spaceName === "large_object_space")
      used += space.spaceUsedSize;
  return used;
}

/** Starts counting; stop() ends it and returns the tally. One at a time per process. */
export function startGcTally(): { stop(): GcTally } {
  const profiler = new GCProfiler();
  const usedAtStart = getHeapStatistics().used_heap_size;
  profiler.start();
  return {
    stop(): GcTally {
      const usedAtEnd = getHeapStatistics().used_heap_size;
      const statistics = (profiler.stop()?.statistics ?? []) as GcStatistic[];
      const tally: GcTally = {
        allocatedBytes: 0,
        promotedBytes: 0,
        scavenges: 0,
        fullCollections: 0,
        pauseMs: 0,
      };
      let usedAfterLast = usedAtStart;
      for (const gc of statistics) {
        tally.allocatedBytes += gc.beforeGC.heapStatistics.usedHeapSize - usedAfterLast;
        usedAfterLast = gc.afterGC.heapStatistics.usedHeapSize;
        tally.pauseMs += gc.cost / 1000;
        if (gc.gcType === "Scavenge") {
          tally.scavenges++;
          tally.promotedBytes += Math.max(0, oldBytes(gc.afterGC) - oldBytes(gc.beforeGC));
        } else if (gc.gcType === "MarkSweepCompact") tally.fullCollections++;
      }
      tally.allocatedBytes += usedAtEnd - usedAfterLast;
      return tally;
    },
  };
}

/** "12 scavenges, 0 full, 38 ms paused; 163.1 MB allocated, 21.4 MB promoted" */
export function describeGcTally(t: GcTally): string {
  const mb = (b: number) => (b / 1e6).toFixed(1);
  return (
    `${t.scavenges} scavenges, ${t.fullCollections} full, ${t.pauseMs.toFixed(0)} ms paused; ` +
    `${mb(t.allocatedBytes)} MB allocated, ${mb(t.promotedBytes)} MB promoted`
  );
}
