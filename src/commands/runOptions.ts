// The options shared by `run` and `config print`: each maps 1:1 to a config key (see
// src/config/schema.ts), so `config print` shows exactly what `run` would use.
import { Option, type Command } from 'commander';
import { POSITION_SOURCES } from '../config/schema.js';

export function addConfigOptions(command: Command): Command {
  return command
    .option('--config <file>', 'JSON config file (flags > environment > file > defaults)')
    .option('--redis-url <url>', 'redis://[user:password@]host:port[/db] or rediss:// (env REDIS_URL)')
    .option('--store <kind>', 'redis | memory (memory: embedded, empty, for trials)')
    .option('--symbols <list>', 'comma-separated symbols, e.g. BTCUSDT,ETHUSDT (env SYMBOLS)')
    .addOption(new Option('--position-source <kind>', 'where positions come from (env POSITION_SOURCE)').choices([...POSITION_SOURCES]))
    .option('--only <phases>', 'run just these phases: marketstate,risk,harvest')
    .option('--marketstate-interval <sec>', 'marketstate polling interval in seconds (default 60)')
    .option('--risk-interval <sec>', 'risk polling interval in seconds (default 10)')
    .option('--harvest-interval <sec>', 'harvest polling interval in seconds (default 10)')
    .option('--max-publish-age <sec>', 'publish at least this often even when unchanged (default 60)')
    .option('--change-eps-pct <x>', 'relative change that triggers a publish (default 0.001)')
    .option('--fallback-stop-pct <x>', 'harvest risk unit without a fresh risk proposal (default 0.02)')
    .option('--max-input-age <sec>', 'refuse marketstate older than this (default max(3 x marketstate interval, max publish age + marketstate interval))')
    .option('--window-size <n>', 'closes kept per symbol, at least the kernel minimum 257 (default 300)')
    .option('--candle-patterns <list>', 'candle key patterns with {symbol}, first existing wins (default quantum:history:ohlcv:{symbol}:1m,candles:{symbol}:1m,quantum:candles:{symbol},klines:{symbol}:1m)')
    .option('--max-candle-age <sec>', 'skip a series whose newest candle opened longer ago as stale_candles (default 180)')
    .option('--no-follow-klines', 'do not follow the klines stream (intervals only)')
    .option('--klines-stream <key>', 'stream of closed candles followed with XREAD (default quantum:stream:market.klines)')
    .option('--max-position-age <sec>', 'skip a position snapshot whose ts_epoch is older as stale_position (default 300)')
    .addOption(new Option('--r-net-basis <basis>', 'R_net from the total PnL (locked) or per unit of size (per_unit) (default locked)').choices(['locked', 'per_unit']))
    .option('--enable-stream', 'also XADD the risk and harvest proposal streams')
    .option('--http-host <host>', 'HTTP bind address for /metrics, /healthz, /viz (default 127.0.0.1)')
    .option('--http-port <port>', 'HTTP port; off unless given')
    .option('--log-level <level>', 'trace | debug | info | warn | error | fatal | silent (default info)')
    .option('--watchdog-sec <sec>', 'exit 4 when the event loop is blocked this long; 0 disables (default 30)');
}

/** Commander's parsed options → config keys (flags not given stay undefined). */
export function flagsToConfig(opts: Record<string, unknown>): Record<string, unknown> {
  const { config: _file, only, once: _once, inspect, followKlines, ...rest } = opts;
  const flags: Record<string, unknown> = { ...rest };
  // Commander gives a `--no-…` flag's key the value true when the flag is absent: only its
  // presence (false) is a setting, so a file or the environment can still switch following off.
  if (followKlines === false) flags.followKlines = false;
  if (only !== undefined) flags.phases = only;
  if (inspect !== undefined) flags.inspect = inspect;
  return flags;
}
