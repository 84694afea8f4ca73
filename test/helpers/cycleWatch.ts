// Watches a running service through its hooks and XState inspection: every cycle outcome, and
// how many I/O steps each publisher has running at once (one at most: cycles never overlap).
//
// On XState's public inspection stream only: a publisher asks its step actor for a step with an
// event named after the step (`readInputs`: the inspection event's `sourceRef` is the publisher)
// and the step actor answers with `<step>.done` / `<step>.error`, sent to the publisher
// (machines/stepActor.ts).
import type { InspectionEvent } from "xstate";
import { IO_STEPS, type CycleDoneEvent } from "../../machines/publisher.js";
import type { ServiceHooks } from "../../src/service/service.js";

const STEPS: ReadonlySet<string> = new Set(IO_STEPS);
const ANSWER = /^(\w+)\.(?:done|error)$/;

export interface ObservedCycle {
  event: CycleDoneEvent;
  /** Wall-clock time the cycle was reported. */
  atMs: number;
}

export class CycleWatch {
  readonly cycles: ObservedCycle[] = [];
  /** The largest number of steps one publisher ever had under way at the same time. */
  maxConcurrentSteps = 0;
  /** Publisher (its sessionId) → how many of its step requests are not answered yet. */
  private readonly live = new Map<string, number>();

  readonly hooks: ServiceHooks = {
    onCycle: (event, nowMs) => {
      this.cycles.push({ event, atMs: nowMs });
    },
  };

  readonly inspect = (event: InspectionEvent): void => {
    if (event.type !== "@xstate.event") return;
    const type = event.event.type;
    if (STEPS.has(type) && event.sourceRef !== undefined) {
      // A request, sent by the publisher (sourceRef) to its step actor.
      const id = event.sourceRef.sessionId;
      const n = (this.live.get(id) ?? 0) + 1;
      this.live.set(id, n);
      this.maxConcurrentSteps = Math.max(this.maxConcurrentSteps, n);
      return;
    }
    // An answer, received by the publisher — before it reacts (and asks for the next step), so
    // this is the moment its step ends.
    const answer = ANSWER.exec(type);
    if (answer === null || !STEPS.has(answer[1])) return;
    const id = event.actorRef.sessionId;
    const n = this.live.get(id);
    if (n !== undefined) this.live.set(id, Math.max(n - 1, 0));
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
