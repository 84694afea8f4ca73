// Position snapshots (docs/specification.md §4). Sources:
//   redis_hash   — canonical hash quantum:state:positions:{symbol}, else the legacy single hash
//                  quantum:state:positions (field = symbol, value = JSON of the same fields).
//   redis_stream — the newest POSITION_* event for the symbol in quantum:stream:execution.result.
//   auto         — redis_hash, then redis_stream. NEVER synthetic (CONTRACT.md, deliberate difference 1): the Python
//                  services fell back to invented positions and published proposals for them.
//   synthetic    — a deterministic position generated from the symbol's candles, for the demo;
//                  only when explicitly chosen.
// Every value goes through parseFiniteNumber and then validatePosition, so a bad snapshot is a
// counted `bad_position` skip whose detail names the source, the field and the value.
import { KernelInputError, type Position, type Side } from "../kernels/types.js";
import { validatePosition } from "../kernels/validate.js";
import { WrongTypeError, type Store, type StreamEntry } from "../store/types.js";
import { DEFAULT_CANDLE_PATTERNS, readCandles } from "../candles/index.js";
import { parseFiniteNumber } from "./parse.js";
import { ok, skip, type Read } from "./types.js";

export const POSITION_SOURCE_KINDS = ["auto", "redis_hash", "redis_stream", "synthetic"] as const;
export type PositionSourceKind = (typeof POSITION_SOURCE_KINDS)[number];

export const CANONICAL_POSITION_PREFIX = "quantum:state:positions:";
export const LEGACY_POSITIONS_KEY = "quantum:state:positions";
import { EXECUTION_RESULT_STREAM } from "../contracts/streams.js";
export { EXECUTION_RESULT_STREAM };
export const DEFAULT_STREAM_SCAN_COUNT = 1000;
/** Stream fields that may carry the event as a JSON object instead of (or besides) flat fields. */
export const EVENT_PAYLOAD_FIELDS = ["payload", "data"] as const;
/** Synthetic positions are "opened" this many candles before the newest one. */
export const SYNTHETIC_ENTRY_CANDLES_BACK = 60;
/** Synthetic candles are taken to be one minute apart (the default patterns are 1m keys). */
export const SYNTHETIC_CANDLE_SECONDS = 60;

export interface PositionSource {
  readonly kind: string;
  /** A snapshot, or a skip (`no_position`, `stale_position`, `bad_position`, …). I/O failures reject. */
  read(symbol: string, nowMs: number): Promise<Read<PositionSnapshot>>;
  /**
   * The same read in two parts: the I/O now, the judgement (freshness, clock skew) at a clock
   * given later — `(await fetch(symbol)).at(nowMs)` is `read(symbol, nowMs)`. A chain's harvest
   * judges the snapshot its risk fetched at its own clock (src/inputs/handoff.ts). Optional: a
   * source without it is read anew by each phase.
   */
  fetch?(symbol: string): Promise<FetchedPosition>;
}

/** What a position source fetched for one symbol, judged at any clock (pure, repeatable). */
export interface FetchedPosition {
  at(nowMs: number): Read<PositionSnapshot>;
}

export interface PositionSourceOptions {
  /** How many newest stream entries redis_stream looks through. Default 1000. */
  streamScanCount?: number;
  /** Candle key patterns for synthetic. Default DEFAULT_CANDLE_PATTERNS. */
  candlePatterns?: readonly string[];
  /** Sides for synthetic positions by symbol; others follow syntheticSide(symbol). */
  syntheticSides?: Readonly<Record<string, Side>>;
  /** A snapshot whose ts_epoch is older than this (s) is skipped as stale_position. Default 300. */
  maxPositionAgeSec?: number | null;
  /**
   * How far (s) `ts_epoch` or `created_at` may lie in the future before the snapshot is
   * bad_position (config maxClockSkew). Default 5; null: no check (one-off uses without a clock).
   */
  maxClockSkewSec?: number | null;
}

