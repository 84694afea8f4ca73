// Position snapshots (SPEC §4). Sources:
//   redis_hash   — canonical hash quantum:state:positions:{symbol}, else the legacy single hash
//                  quantum:state:positions (field = symbol, value = JSON of the same fields).
//   redis_stream — the newest POSITION_* event for the symbol in quantum:stream:execution.result.
//   auto         — redis_hash, then redis_stream. NEVER synthetic (SPEC §7.1): the Python
//                  services fell back to invented positions and published proposals for them.
//   synthetic    — a deterministic position generated from the symbol's candles, for the demo;
//                  only when explicitly chosen.
// Every value goes through parseFiniteNumber and then validatePosition, so a bad snapshot is a
// counted `bad_position` skip whose detail names the source, the field and the value.
import { KernelInputError, type Position, type Side } from '../kernels/types.js';
import { validatePosition } from '../kernels/validate.js';
import { WrongTypeError, type Store } from '../store/types.js';
import { DEFAULT_CANDLE_PATTERNS, readCandles } from './candles.js';
import { parseFiniteNumber } from './parse.js';
import { ok, skip, type Read } from './types.js';

export const POSITION_SOURCE_KINDS = ['auto', 'redis_hash', 'redis_stream', 'synthetic'] as const;
export type PositionSourceKind = (typeof POSITION_SOURCE_KINDS)[number];

export const CANONICAL_POSITION_PREFIX = 'quantum:state:positions:';
export const LEGACY_POSITIONS_KEY = 'quantum:state:positions';
export const EXECUTION_RESULT_STREAM = 'quantum:stream:execution.result';
export const DEFAULT_STREAM_SCAN_COUNT = 1000;
/** Stream fields that may carry the event as a JSON object instead of (or besides) flat fields. */
export const EVENT_PAYLOAD_FIELDS = ['payload', 'data'] as const;
/** Synthetic positions are "opened" this many candles before the newest one. */
export const SYNTHETIC_ENTRY_CANDLES_BACK = 60;
/** Synthetic candles are taken to be one minute apart (the default patterns are 1m keys). */
export const SYNTHETIC_CANDLE_SECONDS = 60;

export interface PositionSource {
  readonly kind: string;
  /** A position, or a skip (`no_position`, `bad_position`, …). I/O failures reject. */
  read(symbol: string): Promise<Read<Position>>;
}

export interface PositionSourceOptions {
  /** How many newest stream entries redis_stream looks through. Default 1000. */
  streamScanCount?: number;
  /** Candle key patterns for synthetic. Default DEFAULT_CANDLE_PATTERNS. */
  candlePatterns?: readonly string[];
  /** Sides for synthetic positions by symbol; others follow syntheticSide(symbol). */
  syntheticSides?: Readonly<Record<string, Side>>;
}

export function canonicalPositionKey(symbol: string): string {
  return CANONICAL_POSITION_PREFIX + symbol;
}

export function createPositionSource(
  kind: PositionSourceKind,
  store: Store,
  options: PositionSourceOptions = {},
): PositionSource {
  const scanCount = options.streamScanCount ?? DEFAULT_STREAM_SCAN_COUNT;
  if (!Number.isSafeInteger(scanCount) || scanCount <= 0) {
    throw new Error(`position source: streamScanCount must be a positive integer (got ${String(scanCount)})`);
  }
  const patterns = options.candlePatterns ?? DEFAULT_CANDLE_PATTERNS;
  switch (kind) {
    case 'redis_hash':
      return { kind, read: (symbol) => readFromHash(store, symbol) };
    case 'redis_stream':
      return { kind, read: (symbol) => readFromStream(store, symbol, scanCount) };
    case 'auto':
      return {
        kind,
        read: async (symbol) => {
          const fromHash = await readFromHash(store, symbol);
          // Only "nothing there" moves on to the stream. A broken hash snapshot stays a
          // bad_position: an older stream event would be a worse answer than none.
          if (fromHash.ok || fromHash.reason !== 'no_position') return fromHash;
          const fromStream = await readFromStream(store, symbol, scanCount);
          if (fromStream.ok || fromStream.reason !== 'no_position') return fromStream;
          return skip('no_position', `${fromHash.detail}; ${fromStream.detail}`);
        },
      };
    case 'synthetic':
      return {
        kind,
        read: (symbol) => syntheticPosition(store, symbol, patterns, options.syntheticSides?.[symbol] ?? syntheticSide(symbol)),
      };
    default:
      throw new Error(`unknown position source ${JSON.stringify(kind)} (expected one of ${POSITION_SOURCE_KINDS.join(', ')})`);
  }
}

