// The AI policy (docs/specification.md §9): the hash quantum:policy:current as the universe generator writes it
// (lib/policy_store.py save_policy): every value a string —
//   universe_symbols    json.dumps(list of symbols)
//   leverage_by_symbol  json.dumps(dict)
//   harvest_params      json.dumps(dict: T1_R, T2_R, T3_R, lock_R, be_plus_pct, cost_bps,
//                       k_regime_flip, k_sigma_spike, k_ts_drop, k_age_penalty, kill_threshold)
//   kill_params         json.dumps(dict: trend_min, sigma_ref, sigma_spike_cap, ts_ref,
//                       ts_drop_cap, max_age_sec, k_close_threshold)
//   valid_until_epoch   str(time.time() + valid_for_seconds)   (float seconds; 300 s ahead)
//   policy_version      e.g. "1.0.0-ai-v1" — the same on every refresh, so content changes are
//                       told apart by policy_hash (and by the content itself)
//   policy_hash, generator, market, venue, … descriptive
// Every update is also announced on quantum:stream:policy.update.
//
// This module is pure: fields in, a usable policy or the reason it is refused out. The whole
// policy is refused on any problem — a half-applied theta is a theta nobody chose.
import { DEFAULT_HARVEST_THETA, type HarvestTheta } from "../kernels/harvest.js";
import { firstUnsafeCharacter, jsonForLog, quoteForLog } from "../contracts/safeText.js";
import { parseFiniteNumber } from "../inputs/parse.js";

export const POLICY_KEY = "quantum:policy:current";
export { POLICY_UPDATE_STREAM } from "../contracts/streams.js";

export const POLICY_REFUSAL_REASONS = [
  "missing",
  "bad_json",
  "bad_value",
  "bad_universe",
  "expired",
  "too_far_ahead",
  "too_large",
] as const;
export type PolicyRefusalReason = (typeof POLICY_REFUSAL_REASONS)[number];

/** A symbol as the universe may name it. */
export const UNIVERSE_SYMBOL = /^[A-Z0-9]{2,30}$/;
/**
 * More symbols than this is not a universe, it is a bug upstream (and a spawn storm here). The
 * default of the config key maxSymbols, which decides (PolicyLimits).
 */
export const MAX_UNIVERSE_SYMBOLS = 2000;
/**
 * The default of the config key maxPolicyValidity (s): the generator stamps its policy 300 s
 * ahead; one valid for more than a day would outlive the generator by a day if it died.
 */
export const DEFAULT_MAX_POLICY_VALIDITY_SEC = 86_400;
/**
 * The generator writes "1.0.0-ai-v1"; the version goes into every harvest hash, log line and a
 * metric label, so it is kept to what a version can be.
 */
export const MAX_POLICY_VERSION_CHARS = 64;

/** The configured limits a policy is checked against (config maxPolicyValidity, maxSymbols). */
export interface PolicyLimits {
  /** valid_until_epoch further ahead than this (s) is refused as too_far_ahead; null: no limit. */
  maxValiditySec?: number | null;
  /** A universe of more symbols is refused as too_large. */
  maxSymbols?: number;
}

/** The limits from the configuration. */
export function policyLimitsFrom(config: {
  maxPolicyValidity: number;
  maxSymbols: number;
}): PolicyLimits {
  return { maxValiditySec: config.maxPolicyValidity, maxSymbols: config.maxSymbols };
}
/** No field of a sane policy comes near this; a 1 MB field is refused before JSON.parse. */
export const MAX_POLICY_FIELD_CHARS = 256 * 1024;

/** The keys of the harvest theta the policy may set; fallback_stop_pct stays the configured one. */
export type PolicyThetaKey = Exclude<keyof HarvestTheta, "fallback_stop_pct">;

interface Range {
  min: number;
  max: number;
  /** min excluded (e.g. divisors). */
  minExclusive?: boolean;
  /** max excluded (probability thresholds). */
  maxExclusive?: boolean;
  why: string;
}

/**
 * Valid range per harvest theta key, from what the kernel does with it (src/kernels/harvest.ts):
 * divisors > 0, weights and caps ≥ 0, probabilities and the kill threshold inside (0, 1), the
 * R thresholds > 0 (and ascending, checked on the merged theta), costs and offsets ≥ 0 and small.
 */