export const DEFAULT_MAX_POSITION_AGE_SEC = 300;
/** The config key maxClockSkew's default: a writer's clock may run this far (s) ahead of ours. */
export const DEFAULT_MAX_CLOCK_SKEW_SEC = 5;
/**
 * An epoch stamp at or above this is not seconds: 1e11 s is the year 5138, while the epoch in
 * milliseconds has been above 1e12 since 2001. A position stamped in milliseconds would look
 * fresh for ever (its ts_epoch never ages) and its created_at would give it age 0 for ever.
 */
export const MAX_EPOCH_SECONDS = 1e11;

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
    throw new Error(
      `position source: streamScanCount must be a positive integer (got ${String(scanCount)})`,
    );
  }
  const patterns = options.candlePatterns ?? DEFAULT_CANDLE_PATTERNS;
  const maxPositionAgeSec =
    options.maxPositionAgeSec === undefined
      ? DEFAULT_MAX_POSITION_AGE_SEC
      : options.maxPositionAgeSec;
  const maxClockSkewSec =
    options.maxClockSkewSec === undefined ? DEFAULT_MAX_CLOCK_SKEW_SEC : options.maxClockSkewSec;
  const at = (nowMs: number): SnapshotOptions => ({ nowMs, maxPositionAgeSec, maxClockSkewSec });
  const judged = (fetched: Fetched): FetchedPosition => ({ at: (nowMs) => fetched.at(at(nowMs)) });
  const source = (
    fetch: (symbol: string) => Promise<FetchedPosition>,
  ): Omit<PositionSource, "kind"> => ({
    fetch,
    read: async (symbol, nowMs) => (await fetch(symbol)).at(nowMs),
  });
  switch (kind) {
    case "redis_hash":
      return { kind, ...source(async (symbol) => judged(await fetchFromHash(store, symbol))) };
    case "redis_stream":
      return {
        kind,
        ...source(async (symbol) => judged(await fetchFromStream(store, symbol, scanCount))),
      };
    case "auto":
      return {
        kind,
        ...source(async (symbol) => {
          const fromHash = await fetchFromHash(store, symbol);
          // Only "nothing there" moves on to the stream. A broken, closed (FLAT) or stale hash
          // snapshot decides: an older stream event would be a worse answer than none.
          if (fromHash.noHash === null) return judged(fromHash);
          const noHash = fromHash.noHash;
          const fromStream = await fetchFromStream(store, symbol, scanCount);
          return judged({
            noHash: null,
            at: (options) => {
              const read = fromStream.at(options);
              if (read.ok || read.reason !== "no_position") return read;
              return skip("no_position", `${noHash}; ${read.detail}`);
            },
          });
        }),
      };
    case "synthetic":
      return {
        kind,
        ...source((symbol) =>
          fetchSynthetic(
            store,
            symbol,
            patterns,
            options.syntheticSides?.[symbol] ?? syntheticSide(symbol),
          ),
        ),
      };
    default:
      throw new Error(
        `unknown position source ${JSON.stringify(kind)} (expected one of ${POSITION_SOURCE_KINDS.join(", ")})`,
      );
  }
}

/**
 * What one layout's fetch found, judged at a clock's options. `noHash`: the no_position detail
 * when there is no position hash at all (auto then tries the stream), else null.
 */
interface Fetched {
  noHash: string | null;
  at(options: SnapshotOptions): Read<PositionSnapshot>;
}

/** A fetch whose answer does not depend on the clock (a skip, or nothing there). */
const settled = (read: Read<PositionSnapshot>, noHash: string | null = null): Fetched => ({
  noHash,
  at: () => read,
});

// ---- field conversion (docs/specification.md §4.1) -----------------------------------------------------------------

/**
 * A position as its writers laid it out, mapped to the kernel's names but before this service's
 * memory (§4.2) fills in what nobody writes: peak, trough and — without `age_sec` or
 * `created_at` — the age.
 */