// ---- field conversion ---------------------------------------------------------------------------

const REQUIRED_NUMBERS = ['entry_price', 'current_price', 'age_sec', 'unrealized_pnl'] as const;

function isMissing(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/**
 * A number where the raw value parses; the raw value itself where it does not, so the validator's
 * error shows exactly what was stored ("must be a number (got "abc")"); undefined when missing.
 */
function numberOrRaw(value: unknown): unknown {
  if (isMissing(value)) return undefined;
  const parsed = parseFiniteNumber(value);
  return parsed === null ? value : parsed;
}

/**
 * Builds and validates a Position from stored fields (hash fields, legacy JSON or a stream event).
 * `origin` names where they came from, for the skip detail.
 */
export function positionFromFields(fields: Record<string, unknown>, symbol: string, origin: string): Read<Position> {
  const raw: Record<string, unknown> = {
    symbol: isMissing(fields.symbol) ? symbol : fields.symbol,
    side: fields.side,
  };
  for (const name of REQUIRED_NUMBERS) raw[name] = numberOrRaw(fields[name]);
  // SPEC §4: a missing peak/trough falls back to the current price (the best/worst price since
  // entry is at least the price now); an empty or absent stop/target means "unset".
  raw.peak_price = isMissing(fields.peak_price) ? raw.current_price : numberOrRaw(fields.peak_price);
  raw.trough_price = isMissing(fields.trough_price) ? raw.current_price : numberOrRaw(fields.trough_price);
  raw.current_sl = isMissing(fields.current_sl) ? null : numberOrRaw(fields.current_sl);
  raw.current_tp = isMissing(fields.current_tp) ? null : numberOrRaw(fields.current_tp);
  try {
    return ok(validatePosition(raw, 'position', symbol));
  } catch (error) {
    if (error instanceof KernelInputError) return skip('bad_position', `${origin}: ${error.message}`);
    throw error;
  }
}

// ---- redis_hash -----------------------------------------------------------------------------------

async function readFromHash(store: Store, symbol: string): Promise<Read<Position>> {
  const key = canonicalPositionKey(symbol);
  let fields: Record<string, string>;
  try {
    fields = await store.hgetall(key);
  } catch (error) {
    if (error instanceof WrongTypeError) return skip('bad_position', error.message);
    throw error;
  }
  if (Object.keys(fields).length > 0) return positionFromFields(fields, symbol, key);

  const origin = `${LEGACY_POSITIONS_KEY}[${symbol}]`;
  let json: string | null;
  try {
    json = await store.hget(LEGACY_POSITIONS_KEY, symbol);
  } catch (error) {
    if (error instanceof WrongTypeError) return skip('bad_position', error.message);
    throw error;
  }
  // An empty value or JSON null is how a writer clears a symbol: no position, not a bad one.
  if (json === null || json === '' || json === 'null') {
    return skip('no_position', `no position hash ${key} and no field ${symbol} in ${LEGACY_POSITIONS_KEY}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return skip('bad_position', `${origin}: not valid JSON (${abbreviate(json)})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return skip('bad_position', `${origin}: expected a JSON object (got ${abbreviate(json)})`);
  }
  return positionFromFields(parsed as Record<string, unknown>, symbol, origin);
}

// ---- redis_stream ---------------------------------------------------------------------------------

/**
 * The event's fields: flat stream fields, plus the keys of a JSON object in `payload` or `data`
 * (the execution service of this stack writes a JSON `payload`). A flat field wins over the same
 * key inside the payload. A payload that is not a JSON object is ignored.
 */
export function eventFields(fields: Record<string, string>): Record<string, unknown> {
  // No prototype: a payload key like "__proto__" stays an ordinary (ignored) field.
  const merged: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const name of EVENT_PAYLOAD_FIELDS) {
    const text = fields[name];
    if (text === undefined) continue;
    try {
      const payload: unknown = JSON.parse(text);
      if (typeof payload === 'object' && payload !== null && !Array.isArray(payload)) {
        for (const [key, value] of Object.entries(payload)) if (!(key in merged)) merged[key] = value;
      }
    } catch {
      // Not JSON: only the flat fields count.
    }
  }
  for (const [key, value] of Object.entries(fields)) {
    if (!(EVENT_PAYLOAD_FIELDS as readonly string[]).includes(key)) merged[key] = value;
  }
  return merged;
}

async function readFromStream(store: Store, symbol: string, scanCount: number): Promise<Read<Position>> {
  let entries;
  try {
    entries = await store.xrevrange(EXECUTION_RESULT_STREAM, scanCount);
  } catch (error) {
    if (error instanceof WrongTypeError) return skip('bad_position', error.message);
    throw error;
  }
  // Newest first: the first POSITION_* event for the symbol decides.
  for (const entry of entries) {
    const fields = eventFields(entry.fields);
    if (fields.symbol !== symbol) continue;
    const eventType = fields.event_type;
    if (eventType === 'POSITION_CLOSED') {
      return skip('no_position', `newest position event for ${symbol} in ${EXECUTION_RESULT_STREAM} is POSITION_CLOSED (${entry.id})`);
    }
    if (eventType === 'POSITION_OPENED' || eventType === 'POSITION_UPDATED') {
      return positionFromFields(fields, symbol, `${EXECUTION_RESULT_STREAM} ${entry.id} (${eventType})`);
    }
  }
  return skip(
    'no_position',
    `no POSITION_OPENED/UPDATED/CLOSED event for ${symbol} in the newest ${entries.length} entries of ${EXECUTION_RESULT_STREAM}`,
  );
}

// ---- synthetic ------------------------------------------------------------------------------------

/**
 * The side of a symbol's synthetic position: SHORT when the sum of its UTF-16 code units is a
 * multiple of 3 (about one symbol in three), LONG otherwise. Deterministic, so the demo shows
 * both sides and the same symbol always gets the same side.
 */
export function syntheticSide(symbol: string): Side {
  let sum = 0;
  for (let i = 0; i < symbol.length; i += 1) sum += symbol.charCodeAt(i);
  return sum % 3 === 0 ? 'SHORT' : 'LONG';
}

/**
 * A position "opened" SYNTHETIC_ENTRY_CANDLES_BACK candles ago (or at the oldest candle): entry =
 * that close, current = the newest close, peak/trough = the best/worst close since entry,
 * age = 60 s per candle since entry, unrealized PnL per unit of size, no stop or target set.
 * It moves with the candles, so the demo's proposals change as the market does.
 */
export function syntheticPositionFromCloses(symbol: string, closes: readonly number[], side: Side = syntheticSide(symbol)): Position {
  if (closes.length === 0) throw new Error('syntheticPositionFromCloses: no closes');
  const entryIndex = Math.max(0, closes.length - 1 - SYNTHETIC_ENTRY_CANDLES_BACK);
  const sinceEntry = closes.slice(entryIndex);
  const entry = sinceEntry[0];
  const current = sinceEntry[sinceEntry.length - 1];
  const highest = Math.max(...sinceEntry);
  const lowest = Math.min(...sinceEntry);
  return {
    symbol,
    side,
    entry_price: entry,
    current_price: current,
    peak_price: side === 'LONG' ? highest : lowest,
    trough_price: side === 'LONG' ? lowest : highest,
    age_sec: SYNTHETIC_CANDLE_SECONDS * (sinceEntry.length - 1),
    unrealized_pnl: side === 'LONG' ? current - entry : entry - current,
    current_sl: null,
    current_tp: null,
  };
}

async function syntheticPosition(store: Store, symbol: string, patterns: readonly string[], side: Side): Promise<Read<Position>> {
  const candles = await readCandles(store, symbol, { patterns, windowSize: SYNTHETIC_ENTRY_CANDLES_BACK + 1 });
  if (!candles.ok) return skip(candles.reason, `synthetic position: ${candles.detail}`);
  return positionFromFields(
    { ...syntheticPositionFromCloses(symbol, candles.value.closes, side) },
    symbol,
    `synthetic position from ${candles.value.key}`,
  );
}

function abbreviate(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}
