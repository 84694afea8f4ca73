// Fixtures for the live stack's producers, one builder per producer, written from docs/specification.md §4.1 and
// §5 (which were written from the producers' source) — not from this service's readers, so a
// reader that drifts from the real layouts fails here:
//   market publisher  → quantum:stream:market.klines envelopes (payload = json.dumps(candle))
//   data sink         → quantum:history:ohlcv:{S}:1m sorted set (score = open time ms, member =
//                       json.dumps(candle); a republished candle is a second member, same score)
//   position brain    → quantum:state:positions:{S}: str() of every value, EXPIRE 3600
//   apply layer       → the same hash, when it opens a position
//   reconcile engine  → the brain's fields, sometimes without mark_price/current_price
// Times are built from the clock (or an injected `nowMs`): candles on a fixed old date would be
// refused as stale.
import type { Redis } from "ioredis";

export const MINUTE_MS = 60_000;

/** Python's json.dumps spelling of a float (`100.0`, `0.5`), as the producers write it. */
function pyFloat(x: number): string {
  return Number.isInteger(x) ? `${x}.0` : String(x);
}

/** json.dumps(dict) with Python's default separators (", " and ": ") and float spelling. */
export function pyJson(
  fields: Record<string, string | number | boolean>,
  floats: readonly string[] = [],
): string {
  const parts = Object.entries(fields).map(([k, v]) => {
    const value =
      typeof v === "string"
        ? JSON.stringify(v)
        : typeof v === "boolean"
          ? v
            ? "true"
            : "false"
          : floats.includes(k)
            ? pyFloat(v)
            : String(v);
    return `${JSON.stringify(k)}: ${value}`;
  });
  return `{${parts.join(", ")}}`;
}

export interface KlineCandle {
  symbol: string;
  open_time: number;
  close: number;
  open?: number;
  high?: number;
  low?: number;
  volume?: number;
  /** Default true. */
  is_closed?: boolean;
  /** The publisher's time.time() when it published the candle (epoch seconds, float). */
  timestamp?: number;
  interval?: string;
}

const CANDLE_FLOATS = ["open", "high", "low", "close", "volume", "timestamp"];

/** The market publisher's candle payload (ops/market/market_publisher.py), as json.dumps writes it. */
export function candlePayload(c: KlineCandle): string {
  return pyJson(
    {
      symbol: c.symbol,
      interval: c.interval ?? "1m",
      open: c.open ?? c.close,
      high: c.high ?? c.close,
      low: c.low ?? c.close,
      close: c.close,
      volume: c.volume ?? 12.5,
      open_time: c.open_time,
      close_time: c.open_time + MINUTE_MS - 1,
      is_closed: c.is_closed ?? true,
      timestamp: c.timestamp ?? (c.open_time + MINUTE_MS) / 1000 + 0.123,
    },
    CANDLE_FLOATS,
  );
}

/** The envelope the market publisher XADDs (create_event_envelope): timestamp is datetime.utcnow().isoformat(). */
export function klinesEnvelope(c: KlineCandle, nowMs = Date.now()): Record<string, string> {
  return {
    event_type: "market.klines",
    payload: candlePayload(c),
    correlation_id: `c0ffee00-0000-4000-8000-${String(c.open_time).padStart(12, "0").slice(-12)}`,
    timestamp: new Date(nowMs).toISOString().replace("Z", "000"),
    source: "market-publisher",
    trace_id: "",
  };
}

export async function xaddKline(
  redis: Redis,
  c: KlineCandle,
  stream = "quantum:stream:market.klines",
): Promise<string> {
  const flat = Object.entries(klinesEnvelope(c)).flat();
  return (await redis.xadd(stream, "MAXLEN", "~", "10000", "*", ...flat)) as string;
}

export const dataSinkKey = (symbol: string): string => `quantum:history:ohlcv:${symbol}:1m`;

/** Open time (ms) of the newest closed 1m candle at `nowMs`. */
export function lastClosedOpenTime(nowMs = Date.now()): number {
  return Math.floor(nowMs / MINUTE_MS) * MINUTE_MS - MINUTE_MS;
}

