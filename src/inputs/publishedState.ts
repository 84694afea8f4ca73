// Readers for what this service itself published and reads back: the marketstate hash (input
// of risk and harvest) and the risk proposal (input of harvest). SPEC §6: a marketstate older
// than max_input_age is refused; a risk proposal older than that counts as absent.
import type { PublishedMarketState } from "../contracts/fields.js";
import type { Store } from "../store/types.js";
import { marketStateKey, riskProposalKey } from "../store/keyGuard.js";
import { parseFiniteNumber } from "./parse.js";
import { ok, skip, type Read } from "./types.js";

const MARKET_FIELDS = ["sigma", "mu", "ts", "p_trend", "p_mr", "p_chop", "ts_timestamp"] as const;

export async function readPublishedMarketState(
  store: Store,
  symbol: string,
  nowMs: number,
  maxAgeSec: number,
): Promise<Read<PublishedMarketState>> {
  const key = marketStateKey(symbol);
  const hash = await store.hgetall(key);
  // Missing is not stale (SPEC §6): nothing published yet, or its EXPIRE lapsed.
  if (Object.keys(hash).length === 0)
    return skip("no_marketstate", `${key} does not exist (not published yet, or expired)`);
  const values: Partial<Record<(typeof MARKET_FIELDS)[number], number>> = {};
  const problems: string[] = [];
  for (const field of MARKET_FIELDS) {
    const raw = hash[field];
    const value = parseFiniteNumber(raw);
    if (value === null)
      problems.push(
        raw === undefined
          ? `${field} missing`
          : `${field}=${JSON.stringify(raw.slice(0, 40))} is not a number`,
      );
    else values[field] = value;
  }
  for (const field of ["p_trend", "p_mr", "p_chop"] as const) {
    const v = values[field];
    if (v !== undefined && (v < 0 || v > 1)) problems.push(`${field}=${v} is not a probability`);
  }
  if (values.sigma !== undefined && values.sigma < 0)
    problems.push(`sigma=${values.sigma} is negative`);
  if (problems.length > 0) return skip("bad_input", `${key}: ${problems.join("; ")}`);
  const ms = values as PublishedMarketState;
  // ts_timestamp is whole seconds (floored), so the publish happened within [ts, ts + 1): the
  // hash is refused only when it is certainly older than the limit.
  const ageSec = nowMs / 1000 - (ms.ts_timestamp + 1);
  if (ageSec > maxAgeSec) {
    return skip(
      "stale_marketstate",
      `${key} is ${Math.round(ageSec)} s old (max_input_age ${maxAgeSec} s)`,
    );
  }
  return ok(ms);
}

export interface RiskProposalInput {
  /** null: absent, stale or unreadable — harvest then uses its fallback stop. */
  proposal: { stop_dist_pct: number } | null;
  /** Why it is null, for the log. */
  note: string | null;
}

export async function readRiskProposal(
  store: Store,
  symbol: string,
  nowMs: number,
  maxAgeSec: number,
): Promise<RiskProposalInput> {
  const key = riskProposalKey(symbol);
  const hash = await store.hgetall(key);
  if (Object.keys(hash).length === 0) return { proposal: null, note: `${key} absent` };
  const updated = parseFiniteNumber(hash.last_update_epoch);
  if (updated === null) return { proposal: null, note: `${key}.last_update_epoch unreadable` };
  // Whole seconds, as ts_timestamp above: older only when certainly older.
  if (nowMs / 1000 - (updated + 1) > maxAgeSec)
    return { proposal: null, note: `${key} older than ${maxAgeSec} s` };
  const stop = parseFiniteNumber(hash.stop_dist_pct);
  if (stop === null || stop < 0) return { proposal: null, note: `${key}.stop_dist_pct unreadable` };
  return { proposal: { stop_dist_pct: stop }, note: null };
}
