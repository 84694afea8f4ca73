// Position memory (docs/specification.md §4.2): what no writer of the live position hash records — the best and
// worst price since the position opened, and when this service first saw it — kept by this
// service in its own hash quantum:calc:position:{symbol}, so a restart or a `--once` run
// continues from it and a LONG's stop really trails its best price.
//
// The pure part (advanceMemory, trackedFigures, the field codec) decides; PositionBook holds one
// in-process copy per symbol, shared by the risk and harvest publishers of that symbol. Sharing
// one copy is what keeps peak and trough from moving backwards: both publishers fold their
// observations into the same monotonic state, so whichever writes it last writes values at least
// as extreme as any written before. The memory is written inside the publish (or heartbeat) batch
// of the cycle that changed it, so it lands atomically with the proposal computed from it.
import type { Position } from "../kernels/types.js";
import { calcKey } from "../store/keyGuard.js";
import type { HashWrite, Store } from "../store/types.js";
import { kernelPosition, type PositionSnapshot } from "./positions.js";
import { parseFiniteNumber } from "./parse.js";
import type { Read } from "./types.js";

export interface PositionMemory {
  /** The snapshot identity this memory belongs to (a new identity resets it). */
  identity: string;
  side: "LONG" | "SHORT";
  first_seen_epoch: number;
  /** Best price since entry: highest for a LONG, lowest for a SHORT. */
  peak_price: number;
  /** Worst price since entry: lowest for a LONG, highest for a SHORT. */
  trough_price: number;
  /** Open time (ms) of the newest candle folded in; null when none was. */
  candles_through_ms: number | null;
}

/** The highs and lows of candles that opened at or after the position opened. */
export interface CandleExtremes {
  high: number;
  low: number;
  /** Open time (ms) of the newest of them. */
  throughMs: number;
}

export const positionMemoryKey = (symbol: string): string => calcKey("position", symbol);

/** Refreshed with every write; a symbol no longer run lets its memory lapse after a day. */
export const POSITION_MEMORY_TTL_SEC = 86_400;
/** Rewrite an unchanged memory this often, so its TTL never runs out under an open position. */
const REFRESH_MS = 3_600_000;

function better(side: "LONG" | "SHORT", a: number, b: number): number {
  return side === "LONG" ? Math.max(a, b) : Math.min(a, b);
}
function worse(side: "LONG" | "SHORT", a: number, b: number): number {
  return side === "LONG" ? Math.min(a, b) : Math.max(a, b);
}

/**
 * The memory after one observation: the current price and the candles since the last one folded
 * into peak and trough. A different identity (another plan, side, entry or opening) starts afresh
 * at the current price — never at the entry price: the position may have been open for days
 * before this service first saw it, and a peak it never observed could put a LONG's trailing stop
 * above the market.
 */
export function advanceMemory(
  previous: PositionMemory | null,
  snapshot: PositionSnapshot,
  extremes: CandleExtremes | null,
  nowMs: number,
): PositionMemory {
  const side = snapshot.side;
  const price = snapshot.current_price;
  const same =
    previous !== null && previous.identity === snapshot.identity && previous.side === side;
  let peak = same ? better(side, previous.peak_price, price) : price;
  let trough = same ? worse(side, previous.trough_price, price) : price;
  let through = same ? previous.candles_through_ms : null;
  if (extremes !== null) {
    peak = better(side, peak, side === "LONG" ? extremes.high : extremes.low);
    trough = worse(side, trough, side === "LONG" ? extremes.low : extremes.high);
    through = Math.max(through ?? -Infinity, extremes.throughMs);
  }
  return {
    identity: snapshot.identity,
    side,
    first_seen_epoch: same ? previous.first_seen_epoch : Math.floor(nowMs / 1000),
    peak_price: peak,
    trough_price: trough,
    candles_through_ms: through,
  };
}

/** Peak, trough and age for the kernel: the snapshot's own fields win, else the memory (docs/specification.md §4.1). */
export function trackedFigures(snapshot: PositionSnapshot, memory: PositionMemory, nowMs: number) {
  const nowSec = nowMs / 1000;
  const since = snapshot.created_at ?? memory.first_seen_epoch;
  return {
    peak_price: memory.peak_price,
    trough_price: memory.trough_price,
    // Never negative: a created_at a little in the future is clock skew, not a negative age.
    age_sec: Math.max(0, Math.floor(nowSec - since)),
  };
}