/**
 * The data sink's sorted set for `closes`, oldest first, the newest candle the last closed minute
 * before `nowMs` (or ending at `lastOpenTimeMs`). high/low default to ±0.1 % of the close.
 */
export async function seedDataSink(
  redis: Redis,
  symbol: string,
  closes: number[],
  options: {
    lastOpenTimeMs?: number;
    nowMs?: number;
    highLow?: (close: number, i: number) => { high: number; low: number };
  } = {},
): Promise<{ firstOpenTimeMs: number; lastOpenTimeMs: number }> {
  const last = options.lastOpenTimeMs ?? lastClosedOpenTime(options.nowMs);
  const first = last - (closes.length - 1) * MINUTE_MS;
  const args: Array<string | number> = [];
  closes.forEach((close, i) => {
    const open_time = first + i * MINUTE_MS;
    const hl = options.highLow?.(close, i) ?? { high: close * 1.001, low: close * 0.999 };
    args.push(open_time, candlePayload({ symbol, open_time, close, high: hl.high, low: hl.low }));
  });
  // The sink adds one candle at a time (ZADD, then trims to 500); one ZADD of all is the same set.
  for (let i = 0; i < args.length; i += 1000)
    await redis.zadd(dataSinkKey(symbol), ...args.slice(i, i + 1000));
  return { firstOpenTimeMs: first, lastOpenTimeMs: last };
}

/** One more member, as the sink writes a candle it received (again): ZADD score member. */
export async function zaddCandle(redis: Redis, c: KlineCandle): Promise<void> {
  await redis.zadd(dataSinkKey(c.symbol), c.open_time, candlePayload(c));
}

export interface BrainSnapshot {
  symbol: string;
  /** Signed: > 0 LONG, < 0 SHORT, 0 FLAT. */
  positionAmt: number;
  entry: number;
  mark: number;
  unrealizedPnl: number;
  leverage?: number;
  tsEpoch?: number;
}

/**
 * The position state brain's canonical hash (microservices/position_state_brain/main.py): str()
 * of Python floats for amounts, the exchange's strings for prices and PnL.
 */
export function brainFields(b: BrainSnapshot, nowMs = Date.now()): Record<string, string> {
  const side = b.positionAmt > 0 ? "LONG" : b.positionAmt < 0 ? "SHORT" : "FLAT";
  return {
    symbol: b.symbol,
    position_amt: pyFloat(b.positionAmt),
    side,
    quantity: pyFloat(Math.abs(b.positionAmt)),
    entry_price: b.entry.toFixed(8),
    mark_price: b.mark.toFixed(8),
    current_price: b.mark.toFixed(8),
    unrealized_pnl: b.unrealizedPnl.toFixed(8),
    leverage: String(b.leverage ?? 10),
    ts_epoch: String(b.tsEpoch ?? Math.floor(nowMs / 1000)),
    source: "position_state_brain",
  };
}

export interface ApplyLayerOpen {
  symbol: string;
  side: "LONG" | "SHORT";
  quantity: number;
  entry: number;
  /** "0" = none, as the apply layer writes it. */
  stopLoss?: number;
  takeProfit?: number;
  planId?: string;
  createdAt: number;
}

/** The apply layer's fields when it opens a position (microservices/apply_layer/main.py). */
export function applyLayerFields(a: ApplyLayerOpen): Record<string, string> {
  return {
    symbol: a.symbol,
    side: a.side,
    quantity: String(a.quantity),
    entry_price: String(a.entry),
    leverage: "10",
    stop_loss: String(a.stopLoss ?? 0),
    take_profit: String(a.takeProfit ?? 0),
    plan_id: a.planId ?? `plan-${a.symbol}-${a.createdAt}`,
    created_at: String(a.createdAt),
    atr_value: "0.0",
    volatility_factor: "1.0",
    entry_risk_usdt: "25.0",
    risk_price: String(a.entry),
    risk_missing: "0",
    unrealized_pnl: "0.0",
  };
}

/** The reconcile engine: the brain's fields, without mark_price/current_price. */
export function reconcileFields(b: BrainSnapshot, nowMs = Date.now()): Record<string, string> {
  const { mark_price: _m, current_price: _c, ...rest } = brainFields(b, nowMs);
  return { ...rest, source: "reconcile_engine" };
}

