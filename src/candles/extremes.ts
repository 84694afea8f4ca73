// The position memory's input (CONTRACT.md, "Position memory"): the extremes of a
// symbol's candles since a time, read with the same key lookup, plausibility and clock rules as the
// series.
import { WrongTypeError, type ScoredMember, type Store } from "../store/types.js";
import { rangeWithin } from "../store/rangeWithin.js";
import {
  oversizedKey,
  priceOutOfRange,
  resolveGuards,
  type CandleGuards,
  type ResolvedGuards,
} from "./guards.js";
import { candleKeys } from "./keys.js";
import { parseCandleMember } from "./parse.js";
import { datedAfter, EPOCH_MS_THRESHOLD, openTimeMs } from "./time.js";

/** At most this many candles are folded into a position memory per read (8 h of 1m candles). */
export const EXTREMES_READ_LIMIT = 500;

/**
 * The highest high and lowest low (the close where a member has none) of the candles that opened
 * at or after `fromMs`, from the first existing candle key — the position memory's input (CONTRACT.md,
 * "Position memory"). null when there are none, or when the key is unusable (the marketstate
 * publisher reports that; the position falls back to the prices it observes).
 *
 * Every risk and harvest cycle asks, usually for the candles since the last one folded in — none
 * or one. After one full answer (TYPE, the newest member for the key's unit, ZRANGEBYSCORE from
 * fromMs) of a data-sink layout key (the first pattern's, scores in ms), the next ask is one
 * ZRANGEBYSCORE from the newest score seen then: its answer proves the key still exists as a
 * sorted set in ms (it holds at least that member), and holds every member from fromMs on, so the
 * same candles are folded as by the full answer. Anything else takes the full path.
 */
export async function readCandleExtremes(
  store: Store,
  symbol: string,
  patterns: readonly string[],
  fromMs: number,
  candleGuards: CandleGuards = {},
): Promise<{ high: number; low: number; throughMs: number } | null> {
  const keys = candleKeys(symbol, patterns);
  const guards = resolveGuards(candleGuards);
  const seen = newestSeen(store);
  const newest = seen.get(keys[0]);
  if (newest !== undefined) {
    const quick = await extremesSinceSeen(store, keys[0], newest, fromMs, seen, guards);
    if (quick !== undefined) return quick;
  }
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    // As readCandles: the size with the type, and a key too large to read is not read.
    const [kind, bytes] = await Promise.all([store.keyKind(key), store.memoryUsage(key)]);
    if (kind === "none") continue;
    if (oversizedKey(key, bytes, guards.maxKeyBytes) !== null) return null;
    let rows: ScoredMember[];
    try {
      if (kind === "zset") {
        // Scores are open times in the key's own unit: the data sink's are ms, older layouts
        // may use seconds — the newest member tells which.
        const [newestMember] = await store.zrangeTailWithScores(key, 1);
        const inSeconds =
          newestMember !== undefined && Math.abs(newestMember.score) < EPOCH_MS_THRESHOLD;
        const minScore = inSeconds ? Math.floor(fromMs / 1000) : fromMs;
        rows = await store.zrangeFromScore(key, minScore, EXTREMES_READ_LIMIT);
        if (
          k === 0 &&
          newestMember !== undefined &&
          !inSeconds &&
          Number.isFinite(newestMember.score)
        )
          seen.set(key, newestMember.score);
      } else if (kind === "list") {
        rows = (await store.lrangeTail(key, EXTREMES_READ_LIMIT)).map((member) => ({
          member,
          score: Number.NaN,
        }));
      } else return null;
    } catch (error) {
      if (error instanceof WrongTypeError) return null;
      throw error;
    }
    return foldExtremes(rows, fromMs, guards);
  }
  return null;
}

/** Per store (tests run several side by side): each data-sink key's newest score at the last full answer. */
const newestSeenByStore = new WeakMap<Store, Map<string, number>>();

function newestSeen(store: Store): Map<string, number> {
  let seen = newestSeenByStore.get(store);
  if (seen === undefined) {
    seen = new Map();
    newestSeenByStore.set(store, seen);
  }
  return seen;
}

/** The quick path of readCandleExtremes; undefined when it cannot answer exactly as the full path would. */
async function extremesSinceSeen(
  store: Store,
  key: string,
  newest: number,
  fromMs: number,
  seen: Map<string, number>,
  guards: ResolvedGuards,
): Promise<{ high: number; low: number; throughMs: number } | null | undefined> {
  // Everything from the lower of the two: room for the members before fromMs that come along.
  const margin = 32;
  let rows: ScoredMember[];
  // The key's size first, as on every candle read: a huge member is not asked for (on Redis the
  // size and the members in one round trip, by a script: rangeWithin). Gone or too large: the
  // full path answers (and refuses it there).
  try {
    const bounded = await rangeWithin(
      store,
      key,
      Math.min(newest, fromMs),
      EXTREMES_READ_LIMIT + margin,
      guards.maxKeyBytes,
    );
    if (bounded.members === null) {
      seen.delete(key);
      return undefined;
    }
    rows = bounded.members;
  } catch (error) {
    if (error instanceof WrongTypeError) {
      seen.delete(key);
      return undefined;
    }
    throw error;
  }
  // Empty: the key is gone (or lost the member). As long as the limit: more may be waiting.
  const last = rows[rows.length - 1];
  if (
    last === undefined ||
    rows.length >= EXTREMES_READ_LIMIT + margin ||
    !(Math.abs(last.score) >= EPOCH_MS_THRESHOLD) ||
    !Number.isFinite(last.score)
  ) {
    seen.delete(key);
    return undefined;
  }
  seen.set(key, last.score);
  // The full path's rows: the first EXTREMES_READ_LIMIT members scored from fromMs on.
  let first = 0;
  while (first < rows.length && !(rows[first].score >= fromMs)) first++;
  return foldExtremes(rows.slice(first, first + EXTREMES_READ_LIMIT), fromMs, guards);
}

/**
 * The extremes of the rows' candles that opened at or after fromMs (see readCandleExtremes).
 * Implausible candles and candles dated in the future are left out as the marketstate window
 * leaves them out: a peak of 1e308, or a "through" time in the future that would hide every real
 * candle until then, must not reach the position memory.
 */
function foldExtremes(
  rows: readonly ScoredMember[],
  fromMs: number,
  guards: ResolvedGuards,
): { high: number; low: number; throughMs: number } | null {
  let high = -Infinity;
  let low = Infinity;
  let through = -Infinity;
  for (const { member, score } of rows) {
    const candle = parseCandleMember(member);
    if (candle === null || priceOutOfRange(candle, guards.minPrice, guards.maxPrice) !== null)
      continue;
    const open = candle.openTime ?? (Number.isNaN(score) ? null : score);
    if (datedAfter(guards.futureAfterMs, score, open, candle.closeTime)) continue;
    if (open === null || openTimeMs(open) < fromMs) continue;
    high = Math.max(high, candle.high ?? candle.close);
    low = Math.min(low, candle.low ?? candle.close);
    through = Math.max(through, openTimeMs(open));
  }
  return Number.isFinite(through) ? { high, low, throughMs: through } : null;
}
