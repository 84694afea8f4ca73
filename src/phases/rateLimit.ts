// Rate-limit decisions (SPEC §6), pure: given what was last published (the "memory") and what
// was just computed, publish or only heartbeat. Memory starts from the output hash at start-up,
// so a restart does not cause a publish storm.
import type { Decision } from "../../machines/publisher.js";

export interface RateLimitSettings {
  /** Publish at least this often (ms), even when nothing changed. */
  maxPublishAgeMs: number;
  /** Relative change that counts (e.g. 0.001). */
  changeEpsPct: number;
}

export interface MarketStateMemory {
  /** Candle fingerprint of the last publish; null when unknown (e.g. seeded without one). */
  fingerprint: string | null;
  publishedAtMs: number;
}

export interface RiskMemory {
  sl: number;
  tp: number;
  publishedAtMs: number;
}

export interface HarvestMemory {
  action: string;
  newSl: number | null;
  killScore: number;
  publishedAtMs: number;
  /** policy_version of the theta the last publish computed with ('' = the configured theta). */
  policyVersion: string;
}

const publish = (why: string): Decision => ({ publish: true, why });
const hold: Decision = { publish: false, why: "rate_limited" };

function tooOld(publishedAtMs: number, nowMs: number, s: RateLimitSettings): boolean {
  return nowMs - publishedAtMs >= s.maxPublishAgeMs;
}

/** |Δ| / max(|last|, 1) > eps — the "max(last, 1)" keeps sub-unit prices from over-triggering. */
function changedVsFloorOne(last: number, next: number, eps: number): boolean {
  return Math.abs(next - last) / Math.max(Math.abs(last), 1) > eps;
}

export function decideMarketState(
  memory: MarketStateMemory | null,
  fingerprint: string,
  nowMs: number,
  s: RateLimitSettings,
): Decision {
  if (memory === null) return publish("first_publish");
  if (memory.fingerprint !== fingerprint) return publish("new_candles");
  if (tooOld(memory.publishedAtMs, nowMs, s)) return publish("max_age");
  return hold;
}

export function decideRisk(
  memory: RiskMemory | null,
  next: { sl: number; tp: number },
  nowMs: number,
  s: RateLimitSettings,
): Decision {
  if (memory === null) return publish("first_publish");
  if (changedVsFloorOne(memory.sl, next.sl, s.changeEpsPct)) return publish("sl_changed");
  if (changedVsFloorOne(memory.tp, next.tp, s.changeEpsPct)) return publish("tp_changed");
  if (tooOld(memory.publishedAtMs, nowMs, s)) return publish("max_age");
  return hold;
}

export function decideHarvest(
  memory: HarvestMemory | null,
  next: { action: string; newSl: number | null; killScore: number; policyVersion: string },
  nowMs: number,
  s: RateLimitSettings,
): Decision {
  if (memory === null) return publish("first_publish");
  if (memory.action !== next.action) return publish("action_changed");
  // The hash must say which theta computed it: a switch of theta is published even when the
  // proposal came out the same.
  if (memory.policyVersion !== next.policyVersion) return publish("theta_changed");
  if ((memory.newSl === null) !== (next.newSl === null)) return publish("new_sl_set_changed");
  if (memory.newSl !== null && next.newSl !== null) {
    const relative =
      Math.abs(next.newSl - memory.newSl) / Math.max(Math.abs(memory.newSl), Number.MIN_VALUE);
    if (relative > s.changeEpsPct) return publish("new_sl_changed");
  }
  if (Math.abs(next.killScore - memory.killScore) > s.changeEpsPct)
    return publish("kill_score_changed");
  if (tooOld(memory.publishedAtMs, nowMs, s)) return publish("max_age");
  return hold;
}
