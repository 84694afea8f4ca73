// The one line an operator reads to know what runs: the symbols, the phases and their intervals,
// the store, shadow mode, the klines stream, where positions and symbols come from, the harvest
// theta in force, and the role under the single-writer lease — said as what is true now (writing,
// standing by behind a named holder, waiting for Redis, waiting to take a free lease).
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { PolicyBook } from "../policy/policyBook.js";
import type { ServiceLease } from "../lease/index.js";
import type { Store } from "../store/types.js";

export function logStartLine(
  logger: Logger,
  s: {
    config: Config;
    symbols: readonly string[];
    store: Store;
    once: boolean;
    shadow: boolean;
    klines: boolean;
    policy: PolicyBook;
    lease: ServiceLease;
    nowMs: number;
  },
): void {
  const { config, symbols, store, once } = s;
  const phases = config.phases;
  const intervals = phases.map((p) => `${p} ${config[`${p}Interval` as const]} s`).join(", ");
  const theta = s.policy.describe(s.nowMs);
  const role = s.lease.describe();
  logger.info(
    {
      symbols,
      phases,
      intervalsSec: Object.fromEntries(phases.map((p) => [p, config[`${p}Interval` as const]])),
      store: store.kind,
      once,
      shadow: s.shadow,
      role: role.role,
      ...(s.lease.lease === null ? {} : { lease: config.leaseKey, holder: role.holder }),
      positionSource: config.positionSource,
      candles: config.candlePatterns[0],
      klines: s.klines ? config.klinesStream : null,
      symbolsSource: config.symbolsSource,
      theta: theta.source === "policy" ? `policy ${theta.version}` : "config",
    },
    `quantum-calc started: ${phases.join(", ")} for ${symbols.length} symbol(s) (${symbols.slice(0, 10).join(", ")}${symbols.length > 10 ? ", …" : ""}) on the ${store.kind} store${once ? " (--once)" : ""}${s.shadow ? " in SHADOW mode: nothing is written to Redis" : ""}; ` +
      `every ${intervals}${s.klines ? `, and on every closed candle of ${config.klinesStream}` : ""}; positions ${config.positionSource}; ` +
      `symbols from ${config.symbolsSource}; harvest theta ${theta.source === "policy" ? `from policy ${theta.version}` : `configured (${theta.why ?? ""})`}; ` +
      s.lease.startText(),
  );
}
