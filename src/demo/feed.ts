// Synthetic market data for the embedded demo: one candle series per symbol in the memory
// store, under the first default candle key pattern, growing by one candle per tick — so the
// demo exercises exactly the reading, dedupe and publishing paths that production uses.
import { createPriceWalk, type SyntheticRegime } from '../synthetic/prices.js';
import type { Side } from '../kernels/types.js';
import type { MemoryStore } from '../store/memoryStore.js';

export interface DemoSymbol {
  symbol: string;
  regime: SyntheticRegime;
  /** Side of the demo's synthetic position. */
  side: Side;
  start: number;
  seed: number;
}

export const DEMO_SYMBOLS: DemoSymbol[] = [
  // A long riding the trend (partials, profit lock), a long in a swinging market (regime flips
  // raise the kill score), a short in chop.
  { symbol: 'BTCUSDT', regime: 'trend', side: 'LONG', start: 60_000, seed: 11 },
  { symbol: 'ETHUSDT', regime: 'mean_revert', side: 'LONG', start: 3_000, seed: 22 },
  { symbol: 'SOLUSDT', regime: 'chop', side: 'SHORT', start: 150, seed: 33 },
];

const CANDLE_MS = 60_000;

export class CandleFeed {
  private readonly walks: Array<{ key: string; next: () => number }>;
  private openTime: number;

  constructor(
    private readonly store: MemoryStore,
    symbols: DemoSymbol[],
    startOpenTime: number,
  ) {
    this.walks = symbols.map((s) => ({ key: `candles:${s.symbol}:1m`, next: createPriceWalk(s.regime, s.seed, s.start) }));
    this.openTime = startOpenTime;
  }

  /** Appends one 1-minute candle to every symbol's sorted set (score = open time). */
  tick(): void {
    for (const { key, next } of this.walks) {
      const close = next();
      this.store.zadd(key, this.openTime, JSON.stringify({ t: this.openTime, close: Number(close.toPrecision(10)) }));
    }
    this.openTime += CANDLE_MS;
  }

  /** Pre-fills `count` candles so the kernels have enough history from the first second. */
  backfill(count: number): void {
    for (let i = 0; i < count; i++) this.tick();
  }
}
