// Start-up as the operator sees it: what it waits for now (the HTTP server's 503 `starting` names
// it) and the caller's abort (SIGTERM during start-up), which ends any wait at once. What was
// opened before the abort is closed by the service's resources (resources.ts).

/** startService was asked to stop before the supervisor started. */
export class StartAbortedError extends Error {
  constructor() {
    super("stopped before the service started");
    this.name = "StartAbortedError";
  }
}

export class Startup {
  readonly #signal: AbortSignal | undefined;
  readonly #onStep: ((waitingFor: string) => void) | undefined;

  constructor(signal?: AbortSignal, onStep?: (waitingFor: string) => void) {
    this.#signal = signal;
    this.#onStep = onStep;
  }

  get aborted(): boolean {
    return this.#signal?.aborted ?? false;
  }

  /** Start-up waits for this now. */
  step(waitingFor: string): void {
    this.#onStep?.(waitingFor);
  }

  /**
   * `work`, unless the abort comes first: then StartAbortedError at once (also when the abort came
   * while `work` settled — start-up does not go on past a signal).
   */
  async wait<T>(work: Promise<T>): Promise<T> {
    const result = await Promise.race([work, this.#abortion()]);
    this.check();
    return result;
  }

  /** Throws StartAbortedError when the abort has come (between steps that do not wait). */
  check(): void {
    if (this.aborted) throw new StartAbortedError();
  }

  /** Never resolves; rejects with StartAbortedError when the signal aborts. */
  #abortion(): Promise<never> {
    const signal = this.#signal;
    return new Promise((_resolve, reject) => {
      if (!signal) return;
      if (signal.aborted) reject(new StartAbortedError());
      else signal.addEventListener("abort", () => reject(new StartAbortedError()), { once: true });
    });
  }
}