export interface PositionSnapshot {
  symbol: string;
  side: Side;
  entry_price: number;
  current_price: number;
  /** The writer's figure: on the live stack the exchange's PnL for the whole position (USDT). */
  unrealized_pnl: number;
  /** Absolute size (`quantity`, else |`position_amt`|); null when neither is written. */
  quantity: number | null;
  current_sl: number | null;
  current_tp: number | null;
  /** Explicit fields of the v1 layouts; null when absent (then tracked or derived). */
  age_sec: number | null;
  peak_price: number | null;
  trough_price: number | null;
  /** When the apply layer opened it (epoch s); null when unknown. */
  created_at: number | null;
  /** The position brain's snapshot time (epoch s); null when absent. */
  ts_epoch: number | null;
  /** Same identity, same position: `plan_id`, else side + entry price + created_at (§4.2). */
  identity: string;
  /** Where it was read, for skip details. */
  origin: string;
}

export interface SnapshotOptions {
  /** Epoch ms of this read (freshness of ts_epoch). */
  nowMs: number;
  /** A snapshot whose ts_epoch is older than this (s) is stale; null = no check. */
  maxPositionAgeSec: number | null;
  /**
   * How far (s) ts_epoch/created_at may lie ahead of nowMs; further is bad_position. Absent:
   * DEFAULT_MAX_CLOCK_SKEW_SEC; null: no check (no meaningful clock). Milliseconds are refused
   * either way.
   */
  maxClockSkewSec?: number | null;
}

/** Optional fields: these spellings mean "not set" (Python writers produce None; the apply layer "0"). */
const UNSET_OPTIONAL = new Set(["", "0", "None", "none", "null", "NULL"]);

function isMissing(value: unknown): boolean {
  return value === undefined || value === null || value === "";
}

/** The first of `names` that is present and non-empty. */
function firstPresent(
  fields: Record<string, unknown>,
  ...names: string[]
): { name: string; value: unknown } | null {
  for (const name of names) if (!isMissing(fields[name])) return { name, value: fields[name] };
  return null;
}

class FieldProblem extends Error {}

/** A required number: present and a plain finite decimal, else a problem naming the field and value. */
function requiredNumber(
  fields: Record<string, unknown>,
  names: string[],
  check?: (v: number) => string | null,
): number {
  const found = firstPresent(fields, ...names);
  if (found === null) throw new FieldProblem(`${names.join(" or ")} missing`);
  const value = parseFiniteNumber(found.value);
  if (value === null)
    throw new FieldProblem(
      `${found.name} must be a number (got ${abbreviate(asText(found.value))})`,
    );
  const why = check?.(value) ?? null;
  if (why !== null) throw new FieldProblem(`${found.name} ${why} (got ${value})`);
  return value;
}

/**
 * An optional number from the first of `names` that is present and non-empty (docs/specification.md §4.1: that
 * source wins, so `current_sl: "0"` means unset even beside a `stop_loss`). null when none is, or
 * when it is spelled as unset (UNSET_OPTIONAL, or 0) and `unsetSpellings` allows that; else it
 * must parse.
 */
function optionalNumber(
  fields: Record<string, unknown>,
  names: string[],
  unsetSpellings: boolean,
  check?: (v: number) => string | null,
): number | null {
  for (const name of names) {
    const raw = fields[name];
    if (isMissing(raw)) continue;
    if (unsetSpellings && (UNSET_OPTIONAL.has(asText(raw)) || parseFiniteNumber(raw) === 0))
      return null;
    const value = parseFiniteNumber(raw);
    if (value === null)
      throw new FieldProblem(`${name} must be a number (got ${abbreviate(asText(raw))})`);
    const why = check?.(value) ?? null;
    if (why !== null) throw new FieldProblem(`${name} ${why} (got ${value})`);
    return value;
  }
  return null;
}

/**
 * An epoch-seconds stamp of a writer (CONTRACT.md, "Plausibility"): milliseconds (≥ 1e11), or
 * later than now + maxClockSkew, is a FieldProblem naming the field and the value. Python writes
 * time.time() (seconds); a stamp in the future is a writer's clock or unit gone wrong, and a
 * position whose age or freshness is built on it would be judged on a number nobody meant.
 */
function checkEpochStamp(
  name: string,
  value: number,
  nowMs: number,
  maxSkewSec: number | null,
): void {
  if (value >= MAX_EPOCH_SECONDS)
    throw new FieldProblem(`${name} ${value} is in milliseconds (epoch seconds expected)`);
  if (maxSkewSec === null) return;
  const aheadSec = value - nowMs / 1000;
  if (aheadSec > maxSkewSec) {
    throw new FieldProblem(
      `${name} ${value} is ${Math.round(aheadSec)} s in the future (maxClockSkew ${maxSkewSec} s)`,
    );
  }
}

