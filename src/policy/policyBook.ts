// The policy in force (docs/specification.md §9): the last usable quantum:policy:current, re-read when it changes,
// and the harvest theta it gives at a given moment. The harvest publishers ask it once per cycle,
// so a new policy applies from the next cycle and an expiring one stops applying the moment it
// expires — not at the next re-read.
import { DEFAULT_HARVEST_THETA, type HarvestTheta } from "../kernels/harvest.js";
import type { DeepPartial } from "../kernels/types.js";
import { WrongTypeError, type Store } from "../store/types.js";
import {
  parsePolicy,
  POLICY_KEY,
  type Policy,
  type PolicyLimits,
  type PolicyRefusalReason,
} from "./policy.js";

export type ThetaSource = "policy" | "config";

/** The harvest theta a cycle computes with, and why. */
export interface ThetaInForce {
  theta: DeepPartial<HarvestTheta>;
  source: ThetaSource;
  /** The policy_version whose theta this is; '' when the configured theta is used. */
  version: string;
  /** Why the configured theta is used (null when the policy's is). */
  why: string | null;
}

/** What a re-read found, for logs and metrics. */
export type PolicyEvent =
  /**
   * A policy came into force: new content, or a policy again after none was usable (expired,
   * refused, not read yet). `thetaApplies` false: harvestThetaSource is config, so only its
   * universe is used (symbolsSource policy).
   */
  | { type: "applied"; policy: Policy; previous: Policy | null; thetaApplies?: boolean }
  | { type: "refreshed"; policy: Policy }
  | {
      type: "refused";
      reason: PolicyRefusalReason | "wrong_type";
      detail: string;
      keptPrevious: boolean;
    }
  | { type: "unused_keys"; version: string; keys: string[] };

export interface PolicyBookOptions {
  store: Pick<Store, "hgetall">;
  /** `policy` (default): defaults, then the configured theta, then the policy's. `config`: never the policy. */
  source: ThetaSource;
  /** The configured harvest theta (theta.harvest and fallbackStopPct), applied under the policy's. */
  configured: DeepPartial<HarvestTheta>;
  /** maxPolicyValidity and maxSymbols (policyLimitsFrom(config)); absent: their defaults. */
  limits?: PolicyLimits;
  onEvent?: (event: PolicyEvent) => void;
}

export class PolicyBook {
  private policy: Policy | null = null;
  /** When the policy in force was first applied (a refresh with the same content keeps it). */
  private appliedAtMs: number | null = null;
  /** Why there is no usable policy (null while one is in force, or before the first read). */
  private refusal: {
    reason: PolicyRefusalReason | "wrong_type";
    detail: string;
    identity: string;
  } | null = null;
  private readonly unusedReported = new Set<string>();
  private reads = 0;

  constructor(private readonly options: PolicyBookOptions) {}

  /**
   * Re-reads the policy hash. A usable policy replaces the one in force; a refused one is
   * reported and — when it is a different problem from the last — logged; the previous good policy
   * stays in force until it expires (docs/specification.md §9: the publishers keep running on the last good theta).
   * I/O failures reject (the caller retries on its schedule).
   *
   * With harvestThetaSource config the policy is not read — unless `universe` asks for it
   * (symbolsSource policy needs its universe_symbols; its theta still never applies).
   */
  async refresh(nowMs: number, options: { universe?: boolean } = {}): Promise<void> {
    if (this.options.source === "config" && options.universe !== true) return;
    this.reads += 1;
    let fields: Record<string, string>;
    try {
      fields = await this.options.store.hgetall(POLICY_KEY);
    } catch (error) {
      if (!(error instanceof WrongTypeError)) throw error;
      this.refuse(nowMs, "wrong_type", error.message);
      return;
    }
    const read = parsePolicy(fields, nowMs, this.options.configured, this.options.limits);
    if (!read.ok) {
      this.refuse(nowMs, read.reason, read.detail, read.identity);
      return;
    }
    const previous = this.policy;
    // The same content re-issued is a refresh only while the previous one is still in force: after
    // it expired, the policy comes back into force (logged, counted, its age from now).
    const refreshed =
      previous !== null &&
      previous.validUntilMs > nowMs &&
      previous.fingerprint === read.policy.fingerprint;
    this.policy = read.policy;
    this.refusal = null;
    if (refreshed) {
      this.emit({ type: "refreshed", policy: read.policy });
    } else {
      this.appliedAtMs = nowMs;
      this.emit({
        type: "applied",
        policy: read.policy,
        previous,
        thetaApplies: this.options.source === "policy",
      });
    }
    // Unused theta keys matter only where the theta is used.
    if (this.options.source !== "policy") return;
    const unused = read.policy.unusedKeys.filter(
      (key) => !this.unusedReported.has(`${read.policy.version}:${key}`),
    );
    if (unused.length > 0) {
      for (const key of unused) this.unusedReported.add(`${read.policy.version}:${key}`);
      this.emit({ type: "unused_keys", version: read.policy.version, keys: unused });
    }
  }

