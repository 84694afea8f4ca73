// The store the config asks for, and its log policy: the memory store, or a Redis store whose
// connection events become log lines — one per change of state, not one per retry. Also the
// bounded close every owner of a store uses.
import { readFileSync } from "node:fs";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import { MemoryStore } from "../store/memoryStore.js";
import {
  createRedisStore,
  parseSentinelAddress,
  REDIS_STORE_DEFAULTS,
  type RedisStore,
  type RedisStoreEvent,
} from "../store/redisStore.js";
import type { Store } from "../store/types.js";
import type { RedisConnectionOptions } from "../store/redisConnection.js";

/**
 * The service's reconnect delay never exceeds this (ms). After an outage the publishers are woken
 * as soon as the connection is ready again (STORE.READY), and every heartbeat is to be fresh
 * within 3 s of Redis answering: with the store's default 5 s cap the socket alone could take 5 s
 * to come back. One connection attempt a second per connection (two: the publishers' and the
 * klines follower's) costs a refused SYN while Redis is down.
 */
export const SERVICE_RECONNECT_CAP_MS = 1000;

export function createStoreFromConfig(
  config: Config,
  logger: Logger,
  reconnect = true,
  connectionName?: string,
): Store {
  if (config.store === "memory") return new MemoryStore();
  return createRedisStore(redisConnectionOptions(config, logger, reconnect, connectionName));
}

/**
 * The options of every Redis connection the service opens (the publishers', the klines
 * follower's, the lease writer's): the same server, credentials, timeouts and reconnect policy.
 */
export function redisConnectionOptions(
  config: Config,
  logger: Logger,
  reconnect = true,
  connectionName?: string,
): RedisConnectionOptions {
  const passwordSource = passwordSourceOf(config);
  return {
    url: config.redisUrl,
    password: config.redisPassword,
    ...(passwordSource !== null ? { passwordSource } : {}),
    ...(config.sentinels !== undefined
      ? {
          sentinels: config.sentinels.map(parseSentinelAddress),
          sentinelName: config.sentinelName,
          ...(config.sentinelPassword !== undefined
            ? { sentinelPassword: config.sentinelPassword }
            : {}),
        }
      : {}),
    commandTimeoutMs: config.commandTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    // The reconnect backoff never outgrows the publishers' own: with the store's fixed 5 s cap,
    // a service configured to retry every 300 ms still waited up to 5 s for the socket after
    // Redis came back (test/faults/outage.test.ts). Nor SERVICE_RECONNECT_CAP_MS (above).
    reconnectBaseMs: Math.min(REDIS_STORE_DEFAULTS.reconnectBaseMs, config.backoffBaseMs),
    reconnectCapMs: Math.min(SERVICE_RECONNECT_CAP_MS, config.backoffCapMs),
    reconnect,
    ...(connectionName !== undefined ? { connectionName } : {}),
    onEvent: redisEventLogger(logger),
  };
}

/**
 * Where the password a refused AUTH should be checked in, when it is the password file's: the
 * loader reads redisPasswordFile only when no redisPassword is given, so the file is named only
 * when it holds the password in use (read again here, once, to know). null: the default advice.
 */
function passwordSourceOf(config: Config): string | null {
  const file = config.redisPasswordFile;
  if (file === undefined || config.redisPassword === undefined) return null;
  try {
    if (readFileSync(file, "utf8").trim() !== config.redisPassword) return null;
  } catch {
    return null;
  }
  return `the password file ${file} (--redis-password-file / redisPasswordFile)`;
}

/**
 * One line per change of state, not per retry: an outage is announced once (and each new kind of
 * error once), every attempt goes to debug, and 'ready' ends the outage.
 */
export function redisEventLogger(logger: Logger): (e: RedisStoreEvent) => void {
  let outage = false;
  let lastError = "";
  let lastSentinelError = "";
  return (e) => {
    if (e.type === "ready") {
      logger.info(
        { redis: e.type, ...(e.address !== undefined ? { address: e.address } : {}) },
        e.address !== undefined ? `redis ready (${e.address})` : "redis ready",
      );
      outage = false;
      lastError = "";
    } else if (e.type === "sentinel") {
      // A sentinel that cannot be asked: the others are; news once per kind of message.
      (e.message === lastSentinelError ? logger.debug : logger.warn).call(
        logger,
        { redis: e.type, err: e.message },
        "redis sentinel unavailable",
      );
      lastSentinelError = e.message ?? "";
    } else if (e.type === "degraded") {
      logger.warn({ redis: e.type, err: e.message }, "redis: working in a degraded mode");
    } else if (e.type === "reconnecting") {
      (outage ? logger.debug : logger.warn).call(
        logger,
        { redis: e.type, delayMs: e.delayMs },
        "redis unreachable; reconnecting with backoff",
      );
      outage = true;
    } else if (e.type === "error") {
      (e.message === lastError ? logger.debug : logger.warn).call(
        logger,
        { redis: e.type, err: e.message },
        "redis connection error",
      );
      lastError = e.message ?? "";
    } else logger.debug({ redis: e.type }, `redis ${e.type}`);
  };
}

export function isRedisStore(store: Store): store is RedisStore {
  return store.kind === "redis" && typeof (store as RedisStore).waitReady === "function";
}

/** Closes the store, but never waits longer than `timeoutMs` for it. */
export async function closeStore(store: Pick<Store, "close">, timeoutMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    store.close().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    }),
  ]);
  if (timer) clearTimeout(timer);
}
