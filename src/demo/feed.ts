// Synthetic market data and positions for the embedded demo, written exactly as the live
// stack's producers write them (docs/specification.md §4.1, §5), so the demo runs the production read paths:
//   - the market publisher: every closed candle XADDed to quantum:stream:market.klines as an
//     envelope whose payload is the candle's JSON;
//   - the data sink: the same candle ZADDed to quantum:history:ohlcv:{S}:1m (score = open time);
//   - the position state brain: quantum:state:positions:{S} with position_amt, side, quantity,
//     entry/mark/current price, unrealized_pnl (the whole position's), leverage, ts_epoch;
//   - the apply layer, when it opened the position: plan_id, created_at, stop_loss "0", …
// Candles are `candleMs` apart (a fast market) and end at the clock, so they are fresh.
import { createPriceWalk, type SyntheticRegime } from "../synthetic/prices.js";
import type { Side } from "../kernels/types.js";
import type { MemoryStore } from "../store/memoryStore.js";

export interface DemoSymbol {
  symbol: string;
  regime: SyntheticRegime;
  /** Side of the demo's position. */
  side: Side;
  start: number;
  seed: number;
  /** Position size in units of the base asset. */
  quantity: number;
}

export const DEMO_SYMBOLS: DemoSymbol[] = [
  // A long riding the trend (partials, profit lock), a long in a swinging market (regime flips
  // raise the kill score), a short in chop.
  { symbol: "BTCUSDT", regime: "trend", side: "LONG", start: 60_000, seed: 11, quantity: 0.05 },
  { symbol: "ETHUSDT", regime: "mr", side: "LONG", start: 3_000, seed: 22, quantity: 1.5 },
  { symbol: "SOLUSDT", regime: "chop", side: "SHORT", start: 150, seed: 33, quantity: 40 },
];

export { KLINES_STREAM as DEMO_KLINES_STREAM } from "../contracts/streams.js";
import { KLINES_STREAM as DEMO_KLINES_STREAM } from "../contracts/streams.js";
/** The positions are opened this many candles before the end of the backfill. */
const ENTRY_CANDLES_BACK = 60;

interface Walk {
  spec: DemoSymbol;
  next: () => number;
  entry: number | null;
  createdAtSec: number | null;
}

export class CandleFeed {
  private readonly walks: Walk[];
  private openTime: number;

  /**
   * @param candleMs time between two candles (and their open times)
   * @param now the clock; the backfill ends at it
   */
  constructor(
    private readonly store: MemoryStore,
    symbols: DemoSymbol[],
    private readonly candleMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.walks = symbols.map((spec) => ({
      spec,
      next: createPriceWalk(spec.regime, spec.seed, spec.start),
      entry: null,
      createdAtSec: null,
    }));
    this.openTime = 0;
  }

  /** One closed candle per symbol: on the klines stream first, then in the data sink's sorted set. */
  tick(): void {
    for (const walk of this.walks) {
      const { symbol } = walk.spec;
      const close = Number(walk.next().toPrecision(10));
      const candle = {
        symbol,
        interval: "1m",
        open: close,
        high: close,
        low: close,
        close,
        volume: 1,
        open_time: this.openTime,
        close_time: this.openTime + this.candleMs - 1,
        is_closed: true,
        timestamp: this.now() / 1000,
      };
      const payload = JSON.stringify(candle);
      this.store.xadd(
        DEMO_KLINES_STREAM,
        {
          event_type: "market.klines",
          payload,
          correlation_id: `demo-${symbol}-${this.openTime}`,
          timestamp: new Date(this.now()).toISOString(),
          source: "quantum-calc-demo",
          trace_id: "",
        },
        { maxLen: 10_000 },
      );
      this.store.zadd(`quantum:history:ohlcv:${symbol}:1m`, this.openTime, payload);
      this.writePosition(walk, close);
    }
    this.openTime += this.candleMs;
  }

  /** Pre-fills `count` candles ending now, so the kernels have enough history from the first second. */
  backfill(count: number): void {
    this.openTime = this.now() - count * this.candleMs;
    for (let i = 0; i < count; i++) {
      if (i === count - ENTRY_CANDLES_BACK)
        for (const walk of this.walks) walk.createdAtSec = Math.floor(this.openTime / 1000);
      this.tick();
    }
  }

  /** The brain's snapshot (and, once, the apply layer's opening fields) for the latest close. */
  private writePosition(walk: Walk, close: number): void {
    if (walk.createdAtSec === null) return;
    const { symbol, side, quantity } = walk.spec;
    const key = `quantum:state:positions:${symbol}`;
    if (walk.entry === null) {
      walk.entry = close;
      this.store.hset(key, {
        symbol,
        side,
        quantity: String(quantity),
        entry_price: String(close),
        leverage: "5",
        stop_loss: "0",
        take_profit: "0",
        plan_id: `demo-${symbol}-${walk.createdAtSec}`,
        created_at: String(walk.createdAtSec),
        unrealized_pnl: "0",
      });
    }
    const sign = side === "LONG" ? 1 : -1;
    this.store.hset(key, {
      symbol,
      position_amt: String(sign * quantity),
      side,
      quantity: String(quantity),
      entry_price: String(walk.entry),
      mark_price: String(close),
      current_price: String(close),
      unrealized_pnl: String(Number((sign * (close - walk.entry) * quantity).toFixed(8))),
      leverage: "5",
      ts_epoch: String(Math.floor(this.now() / 1000)),
      source: "quantum-calc-demo",
    });
  }
}
