// What the service counts and logs per cycle: the per-run counters (CycleStats: what `--once`
// prints at the end and /metrics is built from), the log level of each cycle outcome, and the
// repeat rule that keeps repeated trouble visible without a line per event.
import type { CycleDoneEvent } from "../../machines/publisher.js";
import type { KlinesFollowerEvent } from "../../machines/klinesFollower.js";
import type { Logger } from "../log.js";

/** Per-run counters: what `--once` prints at the end and what /metrics is built from. */
export class CycleStats {
  readonly outcomes = new Map<string, number>();
  readonly skips = new Map<string, number>();
  restarts = 0;

  record(e: CycleDoneEvent): void {
    const k = `${e.phase}:${e.outcome}`;
    this.outcomes.set(k, (this.outcomes.get(k) ?? 0) + 1);
    if (e.outcome === "skipped" && e.reason) {
      const s = `${e.phase}:${e.reason}`;
      this.skips.set(s, (this.skips.get(s) ?? 0) + 1);
    }
  }

  summary(): Record<string, number> {
    return Object.fromEntries([
      ...this.outcomes,
      ...[...this.skips].map(([k, v]) => [`skip:${k}`, v] as const),
    ]);
  }
}

/** True for the 1st, 2nd, 4th, 8th … occurrence: repeated trouble stays visible without a line per event. */
export const isLoudRepeat = (n: number): boolean => n >= 1 && (n & (n - 1)) === 0;

/** Logs a cycle outcome at a level an operator can live with at 1,000 symbols. */
export function logCycle(
  logger: Logger,
  e: CycleDoneEvent,
  previousReason: string | undefined,
): void {
  const base = { phase: e.phase, symbol: e.symbol };
  switch (e.outcome) {
    case "published":
      logger.info(
        { ...base, why: e.reason },
        `${e.phase} ${e.symbol} published: ${e.summary ?? ""}`,
      );
      return;
    case "heartbeat":
      logger.debug(base, `${e.phase} ${e.symbol} unchanged (heartbeat)`);
      return;
    case "skipped":
      // A skip that repeats every cycle is news only the first time.
      (previousReason === e.reason ? logger.debug : logger.info).call(
        logger,
        { ...base, reason: e.reason, detail: e.detail },
        `${e.phase} ${e.symbol} skipped: ${e.reason}`,
      );
      return;
    case "error": {
      const n = e.consecutiveFailures;
      (n <= 1 || isLoudRepeat(n) ? logger.warn : logger.debug).call(
        logger,
        { ...base, err: e.detail, consecutiveFailures: n },
        `${e.phase} ${e.symbol} failed; backing off`,
      );
    }
  }
}

/** logCycle for every cycle of the run, remembering each actor's last skip reason. */
export function cycleLogger(logger: Logger): (e: CycleDoneEvent) => void {
  const lastReason = new Map<string, string | undefined>();
  return (e) => {
    const key = `${e.phase}:${e.symbol}`;
    logCycle(logger, e, lastReason.get(key));
    lastReason.set(key, e.outcome === "skipped" ? (e.reason ?? undefined) : undefined);
  };
}

/** The klines follower's failures (with the repeat rule) and resyncs. */
export function logKlinesEvent(logger: Logger, event: KlinesFollowerEvent, stream: string): void {
  if (event.type === "KLINES.FAILED") {
    const n = event.consecutiveFailures;
    (n <= 1 || isLoudRepeat(n) ? logger.warn : logger.debug).call(
      logger,
      { err: event.error, consecutiveFailures: n, stream },
      "klines follower: read failed; backing off (intervals keep running)",
    );
  } else if (event.type === "KLINES.RESYNC") {
    logger.info(
      { stream },
      "klines follower resumed from the stream end; every marketstate re-reads its candles",
    );
  }
}