export const positionKey = (symbol: string): string => `quantum:state:positions:${symbol}`;

/** HSET of a writer's fields into the canonical hash (fields of other writers stay), EXPIRE 3600 like the brain. */
export async function hsetPosition(redis: Redis, fields: Record<string, string>): Promise<void> {
  await redis.hset(positionKey(fields.symbol), fields);
  await redis.expire(positionKey(fields.symbol), 3600);
}

/** harvest_params exactly as scripts/ai_universe_generator_v1.py writes them. */
export const GENERATOR_HARVEST_PARAMS = {
  T1_R: 1.8,
  T2_R: 3.5,
  T3_R: 5.8,
  lock_R: 1.2,
  be_plus_pct: 0.003,
  cost_bps: 12.0,
  k_regime_flip: 0.8,
  k_sigma_spike: 0.6,
  k_ts_drop: 0.4,
  k_age_penalty: 0.2,
  kill_threshold: 0.55,
} as const;
/** kill_params exactly as the generator writes them (k_close_threshold is no harvest theta key). */
export const GENERATOR_KILL_PARAMS = {
  trend_min: 0.25,
  sigma_ref: 0.012,
  sigma_spike_cap: 1.8,
  ts_ref: 0.35,
  ts_drop_cap: 0.45,
  max_age_sec: 72000.0,
  k_close_threshold: 0.62,
} as const;

const POLICY_FLOATS = [
  "T1_R",
  "T2_R",
  "T3_R",
  "lock_R",
  "be_plus_pct",
  "cost_bps",
  "k_regime_flip",
  "k_sigma_spike",
  "k_ts_drop",
  "k_age_penalty",
  "kill_threshold",
  "trend_min",
  "sigma_ref",
  "sigma_spike_cap",
  "ts_ref",
  "ts_drop_cap",
  "max_age_sec",
  "k_close_threshold",
  "fallback_stop_pct",
];

/**
 * quantum:policy:current as lib/policy_store.py save_policy writes it: json.dumps of the lists and
 * dicts, str(time.time() + 300) for valid_until_epoch, and the descriptive fields. `harvest` and
 * `kill` override single params (any value, to write broken policies too).
 */
export function generatorPolicy(
  options: {
    nowMs?: number;
    universe?: string[];
    harvest?: Record<string, unknown>;
    kill?: Record<string, unknown>;
    version?: string;
    validForSec?: number;
  } = {},
): Record<string, string> {
  const nowMs = options.nowMs ?? Date.now();
  const universe = options.universe ?? ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
  const params = (base: Record<string, unknown>, over: Record<string, unknown> = {}) => {
    const merged = { ...base, ...over };
    // json.dumps: floats keep their ".0"; other values as JSON.
    return `{${Object.entries(merged)
      .map(
        ([k, v]) =>
          `${JSON.stringify(k)}: ${typeof v === "number" && POLICY_FLOATS.includes(k) && Number.isInteger(v) ? `${v}.0` : JSON.stringify(v)}`,
      )
      .join(", ")}}`;
  };
  return {
    universe_symbols: `[${universe.map((s) => JSON.stringify(s)).join(", ")}]`,
    leverage_by_symbol: `{${universe.map((s) => `${JSON.stringify(s)}: 10.0`).join(", ")}}`,
    harvest_params: params(GENERATOR_HARVEST_PARAMS, options.harvest),
    kill_params: params(GENERATOR_KILL_PARAMS, options.kill),
    valid_until_epoch: String(nowMs / 1000 + (options.validForSec ?? 300)),
    policy_version: options.version ?? "1.0.0-ai-v1",
    generator: "ai_universe_v1",
    features_window: "15m,1h",
    universe_hash: "abc123",
    market: "futures",
    stats_endpoint: "fapi/v1/ticker/24hr",
    venue: "binance-futures",
    exchange_info_endpoint: "fapi/v1/exchangeInfo",
    ticker_24h_endpoint: "fapi/v1/ticker/24hr",
    metadata_ok: "1",
    missing_fields: "",
    policy_hash: "f00d",
  };
}