const positive = (v: number): string | null => (v > 0 ? null : "must be > 0");
const nonNegative = (v: number): string | null => (v >= 0 ? null : "must be >= 0");

/**
 * Maps stored fields — the canonical hash (several writers side by side), the legacy JSON, a
 * stream event or a synthetic position — to a snapshot (docs/specification.md §4.1). A closed position (`FLAT`,
 * `position_amt` 0, `quantity` 0) is `no_position`; a broken one `bad_position` naming the field;
 * a brain snapshot older than maxPositionAgeSec `stale_position`.
 */
export function snapshotFromFields(
  fields: Record<string, unknown>,
  symbol: string,
  origin: string,
  options: SnapshotOptions,
): Read<PositionSnapshot> {
  const bad = (why: string): Read<PositionSnapshot> => skip("bad_position", `${origin}: ${why}`);
  const named = isMissing(fields.symbol) ? symbol : fields.symbol;
  if (named !== symbol)
    return bad(
      `symbol ${abbreviate(asText(named))} does not match the requested symbol ${JSON.stringify(symbol)}`,
    );
  try {
    const side = fields.side;
    if (side === "FLAT") return skip("no_position", `${origin}: side FLAT`);
    const amount = optionalNumber(fields, ["position_amt"], false);
    if (amount === 0) return skip("no_position", `${origin}: position_amt 0`);
    const quantityField = optionalNumber(fields, ["quantity"], false);
    if (quantityField === 0) return skip("no_position", `${origin}: quantity 0`);
    if (side !== "LONG" && side !== "SHORT") {
      return bad(
        `side must be LONG, SHORT or FLAT (got ${isMissing(side) ? "nothing" : abbreviate(asText(side))})`,
      );
    }
    if (quantityField !== null && quantityField < 0)
      throw new FieldProblem(`quantity must be >= 0 (got ${quantityField})`);
    // The signed amount and the side are written by the same snapshot: disagreeing, one is wrong,
    // and a stop for the wrong side is worse than none.
    if (amount !== null && amount > 0 !== (side === "LONG")) {
      throw new FieldProblem(`side ${side} disagrees with position_amt ${amount}`);
    }

    const maxSkewSec =
      options.maxClockSkewSec === undefined ? DEFAULT_MAX_CLOCK_SKEW_SEC : options.maxClockSkewSec;
    const tsEpoch = optionalNumber(fields, ["ts_epoch"], false, nonNegative);
    // Before the freshness check: a stamp from the future (or in milliseconds) is never "fresh".
    if (tsEpoch !== null) checkEpochStamp("ts_epoch", tsEpoch, options.nowMs, maxSkewSec);
    if (tsEpoch !== null && options.maxPositionAgeSec !== null) {
      const ageSec = options.nowMs / 1000 - tsEpoch;
      if (ageSec > options.maxPositionAgeSec) {
        return skip(
          "stale_position",
          `${origin}: ts_epoch ${tsEpoch} is ${Math.round(ageSec)} s old (maxPositionAge ${options.maxPositionAgeSec} s)`,
        );
      }
    }
    const entry = requiredNumber(fields, ["entry_price"], positive);
    const current = requiredNumber(fields, ["current_price", "mark_price"], positive);
    const pnl = requiredNumber(fields, ["unrealized_pnl"]);
    const createdAt = optionalNumber(fields, ["created_at"], true, nonNegative);
    if (createdAt !== null) checkEpochStamp("created_at", createdAt, options.nowMs, maxSkewSec);
    const planId =
      isMissing(fields.plan_id) || UNSET_OPTIONAL.has(asText(fields.plan_id))
        ? null
        : asText(fields.plan_id);
    return ok({
      symbol,
      side,
      entry_price: entry,
      current_price: current,
      unrealized_pnl: pnl,
      quantity: quantityField ?? (amount === null ? null : Math.abs(amount)),
      current_sl: optionalNumber(fields, ["current_sl", "stop_loss"], true, positive),
      current_tp: optionalNumber(fields, ["current_tp", "take_profit"], true, positive),
      age_sec: optionalNumber(fields, ["age_sec"], false, nonNegative),
      peak_price: optionalNumber(fields, ["peak_price"], false, positive),
      trough_price: optionalNumber(fields, ["trough_price"], false, positive),
      created_at: createdAt,
      ts_epoch: tsEpoch,
      identity: planId !== null ? `plan:${planId}:${side}` : `${side}:${entry}:${createdAt ?? "-"}`,
      origin,
    });
  } catch (error) {
    if (error instanceof FieldProblem) return bad(error.message);
    throw error;
  }
}

