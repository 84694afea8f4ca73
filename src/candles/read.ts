// The full read of a symbol's candles (CONTRACT.md, "Candles"): the first
// existing key of the configured patterns, a bounded tail of it, and the series built from it
// (series.ts). The marketstate publisher's reads of the data sink's key go through the incremental
// window first (window.ts); this is where they fall back to, and what every other reader uses.
import { WrongTypeError, type ScoredMember, type Store } from "../store/types.js";
import { skip, type Read } from "../inputs/types.js";
import { CandleColumns } from "./columns.js";
import { oversizedKey, resolveGuards, type CandleGuards, type ResolvedGuards } from "./guards.js";
import { candleFirstTailCount, candleKeys, candleTailCount } from "./keys.js";
import { parseCandleMember, type Candle, type CandleParseCache } from "./parse.js";
import { buildSeries, type CandleSeries } from "./series.js";
import { windowCapacity, type CandleWindowCache } from "./window.js";

export interface ReadCandlesOptions extends CandleGuards {
  /** Key patterns with `{symbol}`; the first key that exists is used. */
  patterns: readonly string[];
  /** Keep the newest this-many closes. */
  windowSize: number;
  /** Parsed members of the previous read, reused when a member string is read again. */
  cache?: CandleParseCache;
  /**
   * The parsed tail of each sorted set from the previous read: with it, a read fetches only the
   * newest few scores (see CandleWindowCache) instead of the whole tail. The series is the same.
   */
  window?: CandleWindowCache;
  /**
   * Closed candles seen on the klines stream that the key may not hold yet (the data sink writes
   * it from the same stream, possibly later). They are merged in, deduplicated like members,
   * when the key's open times are epoch milliseconds like theirs.
   */
  live?: readonly Candle[];
}

export async function readCandles(
  store: Store,
  symbol: string,
  options: ReadCandlesOptions,
): Promise<Read<CandleSeries>> {
  const { patterns, windowSize } = options;
  if (!Number.isSafeInteger(windowSize) || windowSize <= 0) {
    throw new Error(
      `readCandles: windowSize must be a positive integer (got ${String(windowSize)})`,
    );
  }
  if (patterns.length === 0) throw new Error("readCandles: no candle key patterns configured");

  const keys = candleKeys(symbol, patterns);
  const guards = resolveGuards(options);
  const window = options.window;
  if (window !== undefined) {
    // The window of the first pattern's key (the data sink's, on the live stack) is read
    // incrementally: no earlier key can appear that the full read would prefer.
    const incremental = await window.readIncremental(
      store,
      keys[0],
      windowSize,
      options.live,
      guards,
    );
    if (incremental !== null) return incremental;
  }
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    // The key's size in the same round trip as its type (auto-pipelined): a key grown huge (a
    // writer gone wrong) is refused before its members are asked for, so its reply never holds up
    // — or, past the command timeout, drops — the connection every symbol shares.
    const [kind, bytes] = await Promise.all([store.keyKind(key), store.memoryUsage(key)]);
    if (kind === "none") continue;
    if (kind !== "zset" && kind !== "list") {
      // The first existing key decides, even when unusable: silently falling through to another
      // pattern would compute from a source nobody configured for this symbol.
      return skip("bad_input", `candle key ${key} is a ${kind}; expected a sorted set or a list`);
    }
    const oversized = oversizedKey(key, bytes, guards.maxKeyBytes);
    if (oversized !== null) return oversized;
    try {
      // The window keeps the rows of its key itself: the parse cache would hold them twice.
      const windowed = window !== undefined && k === 0 && kind === "zset";
      const readOptions = windowed ? { ...options, cache: undefined } : options;
      const firstTail = candleFirstTailCount(windowSize);
      const first = await readSeries(
        store,
        key,
        kind,
        windowSize,
        firstTail,
        windowed,
        readOptions,
        guards,
      );
      const short = !first.result.ok || first.result.value.closes.length < windowSize;
      if (!short || first.columns.hi < firstTail) {
        if (windowed) window.remember(key, first.columns, firstTail, guards);
        return first.result;
      }
      // The key holds more than we read and the window came out short: read the full margin.
      const fullTail = candleTailCount(windowSize);
      const full = await readSeries(
        store,
        key,
        kind,
        windowSize,
        fullTail,
        windowed,
        readOptions,
        guards,
      );
      if (windowed) window.remember(key, full.columns, fullTail, guards);
      return full.result;
    } catch (error) {
      // The key changed type between TYPE and the read.
      if (error instanceof WrongTypeError)
        return skip("bad_input", `candle key ${key}: ${error.message}`);
      throw error;
    }
  }
  return skip("insufficient_data", `no candle key for ${symbol} (tried ${keys.join(", ")})`);
}

/** The newest `tail` members of the key, as columns (with the window's room when it keeps them), and their series. */
async function readSeries(
  store: Store,
  key: string,
  kind: "zset" | "list",
  windowSize: number,
  tail: number,
  windowed: boolean,
  options: ReadCandlesOptions,
  guards: ResolvedGuards,
): Promise<{ result: Read<CandleSeries>; columns: CandleColumns }> {
  const raw: ScoredMember[] =
    kind === "zset"
      ? await store.zrangeTailWithScores(key, tail)
      : (await store.lrangeTail(key, tail)).map((member) => ({ member, score: Number.NaN }));
  const cache = options.cache;
  const candles = cache
    ? cache.parseAll(
        key,
        raw.map((r) => r.member),
      )
    : raw.map((r) => parseCandleMember(r.member));
  const columns = CandleColumns.fromMembers(
    raw,
    candles,
    windowed ? windowCapacity(tail) : raw.length,
    guards,
  );
  return {
    result: buildSeries(
      key,
      columns,
      0,
      raw.length,
      windowSize,
      options.live,
      guards.futureAfterMs,
    ),
    columns,
  };
}
