// The embedded demo as a function: the supervisor on a MemoryStore fed with synthetic candles and
// synthetic positions. `quantum-calc demo` and the visualizer's browser test both run this.
import type { InspectionEvent } from 'xstate';
import { loadConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import { MemoryStore } from '../store/memoryStore.js';
import { startService, type ServiceHandle, type ServiceHooks } from '../service.js';
import { CandleFeed, DEMO_SYMBOLS } from './feed.js';
import { createPositionSource } from '../inputs/positions.js';

export interface DemoOptions {
  /** A new candle per symbol every this many ms; the publishers poll at that pace too. */
  candleMs: number;
  logger: Logger;
  hooks?: ServiceHooks;
  inspect?: (event: InspectionEvent) => void;
}

export interface DemoHandle {
  service: ServiceHandle;
  store: MemoryStore;
  /** Stops the candle feed and shuts the supervisor down (await `service.done`). */
  stop(): void;
}

export async function startDemo(options: DemoOptions): Promise<DemoHandle> {
  const seconds = options.candleMs / 1000;
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
      // ts_timestamp has whole-second resolution: keep fast demos clear of the staleness bound.
      maxInputAge: Math.max(10, 3 * seconds),
    },
  });
  const store = new MemoryStore();
  const feed = new CandleFeed(store, DEMO_SYMBOLS, Date.UTC(2026, 0, 1));
  feed.backfill(300);
  const positions = createPositionSource('synthetic', store, {
    syntheticSides: Object.fromEntries(DEMO_SYMBOLS.map((s) => [s.symbol, s.side])),
  });
  const service = await startService({ config, logger: options.logger, store, positions, hooks: options.hooks, inspect: options.inspect });
  const ticker = setInterval(() => feed.tick(), options.candleMs);
  return {
    service,
    store,
    stop: () => {
      clearInterval(ticker);
      service.shutdown();
    },
  };
}
