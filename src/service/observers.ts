// The service's observers — metrics, the visualizer, the demo's lines — are called through here.
// They must never take the supervisor down: an exception thrown in an XState action or inspector
// would crash the actor that ran it. So every call is guarded: a throw is counted and logged on
// its 1st, 2nd, 4th, 8th … occurrence, and ignored.
import type { InspectionEvent } from "xstate";
import type { CycleDoneEvent } from "../../machines/publisher.js";
import type { Escalation, RestartNotice, SymbolChange } from "../../machines/supervisor.js";
import type { Logger } from "../log.js";
import type { KlinesBatchStats } from "../phases/klinesFollower.js";
import type { PolicyEvent } from "../policy/policyBook.js";
import type { RoleDescription } from "../lease/index.js";
import { isLoudRepeat } from "./serviceLog.js";

export interface ServiceHooks {
  onCycle?(event: CycleDoneEvent, nowMs: number): void;
  /** Every batch the klines follower read (metrics: candles seen and skipped). */
  onKlines?(stats: KlinesBatchStats): void;
  onRestart?(notice: RestartNotice): void;
  onEscalate?(escalation: Escalation): void;
  /** What a policy re-read found (applied, refreshed, refused, unused keys). */
  onPolicy?(event: PolicyEvent): void;
  /** The running symbols changed (symbolsSource: policy). */
  onSymbols?(change: SymbolChange): void;
  /** The role changed under the single-writer lease (leader ⇄ standby). */
  onRole?(role: RoleDescription): void;
}

export class Observers {
  readonly #logger: Logger;
  readonly #hooks: ServiceHooks;
  readonly #failures = new Map<string, number>();

  constructor(logger: Logger, hooks: ServiceHooks | undefined) {
    this.#logger = logger;
    this.#hooks = hooks ?? {};
  }

  /** Calls hook `name` (if given) with `args`, guarded. */
  notify<K extends keyof ServiceHooks>(
    name: K,
    ...args: Parameters<NonNullable<ServiceHooks[K]>>
  ): void {
    const hook = this.#hooks[name] as ((...a: typeof args) => void) | undefined;
    if (hook === undefined) return;
    this.guarded(name, () => hook.apply(this.#hooks, args));
  }

  /** XState inspection (the live visualizer), guarded; undefined without an inspector. */
  inspector(
    inspect: ((event: InspectionEvent) => void) | undefined,
  ): ((event: InspectionEvent) => void) | undefined {
    return inspect === undefined
      ? undefined
      : (event) => this.guarded("inspect", () => inspect(event));
  }

  /** Runs `fn`; a throw is counted, logged with the repeat rule, and ignored. */
  guarded(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      const n = (this.#failures.get(what) ?? 0) + 1;
      this.#failures.set(what, n);
      if (isLoudRepeat(n))
        this.#logger.error(
          { hook: what, err: (err as Error).message, failures: n },
          `observer ${what} threw; ignored`,
        );
    }
  }
}