/**
 * The kernel's position from a snapshot, with peak/trough/age given (the tracked or derived
 * values where the snapshot has none), validated by the kernel's own validator.
 */
export function kernelPosition(
  snapshot: PositionSnapshot,
  tracked: { peak_price: number; trough_price: number; age_sec: number },
): Read<Position> {
  const raw = {
    symbol: snapshot.symbol,
    side: snapshot.side,
    entry_price: snapshot.entry_price,
    current_price: snapshot.current_price,
    peak_price: snapshot.peak_price ?? tracked.peak_price,
    trough_price: snapshot.trough_price ?? tracked.trough_price,
    age_sec: snapshot.age_sec ?? tracked.age_sec,
    unrealized_pnl: snapshot.unrealized_pnl,
    current_sl: snapshot.current_sl,
    current_tp: snapshot.current_tp,
  };
  try {
    return ok(validatePosition(raw, "position", snapshot.symbol));
  } catch (error) {
    if (error instanceof KernelInputError)
      return skip("bad_position", `${snapshot.origin}: ${error.message}`);
    throw error;
  }
}

/**
 * A snapshot read on its own, with no memory: peak/trough fall back to the current price and the
 * age to age_sec, else now − created_at, else 0. For one-off uses (`compute`, property tests);
 * the publishers go through the position memory instead (src/inputs/positionMemory.ts).
 */
export function positionFromFields(
  fields: Record<string, unknown>,
  symbol: string,
  origin: string,
  nowMs = 0,
): Read<Position> {
  // No clock here (nowMs defaults to 0): only the milliseconds rule applies, not the future one.
  const snapshot = snapshotFromFields(fields, symbol, origin, {
    nowMs,
    maxPositionAgeSec: null,
    maxClockSkewSec: null,
  });
  if (!snapshot.ok) return snapshot;
  const s = snapshot.value;
  const age = s.created_at === null ? 0 : Math.max(0, nowMs / 1000 - s.created_at);
  return kernelPosition(s, {
    peak_price: s.current_price,
    trough_price: s.current_price,
    age_sec: age,
  });
}

// ---- redis_hash -----------------------------------------------------------------------------------

/** How a no_position detail starts when there is no hash at all (auto then tries the stream). */
const NO_HASH = "no position hash";

