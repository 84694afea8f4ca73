import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { CliError } from '../exitCodes.js';
import { createLogger } from '../log.js';
import { CandleFeed, DEMO_SYMBOLS } from '../demo/feed.js';
import { MemoryStore } from '../store/memoryStore.js';
import { startService } from '../service.js';
import type { CycleDoneEvent } from '../../machines/publisher.js';

function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

export function formatDemoLine(e: CycleDoneEvent, nowMs: number): string {
  return `${clockTime(nowMs)}  ${e.phase.padEnd(11)} ${e.symbol.padEnd(8)} ${e.summary ?? ''}`;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'The whole supervisor on the embedded store with synthetic candles (BTCUSDT trending, ETHUSDT mean-reverting, SOLUSDT choppy) and synthetic positions. No Redis needed. Ctrl-C to stop.',
    )
    .option('--candle-ms <ms>', 'a new candle per symbol every this many ms', '2000')
    .option('--duration-sec <sec>', 'stop by itself after this long (default: run until Ctrl-C)')
    .option('--log-level <level>', 'service log level on stderr', 'warn')
    .action(async (opts: { candleMs: string; durationSec?: string; logLevel: string }) => {
      const candleMs = Number(opts.candleMs);
      if (!Number.isFinite(candleMs) || candleMs < 50) throw new CliError(`--candle-ms must be a number >= 50 (got ${opts.candleMs})`);
      const duration = opts.durationSec === undefined ? null : Number(opts.durationSec);
      if (duration !== null && !(Number.isFinite(duration) && duration > 0)) {
        throw new CliError(`--duration-sec must be a positive number (got ${opts.durationSec})`);
      }
      const seconds = candleMs / 1000;
      const { config } = loadConfig({
        env: {},
        flags: {
          store: 'memory',
          positionSource: 'synthetic',
          symbols: DEMO_SYMBOLS.map((s) => s.symbol),
          marketstateInterval: seconds,
          riskInterval: seconds * 2,
          harvestInterval: seconds * 2,
          maxPublishAge: seconds * 5,
          logLevel: opts.logLevel,
        },
      });
      // Publish lines go to stdout; the service's own log (warnings) to stderr.
      const logger = createLogger({ level: config.logLevel, pretty: false, destination: process.stderr });
      const store = new MemoryStore();
      const feed = new CandleFeed(store, DEMO_SYMBOLS, Date.UTC(2026, 0, 1));
      feed.backfill(300);
      process.stdout.write(
        `quantum-calc demo: ${DEMO_SYMBOLS.map((s) => `${s.symbol} (${s.regime})`).join(', ')}; a candle every ${candleMs} ms. Ctrl-C to stop.\n`,
      );
      const handle = await startService({
        config,
        logger,
        store,
        hooks: {
          onCycle: (e, nowMs) => {
            if (e.outcome === 'published') process.stdout.write(`${formatDemoLine(e, nowMs)}\n`);
          },
        },
      });
      const ticker = setInterval(() => feed.tick(), candleMs);
      const stop = (): void => {
        clearInterval(ticker);
        handle.shutdown();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const timer = duration === null ? null : setTimeout(stop, duration * 1000);
      const output = await handle.done;
      if (timer) clearTimeout(timer);
      clearInterval(ticker);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.write(`demo stopped (${output.reason}).\n`);
      process.exitCode = output.exitCode;
    });
}
