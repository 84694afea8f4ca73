// The output guard (CONTRACT.md, "Plausibility"): the last look at a kernel's result before the
// publish step sees it. Our proposals move real money downstream, and a wrong one is worse than
// none: a result no market can mean — a stop below zero, a take-profit a hundred times the price,
// a number too long for the readers' parsers — turns the cycle into the counted skip
// `implausible_result`, naming the field and the value. It runs inside compute, so a skipped
// cycle writes nothing at all: no hash field, no heartbeat, no position memory.
//
// Pure, and only ever removes a publish: it never changes a value (the kernels stay bit for bit
// the reference's), and on plausible inputs it never fires (test/safety/outputGuardParity.test.ts).
//
// Formatted once: the guard spells the result's fields with the output declaration's codecs
// (src/contracts/) and hands them on with the result (Spelled); the publish writes exactly those
// fields, adding only the publish's stamps (output.ts `stamped`). So the number lengths checked
// here are the ones written, and no cycle formats its figures twice.
import { NonFiniteValueError } from "../contracts/decimal.js";
import type { AnyOutputDeclaration, Fields } from "../contracts/output.js";
import {
  HARVEST_PROPOSAL_OUTPUT,
  harvestProposalFields,
} from "../contracts/harvestProposalOutput.js";
import {
  MARKETSTATE_OUTPUT,
  marketStateFields,
  type PublishedMarketState,
} from "../contracts/marketstateOutput.js";
import { RISK_PROPOSAL_OUTPUT, riskProposalFields } from "../contracts/riskProposalOutput.js";
import type { HarvestResult, MarketState, Position, StopsResult } from "../kernels/types.js";
import { ok, skip, type Read } from "../inputs/types.js";

/** A kernel's result with its output fields as they will be written (all but the publish's stamps). */
export interface Spelled<R> {
  result: R;
  fields: Fields;
}

/** The configured bounds (config maxPriceRatio, maxStopDistPct). */
export interface OutputLimits {
  /** A price more than this factor away from the current price is implausible (> 1). */
  maxPriceRatio: number;
  /** A stop distance (fraction of the price) at or above this is implausible. */
  maxStopDistPct: number;
}

export function outputLimitsFrom(config: {
  maxPriceRatio: number;
  maxStopDistPct: number;
}): OutputLimits {
  return { maxPriceRatio: config.maxPriceRatio, maxStopDistPct: config.maxStopDistPct };
}

/** No number is written longer than this; the readers (regex parsers, fixed-width columns) expect short decimals. */
export const MAX_NUMBER_CHARS = 32;

/**
 * Fields of our hashes that are text, not numbers, and so are not held to MAX_NUMBER_CHARS (the
 * policy version is bounded where it is read: src/policy/policy.ts): each declaration says which.
 */
function textFields(output: AnyOutputDeclaration): ReadonlySet<string> {
  return new Set(
    Object.entries(output.fields as Record<string, { text: boolean }>)
      .filter(([, codec]) => codec.text)
      .map(([name]) => name),
  );
}
const TEXT_FIELDS: ReadonlySet<string> = new Set(
  [MARKETSTATE_OUTPUT, RISK_PROPOSAL_OUTPUT, HARVEST_PROPOSAL_OUTPUT].flatMap((o) => [
    ...textFields(o),
  ]),
);

/** What a problem is: the field, its value and why, e.g. `proposed_sl=-128.8 is not > 0`. */
type Problem = string | null;

const show = (value: number): string => String(value);

/** Finite and > 0, else the problem. */
export function checkPositive(field: string, value: number): Problem {
  if (!Number.isFinite(value)) return `${field}=${show(value)} is not finite`;
  if (!(value > 0)) return `${field}=${show(value)} is not > 0`;
  return null;
}

/**
 * A price: finite, > 0, and within [current / ratio, current × ratio] (both ends included).
 */
export function checkPrice(field: string, value: number, current: number, ratio: number): Problem {
  const basic = checkPositive(field, value);
  if (basic !== null) return basic;
  const low = current / ratio;
  const high = current * ratio;
  if (value < low || value > high) {
    return `${field}=${show(value)} is more than maxPriceRatio ${ratio} away from the current price ${show(current)} (allowed ${show(low)} to ${show(high)})`;
  }
  return null;
}

/**
 * A price distance (harvest's risk_unit = entry × stop pct): finite, > 0 and at most
 * current × ratio. No lower bound: a distance is a fraction of the price, so 0.5 % of it is
 * legitimately 1/200 of the current price, far below current / ratio.
 */
export function checkPriceDistance(
  field: string,
  value: number,
  current: number,
  ratio: number,
): Problem {
  const basic = checkPositive(field, value);
  if (basic !== null) return basic;
  const high = current * ratio;
  if (value > high)
    return `${field}=${show(value)} is more than maxPriceRatio ${ratio} times the current price ${show(current)} (at most ${show(high)})`;
  return null;
}

