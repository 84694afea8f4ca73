// At most STEP_CONCURRENCY publisher I/O steps under way at once in the process, the rest queued
// by priority: steps further down a chain first (harvest before risk before marketstate), a write
// before a read of the same phase, first come first served within one priority.
//
// Why: at the minute boundary every symbol's marketstate starts at the same instant. Unbounded,
// the 400 reads (each a ~300-candle reply) run interleaved with the risk and harvest steps they
// chain into, first come first served, so every chain ends only when the whole burst's CPU is
// spent (p50 ≈ max), and all 400 windows are alive at once. Bounded and ordered this way, the
// chains under way finish before new marketstate reads start: chains end one after another over
// the burst (bench:burst at 400 symbols: p50 about half of before, p99 a little lower). One gate
// for the three phases is what orders them (one gate per phase did not lower the p50). It is the
// process's: one service per process in production; a slot is held only while a step's I/O is
// pending, and a hung command frees it at the command timeout.
//
// Nothing is lost or reordered within a publisher: its cycles never overlap, so it has at most
// one step queued. A step queued when its publisher stops (a DRAIN's retiring publisher, a lost
// lease) never starts its I/O: the step actor's `alive()` says so (machines/stepActor.ts).
import type { PhaseName } from "../core/phases.js";
import { PHASE_NAMES } from "../core/phases.js";

/** Steps under way at once, over all publishers of the process (an auto-pipelined batch's worth). */
export const STEP_CONCURRENCY = 64;

export type StepKind = "read" | "write";

/** 0 = served last (a marketstate read) … 2·phases − 1 = served first (a harvest write). */
export function stepPriority(phase: PhaseName, kind: StepKind): number {
  const index = Math.max(0, PHASE_NAMES.indexOf(phase));
  return index * 2 + (kind === "write" ? 1 : 0);
}

interface Waiter {
  start: () => void;
}

export class StepGate {
  private running = 0;
  private readonly queues: Waiter[][] = [];
  private queued = 0;

  constructor(private limit: number = STEP_CONCURRENCY) {
    this.setLimit(limit);
  }

  /** Changes the bound (benchmarks: Infinity is the behaviour before the gate). */
  setLimit(limit: number): void {
    if (!(limit >= 1)) throw new Error(`StepGate: limit must be >= 1 (got ${limit})`);
    this.limit = limit;
    this.pump();
  }

  /** Steps under way and waiting (status, tests). */
  get stats(): { running: number; queued: number; limit: number } {
    return { running: this.running, queued: this.queued, limit: this.limit };
  }

  /**
   * Runs `step` when a slot is free and `alive()` still holds then; a step whose actor stopped
   * while it waited is not run (the promise rejects, and the stopped actor ignores it).
   */
  run<T>(priority: number, alive: () => boolean, step: () => PromiseLike<T>): Promise<T> {
    if (this.running < this.limit && this.queued === 0) return this.start(step);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          if (!alive()) {
            reject(new Error("step not started: its publisher stopped while it waited"));
            return;
          }
          this.start(step).then(resolve, reject);
        },
      };
      (this.queues[priority] ??= []).push(waiter);
      this.queued++;
    });
  }

  private start<T>(step: () => PromiseLike<T>): Promise<T> {
    this.running++;
    let settled: Promise<T>;
    try {
      settled = Promise.resolve(step());
    } catch (err) {
      settled = Promise.reject(err);
    }
    return settled.finally(() => {
      this.running--;
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.limit && this.queued > 0) {
      let waiter: Waiter | undefined;
      for (let p = this.queues.length - 1; p >= 0 && waiter === undefined; p--)
        waiter = this.queues[p]?.shift();
      if (waiter === undefined) break;
      this.queued--;
      waiter.start();
    }
  }
}

/** The process's gate: every publisher's I/O steps (src/phases/steps.ts publisherFor). */
export const stepGate = new StepGate();
