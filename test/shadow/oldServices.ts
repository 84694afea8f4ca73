// The three Python services' hashes, in their spellings, for the shadow-mode tests: str() of a
// Python float ("1800.0", "2.48386e-05"), `None` for no new stop, datetime.utcnow().isoformat()
// (naive, microseconds) for computed_at_utc, time.time() for ts_timestamp, and none of the fields
// only quantum-calc writes (regime_probs, the k_* components, policy_version, last_update_epoch).
// Built from a hash of ours with the same values, so a test knows exactly which fields agree.
import type { Redis } from "ioredis";

/** Python's str(float): the shortest round-trip digits, exponent below 1e-4 and from 1e16, ".0" on integers. */
export function pyFloat(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return `${x}.0`;
  const [mantissa, exponentText] = x.toExponential().split("e") as [string, string];
  const exponent = Number(exponentText);
  if (exponent < -4 || exponent >= 16)
    return `${mantissa}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  return String(x);
}

/** datetime.utcfromtimestamp(ms / 1000).isoformat(): no zone, microseconds. */
export function pyIsoformat(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, -1)}000`;
}

const OURS_ONLY = new Set([
  "regime_probs",
  "k_regime_flip",
  "k_sigma_spike",
  "k_ts_drop",
  "k_age_penalty",
  "policy_version",
  "last_update_epoch",
]);
const TEXT = new Set([
  "reason_codes",
  "harvest_action",
  "position_side",
  "computed_at_utc",
  "new_sl_proposed",
]);

/** Our hash `fields` as the old service of its key would have written the same values. */
export function asPythonWrote(fields: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, value] of Object.entries(fields)) {
    if (OURS_ONLY.has(field)) continue;
    if (field === "computed_at_utc") out[field] = pyIsoformat(Date.parse(value));
    else if (field === "new_sl_proposed")
      out[field] = value === "" ? "None" : pyFloat(Number(value));
    else if (field === "ts_timestamp") out[field] = String(Number(value) + 0.123456);
    else if (field === "buffer_size") out[field] = value;
    else if (TEXT.has(field) || !/^-?\d/.test(value)) out[field] = value;
    else out[field] = pyFloat(Number(value));
  }
  return out;
}

/** Replaces the hash at `key` with `fields` (HSET after DEL: the old service's hash alone). */
export async function writeOldHash(
  redis: Redis,
  key: string,
  fields: Record<string, string>,
): Promise<void> {
  await redis.del(key);
  await redis.hset(key, fields);
}
