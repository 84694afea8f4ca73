// Readers for what this service itself published and reads back: the marketstate hash (input
// of risk and harvest) and the risk proposal (input of harvest), each read by its output
// declaration's codecs (src/contracts/), the ones its publish spelled it with. CONTRACT.md ("Read
// back"): a marketstate older than max_input_age is refused; a risk proposal older than that
// counts as absent.
import {
  MARKETSTATE_OUTPUT,
  PUBLISHED_MARKET_FIELDS,
  type PublishedMarketState,
} from "../contracts/marketstateOutput.js";
import { RISK_PROPOSAL_OUTPUT } from "../contracts/riskProposalOutput.js";
import { outputKey, parseFields, problemText } from "../contracts/output.js";
import type { Store } from "../store/types.js";
import { ok, skip, type Read } from "./types.js";

export async function readPublishedMarketState(
  store: Store,
  symbol: string,
  nowMs: number,
  maxAgeSec: number,
  /** The hash as this chain's marketstate publish wrote it (src/inputs/handoff.ts): not read again. */
  handed: Readonly<Record<string, string>> | null = null,
): Promise<Read<PublishedMarketState>> {
  const key = outputKey(MARKETSTATE_OUTPUT, symbol);
  return publishedMarketStateFrom(key, handed ?? (await store.hgetall(key)), nowMs, maxAgeSec);
}

/** The marketstate hash `hash` (HGETALL of `key`, `{}` when absent) as risk and harvest read it at `nowMs`. */
export function publishedMarketStateFrom(
  key: string,
  hash: Readonly<Record<string, string>>,
  nowMs: number,
  maxAgeSec: number,
): Read<PublishedMarketState> {
  // Missing is not stale: nothing published yet, or its EXPIRE lapsed.
  if (Object.keys(hash).length === 0)
    return skip("no_marketstate", `${key} does not exist (not published yet, or expired)`);
  const read = parseFields(MARKETSTATE_OUTPUT, hash, PUBLISHED_MARKET_FIELDS);
  const values: Partial<PublishedMarketState> = read.values;
  const problems = read.ok ? [] : read.problems.map((p) => problemText(p));
  for (const field of ["p_trend", "p_mr", "p_chop"] as const) {
    const v = values[field];
    if (v !== undefined && (v < 0 || v > 1)) problems.push(`${field}=${v} is not a probability`);
  }
  if (values.sigma !== undefined && values.sigma < 0)
    problems.push(`sigma=${values.sigma} is negative`);
  if (!read.ok || problems.length > 0) return skip("bad_input", `${key}: ${problems.join("; ")}`);
  const ms = read.values;
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
  /** The fields this chain's risk publish wrote (src/inputs/handoff.ts): not read again. */
  handed: Readonly<Record<string, string>> | null = null,
): Promise<RiskProposalInput> {
  const key = outputKey(RISK_PROPOSAL_OUTPUT, symbol);
  return riskProposalFrom(key, handed ?? (await store.hgetall(key)), nowMs, maxAgeSec);
}

/** The risk proposal hash `hash` (HGETALL of `key`, `{}` when absent) as harvest reads it at `nowMs`. */
export function riskProposalFrom(
  key: string,
  hash: Readonly<Record<string, string>>,
  nowMs: number,
  maxAgeSec: number,
): RiskProposalInput {
  if (Object.keys(hash).length === 0) return { proposal: null, note: `${key} absent` };
  const stamp = RISK_PROPOSAL_OUTPUT.updatedStamp;
  const updated = parseFields(RISK_PROPOSAL_OUTPUT, hash, [stamp]);
  if (!updated.ok) return { proposal: null, note: `${key}.${stamp} unreadable` };
  // Whole seconds, as ts_timestamp above: older only when certainly older.
  if (nowMs / 1000 - (updated.values[stamp] + 1) > maxAgeSec)
    return { proposal: null, note: `${key} older than ${maxAgeSec} s` };
  const stop = parseFields(RISK_PROPOSAL_OUTPUT, hash, ["stop_dist_pct"]);
  if (!stop.ok || stop.values.stop_dist_pct < 0)
    return { proposal: null, note: `${key}.stop_dist_pct unreadable` };
  return { proposal: { stop_dist_pct: stop.values.stop_dist_pct }, note: null };
}
