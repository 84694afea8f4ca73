// Watches a running service through its hooks and XState inspection: every cycle outcome, and
// how many I/O steps each publisher has running at once (one at most: cycles never overlap).
import type { InspectionEvent } from "xstate";
import type { CycleDoneEvent } from "../../machines/publisher.js";
import type { ServiceHooks } from "../../src/service/service.js";

const STEP_ACTORS = new Set(["seedMemory", "readInputs", "publishResult", "writeHeartbeat"]);

export interface ObservedCycle {
  event: CycleDoneEvent;
  /** Wall-clock time the cycle was reported. */
  atMs: number;
}

export class CycleWatch {
  readonly cycles: ObservedCycle[] = [];
  /** The largest number of step actors one publisher ever had alive at the same time. */
  maxConcurrentSteps = 0;
  /** Publisher id → ids of its live step actors. */
  private readonly live = new Map<string, Set<string>>();

  readonly hooks: ServiceHooks = {
    onCycle: (event, nowMs) => {
      this.cycles.push({ event, atMs: nowMs });
    },
  };

  readonly inspect = (event: InspectionEvent): void => {
    const ref = event.actorRef as unknown as { id: string; src: unknown; _parent?: { id: string } };
    if (event.type === "@xstate.actor") {
      if (typeof ref.src !== "string" || !STEP_ACTORS.has(ref.src) || ref._parent === undefined)
        return;
      const set = this.live.get(ref._parent.id) ?? new Set<string>();
      set.add(ref.id);
      this.live.set(ref._parent.id, set);
      this.maxConcurrentSteps = Math.max(this.maxConcurrentSteps, set.size);
    } else if (event.type === "@xstate.event") {
      // A step ends for its publisher when the publisher is sent the step's done/error event —
      // before it reacts (and starts the next step), so this is the moment that counts.
      const match = /^xstate\.(?:done|error)\.actor\.(.+)$/.exec(event.event.type);
      if (match) this.live.get(ref.id)?.delete(match[1]);
    }
  };

  of(phase: string, outcome?: string, symbol?: string): ObservedCycle[] {
    return this.cycles.filter(
      (c) =>
        c.event.phase === phase &&
        (outcome === undefined || c.event.outcome === outcome) &&
        (symbol === undefined || c.event.symbol === symbol),
    );
  }

  /** Cycles reported after `ms` (wall clock). */
  since(ms: number): ObservedCycle[] {
    return this.cycles.filter((c) => c.atMs >= ms);
  }
}