export const POLICY_THETA_RANGES: Readonly<Record<PolicyThetaKey, Range>> = {
  cost_bps: { min: 0, max: 1000, why: "a cost in basis points, 0..1000" },
  T1_R: { min: 0, max: 100, minExclusive: true, why: "an R threshold > 0" },
  T2_R: { min: 0, max: 100, minExclusive: true, why: "an R threshold > 0" },
  T3_R: { min: 0, max: 100, minExclusive: true, why: "an R threshold > 0" },
  u1: { min: -100, max: 100, why: "a tranche logit" },
  u2: { min: -100, max: 100, why: "a tranche logit" },
  u3: { min: -100, max: 100, why: "a tranche logit" },
  softmax_temp: { min: 0, max: 1000, minExclusive: true, why: "a temperature > 0 (a divisor)" },
  lock_R: { min: 0, max: 100, why: "an R threshold >= 0" },
  be_plus_pct: { min: 0, max: 0.5, why: "a fraction of the entry, 0..0.5" },
  trend_min: { min: 0, max: 1, why: "a probability, 0..1" },
  sigma_ref: { min: 0, max: 10, minExclusive: true, why: "a volatility > 0 (a divisor)" },
  sigma_spike_cap: { min: 0, max: 100, why: "a cap >= 0" },
  ts_ref: { min: 0, max: 100, why: "a trend strength >= 0" },
  ts_drop_cap: { min: 0, max: 100, why: "a cap >= 0" },
  max_age_sec: { min: 0, max: 365 * 86_400, minExclusive: true, why: "seconds > 0 (a divisor)" },
  k_regime_flip: { min: 0, max: 100, why: "a weight >= 0" },
  k_sigma_spike: { min: 0, max: 100, why: "a weight >= 0" },
  k_ts_drop: { min: 0, max: 100, why: "a weight >= 0" },
  k_age_penalty: { min: 0, max: 100, why: "a weight >= 0" },
  kill_threshold: {
    min: 0,
    max: 1,
    minExclusive: true,
    maxExclusive: true,
    why: "a kill-score threshold inside (0, 1)",
  },
};

const THETA_KEYS = new Set(Object.keys(POLICY_THETA_RANGES));

export interface Policy {
  version: string;
  /** Changes whenever the theta or the universe changes (the version may stay the same). */
  fingerprint: string;
  validUntilMs: number;
  /** The harvest theta keys the policy sets (harvest_params and kill_params merged). */
  theta: Partial<Record<PolicyThetaKey, number>>;
  /** Keys of harvest_params/kill_params that are not harvest theta keys (reported once). */
  unusedKeys: string[];
  universe: string[];
}

export type PolicyRead =
  | { ok: true; policy: Policy }
  | {
      ok: false;
      reason: PolicyRefusalReason;
      detail: string;
      /**
       * What makes two refusals the same problem, when the detail varies from read to read (an
       * expired policy's "expired N s ago"); absent: the detail itself.
       */
      identity?: string;
    };

const refuse = (reason: PolicyRefusalReason, detail: string, identity?: string): PolicyRead =>
  identity === undefined ? { ok: false, reason, detail } : { ok: false, reason, detail, identity };

/**
 * valid_until_epoch at or above this is not epoch seconds (1e11 s is the year 5138; the current
 * epoch in milliseconds is above 1e12): a policy stamped in milliseconds would never expire.
 */
export const MAX_VALID_UNTIL_EPOCH = 1e11;

/** K = sigmoid(a weighted sum of components >= 0, weights >= 0) is never below this. */
export const MIN_KILL_SCORE = 0.5;

function jsonField(
  fields: Record<string, string>,
  name: string,
): { ok: true; value: unknown } | { ok: false; read: PolicyRead } {
  const text = fields[name];
  if (text === undefined || text === "")
    return { ok: false, read: refuse("missing", `${POLICY_KEY}.${name} is missing`) };
  if (text.length > MAX_POLICY_FIELD_CHARS) {
    return {
      ok: false,
      read: refuse(
        "too_large",
        `${POLICY_KEY}.${name} is ${text.length} characters (at most ${MAX_POLICY_FIELD_CHARS})`,
      ),
    };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return {
      ok: false,
      read: refuse("bad_json", `${POLICY_KEY}.${name} is not valid JSON (${quoteForLog(text)})`),
    };
  }
}

