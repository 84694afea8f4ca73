// The service as composed resources (issue 17): each part the service opens — the connections,
// the lease, the policy watch, the klines follower's connection, the supervisor, the HTTP server,
// the watchdog, the systemd notifier, the observers — registers how it is closed as it starts,
// and ServiceResources closes them: once (memoized; every caller gets the same promise, which
// never rejects), in the order of CLOSE_STEPS, each step guarded (a failure is logged and
// reported, the next step runs) and bounded (a hang is left behind after its timeout). The model
// is bullmq's Worker.close(): one `closing` promise, the steps awaited in turn, errors reported
// rather than thrown.
//
// The reported steps are fixed (CLOSE_STEPS, one CloseStepReport each, "skipped" when nothing
// registered one). Their order is the reverse of the start order with one deliberate exception:
// the lease is released right after the drain — its last publishes needed it, and a standby
// polling every 500 ms takes over as soon as the key is gone — before anything slower closes.
// The flight recorder (docs/recording.md) is closed next, awaited: after the drain, so the last
// cycles are in the recording, and before the connections, so a slow disk holds nothing else up
// for longer than its bound (a recorder step that times out leaves its lines behind, no publish).
// Parts without a reported step (log subscriptions, the systemd notifier) close after the
// reported steps, in reverse order of registration.
import { errorMessage } from "../core/errors.js";
import type { Logger } from "../log.js";

/** The steps of ServiceHandle.close(), in the order it takes them. */
export const CLOSE_STEPS = [
  "drain",
  "lease",
  "recorder",
  "http",
  "watchdog",
  "store",
  "writer",
  "klines store",
] as const;
export type CloseStep = (typeof CLOSE_STEPS)[number];

/** Default bound of each close() step but the drain (whose default is drainTimeoutMs + this). */
export const CLOSE_STEP_TIMEOUT_MS = 2000;

export interface CloseStepReport {
  step: CloseStep;
  /**
   * done · skipped: nothing to tear down (no HTTP server adopted, no follower connection) ·
   * failed: it threw or rejected (`error`), and was logged · timed out: still running after its
   * bound, logged and left behind. Neither of the last two stops the later steps.
   */
  outcome: "done" | "skipped" | "failed" | "timed out";
  error?: string;
}

/** How a resource is torn down in its close() step. */
export interface Teardown {
  close(): Promise<unknown>;
  /** Called when close() outlived its bound (the drain stops the actors then). */
  onTimeout?(): void;
}

/** A part of the service without a reported step: closed last, synchronously or not, never awaited long. */
export type Cleanup = () => void;

export class ServiceResources {
  readonly #logger: Logger;
  readonly #timeouts: Record<CloseStep, number>;
  readonly #steps = new Map<CloseStep, Teardown>();
  readonly #cleanups: Cleanup[] = [];
  /** The steps close() has begun: a resource registered after its step is torn down at once. */
  readonly #begun = new Set<CloseStep>();
  #closing: Promise<CloseStepReport[]> | null = null;

  constructor(logger: Logger, timeouts: Record<CloseStep, number>) {
    this.#logger = logger;
    this.#timeouts = timeouts;
  }

  /**
   * Registers the teardown of `step`. One registered after close() has begun that step is torn
   * down at once (guarded and bounded too): an HTTP server handed over late is not left open.
   */
  add(step: CloseStep, teardown: Teardown): void {
    if (this.#begun.has(step)) void this.#run(step, teardown);
    else this.#steps.set(step, teardown);
  }

  /** Registers a part without a reported step (closed after them, last registered first). */
  addCleanup(cleanup: Cleanup): void {
    this.#cleanups.push(cleanup);
  }

  /** Tears everything down (see the file comment). Idempotent and memoized; never rejects. */
  close(): Promise<CloseStepReport[]> {
    return (this.#closing ??= this.#closeAll());
  }

  async #closeAll(): Promise<CloseStepReport[]> {
    const reports: CloseStepReport[] = [];
    for (const step of CLOSE_STEPS) {
      this.#begun.add(step);
      reports.push(await this.#run(step, this.#steps.get(step) ?? null));
    }
    for (const cleanup of this.#cleanups.reverse()) {
      try {
        cleanup();
      } catch (err) {
        this.#logger.warn({ err: errorMessage(err) }, "shutdown: a cleanup failed; going on");
      }
    }
    return reports;
  }

  /**
   * One step: the teardown raced against its bound. Never rejects: a failure or a timeout is
   * logged (warn) and reported, and the caller goes on with the next step.
   */
  async #run(step: CloseStep, teardown: Teardown | null): Promise<CloseStepReport> {
    if (teardown === null) return { step, outcome: "skipped" };
    const timeoutMs = this.#timeouts[step];
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<"timed out">((resolve) => {
      timer = setTimeout(() => resolve("timed out"), timeoutMs);
    });
    try {
      // Promise.resolve().then: a teardown that throws synchronously is a failed step too.
      const outcome = await Promise.race([
        Promise.resolve()
          .then(() => teardown.close())
          .then(() => "done" as const),
        expired,
      ]);
      if (outcome === "timed out") {
        this.#logger.warn(
          { step, timeoutMs },
          `shutdown: ${step} did not finish within ${timeoutMs} ms; going on`,
        );
        teardown.onTimeout?.();
      }
      return { step, outcome };
    } catch (err) {
      const error = errorMessage(err);
      this.#logger.warn({ step, err: error }, `shutdown: ${step} failed; going on`);
      return { step, outcome: "failed", error };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The bounds of the close() steps: the defaults, then the caller's. */
export function closeTimeouts(
  drainTimeoutMs: number,
  given: Partial<Record<CloseStep, number>> | undefined,
): Record<CloseStep, number> {
  return {
    drain: drainTimeoutMs + CLOSE_STEP_TIMEOUT_MS,
    lease: CLOSE_STEP_TIMEOUT_MS,
    recorder: CLOSE_STEP_TIMEOUT_MS,
    writer: CLOSE_STEP_TIMEOUT_MS,
    http: CLOSE_STEP_TIMEOUT_MS,
    watchdog: CLOSE_STEP_TIMEOUT_MS,
    store: CLOSE_STEP_TIMEOUT_MS,
    "klines store": CLOSE_STEP_TIMEOUT_MS,
    ...given,
  };
}
