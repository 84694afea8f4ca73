// What the phases' rate-limit rules share (CONTRACT.md, "Publish rules"), pure: the settings,
// the two answers, max age and the relative change. Each phase's own rule — given what was last
// published (its "memory") and what was just computed, publish or only heartbeat — lives in its
// phase module (marketstate.ts, risk.ts, harvest.ts). Memory starts from the output hash at
// start-up (each phase's seed), so a restart does not cause a publish storm.
import type { Decision } from "../../machines/publisher.js";

export interface RateLimitSettings {
  /** Publish at least this often (ms), even when nothing changed. */
  maxPublishAgeMs: number;
  /** Relative change that counts (e.g. 0.001). */
  changeEpsPct: number;
}

export const publish = (why: string): Decision => ({ publish: true, why });
export const hold: Decision = { publish: false, why: "rate_limited" };

export function tooOld(publishedAtMs: number, nowMs: number, s: RateLimitSettings): boolean {
  return nowMs - publishedAtMs >= s.maxPublishAgeMs;
}

/** |Δ| / max(|last|, 1) > eps — the "max(last, 1)" keeps sub-unit prices from over-triggering. */
export function changedVsFloorOne(last: number, next: number, eps: number): boolean {
  return Math.abs(next - last) / Math.max(Math.abs(last), 1) > eps;
}