/** Where candles must be read from for this observation: at or after the opening, after the last folded. */
export function candlesNeededFromMs(
  snapshot: PositionSnapshot,
  memory: PositionMemory | null,
): number | null {
  if (snapshot.created_at === null) return null;
  const opened = snapshot.created_at * 1000;
  const same =
    memory !== null && memory.identity === snapshot.identity && memory.side === snapshot.side;
  const through = same ? memory.candles_through_ms : null;
  return through === null ? opened : Math.max(opened, through + 1);
}

export function memoryToFields(memory: PositionMemory, nowMs: number): Record<string, string> {
  return {
    identity: memory.identity,
    side: memory.side,
    first_seen_epoch: String(memory.first_seen_epoch),
    peak_price: String(memory.peak_price),
    trough_price: String(memory.trough_price),
    candles_through_ms: memory.candles_through_ms === null ? "" : String(memory.candles_through_ms),
    updated_epoch: String(Math.floor(nowMs / 1000)),
  };
}

/** Our own hash back; null when absent or not in our format (then the memory starts afresh). */
export function memoryFromFields(fields: Record<string, string>): PositionMemory | null {
  const side = fields.side;
  const firstSeen = parseFiniteNumber(fields.first_seen_epoch);
  const peak = parseFiniteNumber(fields.peak_price);
  const trough = parseFiniteNumber(fields.trough_price);
  const through =
    fields.candles_through_ms === "" || fields.candles_through_ms === undefined
      ? null
      : parseFiniteNumber(fields.candles_through_ms);
  if (
    !fields.identity ||
    (side !== "LONG" && side !== "SHORT") ||
    firstSeen === null ||
    peak === null ||
    trough === null
  )
    return null;
  if (peak <= 0 || trough <= 0 || (fields.candles_through_ms && through === null)) return null;
  return {
    identity: fields.identity,
    side,
    first_seen_epoch: firstSeen,
    peak_price: peak,
    trough_price: trough,
    candles_through_ms: through,
  };
}

function sameMemory(a: PositionMemory, b: PositionMemory): boolean {
  return (
    a.identity === b.identity &&
    a.side === b.side &&
    a.first_seen_epoch === b.first_seen_epoch &&
    a.peak_price === b.peak_price &&
    a.trough_price === b.trough_price &&
    a.candles_through_ms === b.candles_through_ms
  );
}

/** Candle extremes since `fromMs` for a symbol (I/O, injected: src/candles/extremes.ts readCandleExtremes). */
export type ExtremesReader = (symbol: string, fromMs: number) => Promise<CandleExtremes | null>;

interface Entry {
  /** undefined: not loaded from the store yet. null: known to have no memory. */
  memory: PositionMemory | null | undefined;
  /** Version of `memory`, and the version last written (or read). */
  version: number;
  writtenVersion: number;
  writtenAtMs: number;
}

export interface TrackedPosition {
  position: Position;
  snapshot: PositionSnapshot;
  memory: PositionMemory;
}

export interface PositionBookOptions {
  /**
   * config maxPriceRatio: an observation whose current price is more than this factor from its
   * entry price is not remembered (see PositionBook.observe). Default 10, the key's default.
   */
  maxPriceRatio?: number;
}

/** The default of the config key maxPriceRatio. */
export const DEFAULT_MAX_PRICE_RATIO = 10;

/**
 * Whether an observation may go into the memory: its current price within maxPriceRatio of its
 * entry price (both ends included), the same bound the output guard holds the written position
 * prices to (src/phases/outputGuard.ts).
 */
export function rememberable(
  snapshot: Pick<PositionSnapshot, "entry_price" | "current_price">,
  maxPriceRatio: number,
): boolean {
  const { entry_price: entry, current_price: current } = snapshot;
  return current >= entry / maxPriceRatio && current <= entry * maxPriceRatio;
}

/**
 * The service's position memories, one per symbol, loaded from the store on first use and shared
 * by the risk and harvest publishers.
 */
export class PositionBook {
  private readonly entries = new Map<string, Entry>();
  private readonly maxPriceRatio: number;

