// The service configuration: one flat object whose keys mirror the `run` flags (camelCase),
// validated with zod so that every error names the key and the bad value.
//
// CONFIG_SPEC below is the ONE declaration of every key: its zod type and default, its one-line
// help, its flag and where it may be set. Everything else is generated from it
// (src/config/keys.ts): the zod object below, how a flag/env string is coerced (from the zod
// type), the environment name QUANTUM_CALC_<UPPER_SNAKE>, the commander options of `run` and
// `config print` with their "(default: …)" text, and the origin a message names ("flag --only").
import { z } from "zod";
import { DEFAULT_CANDLE_PATTERNS } from "../candles/index.js";
import { marketStateMinRequired } from "../kernels/marketState.js";
import { resolveTheta as resolveStopsTheta } from "../kernels/stops.js";
import { parseRedisUrl } from "../store/redisUrl.js";
import { THETA_KERNELS, thetaProblems, type ThetaKernel } from "./theta.js";

export { PHASE_NAMES as PHASES, type PhaseName as Phase } from "../core/phases.js";
import { PHASE_NAMES as PHASES } from "../core/phases.js";

export const POSITION_SOURCES = ["auto", "redis_hash", "redis_stream", "synthetic"] as const;
export type PositionSourceKind = (typeof POSITION_SOURCES)[number];

export { DEFAULT_CANDLE_PATTERNS };

export const R_NET_BASES = ["locked", "per_unit"] as const;
export const THETA_SOURCES = ["policy", "config"] as const;
export const SYMBOLS_SOURCES = ["config", "policy"] as const;
export type RNetBasis = (typeof R_NET_BASES)[number];
export { KLINES_STREAM as DEFAULT_KLINES_STREAM } from "../contracts/streams.js";
import { KLINES_STREAM as DEFAULT_KLINES_STREAM } from "../contracts/streams.js";

/**
 * Where a key may be set. Every key may be set in the --config file; `flag` adds a flag shared
 * by `run` and `config print` and `QUANTUM_CALC_<UPPER_SNAKE>` in the environment.
 *  - 'flag': flag, environment and file (the rule)
 *  - 'run-flag': as 'flag', but the flag belongs to `run` alone (declared there, e.g. --inspect)
 *  - 'env': environment and file only (a secret: a flag would show it in `ps`)
 *  - 'file': the file only (a JSON object)
 */
export type KeySource = "flag" | "run-flag" | "env" | "file";

export interface KeySpec<S extends z.ZodType = z.ZodType> {
  /** The type, its checks and its default (`.optional()` for no default). */
  schema: S;
  /** One line for `--help` and docs/configuration.md: what the key does. Defaults and choices are added. */
  help: string;
  /** Default 'flag'. */
  source?: KeySource;
  /** The flag's name when it is not the kebab-case key: 'only', 'no-follow-klines' (a switch that sets false). */
  flag?: string;
  /** The value placeholder in `--help` (`--risk-interval <sec>`); switches (booleans) take none. */
  arg?: string;
  /** How a default that is not a plain value reads (null = computed or off). */
  defaultText?: string;
}

/** Checks the spec's shape while keeping its zod type for the inferred Config. */
function key<S extends z.ZodType>(spec: KeySpec<S>): KeySpec<S> {
  return spec;
}

const positiveSeconds = z.number().finite().positive();
const symbol = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,40}$/, "a symbol is 1-40 letters, digits, dot, dash or underscore");

