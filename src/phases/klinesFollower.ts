// The klines follower's injected steps (machines/klinesFollower.ts) against a store: where the
// stream ends, and one blocking read that parses the entries, keeps the closed candles of running
// symbols for the marketstate reads, and counts what it skipped.
import { fromPromise } from "xstate";
import { klinesFollowerMachine, type KlinesBatch } from "../../machines/klinesFollower.js";
import {
  parseKlineEntry,
  type KlineSkipReason,
  type LiveCandle,
  type LiveCandles,
} from "../inputs/klines.js";
import type { CandleGuards } from "../candles/index.js";
import type { Store } from "../store/types.js";

/** What one read saw, for metrics and logs. */
export interface KlinesBatchStats {
  /** Entries read. */
  seen: number;
  /** Closed candles of running symbols, kept and announced. */
  candles: LiveCandle[];
  /** Skipped entries by reason, with the first detail of each reason for the log. */
  skipped: Partial<Record<KlineSkipReason, { count: number; detail: string }>>;
}

export interface KlinesFollowerDeps {
  /** A store whose connection may block (on Redis: a connection of its own). */
  store: Store;
  stream: string;
  live: LiveCandles;
  isRunning: (symbol: string) => boolean;
  /** How long one XREAD waits; below the store's command timeout. */
  blockMs: number;
  /** Entries per read at most (a minute's burst is one per symbol). */
  count: number;
  onBatch?(stats: KlinesBatchStats): void;
  /** Wall clock, ms since epoch: a candle dated after now + maxClockSkew is future_candle. Default Date.now. */
  now?: () => number;
  /** The price range and clock skew (candleGuardsFromConfig); default the configuration's defaults. */
  guards?: Omit<CandleGuards, "nowMs" | "maxKeyBytes">;
}

/**
 * Blocking reads hold their connection, and the socket is dropped when a reply takes longer than
 * the command timeout: wait at most half of it (and at most a second, so a drain is not held up).
 */
export function klinesBlockMs(commandTimeoutMs: number): number {
  return Math.max(1, Math.min(1000, Math.floor(commandTimeoutMs / 2)));
}

export const KLINES_READ_COUNT = 2000;

export function klinesFollowerFor(deps: KlinesFollowerDeps) {
  return klinesFollowerMachine.provide({
    actors: {
      locateEnd: fromPromise<string, void>(async () => {
        const [newest] = await deps.store.xrevrange(deps.stream, 1);
        // An empty or absent stream: everything written from now on is new.
        return newest?.id ?? "0-0";
      }),
      readBatch: fromPromise<KlinesBatch, { afterId: string }>(async ({ input }) => {
        const entries = await deps.store.xreadAfter(
          deps.stream,
          input.afterId,
          deps.count,
          deps.blockMs,
        );
        const stats: KlinesBatchStats = { seen: entries.length, candles: [], skipped: {} };
        const symbols = new Set<string>();
        // One clock reading per batch: the entries arrived together.
        const guards: CandleGuards = { ...deps.guards, nowMs: deps.now ? deps.now() : Date.now() };
        for (const entry of entries) {
          const read = parseKlineEntry(entry, deps.isRunning, guards);
          if (!read.ok) {
            const seen = stats.skipped[read.reason];
            stats.skipped[read.reason] = {
              count: (seen?.count ?? 0) + 1,
              detail: seen?.detail ?? read.detail,
            };
            continue;
          }
          deps.live.add(read.candle);
          stats.candles.push(read.candle);
          symbols.add(read.candle.symbol);
        }
        if (entries.length > 0) deps.onBatch?.(stats);
        return {
          lastId: entries.length > 0 ? entries[entries.length - 1].id : input.afterId,
          symbols: [...symbols],
        };
      }),
    },
  });
}
