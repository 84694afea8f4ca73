// The size-bounded sorted-set read of the candle readers (issue 20): the key's size and, only when
// it is small enough, its members. A store with zrangeFromScoreWithin answers in one operation
// (on Redis one read-only script, one round trip); any other Store is asked memoryUsage and then
// zrangeFromScore, one after the other, so a huge key's members are never asked for either way.
import type { BoundedRange, Store } from "./types.js";

export async function rangeWithin(
  store: Store,
  key: string,
  minScore: number,
  count: number,
  maxBytes: number,
): Promise<BoundedRange> {
  if (store.zrangeFromScoreWithin !== undefined)
    return await store.zrangeFromScoreWithin(key, minScore, count, maxBytes);
  return await rangeByTwoCalls(store, key, minScore, count, maxBytes);
}

/**
 * The size, then the members only when the key is within `maxBytes` (whatever its type: above the
 * bound it is refused by its size, as the script refuses it): the two calls every store without
 * the one-operation form makes, and the Redis store's own way once its script was refused.
 */
export async function rangeByTwoCalls(
  store: Pick<Store, "memoryUsage" | "zrangeFromScore">,
  key: string,
  minScore: number,
  count: number,
  maxBytes: number,
): Promise<BoundedRange> {
  const bytes = await store.memoryUsage(key);
  if (bytes === null || bytes > maxBytes) return { bytes, members: null };
  return { bytes, members: await store.zrangeFromScore(key, minScore, count) };
}
