// The embedded demo as a function: the supervisor on a MemoryStore fed with synthetic candles and
// positions in the live stack's layouts (src/demo/feed.ts), read through the production
// defaults: the data sink's sorted set, the klines stream, the position hash (`auto`).
// `quantum-calc demo` and the visualizer's browser test both run this.
import type { InspectionEvent } from "xstate";
import { loadConfig } from "../config/load.js";
import type { Logger } from "../log.js";
import { MemoryStore } from "../store/memoryStore.js";
import {
  startService,
  type CloseReport,
  type ServiceHandle,
  type ServiceHooks,
} from "../service/service.js";
import { CandleFeed, DEMO_SYMBOLS } from "./feed.js";

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
  /**
   * Stops the candle feed and closes the service (drain, then the store): `service.done`
   * resolves once the supervisor has ended, the returned promise once all is closed. Memoized.
   */
  stop(): Promise<CloseReport>;
}

export async function startDemo(options: DemoOptions): Promise<DemoHandle> {
  const seconds = options.candleMs / 1000;
  const { config } = loadConfig({
    env: {},
    flags: {
      store: "memory",
      // The demo's sizes are realistic, so R_net is computed per unit (docs/specification.md §4.4).
      rNetBasis: "per_unit",
      // The embedded store has no universe generator: the configured theta, without a refusal line.
      harvestThetaSource: "config",
      symbols: DEMO_SYMBOLS.map((s) => s.symbol),
      marketstateInterval: seconds,
      riskInterval: seconds * 2,
      harvestInterval: seconds * 2,
      maxPublishAge: seconds * 5,
      // ts_timestamp has whole-second resolution: keep fast demos clear of the staleness bound.
      maxInputAge: Math.max(10, 3 * seconds),
      maxCandleAge: Math.max(10, 3 * seconds),
    },
  });
  const store = new MemoryStore();
  const feed = new CandleFeed(store, DEMO_SYMBOLS, options.candleMs);
  feed.backfill(300);
  const service = await startService({
    config,
    logger: options.logger,
    store,
    hooks: options.hooks,
    inspect: options.inspect,
  });
  const ticker = setInterval(() => feed.tick(), options.candleMs);
  return {
    service,
    store,
    stop: () => {
      clearInterval(ticker);
      return service.close();
    },
  };
}