export const CONFIG_SPEC = {
  redisUrl: key({
    schema: z
      .string()
      .regex(/^rediss?:\/\//, "must start with redis:// or rediss://")
      .default("redis://127.0.0.1:6379/0"),
    arg: "url",
    help: "redis://[user:password@]host:port[/db], or rediss:// for TLS",
  }),
  redisPassword: key({
    schema: z.string().min(1).optional(),
    source: "env",
    help: "the Redis password, overriding the URL's; also env REDIS_PASSWORD, or $CREDENTIALS_DIRECTORY/redis-password from systemd LoadCredential=",
  }),
  redisPasswordFile: key({
    schema: z.string().min(1).optional(),
    arg: "file",
    defaultText: "none",
    help: "a file whose trimmed content is the Redis password",
  }),
  sentinels: key({
    schema: z
      .array(
        z.string().regex(/^(?:\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]+):\d{1,5}$/, "a sentinel is host:port"),
      )
      .min(1)
      .optional(),
    arg: "list",
    defaultText: "none",
    help: "comma-separated host:port of Redis Sentinels: the primary of sentinelName is asked of them on every connection (redisUrl's host:port unused; its user, password and db apply)",
  }),
  sentinelName: key({
    schema: z.string().min(1).optional(),
    arg: "name",
    defaultText: "none",
    help: "the name the sentinels monitor the primary under (sentinel monitor <name> ...); needed with sentinels",
  }),
  sentinelPassword: key({
    schema: z.string().min(1).optional(),
    source: "env",
    help: "the sentinels' own password (their requirepass), if any; also $CREDENTIALS_DIRECTORY/sentinel-password from systemd LoadCredential=",
  }),
  store: key({
    schema: z.enum(["redis", "memory"]).default("redis"),
    arg: "kind",
    help: "the store; memory is embedded and empty, for trials",
  }),
  symbols: key({
    schema: z.array(symbol).min(1).default(["BTCUSDT", "ETHUSDT", "SOLUSDT"]),
    arg: "list",
    help: "comma-separated symbols to run",
  }),
  positionSource: key({
    schema: z.enum(POSITION_SOURCES).default("auto"),
    arg: "kind",
    help: "where positions come from; auto reads the hash, then the stream, never synthetic",
  }),
  phases: key({
    schema: z
      .array(z.enum(PHASES))
      .min(1)
      .default([...PHASES]),
    flag: "only",
    arg: "phases",
    help: "comma-separated phases to run",
  }),
  marketstateInterval: key({
    schema: positiveSeconds.default(60),
    arg: "sec",
    help: "marketstate polling interval in seconds",
  }),
  riskInterval: key({
    schema: positiveSeconds.default(10),
    arg: "sec",
    help: "risk polling interval in seconds",
  }),
  harvestInterval: key({
    schema: positiveSeconds.default(10),
    arg: "sec",
    help: "harvest polling interval in seconds",
  }),
  maxPublishAge: key({
    schema: positiveSeconds.default(60),
    arg: "sec",
    help: "publish at least this often, in seconds, even when nothing changed",
  }),
  changeEpsPct: key({
    schema: z.number().finite().min(0).max(1).default(0.001),
    arg: "x",
    help: "relative change of SL/TP/new SL, absolute for K, that counts as a change for the rate limit",
  }),
  fallbackStopPct: key({
    schema: z.number().finite().positive().max(1).default(0.02),
    arg: "x",
    help: "harvest risk unit, as a fraction of entry, without a fresh risk proposal",
  }),
  enableStream: key({
    schema: z.boolean().default(false),
    help: "also XADD the risk and harvest proposal streams; the marketstate stream is always written",
  }),
  windowSize: key({
    schema: z.number().int().min(2).max(100_000).default(300),
    arg: "n",
    help: "closes kept per symbol, at least the MarketState kernel's min_required: 257 with the default theta",
  }),
  candlePatterns: key({
    schema: z
      .array(
        z.string().includes("{symbol}", { message: "a candle key pattern must contain {symbol}" }),
      )
      .min(1)
      .default([...DEFAULT_CANDLE_PATTERNS]),
    arg: "list",
    help: "comma-separated candle key patterns with {symbol}; the first existing key is read",
  }),
  maxCandleAge: key({
    schema: positiveSeconds.default(180),
    arg: "sec",
    help: "a series whose newest candle opened longer ago, in seconds, is skipped as stale_candles",
  }),
  followKlines: key({
    schema: z.boolean().default(true),
    flag: "no-follow-klines",
    help: "turn off following the klines stream, where a closed candle runs its symbol's marketstate at once; the intervals still run",
  }),
  klinesStream: key({
    schema: z.string().min(1).default(DEFAULT_KLINES_STREAM),
    arg: "key",
    help: "the stream of closed candles, read with XREAD, never a group",
  }),
  maxPositionAge: key({
    schema: positiveSeconds.default(300),
    arg: "sec",
    help: "a position snapshot whose ts_epoch is older, in seconds, is skipped as stale_position",
  }),
  maxClockSkew: key({
    schema: positiveSeconds.max(3600).default(5),
    arg: "sec",
    help: "how far, in seconds, an input timestamp may lie in the future: a later candle is skipped as future_candle, a later position stamp is bad_position",
  }),
  minCandlePrice: key({
    schema: z.number().finite().positive().default(1e-12),
    arg: "price",
    help: "a candle with an open, high, low or close below this is malformed (skipped and counted)",
  }),
  maxCandlePrice: key({
    schema: z.number().finite().positive().default(1e12),
    arg: "price",
    help: "a candle with an open, high, low or close above this is malformed (skipped and counted)",
  }),
  maxCandleGap: key({
    schema: z.number().int().min(0).nullable().default(null),
    arg: "min",
    defaultText: "off",
    help: "minutes missing between the window's candles above which marketstate skips as gapped_candles; off computes on and reports the gap",
  }),
  maxCandleKeyBytes: key({
    schema: z.number().int().min(65_536).default(8_388_608),
    arg: "bytes",
    help: "a candle key larger than this (MEMORY USAGE) is not read: its symbol skips as bad_input, the others are not held up",
  }),
  maxPriceRatio: key({
    schema: z.number().finite().gt(1).default(10),
    arg: "x",
    help: "a proposed price (SL, TP, new SL, risk unit, position prices) more than this factor from the current price is implausible_result: nothing of the cycle is written",
  }),
  maxStopDistPct: key({
    schema: z.number().finite().positive().max(1).default(0.5),
    arg: "x",
    help: "a stop distance (stop_dist_pct) at or above this fraction of the price is implausible_result: nothing of the cycle is written",
  }),
  rNetBasis: key({
    schema: z.enum(R_NET_BASES).default("locked"),
    arg: "basis",
    help: "R_net basis (docs/specification.md §4.4): locked divides the position's total PnL, per_unit its PnL per unit of size, a true R multiple",
  }),
  harvestThetaSource: key({
    schema: z.enum(THETA_SOURCES).default("policy"),
    arg: "source",
    help: "harvest theta: policy applies quantum:policy:current (harvest_params, kill_params) over theta.harvest while it is valid; config never reads it",
  }),
  symbolsSource: key({
    schema: z.enum(SYMBOLS_SOURCES).default("config"),
    arg: "source",
    help: "running symbols: config uses symbols; policy the policy's universe_symbols plus every symbol with an open position, followed live (symbols when no policy is usable)",
  }),
  maxPolicyValidity: key({
    schema: positiveSeconds.default(86_400),
    arg: "sec",
    help: "a policy whose valid_until_epoch lies further ahead than this, in seconds, is refused like an expired one",
  }),
  maxSymbols: key({
    schema: z.number().int().min(1).max(100_000).default(2000),
    arg: "n",
    help: "with symbolsSource policy: at most this many symbols, universe and open positions together; a larger universe is refused, open-position keys beyond it are not read (one warning)",
  }),
  universeApplyInterval: key({
    schema: z.number().finite().min(0).max(3600).default(5),
    arg: "sec",
    help: "a changing universe is applied at most once per this many seconds, spawning and stopping publishers in batches that yield to the event loop",
  }),
  maxInputAge: key({
    schema: positiveSeconds.nullable().default(null),
    arg: "sec",
    defaultText: "max(3 x marketstateInterval, maxPublishAge + marketstateInterval)",
    help: "marketstate older than this, in seconds, is refused; an older risk proposal counts as absent",
  }),
  commandTimeoutMs: key({
    schema: z.number().int().positive().default(2000),
    arg: "ms",
    help: "timeout of every Redis command in ms",
  }),
  connectTimeoutMs: key({
    schema: z.number().int().positive().default(5000),
    arg: "ms",
    help: "timeout of a Redis connection attempt in ms",
  }),
  backoffBaseMs: key({
    schema: z.number().int().positive().default(1000),
    arg: "ms",
    help: "first retry delay in ms of an actor after an I/O failure",
  }),
  backoffCapMs: key({
    schema: z.number().int().positive().default(30_000),
    arg: "ms",
    help: "longest retry delay in ms of an actor, at least backoffBaseMs",
  }),
  restartBudget: key({
    schema: z.number().int().min(0).default(5),
    arg: "n",
    help: "one-for-one restarts allowed per actor within restartWindowSec before exit 3",
  }),
  restartWindowSec: key({
    schema: positiveSeconds.default(60),
    arg: "sec",
    help: "the window of restartBudget in seconds",
  }),
  drainTimeoutMs: key({
    schema: z.number().int().positive().max(60_000).default(8000),
    arg: "ms",
    help: "how long SIGTERM waits for in-flight publishes, in ms",
  }),
  lease: key({
    schema: z.boolean().default(true),
    flag: "no-lease",
    help: "turn off the single-writer lease: write without holding leaseKey, so run only one instance (by default an instance writes only while it holds the lease, and a second one stands by and takes over when the writer stops; the memory store and --shadow never take it)",
  }),
  leaseKey: key({
    schema: z
      .string()
      .regex(
        /^quantum:calc:[^\s*?[\]]+$/,
        "must be one of our own keys, quantum:calc:<name> (the least-privilege ACL user may write only there), without spaces or glob characters",
      )
      .default("quantum:calc:leader"),
    arg: "key",
    help: "the Redis key of the single-writer lease, under quantum:calc:",
  }),
  leaseTtlMs: key({
    schema: z.number().int().min(300).max(60_000).default(5000),
    arg: "ms",
    help: "how long the lease lasts without a renewal, in ms (renewed every ttl/3; a standby polls every min(ttl/3, 500 ms)): a writer that died is replaced within about this long",
  }),
  httpHost: key({
    schema: z.string().min(1).default("127.0.0.1"),
    arg: "host",
    help: "HTTP bind address for /metrics, /healthz, /viz",
  }),
  httpPort: key({
    schema: z.number().int().min(0).max(65535).nullable().default(null),
    arg: "port",
    defaultText: "off",
    help: "HTTP port for /metrics, /healthz, /viz; no HTTP server unless given",
  }),
  inspect: key({
    schema: z.boolean().default(false),
    source: "run-flag",
    help: "serve the live state-machine visualizer at /viz; needs httpPort",
  }),
  logLevel: key({
    schema: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
    arg: "level",
    help: "pino log level; JSON lines on stdout, pretty in a terminal",
  }),
  watchdogSec: key({
    schema: z.number().finite().min(0).default(30),
    arg: "sec",
    help: "exit 4 when the event loop is blocked this long, in seconds; 0 disables",
  }),
  recordDir: key({
    schema: z.string().min(1).optional(),
    arg: "dir",
    defaultText: "off",
    help: "flight recorder: record what every cycle read, decided and wrote to this directory (docs/recording.md; never with --once); replay with `replay recording DIR`",
  }),
  recordRetention: key({
    schema: positiveSeconds.default(604_800),
    arg: "sec",
    help: "flight recorder: delete recorded segments older than this (s); recordMaxBytes bounds it too, whichever comes first",
  }),
  recordMaxBytes: key({
    schema: z.number().int().min(1_048_576).default(1_073_741_824),
    arg: "bytes",
    help: "flight recorder: the recording directory's largest total size (bytes); the oldest segments go first",
  }),
  theta: key({
    schema: z
      .object({
        marketstate: z.record(z.string(), z.unknown()).optional(),
        stops: z.record(z.string(), z.unknown()).optional(),
        harvest: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .default({}),
    source: "file",
    defaultText: "{}",
    help: 'kernel overrides {"marketstate": {...}, "stops": {...}, "harvest": {...}}, deep-merged onto the defaults',
  }),
};

export type ConfigKey = keyof typeof CONFIG_SPEC;
type Shape = { [K in ConfigKey]: (typeof CONFIG_SPEC)[K]["schema"] };
const shape = Object.fromEntries(
  Object.entries(CONFIG_SPEC).map(([name, spec]) => [name, spec.schema]),
) as Shape;

/** One problem found by a check across keys, or by a kernel in a theta override. */
export interface CrossIssue {
  /** The key, or the full dotted path in the file (theta.stops.k_sl.trend). */
  path: string;
  message: string;
  /** The value shown as "(got …)"; when absent, the key's own value. */
  value?: unknown;
  /** A key the kernel does not have: the names it may have meant. */
  unknown?: { suggestions: string[] };
  /** The other key the check compared with, so its origin is named too. */
  related?: ConfigKey;
}

/**
 * The checks that read more than one key, or a key through a kernel. Each runs only when every
 * key it reads is valid on its own (`valid`), so that a config with several mistakes gets all of
 * them reported at once — not the type errors first and the rest on the next try — and never a
 * check misled by a value already refused.
 */
export function crossCheck(c: Config, valid: (key: ConfigKey) => boolean): CrossIssue[] {
  const issues: CrossIssue[] = [];
  // A URL that cannot be connected to is a configuration error (exit 2), named with its
  // origin, not a connection failure at start (exit 1: "retry" to systemd, a restart loop).
  if (valid("redisUrl")) {
    try {
      parseRedisUrl(c.redisUrl);
    } catch (error) {
      issues.push({
        path: "redisUrl",
        message: (error as Error).message
          .replace(/^invalid Redis URL \S+: /, "")
          .replace(/ \(got [^)]*\)$/, ""),
      });
    }
  }
  if (valid("backoffCapMs") && valid("backoffBaseMs") && c.backoffCapMs < c.backoffBaseMs) {
    issues.push({
      path: "backoffCapMs",
      message: `must be >= backoffBaseMs (${c.backoffBaseMs})`,
      related: "backoffBaseMs",
    });
  }
  if (valid("sentinels") && valid("sentinelName")) {
    if (c.sentinels !== undefined && c.sentinelName === undefined) {
      issues.push({
        path: "sentinelName",
        message: "is needed with sentinels: the name they monitor the primary under",
        related: "sentinels",
      });
    }
  }
  if (valid("sentinels") && valid("redisUrl")) {
    if (c.sentinels !== undefined && c.redisUrl.startsWith("rediss://")) {
      issues.push({
        path: "sentinels",
        message: "cannot be combined with a rediss:// (TLS) redisUrl yet",
        related: "redisUrl",
      });
    }
  }
  if (valid("symbols") && new Set(c.symbols).size !== c.symbols.length) {
    issues.push({ path: "symbols", message: "lists a symbol twice" });
  }
  if (!valid("theta")) return issues;
  // Every theta override is checked by its kernel here, at start (exit 2), not once per cycle
  // as a bad_input skip for ever; every bad leaf is named (src/config/theta.ts).
  const thetaValid: Record<ThetaKernel, boolean> = {
    marketstate: true,
    stops: true,
    harvest: true,
  };
  for (const kernel of THETA_KERNELS) {
    const problems = thetaProblems(kernel, c.theta[kernel]);
    thetaValid[kernel] = problems.length === 0;
    issues.push(...problems);
  }
  // The stop distance is at least sl_min_pct: at or above maxStopDistPct every risk cycle would
  // be refused as implausible_result for ever.
  if (thetaValid.stops && valid("maxStopDistPct")) {
    const slMinPct = c.theta.stops?.sl_min_pct ?? resolveStopsTheta(null).sl_min_pct;
    if (typeof slMinPct === "number" && slMinPct >= c.maxStopDistPct) {
      issues.push({
        path: "maxStopDistPct",
        message: `must be above theta.stops.sl_min_pct (${slMinPct}): every stop would be implausible_result`,
        related: "theta",
      });
    }
  }
  // A window below the kernel's minimum would make every marketstate cycle insufficient_data
  // for ever: nothing would ever publish.
  if (thetaValid.marketstate && valid("windowSize")) {
    const minRequired = marketStateMinRequired(c.theta.marketstate);
    if (c.windowSize < minRequired) {
      issues.push({
        path: "windowSize",
        message: `must be at least the MarketState kernel's min_required ${minRequired} (max(vol.window, max(trend.windows), regime.window) + 1)`,
        related: "theta",
      });
    }
  }
  return issues;
}

/** Every key's own type and default; unknown keys refused. */
export const configObject = z.object(shape).strict();

/** The whole configuration: every key's own type and default, then the checks across keys. */
export const configSchema = configObject.superRefine((c, ctx) => {
  for (const issue of crossCheck(c, () => true)) {
    ctx.addIssue({ code: "custom", path: issue.path.split("."), message: issue.message });
  }
});

export type Config = z.infer<typeof configObject>;
export type ConfigInput = z.input<typeof configObject>;

/**
 * Effective marketstate staleness bound in seconds (docs/specification.md §6): 3 × the marketstate interval, but
 * never less than maxPublishAge + one interval — an unchanged market state is republished (and
 * its ts_timestamp refreshed) only every maxPublishAge, so a shorter bound would refuse a healthy
 * publisher's output as stale between publishes. With the defaults (60 s, 60 s) it is 180 s.
 */
export function maxInputAgeSec(config: Config): number {
  return (
    config.maxInputAge ??
    Math.max(3 * config.marketstateInterval, config.maxPublishAge + config.marketstateInterval)
  );
}
