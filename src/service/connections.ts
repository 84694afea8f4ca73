// The service's Redis connections as resources: the publishers' store (opened from the config
// unless one is given) with its start-up wait, the klines follower's own connection, and the
// readiness of each (the supervisor wakes its actors when a connection is ready again after an
// outage; systemd hears READY=1 when the publishers' store is first ready).
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { RedisStore } from "../store/redisStore.js";
import type { Store } from "../store/types.js";
import type { ServiceResources } from "./resources.js";
import type { Startup } from "./startup.js";
import { createStoreFromConfig, isRedisStore } from "./storeFactory.js";

/**
 * The publishers' store: `given` or one built from the config, closed in close()'s "store" step
 * (even when given). --once must fail in bounded time, with a message naming the server, when
 * Redis is away. The long-running service gives the connection a chance before the first cycles,
 * so a normal start does not begin with one failed cycle per actor; if Redis is away the actors
 * back off and retry. Either wait ends at once when start-up is aborted (SIGTERM at start).
 */
export async function openStore(
  config: Config,
  logger: Logger,
  given: Store | undefined,
  once: boolean,
  startup: Startup,
  resources: ServiceResources,
): Promise<Store> {
  const store = given ?? createStoreFromConfig(config, logger, !once);
  resources.add("store", { close: () => store.close() });
  if (!isRedisStore(store)) return store;
  // What start-up waits for names the last connection error too: a refused password or a
  // refused connection reads differently from a slow one on /healthz's 503 `starting`.
  const waiting = `connecting to Redis at ${store.target}`;
  startup.step(waiting);
  // (A test double of the Redis store may have no connection events.)
  const stopWatching =
    typeof (store as Partial<RedisStore>).onConnectionEvent !== "function"
      ? () => undefined
      : store.onConnectionEvent((event) => {
          if (event.type === "error" && event.message !== undefined)
            startup.step(`${waiting} (last error: ${event.message})`);
        });
  const ready = once
    ? store.waitReady(config.connectTimeoutMs)
    : store.waitReady(config.connectTimeoutMs).catch((err: Error) => {
        logger.warn(
          { err: err.message },
          "redis not reachable yet; starting anyway, publishers retry with backoff",
        );
      });
  try {
    await startup.wait(ready);
  } finally {
    stopWatching();
  }
  return store;
}

export interface KlinesConnection {
  store: Store;
  /** A connection of its own (Redis), not the publishers' store (memory). */
  own: boolean;
  /** Closes its own connection once (memoized); nothing for the memory store. */
  close(): Promise<void>;
}

/**
 * The klines follower's connection: its blocking reads hold their connection, so on Redis it gets
 * one of its own (its connection events go to debug: the main connection already reports every
 * outage), closed in close()'s "klines store" step; on the memory store, the store itself. null
 * when the follower does not run. The main connection is up by now; the follower's gets a moment
 * too, so a normal start does not open with a failed read. If it is slow the follower simply
 * backs off and retries.
 */
export async function openKlinesConnection(
  config: Config,
  logger: Logger,
  store: Store,
  once: boolean,
  startup: Startup,
  resources: ServiceResources,
): Promise<KlinesConnection | null> {
  if (!config.followKlines || once) return null;
  if (store.kind === "memory") return { store, own: false, close: () => Promise.resolve() };
  const follower = createStoreFromConfig(
    config,
    logger.child({ connection: "klines" }),
    true,
    "quantum-calc-klines",
  );
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => (closing ??= follower.close());
  resources.add("klines store", { close });
  if (isRedisStore(follower)) {
    startup.step("connecting the klines follower");
    await startup.wait(
      follower.waitReady(Math.min(config.connectTimeoutMs, 2000)).catch(() => undefined),
    );
  }
  return { store: follower, own: true, close };
}

/**
 * Follows a store connection's readiness: `onReady` on every 'ready', `onReadyAgain` on a 'ready'
 * that ends an outage (the connection was closed, or not up when this began). Stores without
 * connection events (the memory store) are ready at once. Returns the unsubscription.
 */
export function followReadiness(
  store: Store,
  onReadyAgain: () => void,
  onReady?: () => void,
): () => void {
  const redis = store as Partial<RedisStore>;
  if (!isRedisStore(store) || typeof redis.onConnectionEvent !== "function") {
    onReady?.();
    return () => undefined;
  }
  let down = store.status() !== "ready";
  if (!down) onReady?.();
  return redis.onConnectionEvent((event) => {
    if (event.type === "close" || event.type === "reconnecting" || event.type === "end")
      down = true;
    else if (event.type === "ready") {
      onReady?.();
      if (down) {
        down = false;
        onReadyAgain();
      }
    }
  });
}