async function fetchFromHash(store: Store, symbol: string): Promise<Fetched> {
  const key = canonicalPositionKey(symbol);
  let fields: Record<string, string>;
  try {
    fields = await store.hgetall(key);
  } catch (error) {
    if (error instanceof WrongTypeError) return settled(skip("bad_position", error.message));
    throw error;
  }
  if (Object.keys(fields).length > 0)
    return { noHash: null, at: (options) => snapshotFromFields(fields, symbol, key, options) };

  const origin = `${LEGACY_POSITIONS_KEY}[${symbol}]`;
  let json: string | null;
  try {
    json = await store.hget(LEGACY_POSITIONS_KEY, symbol);
  } catch (error) {
    if (error instanceof WrongTypeError) return settled(skip("bad_position", error.message));
    throw error;
  }
  // An empty value or JSON null is how a writer clears a symbol: no position, not a bad one.
  if (json === null || json === "" || json === "null") {
    const detail = `${NO_HASH} ${key} and no field ${symbol} in ${LEGACY_POSITIONS_KEY}`;
    return settled(skip("no_position", detail), detail);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return settled(skip("bad_position", `${origin}: not valid JSON (${abbreviate(json)})`));
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return settled(
      skip("bad_position", `${origin}: expected a JSON object (got ${abbreviate(json)})`),
    );
  }
  const object = parsed as Record<string, unknown>;
  return { noHash: null, at: (options) => snapshotFromFields(object, symbol, origin, options) };
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
      if (typeof payload === "object" && payload !== null && !Array.isArray(payload)) {
        for (const [key, value] of Object.entries(payload))
          if (!(key in merged)) merged[key] = value;
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

async function fetchFromStream(store: Store, symbol: string, scanCount: number): Promise<Fetched> {
  let entries: StreamEntry[];
  try {
    entries = await store.xrevrange(EXECUTION_RESULT_STREAM, scanCount);
  } catch (error) {
    if (error instanceof WrongTypeError) return settled(skip("bad_position", error.message));
    throw error;
  }
  return {
    noHash: null,
    at(options) {
      // Newest first: the first POSITION_* event for the symbol decides.
      for (const entry of entries) {
        const fields = eventFields(entry.fields);
        if (fields.symbol !== symbol) continue;
        const eventType = fields.event_type;
        if (eventType === "POSITION_CLOSED") {
          return skip(
            "no_position",
            `newest position event for ${symbol} in ${EXECUTION_RESULT_STREAM} is POSITION_CLOSED (${entry.id})`,
          );
        }
        if (eventType === "POSITION_OPENED" || eventType === "POSITION_UPDATED") {
          return snapshotFromFields(
            fields,
            symbol,
            `${EXECUTION_RESULT_STREAM} ${entry.id} (${eventType})`,
            options,
          );
        }
      }
      return skip(
        "no_position",
        `no POSITION_OPENED/UPDATED/CLOSED event for ${symbol} in the newest ${entries.length} entries of ${EXECUTION_RESULT_STREAM}`,
      );
    },
  };
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
  return sum % 3 === 0 ? "SHORT" : "LONG";
}

/**
 * A position "opened" SYNTHETIC_ENTRY_CANDLES_BACK candles ago (or at the oldest candle): entry =
 * that close, current = the newest close, peak/trough = the best/worst close since entry,
 * age = 60 s per candle since entry, unrealized PnL per unit of size, no stop or target set.
 * It moves with the candles, so the demo's proposals change as the market does.
 */
export function syntheticPositionFromCloses(
  symbol: string,
  closes: readonly number[],
  side: Side = syntheticSide(symbol),
): Position {
  if (closes.length === 0) throw new Error("syntheticPositionFromCloses: no closes");
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
    peak_price: side === "LONG" ? highest : lowest,
    trough_price: side === "LONG" ? lowest : highest,
    age_sec: SYNTHETIC_CANDLE_SECONDS * (sinceEntry.length - 1),
    unrealized_pnl: side === "LONG" ? current - entry : entry - current,
    current_sl: null,
    current_tp: null,
  };
}

async function fetchSynthetic(
  store: Store,
  symbol: string,
  patterns: readonly string[],
  side: Side,
): Promise<FetchedPosition> {
  const candles = await readCandles(store, symbol, {
    patterns,
    windowSize: SYNTHETIC_ENTRY_CANDLES_BACK + 1,
  });
  if (!candles.ok) {
    const read = skip<PositionSnapshot>(candles.reason, `synthetic position: ${candles.detail}`);
    return { at: () => read };
  }
  const fields = { ...syntheticPositionFromCloses(symbol, candles.value.closes, side) };
  const origin = `synthetic position from ${candles.value.key}`;
  // Explicit peak, trough and age: a synthetic position is its own memory.
  return {
    at: (nowMs) =>
      snapshotFromFields(fields, symbol, origin, {
        nowMs,
        maxPositionAgeSec: null,
        maxClockSkewSec: null,
      }),
  };
}

/**
 * A stored value as text for matching and messages. Values from a JSON layout can be anything,
 * including objects without a usable toString (`{"toString": false}`): never throw on them.
 */
function asText(value: unknown): string {
  if (typeof value === "string") return value;
  if (
    typeof value === "number" ||
    typeof value === "boolean" ||
    value === null ||
    value === undefined
  )
    return String(value);
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}

function abbreviate(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}
