// The whole content of a (small) test Redis as key → text, to tell exactly which keys a run
// created, changed or deleted.
import type { Redis } from "ioredis";

export async function redisSnapshot(redis: Redis): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of (await redis.keys("*")).sort()) {
    const type = await redis.type(key);
    let content: unknown;
    switch (type) {
      case "hash": {
        const hash = await redis.hgetall(key);
        content = Object.keys(hash)
          .sort()
          .map((f) => [f, hash[f]]);
        break;
      }
      case "zset":
        content = await redis.zrange(key, 0, -1, "WITHSCORES");
        break;
      case "list":
        content = await redis.lrange(key, 0, -1);
        break;
      case "set":
        content = (await redis.smembers(key)).sort();
        break;
      case "stream":
        content = await redis.xrange(key, "-", "+");
        break;
      case "string":
        content = await redis.get(key);
        break;
      default:
        content = null;
    }
    out.set(key, `${type} ${JSON.stringify(content)}`);
  }
  return out;
}

/** Keys created, changed or deleted between two snapshots, sorted. */
export function changedKeys(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => before.get(k) !== after.get(k)).sort();
}
