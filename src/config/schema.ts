// The service configuration: one flat object whose keys mirror the `run` flags (camelCase),
// validated with zod so that every error names the key and the bad value.
import { z } from 'zod';
import { DEFAULT_CANDLE_PATTERNS } from '../inputs/candles.js';
import { marketStateMinRequired } from '../kernels/marketState.js';
import { resolveTheta as resolveStopsTheta } from '../kernels/stops.js';
import { resolveTheta as resolveHarvestTheta } from '../kernels/harvest.js';

export const PHASES = ['marketstate', 'risk', 'harvest'] as const;
export type Phase = (typeof PHASES)[number];

export const POSITION_SOURCES = ['auto', 'redis_hash', 'redis_stream', 'synthetic'] as const;
export type PositionSourceKind = (typeof POSITION_SOURCES)[number];

export { DEFAULT_CANDLE_PATTERNS };

export const R_NET_BASES = ['locked', 'per_unit'] as const;
export type RNetBasis = (typeof R_NET_BASES)[number];
export const DEFAULT_KLINES_STREAM = 'quantum:stream:market.klines';

const positiveSeconds = z.number().finite().positive();
const symbol = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,40}$/, 'a symbol is 1-40 letters, digits, dot, dash or underscore');

export const configSchema = z
  .object({
    /** redis://[user:password@]host:port[/db] or rediss:// for TLS. */
    redisUrl: z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://').default('redis://127.0.0.1:6379/0'),
    /** Overrides the URL's password; filled from $CREDENTIALS_DIRECTORY/redis-password or REDIS_PASSWORD. */
    redisPassword: z.string().min(1).optional(),
    /** A file whose content (trimmed) is the Redis password. */
    redisPasswordFile: z.string().min(1).optional(),
    store: z.enum(['redis', 'memory']).default('redis'),
    symbols: z.array(symbol).min(1).default(['BTCUSDT', 'ETHUSDT', 'SOLUSDT']),
    positionSource: z.enum(POSITION_SOURCES).default('auto'),
    /** Phases to run; `--only`. */
    phases: z.array(z.enum(PHASES)).min(1).default([...PHASES]),
    marketstateInterval: positiveSeconds.default(60),
    riskInterval: positiveSeconds.default(10),
    harvestInterval: positiveSeconds.default(10),
    /** Publish at least this often even when nothing changed (s). */
    maxPublishAge: positiveSeconds.default(60),
    /** Relative change that counts as "changed" for the rate limit. */
    changeEpsPct: z.number().finite().min(0).max(1).default(0.001),
    /** Harvest risk unit when no fresh risk proposal exists (fraction of entry). */
    fallbackStopPct: z.number().finite().positive().max(1).default(0.02),
    /** Also XADD to the optional proposal streams (the marketstate stream is always written). */
    enableStream: z.boolean().default(false),
    /** Closes kept per symbol. */
    windowSize: z.number().int().min(2).max(100_000).default(300),
    candlePatterns: z
      .array(z.string().includes('{symbol}', { message: 'a candle key pattern must contain {symbol}' }))
      .min(1)
      .default([...DEFAULT_CANDLE_PATTERNS]),
    /** A series whose newest candle opened longer ago than this (s) is skipped as stale_candles. */
    maxCandleAge: positiveSeconds.default(180),
    /** Follow the klines stream in `run`: a closed candle runs its symbol's marketstate at once. */
    followKlines: z.boolean().default(true),
    /** The stream the market publisher appends closed candles to (read with XREAD, never a group). */
    klinesStream: z.string().min(1).default(DEFAULT_KLINES_STREAM),
    /** A position snapshot whose ts_epoch is older than this (s) is skipped as stale_position. */
    maxPositionAge: positiveSeconds.default(300),
    /** R_net from the position's total PnL (locked) or its PnL per unit (per_unit), SPEC §4.4. */
    rNetBasis: z.enum(R_NET_BASES).default('locked'),
    /** Marketstate older than this is refused (s); null = max(3 x marketstateInterval, maxPublishAge + marketstateInterval). */
    maxInputAge: positiveSeconds.nullable().default(null),
    commandTimeoutMs: z.number().int().positive().default(2000),
    connectTimeoutMs: z.number().int().positive().default(5000),
    backoffBaseMs: z.number().int().positive().default(1000),
    backoffCapMs: z.number().int().positive().default(30_000),
    /** One-for-one restarts allowed per actor within restartWindowSec before escalating. */
    restartBudget: z.number().int().min(0).default(5),
    restartWindowSec: positiveSeconds.default(60),
    /** How long SIGTERM waits for in-flight publishes (ms). */
    drainTimeoutMs: z.number().int().positive().max(60_000).default(8000),
    httpHost: z.string().min(1).default('127.0.0.1'),
    /** null = no HTTP server. */
    httpPort: z.number().int().min(0).max(65535).nullable().default(null),
    inspect: z.boolean().default(false),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** Exit when the event loop is blocked longer than this (s); 0 disables. */
    watchdogSec: z.number().finite().min(0).default(30),
    /** Theta overrides per kernel, deep-merged onto the defaults (validated by the kernels). */
    theta: z
      .object({
        marketstate: z.record(z.string(), z.unknown()).optional(),
        stops: z.record(z.string(), z.unknown()).optional(),
        harvest: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.backoffCapMs < c.backoffBaseMs) {
      ctx.addIssue({ code: 'custom', path: ['backoffCapMs'], message: `must be >= backoffBaseMs (${c.backoffBaseMs})` });
    }
    if (new Set(c.symbols).size !== c.symbols.length) {
      ctx.addIssue({ code: 'custom', path: ['symbols'], message: 'lists a symbol twice' });
    }
    // A window below the kernel's minimum would make every marketstate cycle insufficient_data
    // for ever: nothing would ever publish.
    let minRequired: number | null = null;
    try {
      minRequired = marketStateMinRequired(c.theta.marketstate as never);
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['theta', 'marketstate'], message: (error as Error).message });
    }
    // Every theta override is checked by its kernel here, at start (exit 2), not once per cycle
    // as a bad_input skip for ever.
    for (const [name, resolve] of [['stops', resolveStopsTheta], ['harvest', resolveHarvestTheta]] as const) {
      try {
        resolve(c.theta[name] ?? null);
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['theta', name], message: (error as Error).message });
      }
    }
    if (minRequired !== null && c.windowSize < minRequired) {
      ctx.addIssue({
        code: 'custom',
        path: ['windowSize'],
        message: `must be at least the MarketState kernel's min_required ${minRequired} (max(vol.window, max(trend.windows), regime.window) + 1)`,
      });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/**
 * Effective marketstate staleness bound in seconds (SPEC §6): 3 × the marketstate interval, but
 * never less than maxPublishAge + one interval — an unchanged market state is republished (and
 * its ts_timestamp refreshed) only every maxPublishAge, so a shorter bound would refuse a healthy
 * publisher's output as stale between publishes. With the defaults (60 s, 60 s) it is 180 s.
 */
export function maxInputAgeSec(config: Config): number {
  return config.maxInputAge ?? Math.max(3 * config.marketstateInterval, config.maxPublishAge + config.marketstateInterval);
}