  private refuse(
    nowMs: number,
    reason: PolicyRefusalReason | "wrong_type",
    detail: string,
    identity: string = detail,
  ): void {
    // The same problem again (say, the same expired policy on every re-read) is not logged again.
    const repeated = this.refusal?.reason === reason && this.refusal.identity === identity;
    this.refusal = { reason, detail, identity };
    // Kept: a previous policy still in force (not one that has expired meanwhile).
    if (!repeated)
      this.emit({ type: "refused", reason, detail, keptPrevious: this.usable(nowMs) !== null });
  }

  private emit(event: PolicyEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // An observer must not break the policy handling.
    }
  }

  /** The policy usable at `nowMs` (a kept policy that has expired meanwhile is not). */
  usable(nowMs: number): Policy | null {
    return this.policy !== null && this.policy.validUntilMs > nowMs ? this.policy : null;
  }

  /** The policy's universe at `nowMs`; null when no usable policy (then the configured symbols run). */
  universe(nowMs: number): string[] | null {
    return this.usable(nowMs)?.universe ?? null;
  }

  /** The theta a harvest cycle at `nowMs` computes with. */
  thetaAt(nowMs: number): ThetaInForce {
    const configured = this.options.configured;
    if (this.options.source === "config")
      return {
        theta: configured,
        source: "config",
        version: "",
        why: "harvestThetaSource is config",
      };
    const policy = this.usable(nowMs);
    if (policy === null) {
      const why =
        this.policy !== null
          ? `policy ${this.policy.version} expired at ${new Date(this.policy.validUntilMs).toISOString()}`
          : this.refusal !== null
            ? `policy refused (${this.refusal.reason}): ${this.refusal.detail}`
            : this.reads === 0
              ? "policy not read yet"
              : "no policy";
      return { theta: configured, source: "config", version: "", why };
    }
    return {
      theta: { ...configured, ...policy.theta },
      source: "policy",
      version: policy.version,
      why: null,
    };
  }

  /** For status and /viz: what is in force and why, at `nowMs`. */
  describe(nowMs: number): PolicyDescription {
    const inForce = this.thetaAt(nowMs);
    // The expiry and age are those of the policy whose theta is in force (none under the configured theta).
    const usable = inForce.source === "policy" ? this.usable(nowMs) : null;
    return {
      source: inForce.source,
      version: inForce.version,
      why: inForce.why,
      validUntilMs: usable?.validUntilMs ?? null,
      appliedAtMs: usable === null ? null : this.appliedAtMs,
      refusal: this.refusal === null ? null : `${this.refusal.reason}: ${this.refusal.detail}`,
    };
  }
}

export interface PolicyDescription {
  source: ThetaSource;
  version: string;
  /** Why the configured theta is in force; null under the policy. */
  why: string | null;
  /** The policy in force's expiry and when it was applied; null without one. */
  validUntilMs: number | null;
  appliedAtMs: number | null;
  /** The latest refusal (reason: detail), null when the latest read was usable. */
  refusal: string | null;
}

/** The full harvest theta in force, for tests and the README: the defaults with `theta` merged. */
export function effectiveHarvestTheta(theta: DeepPartial<HarvestTheta>): HarvestTheta {
  return { ...DEFAULT_HARVEST_THETA, ...(theta as Partial<HarvestTheta>) };
}