/** stop_dist_pct: finite, ≥ 0 and below maxStopDistPct. */
export function checkStopDistance(value: number, maxStopDistPct: number): Problem {
  if (!Number.isFinite(value)) return `stop_dist_pct=${show(value)} is not finite`;
  if (value < 0) return `stop_dist_pct=${show(value)} is not >= 0`;
  if (value >= maxStopDistPct)
    return `stop_dist_pct=${show(value)} is not below maxStopDistPct ${maxStopDistPct}`;
  return null;
}

/**
 * The hash fields exactly as the publish will write them (the output declaration's codecs), or
 * the non-finite field that cannot be written.
 */
function buildFields(
  build: () => Fields,
): { ok: true; fields: Fields } | { ok: false; problem: string } {
  try {
    return { ok: true, fields: build() };
  } catch (error) {
    if (error instanceof NonFiniteValueError)
      return { ok: false, problem: `${error.field}=${String(error.value)} is not finite` };
    throw error;
  }
}

/** The first number field written longer than MAX_NUMBER_CHARS characters. */
export function checkNumberLengths(fields: Fields): Problem {
  // Names, not entries: an entry is a fresh [name, text] pair per field per cycle.
  const names = Object.keys(fields);
  for (let i = 0; i < names.length; i++) {
    const field = names[i];
    if (TEXT_FIELDS.has(field)) continue;
    const text = fields[field];
    if (text.length > MAX_NUMBER_CHARS) {
      return `${field}=${text} would be written with ${text.length} characters (at most ${MAX_NUMBER_CHARS})`;
    }
  }
  return null;
}

const implausible = <T>(problem: string): Read<T> => skip("implausible_result", problem);

/** The position prices of a proposal hash: the current price positive, the entry within the ratio of it. */
function positionPriceProblem(position: Position, ratio: number): Problem {
  return (
    checkPositive("position_current_price", position.current_price) ??
    checkPrice("position_entry_price", position.entry_price, position.current_price, ratio)
  );
}

/**
 * The checked result with the fields built (the output declaration's codecs), or the first
 * problem: of the checks (in order, the first one found wins), of building, of a number's length.
 * The checks are chained with `??` rather than passed as closures: a guard runs on every cycle.
 */
function spelledUnless<R>(problem: Problem, result: R, build: () => Fields): Read<Spelled<R>> {
  if (problem !== null) return implausible(problem);
  const built = buildFields(build);
  if (!built.ok) return implausible(built.problem);
  const tooLong = checkNumberLengths(built.fields);
  return tooLong === null ? ok({ result, fields: built.fields }) : implausible(tooLong);
}

/**
 * The risk proposal: proposed_sl and proposed_tp within maxPriceRatio of the position's current
 * price, stop_dist_pct below maxStopDistPct, the position prices plausible, and no number longer
 * than MAX_NUMBER_CHARS. The result itself, or `implausible_result`.
 */
export function guardRiskResult(
  result: StopsResult,
  market: PublishedMarketState,
  position: Position,
  limits: OutputLimits,
): Read<Spelled<StopsResult>> {
  const ratio = limits.maxPriceRatio;
  const current = position.current_price;
  const problem =
    positionPriceProblem(position, ratio) ??
    checkPrice("proposed_sl", result.proposed_sl, current, ratio) ??
    checkPrice("proposed_tp", result.proposed_tp, current, ratio) ??
    checkStopDistance(result.intermediates.stop_dist_pct, limits.maxStopDistPct);
  // The stamps are the publish's (an epoch and an ISO time have fixed widths).
  return spelledUnless(problem, result, () => riskProposalFields(result, market, position));
}

/**
 * The harvest proposal: new_sl_proposed (when set) within maxPriceRatio of the current price,
 * risk_unit a plausible price distance (checkPriceDistance), the position prices plausible, and
 * no number longer than MAX_NUMBER_CHARS. The result itself, or `implausible_result`.
 */
export function guardHarvestResult(
  result: HarvestResult,
  market: PublishedMarketState,
  position: Position,
  limits: OutputLimits,
  policyVersion = "",
): Read<Spelled<HarvestResult>> {
  const ratio = limits.maxPriceRatio;
  const current = position.current_price;
  const problem =
    positionPriceProblem(position, ratio) ??
    (result.new_sl_proposed === null
      ? null
      : checkPrice("new_sl_proposed", result.new_sl_proposed, current, ratio)) ??
    checkPriceDistance("risk_unit", result.risk_unit, current, ratio);
  return spelledUnless(problem, result, () =>
    harvestProposalFields(result, market, position, policyVersion),
  );
}

/**
 * The market state: every figure finite and written (8 decimals for sigma/mu, 6 for the others)
 * in at most MAX_NUMBER_CHARS characters. The stream carries the same spellings.
 */
export function guardMarketState(
  result: MarketState,
  bufferSize: number,
): Read<Spelled<MarketState>> {
  const built = buildFields(() => marketStateFields(result, bufferSize));
  if (!built.ok) return implausible(built.problem);
  const problem = checkNumberLengths(built.fields);
  return problem === null ? ok({ result, fields: built.fields }) : implausible(problem);
}