function inRange(value: number, r: Range): boolean {
  const low = r.minExclusive ? value > r.min : value >= r.min;
  const high = r.maxExclusive ? value < r.max : value <= r.max;
  return low && high;
}

/**
 * The policy from its hash fields at `nowMs`, or why it cannot be used: a field missing, not
 * valid JSON or too large; a theta value that is not a finite number in its key's range, or R
 * thresholds that are not ascending once merged onto `base` (the configured theta); a universe
 * that is not a list of `[A-Z0-9]{2,30}` symbols (at most `limits.maxSymbols`); a
 * `policy_version` longer than MAX_POLICY_VERSION_CHARS or holding a control or bidi/invisible
 * format character; or a `valid_until_epoch` that has passed or lies more than
 * `limits.maxValiditySec` ahead.
 */
export function parsePolicy(
  fields: Record<string, string>,
  nowMs: number,
  base: Partial<HarvestTheta> = {},
  limits: PolicyLimits = {},
): PolicyRead {
  const maxValiditySec =
    limits.maxValiditySec === undefined ? DEFAULT_MAX_POLICY_VALIDITY_SEC : limits.maxValiditySec;
  const maxSymbols = limits.maxSymbols ?? MAX_UNIVERSE_SYMBOLS;
  if (Object.keys(fields).length === 0) return refuse("missing", `${POLICY_KEY} does not exist`);
  const version = fields.policy_version;
  if (version === undefined || version === "")
    return refuse("missing", `${POLICY_KEY}.policy_version is missing`);
  if (version.length > MAX_POLICY_VERSION_CHARS) {
    return refuse(
      "too_large",
      `${POLICY_KEY}.policy_version is ${version.length} characters (at most ${MAX_POLICY_VERSION_CHARS}): ${quoteForLog(version, 40)}`,
    );
  }
  // Checked before the version appears in any other detail: those quote it as it is.
  const unsafe = firstUnsafeCharacter(version);
  if (unsafe !== null) {
    return refuse(
      "bad_value",
      `${POLICY_KEY}.policy_version holds ${unsafe.codePoint} (a control or bidirectional/invisible format character) at index ${unsafe.index}: ${quoteForLog(version)}`,
    );
  }

  const validUntil = parseFiniteNumber(fields.valid_until_epoch);
  if (validUntil === null)
    return refuse(
      "bad_value",
      `${POLICY_KEY}.valid_until_epoch must be epoch seconds (got ${quoteForLog(String(fields.valid_until_epoch ?? ""), 40)})`,
    );
  if (validUntil >= MAX_VALID_UNTIL_EPOCH) {
    return refuse(
      "bad_value",
      `${POLICY_KEY}.valid_until_epoch must be epoch seconds (got ${validUntil}: milliseconds?)`,
    );
  }
  const validUntilMs = validUntil * 1000;
  if (validUntilMs <= nowMs) {
    return refuse(
      "expired",
      `policy ${version} expired ${Math.round((nowMs - validUntilMs) / 1000)} s ago (valid_until_epoch ${validUntil})`,
      `expired ${JSON.stringify(version)} ${validUntil}`,
    );
  }
  // Refused like an expired one (CONTRACT.md, "Plausibility"): a policy stamped a year ahead
  // would stay in force a year after its generator stopped refreshing it.
  const aheadSec = (validUntilMs - nowMs) / 1000;
  if (maxValiditySec !== null && aheadSec > maxValiditySec) {
    return refuse(
      "too_far_ahead",
      `policy ${version} is valid until ${validUntil}, ${Math.round(aheadSec)} s ahead (maxPolicyValidity ${maxValiditySec} s)`,
      `too_far_ahead ${JSON.stringify(version)} ${validUntil}`,
    );
  }

  const theta: Partial<Record<PolicyThetaKey, number>> = {};
  const unusedKeys: string[] = [];
  for (const name of ["harvest_params", "kill_params"] as const) {
    const parsed = jsonField(fields, name);
    if (!parsed.ok) return parsed.read;
    const obj = parsed.value;
    if (typeof obj !== "object" || obj === null || Array.isArray(obj))
      return refuse("bad_json", `${POLICY_KEY}.${name} must be a JSON object`);
    const entries = Object.entries(obj as Record<string, unknown>);
    if (entries.length > 200)
      return refuse("too_large", `${POLICY_KEY}.${name} has ${entries.length} keys`);
    for (const [key, raw] of entries) {
      if (key === "fallback_stop_pct" || !THETA_KEYS.has(key)) {
        // Reported in a log line: a key name is another service's string too.
        unusedKeys.push(
          `${name}.${key.length <= 64 && firstUnsafeCharacter(key) === null ? key : quoteForLog(key, 64)}`,
        );
        continue;
      }
      const range = POLICY_THETA_RANGES[key as PolicyThetaKey];
      if (typeof raw !== "number" || !Number.isFinite(raw) || !inRange(raw, range)) {
        return refuse(
          "bad_value",
          `${POLICY_KEY}.${name}.${key} must be ${range.why} (got ${jsonForLog(raw)})`,
        );
      }
      // The same key in both objects: the kill parameters decide (they are the later, more
      // specific field); but they must agree to be unambiguous.
      const earlier = theta[key as PolicyThetaKey];
      if (earlier !== undefined && earlier !== raw) {
        return refuse(
          "bad_value",
          `${POLICY_KEY}: ${key} is ${earlier} in harvest_params but ${raw} in kill_params`,
        );
      }
      theta[key as PolicyThetaKey] = raw;
    }
  }
  const merged = { ...DEFAULT_HARVEST_THETA, ...base, ...theta };
  if (!(merged.T1_R < merged.T2_R && merged.T2_R < merged.T3_R)) {
    return refuse(
      "bad_value",
      `${POLICY_KEY}: the R thresholds must ascend, T1_R < T2_R < T3_R (got ${merged.T1_R}, ${merged.T2_R}, ${merged.T3_R})`,
    );
  }
  // With weights >= 0 the kill score is sigmoid(x >= 0) >= 0.5: a threshold at or below 0.5 would
  // propose a FULL_CLOSE of every open position on every cycle.
  const weights = [
    merged.k_regime_flip,
    merged.k_sigma_spike,
    merged.k_ts_drop,
    merged.k_age_penalty,
  ];
  if (
    theta.kill_threshold !== undefined &&
    theta.kill_threshold <= MIN_KILL_SCORE &&
    weights.every((w) => w >= 0)
  ) {
    return refuse(
      "bad_value",
      `${POLICY_KEY}: kill_threshold ${theta.kill_threshold} is at or below ${MIN_KILL_SCORE}, the lowest kill score there is: every position would get FULL_CLOSE_PROPOSED`,
    );
  }

  const universeField = jsonField(fields, "universe_symbols");
  if (!universeField.ok) return universeField.read;
  const list = universeField.value;
  if (!Array.isArray(list))
    return refuse("bad_universe", `${POLICY_KEY}.universe_symbols must be a JSON list`);
  if (list.length > maxSymbols)
    return refuse(
      "too_large",
      `${POLICY_KEY}.universe_symbols lists ${list.length} symbols (at most ${maxSymbols}: maxSymbols)`,
    );
  const universe: string[] = [];
  const seen = new Set<string>();
  for (const [i, symbol] of list.entries()) {
    if (typeof symbol !== "string" || !UNIVERSE_SYMBOL.test(symbol)) {
      return refuse(
        "bad_universe",
        `${POLICY_KEY}.universe_symbols[${i}] is not a symbol of 2-30 capital letters and digits (got ${jsonForLog(symbol)})`,
      );
    }
    if (!seen.has(symbol)) universe.push(symbol);
    seen.add(symbol);
  }

  // Not the expiry: the generator re-issues the same policy every few minutes with a later
  // valid_until_epoch, which is a refresh, not a change.
  const fingerprint = JSON.stringify([version, theta, universe]);
  return { ok: true, policy: { version, fingerprint, validUntilMs, theta, unusedKeys, universe } };
}