  constructor(
    private readonly store: Store,
    private readonly readExtremes: ExtremesReader,
    options: PositionBookOptions = {},
  ) {
    this.maxPriceRatio = options.maxPriceRatio ?? DEFAULT_MAX_PRICE_RATIO;
  }

  /**
   * Forgets every in-process copy, so each symbol's memory is read from Redis again at its next
   * use: after a standby period another instance has been writing the stored memory.
   */
  forgetAll(): void {
    this.entries.clear();
  }

  private async entry(symbol: string): Promise<Entry> {
    let entry = this.entries.get(symbol);
    if (entry === undefined) {
      entry = { memory: undefined, version: 0, writtenVersion: 0, writtenAtMs: 0 };
      this.entries.set(symbol, entry);
    }
    if (entry.memory === undefined) {
      const fields = await this.store.hgetall(positionMemoryKey(symbol));
      // Another cycle of the same symbol may have loaded it while we waited.
      if (entry.memory === undefined) {
        entry.memory = memoryFromFields(fields);
        entry.writtenAtMs = 0;
      }
    }
    return entry;
  }

  /**
   * Folds one observation of an open position into its memory and returns the kernel's position.
   *
   * An implausible observation (rememberable: a current price more than maxPriceRatio from the
   * entry, a unit or feed glitch) is computed with but not remembered: the output guard skips its
   * cycle as implausible_result (nothing written), and a peak taken from it would otherwise stay
   * in the memory and drag a LONG's trailing stop far above the market for the rest of the
   * position's life, written by the next good cycle.
   */
  async observe(snapshot: PositionSnapshot, nowMs: number): Promise<Read<TrackedPosition>> {
    const entry = await this.entry(snapshot.symbol);
    const fromMs = candlesNeededFromMs(snapshot, entry.memory ?? null);
    const extremes = fromMs === null ? null : await this.readExtremes(snapshot.symbol, fromMs);
    // entry.memory is read again after the awaits: the other publisher of this symbol may have
    // folded its own observation in meanwhile, and this one goes on top of it (max/min are
    // idempotent, so candles folded twice change nothing).
    const final = advanceMemory(entry.memory ?? null, snapshot, extremes, nowMs);
    if (!rememberable(snapshot, this.maxPriceRatio)) {
      const position = kernelPosition(snapshot, trackedFigures(snapshot, final, nowMs));
      if (!position.ok) return position;
      return { ok: true, value: { position: position.value, snapshot, memory: final } };
    }
    if (!entry.memory || !sameMemory(entry.memory, final)) {
      entry.memory = final;
      entry.version += 1;
    }
    const position = kernelPosition(snapshot, trackedFigures(snapshot, final, nowMs));
    if (!position.ok) return position;
    return { ok: true, value: { position: position.value, snapshot, memory: final } };
  }

  /**
   * The write that brings the stored memory up to date, to go into this cycle's publish batch;
   * null when it is current (it is rewritten hourly to refresh its TTL).
   */
  pendingWrite(symbol: string, nowMs: number): { write: HashWrite; commit: () => void } | null {
    const entry = this.entries.get(symbol);
    if (!entry || !entry.memory) return null;
    if (entry.version === entry.writtenVersion && nowMs - entry.writtenAtMs < REFRESH_MS)
      return null;
    const version = entry.version;
    return {
      write: {
        key: positionMemoryKey(symbol),
        fields: memoryToFields(entry.memory, nowMs),
        ttlSec: POSITION_MEMORY_TTL_SEC,
      },
      commit: () => {
        entry.writtenVersion = Math.max(entry.writtenVersion, version);
        entry.writtenAtMs = nowMs;
      },
    };
  }

  /**
   * The symbol has no open position: forget its memory (and delete the stored one, once). A
   * position opened later starts afresh.
   */
  async flat(symbol: string): Promise<void> {
    const entry = this.entries.get(symbol);
    if (entry !== undefined && entry.memory === null) return;
    await this.store.deleteOwn([positionMemoryKey(symbol)]);
    this.entries.set(symbol, { memory: null, version: 0, writtenVersion: 0, writtenAtMs: 0 });
  }

  /** The in-process memory (status, tests). */
  peek(symbol: string): PositionMemory | null {
    return this.entries.get(symbol)?.memory ?? null;
  }
}
