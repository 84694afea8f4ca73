// The exporter-compatible harvest gauges (quantum_harvest_kill_score, k_*, r_net, new_sl, action,
// last_update_epoch) from the harvest hashes already in Redis, once at start (issue 18, 4). The
// gauges are otherwise set by this instance's harvest publishes, which come only after the first
// cycles — or never, while the inputs are unchanged (a rate-limited cycle only heartbeats) or
// this instance stands by. The old exporter read the hashes, so its kill-score alert could fire
// at once after a restart: read them once, for the running symbols only (one HGETALL each, a
// bounded batch at a time; no SCAN of the keyspace), with the service's strict number parsing.
// A field that does not parse leaves its gauge unset and is reported, never read as 0.
import { harvestProposalKey } from "../store/keyGuard.js";
import { parseFiniteNumber } from "../inputs/parse.js";
import type { Logger } from "../log.js";
import type { Store } from "../store/types.js";
import { cappedExponentialMs } from "../core/backoff.js";
import { errorMessage } from "../core/errors.js";

/** The figures the harvest gauges show (CycleDoneEvent.figures of a harvest publish). */
export type HarvestFigure =
  | "kill_score"
  | "k_regime_flip"
  | "k_sigma_spike"
  | "k_ts_drop"
  | "k_age_penalty"
  | "R_net"
  | "new_sl";

/** The hash field each figure is published as (src/contracts/fields.ts harvestProposalFields). */
export const HARVEST_FIGURE_FIELDS: Readonly<Record<HarvestFigure, string>> = {
  kill_score: "kill_score",
  k_regime_flip: "k_regime_flip",
  k_sigma_spike: "k_sigma_spike",
  k_ts_drop: "k_ts_drop",
  k_age_penalty: "k_age_penalty",
  R_net: "R_net",
  new_sl: "new_sl_proposed",
};

export interface PublishedHarvest {
  /** The figures that parsed. new_sl is 0 when no stop is proposed ("" or absent), as the exporter. */
  figures: Partial<Record<HarvestFigure, number>>;
  /** harvest_action as written; null when absent or empty. */
  action: string | null;
  /** last_update_epoch (epoch s); null when absent or unreadable. */
  lastUpdateEpoch: number | null;
  /** One line per field that is present but does not parse. */
  problems: string[];
}

/** The gauges' values from a harvest hash (HGETALL); null when the hash does not exist. */
export function publishedHarvest(hash: Record<string, string>): PublishedHarvest | null {
  if (Object.keys(hash).length === 0) return null;
  const figures: Partial<Record<HarvestFigure, number>> = {};
  const problems: string[] = [];
  for (const [figure, field] of Object.entries(HARVEST_FIGURE_FIELDS) as Array<
    [HarvestFigure, string]
  >) {
    const raw = hash[field];
    // The exporter's new_sl: 0 when no new stop is proposed ("" in the hash; "None" from the
    // Python writer it replaced).
    if (figure === "new_sl" && (raw === undefined || raw === "" || raw === "None")) {
      figures.new_sl = 0;
      continue;
    }
    if (raw === undefined) continue;
    const value = parseFiniteNumber(raw);
    if (value === null)
      problems.push(`${field}=${JSON.stringify(raw.slice(0, 40))} is not a number`);
    else figures[figure] = value;
  }
  const rawEpoch = hash.last_update_epoch;
  const lastUpdateEpoch = rawEpoch === undefined ? null : parseFiniteNumber(rawEpoch);
  if (rawEpoch !== undefined && lastUpdateEpoch === null)
    problems.push(`last_update_epoch=${JSON.stringify(rawEpoch.slice(0, 40))} is not a number`);
  const action = hash.harvest_action;
  return {
    figures,
    action: action === undefined || action === "" ? null : action,
    lastUpdateEpoch,
    problems,
  };
}

/** What the metrics take from the reader (ServiceMetrics.seedHarvest). */
export interface HarvestSeedTarget {
  /** The running symbols now. */
  symbols(): readonly string[];
  /** Sets the gauges of `symbol` unless a harvest cycle of this instance already has. */
  seedHarvest(symbol: string, published: PublishedHarvest): void;
}

/** HGETALLs in flight at once: 2,000 symbols are 20 round trips of 100, pipelined. */
export const SEED_BATCH = 100;

/**
 * Reads the running symbols' harvest hashes once and seeds the gauges. Redis not answering (the
 * service started while it was down) is retried with a capped backoff until one full pass has
 * succeeded or `stop()` is called; a symbol whose hash does not exist is left to its first
 * publish. Unparsable fields are logged once per symbol (warn) and leave their gauge unset.
 */
export function seedHarvestGauges(options: {
  store: Pick<Store, "hgetall">;
  target: HarvestSeedTarget;
  logger: Logger;
  /** Retry delays: base and cap (ms). */
  retryBaseMs?: number;
  retryCapMs?: number;
}): { done: Promise<void>; stop(): void } {
  const { store, target, logger } = options;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | null = null;
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
      timer.unref();
    });
  const seeded = new Set<string>();
  const pass = async (): Promise<void> => {
    const symbols = target.symbols().filter((s) => !seeded.has(s));
    for (let i = 0; i < symbols.length && !stopped; i += SEED_BATCH) {
      const batch = symbols.slice(i, i + SEED_BATCH);
      const hashes = await Promise.all(batch.map((s) => store.hgetall(harvestProposalKey(s))));
      batch.forEach((symbol, j) => {
        seeded.add(symbol);
        const published = publishedHarvest(hashes[j]);
        if (published === null || stopped) return;
        if (published.problems.length > 0)
          logger.warn(
            { symbol, key: harvestProposalKey(symbol), problems: published.problems },
            `metrics: ${harvestProposalKey(symbol)} has unreadable fields (${published.problems.join("; ")}); their gauges stay unset until the next publish`,
          );
        target.seedHarvest(symbol, published);
      });
    }
  };
  const done = (async () => {
    for (let attempt = 1; !stopped; attempt++) {
      try {
        await pass();
        return;
      } catch (err) {
        if (attempt === 1)
          logger.warn(
            { err: errorMessage(err) },
            "metrics: the published harvest hashes could not be read yet; retrying (the gauges follow the publishes meanwhile)",
          );
        await pause(
          cappedExponentialMs(attempt, options.retryBaseMs ?? 250, options.retryCapMs ?? 5000),
        );
      }
    }
  })();
  return {
    done,
    stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
    },
  };
}
