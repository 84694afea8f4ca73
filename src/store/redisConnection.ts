// The store's Redis connection: the ioredis client and its options, the handshake gate
// (AUTH, SELECT, PING, CLIENT SETNAME before any command may run), waitReady, status, close, and
// the translation of ioredis' errors into messages that name the server. The commands themselves
// are in redisStore.ts; they go through `run`, which refuses them while the gate is closed.
// (As bullmq keeps its RedisConnection apart from its Worker.)
//
// The client discipline is the store's (see redisStore.ts): commands fail fast and are never
// queued or resent, because a late or duplicated write is worse than none.
//
// Redis Sentinel (`sentinels`, `sentinelName`): ioredis's own Sentinel support asks the sentinels
// for the primary on every (re)connection, with the same discipline, and its failover detector
// (a +switch-master subscription on the sentinels) drops the connection the moment a failover is
// announced, so the next connection asks again. Our handshake adds a role check (HELLO): a
// connection that reaches a replica — a sentinel that has not heard of the failover yet, a
// demoted primary — never opens the gate. And a READONLY reply (a primary demoted under an open
// connection) is an I/O failure that closes the gate at once and reconnects: nothing more is
// sent to the demoted node, and the reconnection asks the sentinels again.
import { EventEmitter } from "node:events";
import { Redis, type RedisOptions } from "ioredis";
import { parseRedisUrl, redisTarget } from "./redisUrl.js";
import { WrongTypeError } from "./types.js";
import { errorMessage } from "../core/errors.js";
import { cappedExponentialMs } from "../core/backoff.js";

export interface RedisStoreEvent {
  /** 'sentinel': a sentinel could not be asked (ioredis tries the next; the store keeps working). */
  /**
   * 'degraded': the store keeps working but in a slower way than configured (the size-bounded
   * candle read's script refused: two calls from then on) — an operator must be told, once.
   */
  type: "connect" | "ready" | "error" | "close" | "reconnecting" | "end" | "sentinel" | "degraded";
  /** Error text (password scrubbed) for 'error', 'sentinel' and 'degraded'. */
  message?: string;
  /** Delay before the next connection attempt, for 'reconnecting'. */
  delayMs?: number;
  /** `host:port` of the server the connection reached, for 'ready' (with Sentinel: the primary). */
  address?: string;
}

/** A sentinel's address. */
export interface SentinelAddress {
  host: string;
  port: number;
}

export interface RedisConnectionOptions {
  /**
   * redis://[user:password@]host[:port][/db] — `rediss://` for TLS (certificate verified),
   * `user:password@` for an ACL user (`:password@` for the default user), db number as the path.
   */
  url: string;
  /** Overrides the URL's password, e.g. for a credential read from a file. */
  password?: string;
  /**
   * Where the password was given, for the message of a refused AUTH ("check <this>"), e.g.
   * "the password file /run/secrets/redis (--redis-password-file)". Default
   * "redisPassword / REDIS_PASSWORD".
   */
  passwordSource?: string;
  /** Every command rejects after this long without a reply. Default 2000. */
  commandTimeoutMs?: number;
  /** A connection attempt is abandoned after this long. Default 5000. */
  connectTimeoutMs?: number;
  /** First reconnect delay; doubles per failed attempt up to reconnectCapMs. Default 100. */
  reconnectBaseMs?: number;
  /** Upper bound of the reconnect delay. Default 5000. */
  reconnectCapMs?: number;
  /**
   * Reconnect after a lost connection (forever, with the capped backoff). Default true, for the
   * long-running service; one-shot commands pass false so a dead server ends them promptly.
   */
  reconnect?: boolean;
  /** CLIENT SETNAME, so an operator can find us in CLIENT LIST. Default 'quantum-calc'. */
  connectionName?: string;
  /**
   * Redis Sentinel: ask these sentinels for the primary of `sentinelName` instead of connecting to
   * the URL's host and port (the URL's user, password and db still apply to the primary).
   */
  sentinels?: SentinelAddress[];
  /** The name the sentinels monitor the primary under (`sentinel monitor <name> …`). */
  sentinelName?: string;
  /** The sentinels' own password (their requirepass), if they have one. */
  sentinelPassword?: string;
  /** Connection lifecycle events, for the service log. Must not throw (exceptions are swallowed). */
  onEvent?: (event: RedisStoreEvent) => void;
}

export const REDIS_STORE_DEFAULTS = {
  commandTimeoutMs: 2000,
  connectTimeoutMs: 5000,
  reconnectBaseMs: 100,
  reconnectCapMs: 5000,
  connectionName: "quantum-calc",
} as const;

export interface RedisConnection {
  /** The ioredis client. Commands go through `run`, never straight to it. */
  readonly client: Redis;
  /**
   * `host:port/db` of the server, safe to log (never contains credentials); with Sentinel
   * `sentinel:<name>/db` (the primary's address is in the 'ready' event).
   */
  readonly target: string;
  /** `host:port` of the server the current connection reached (with Sentinel: the primary), or null. */
  address(): string | null;
  /** Adds a listener of the connection events (as `onEvent`); returns its removal. Must not throw. */
  onEvent(listener: (event: RedisStoreEvent) => void): () => void;
  /** Tells the listeners of an event the store itself noticed (a 'degraded' mode). */
  report(event: RedisStoreEvent): void;
  readonly commandTimeoutMs: number;
  /** The current connection has passed the handshake: commands may use it. */
  usable(): boolean;
  /** The ioredis status, but 'connect' until the handshake has answered and 'end' once closed. */
  status(): string;
  /**
   * Resolves once the connection is up and a PING succeeds; rejects after `timeoutMs` with a
   * message naming host:port (never the password) and the last connection error.
   */
  waitReady(timeoutMs: number): Promise<void>;
  /** QUIT when connected (the server finishes what it received), else disconnect; bounded. */
  close(): Promise<void>;
  /**
   * Runs one command if the gate is open, failing at once (nothing is queued) if it is not;
   * a failure is translated (`translate`).
   */
  run: <T>(
    operation: string,
    key: string,
    expected: string | undefined,
    command: () => Promise<T>,
  ) => Promise<T>;
  /** Maps a command failure to WrongTypeError or to an error naming the server and operation. */
  translate: (error: unknown, operation: string, key: string, expected?: string) => Promise<Error>;
  /**
   * The error of a command refused because the gate is closed: a RedisAuthError while the
   * server's last answer to the handshake was a refusal (NOAUTH, WRONGPASS, NOPERM).
   */
  notConnected: (operation: string, key: string) => Error;
  /** The text with the password (and its URL-encoded form) replaced by `***`. */
  scrub: (text: string) => string;
}

/**
 * A command refused because the server would not let this connection in (NOAUTH, WRONGPASS,
 * NOPERM on the handshake): not an outage — reconnecting will not help until the credentials or
 * the ACL are fixed. /healthz names it as an authentication failure.
 */
export class RedisAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedisAuthError";
  }
}

/** Capped exponential backoff: base, 2·base, 4·base, … never above cap. `attempt` counts from 1. */
export function reconnectDelayMs(attempt: number, baseMs: number, capMs: number): number {
  return cappedExponentialMs(attempt, baseMs, capMs);
}

/** `host:port` (IPv6 in brackets) → a sentinel address; throws naming the item. */
export function parseSentinelAddress(text: string): SentinelAddress {
  const m = /^(?:\[([^\]]+)\]|([^\s:/[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536))
    throw new Error(`invalid sentinel address ${JSON.stringify(text)}: expected host:port`);
  return { host: m[1] ?? m[2], port };
}

/** A READONLY error reply (a replica refused a write), also inside an aborted MULTI/EXEC. */
export function isReadOnlyError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (/^READONLY\b/.test(error.message)) return true;
  const previous = (error as Error & { previousErrors?: unknown[] }).previousErrors;
  return (
    Array.isArray(previous) &&
    previous.some((e) => e instanceof Error && /^READONLY\b/.test(e.message))
  );
}

export function createRedisConnection(options: RedisConnectionOptions): RedisConnection {
  const url = parseRedisUrl(options.url);
  const sentinels =
    options.sentinels !== undefined && options.sentinels.length > 0 ? options.sentinels : null;
  if (sentinels !== null && !options.sentinelName)
    throw new Error(
      "redis store: sentinels need sentinelName, the name they monitor the primary under",
    );
  if (sentinels !== null && url.tls)
    throw new Error("redis store: rediss:// (TLS) with sentinels is not supported");
  const password = options.password ?? url.password;
  const commandTimeoutMs = options.commandTimeoutMs ?? REDIS_STORE_DEFAULTS.commandTimeoutMs;
  const connectTimeoutMs = options.connectTimeoutMs ?? REDIS_STORE_DEFAULTS.connectTimeoutMs;
  const reconnectBaseMs = options.reconnectBaseMs ?? REDIS_STORE_DEFAULTS.reconnectBaseMs;
  const reconnectCapMs = options.reconnectCapMs ?? REDIS_STORE_DEFAULTS.reconnectCapMs;
  for (const [name, value] of Object.entries({
    commandTimeoutMs,
    connectTimeoutMs,
    reconnectBaseMs,
    reconnectCapMs,
  })) {
    if (!(Number.isFinite(value) && value > 0))
      throw new Error(`redis store: ${name} must be a positive number (got ${String(value)})`);
  }
  const target =
    sentinels === null ? redisTarget(url) : `sentinel:${options.sentinelName}/${url.db}`;

  // Never let the password reach a log line or an error message, whatever ioredis puts in one.
  const secrets = [password, options.sentinelPassword].flatMap((secret) =>
    secret ? [secret, encodeURIComponent(secret)] : [],
  );
  const scrub = (text: string): string =>
    secrets.reduce((out, secret) => out.split(secret).join("***"), text);

  const retryDelay = (attempt: number): number | null =>
    options.reconnect === false ? null : reconnectDelayMs(attempt, reconnectBaseMs, reconnectCapMs);
  const clientOptions: RedisOptions = {
    ...(sentinels === null
      ? { host: url.host, port: url.port }
      : {
          // ioredis asks the sentinels for the primary on every connection attempt (role master).
          sentinels,
          name: options.sentinelName,
          role: "master" as const,
          ...(options.sentinelPassword !== undefined
            ? { sentinelPassword: options.sentinelPassword }
            : {}),
          // All sentinels unreachable: try them all again after the reconnect backoff (or, with
          // reconnect: false, give up at once and end the store).
          sentinelRetryStrategy: retryDelay,
          // A sentinel that does not answer must not hold the connection attempt.
          sentinelCommandTimeout: commandTimeoutMs,
          // Subscribe to +switch-master on the sentinels and drop the connection when a failover
          // is announced: the demoted primary keeps accepting writes until Sentinel reconfigures
          // it, 8-20 s later (measured: 10.9 s), all of them lost when it resyncs as a replica.
          failoverDetector: true,
        }),
    // No db, user, password or name for ioredis: the connection runs that handshake itself (see
    // `handshake` below). ioredis awaits its own handshake (CLIENT SETNAME, CLIENT SETINFO)
    // before declaring the connection ready, and when the socket dies during it, it still marks
    // the dead connection 'ready' afterwards, which cancels the pending reconnect: the client then
    // refuses every command ("stream isn't writeable") for ever. Seen in
    // test/faults/unresponsive.test.ts when a silent path made the socket time out mid-handshake.
    // Without a handshake ioredis is ready at once; the gate stays closed until AUTH (and SELECT)
    // have answered, so no command can run as the wrong user or in the wrong db.
    disableClientInfo: true,
    tls: url.tls ? { servername: isIpAddress(url.host) ? undefined : url.host } : undefined,
    // A reply that never comes must not hold a publisher forever; it rejects and the publisher
    // backs off. (The server may still execute it; callers assume nothing after a rejection.)
    commandTimeout: commandTimeoutMs,
    // commandTimeout alone only rejects the promise: the command stays on the socket, and a
    // server that was paused or stalled (CLIENT PAUSE WRITE, a proxy holding the bytes) executes
    // it when it resumes — a publish we reported as failed lands seconds later, after newer
    // data. Measured against redis-server 7.0: with commandTimeout only, a MULTI/EXEC that timed
    // out under CLIENT PAUSE WRITE was applied when the pause ended. So when no reply arrives
    // within the same bound, the socket is destroyed: Redis frees the client and discards the
    // commands it had not run yet. A timed-out write has therefore either run before we gave up
    // or never runs (test/faults/unresponsive.test.ts). The reconnect uses the capped backoff.
    socketTimeout: commandTimeoutMs,
    connectTimeout: connectTimeoutMs,
    // No offline queue at all (stricter than "once connected"): a command issued while the
    // connection is down fails at once instead of waiting in an unbounded queue and landing
    // late, computed from inputs that are stale by then. Before the first connection, the
    // service calls waitReady() instead of relying on a queue.
    enableOfflineQueue: false,
    // A command whose reply was lost with the connection is not resent on reconnect: resending
    // an XADD or a whole MULTI that the server may already have executed duplicates it.
    autoResendUnfulfilledCommands: false,
    // 0: commands in flight when the connection drops are rejected right away, not held for a
    // later attempt.
    maxRetriesPerRequest: 0,
    // Many symbols read and publish in the same tick; batching them saves round trips.
    enableAutoPipelining: true,
    // ioredis' ready check runs INFO, which a restricted ACL user may not be allowed; waitReady()
    // uses PING instead.
    enableReadyCheck: false,
    // Nothing here subscribes; reconnecting on error replies would only hide them.
    reconnectOnError: null,
    retryStrategy: retryDelay,
  };

  const client = new Redis(clientOptions);
  let lastError: string | undefined;
  /** The server's refusal of the last handshake (NOAUTH, WRONGPASS, NOPERM), until one passes. */
  let authRefusal: string | null = null;
  let closed = false;
  let readonlyStrikes = 0;
  /** The current connection has passed the handshake: commands may use it. */
  let usable = false;
  /** Counts connections, so a late handshake answer never opens the gate of a newer one. */
  let connectionEpoch = 0;
  let handshakeFailures = 0;
  const gate = new EventEmitter();
  gate.setMaxListeners(0);

  const listeners = new Set<(event: RedisStoreEvent) => void>();
  if (options.onEvent) listeners.add(options.onEvent);
  const emit = (event: RedisStoreEvent): void => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch {
        // A failing logger must not break the connection handling.
      }
    }
  };
  /** `host:port` of the current socket's peer (with Sentinel: the primary it resolved). */
  const address = (): string | null => {
    const stream = (
      client as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }
    ).stream;
    if (!stream?.remoteAddress || stream.remotePort === undefined) return null;
    return `${stream.remoteAddress.includes(":") ? `[${stream.remoteAddress}]` : stream.remoteAddress}:${stream.remotePort}`;
  };
  // An 'error' listener must always exist: without one ioredis prints to the console.
  client.on("error", (error: Error) => {
    lastError = scrub(error.message);
    // The socket failed (refused, reset): the server has not refused us on this attempt.
    authRefusal = null;
    emit({ type: "error", message: lastError });
  });
  client.on("connect", () => {
    emit({ type: "connect" });
    if (sentinels !== null) quietFailoverDetector();
  });
  // A sentinel that could not be asked (down, wrong name, wrong password): ioredis goes on with
  // the next one; without a listener it would drop the message silently.
  client.on("sentinelError", (error: Error) =>
    emit({ type: "sentinel", message: scrub(error.message) }),
  );

  /**
   * ioredis's failover detector opens a subscriber connection per sentinel without an 'error'
   * listener, so while a sentinel is down ioredis prints "[ioredis] Unhandled error event" with a
   * stack to stderr once a minute. Its clients exist once the connection is up ('connect' fires
   * after the detector was set up on the same socket event): give each our listener, which turns
   * the error into a 'sentinel' event. Reaches into ioredis internals (pinned 5.9.2, checked by
   * test/sentinel/failover.test.ts); if they move, the only effect is the stderr line again.
   */
  const quietFailoverDetector = (): void => {
    const detector = (
      client as unknown as {
        connector?: {
          failoverDetector?: { sentinels?: Array<{ client?: Redis & { qcQuiet?: true } }> };
        };
      }
    ).connector?.failoverDetector;
    for (const sentinel of detector?.sentinels ?? []) {
      const subscriber = sentinel.client;
      if (!subscriber || subscriber.qcQuiet) continue;
      subscriber.qcQuiet = true;
      subscriber.on("error", (error: Error) =>
        emit({ type: "sentinel", message: `failover detector: ${scrub(error.message)}` }),
      );
    }
  };
  const connectionName = options.connectionName ?? REDIS_STORE_DEFAULTS.connectionName;

  /**
   * AUTH, SELECT, PING, CLIENT SETNAME on a new connection, each awaited in turn, before the gate
   * opens. A failed AUTH, SELECT or PING drops the connection (the reconnect backoff retries; with
   * reconnect: false the store ends) — its error is kept for waitReady's message, reworded when
   * the server refused us (NOAUTH, WRONGPASS, NOPERM) so the operator sees what to fix.
   */
  const handshake = async (epoch: number): Promise<void> => {
    let step = "AUTH";
    try {
      if (password !== undefined) {
        await (url.username !== undefined
          ? client.call("AUTH", url.username, password)
          : client.call("AUTH", password));
      }
      step = "SELECT";
      if (url.db !== 0) await client.call("SELECT", String(url.db));
      // Without a password nothing above has asked the server anything: one that requires a
      // password would answer NOAUTH to every command after the gate opened, and 'ready' would
      // have been announced for a connection that cannot do anything. PING proves the
      // connection usable as the user we are (SETNAME below swallows its errors).
      step = "PING";
      await client.call("PING");
      // With Sentinel, only the primary may open the gate: a sentinel that has not heard of a
      // failover yet names the demoted primary, now a replica. Reconnecting (after the handshake
      // backoff) asks the sentinels again.
      step = "HELLO";
      if (sentinels !== null) {
        const role = await serverRole();
        if (role !== null && role !== "master") {
          throw new Error(
            `${address() ?? "the server"} is a ${role}, not the primary of ${options.sentinelName}; asking the sentinels again`,
          );
        }
        if (role === "master") readonlyStrikes = 0;
      }
      // Best effort: an operator finds us by this name in CLIENT LIST. A user not allowed CLIENT
      // SETNAME works the same.
      await client.call("CLIENT", "SETNAME", connectionName).catch(() => undefined);
      if (epoch !== connectionEpoch || client.status !== "ready") return;
      authRefusal = null;
      usable = true;
      gate.emit("usable");
      emit({ type: "ready", ...(address() !== null ? { address: address()! } : {}) });
    } catch (error) {
      if (epoch !== connectionEpoch) return;
      const reply = scrub(errorMessage(error));
      const refusal = describeAuthFailure(
        reply,
        step,
        password !== undefined,
        url.username,
        options.passwordSource ?? "redisPassword / REDIS_PASSWORD",
      );
      authRefusal = refusal ?? null;
      lastError = refusal ?? reply;
      emit({ type: "error", message: lastError });
      // ioredis resets its attempt counter on every connection, so a server that keeps refusing
      // the password would be redialled every reconnectBaseMs; this backoff caps that too.
      handshakeFailures++;
      const delayMs =
        options.reconnect === false
          ? 0
          : reconnectDelayMs(handshakeFailures, reconnectBaseMs, reconnectCapMs);
      setTimeout(() => {
        if (epoch === connectionEpoch && !closed) client.disconnect(true);
      }, delayMs).unref();
      return;
    }
    handshakeFailures = 0;
  };
  /**
   * The server's role (master, replica, sentinel): HELLO without arguments (the protocol stays
   * RESP2) tells it and is in @connection, which the least-privilege ACL grants; ROLE (@dangerous)
   * is the fallback for Redis < 6. null when neither may be asked: the READONLY rule below still
   * keeps writes off a replica.
   */
  const serverRole = async (): Promise<string | null> => {
    try {
      const reply = (await client.call("HELLO")) as unknown[];
      const i = reply.indexOf("role");
      if (i >= 0 && typeof reply[i + 1] === "string") return reply[i + 1] as string;
    } catch {
      // Fall back to ROLE.
    }
    try {
      const reply = (await client.call("ROLE")) as unknown[];
      return reply[0] === "slave" ? "replica" : typeof reply[0] === "string" ? reply[0] : null;
    } catch {
      return null;
    }
  };

  /**
   * A READONLY reply: the server we write to has become a replica (a primary demoted under an
   * open connection). Close the gate at once — no other command reaches it — and, with Sentinel,
   * drop the connection so the reconnection asks the sentinels for the new primary. Without
   * Sentinel a reconnection reaches the same server: READONLY is an I/O failure like any other.
   * Repeated demotions back off like failed handshakes (reset once a primary is confirmed).
   */
  const demoted = (epoch: number, operation: string): void => {
    if (sentinels === null || epoch !== connectionEpoch || closed || !usable) return;
    usable = false;
    readonlyStrikes++;
    lastError = `${address() ?? target} answered READONLY to ${operation}: it is a replica now; reconnecting to ask the sentinels for the primary`;
    emit({ type: "error", message: lastError });
    setTimeout(
      () => {
        if (epoch === connectionEpoch && !closed) client.disconnect(true);
      },
      reconnectDelayMs(readonlyStrikes, reconnectBaseMs, reconnectCapMs) - reconnectBaseMs,
    ).unref();
  };

  client.on("ready", () => {
    connectionEpoch++;
    usable = false;
    void handshake(connectionEpoch);
  });
  client.on("close", () => {
    connectionEpoch++;
    usable = false;
    emit({ type: "close" });
  });
  client.on("reconnecting", (delayMs: number) => emit({ type: "reconnecting", delayMs }));
  client.on("end", () => {
    gate.emit("end");
    emit({ type: "end" });
  });

  const translate = async (
    error: unknown,
    operation: string,
    key: string,
    expected?: string,
  ): Promise<Error> => {
    const message = scrub(errorMessage(error));
    const what = key === "" ? operation : `${operation} ${key}`;
    if (isReadOnlyError(error)) {
      demoted(connectionEpoch, operation);
      return new Error(
        `redis ${target}: ${what} failed: READONLY — ${address() ?? "the server"} is a read-only replica, not the primary (nothing was written)` +
          (sentinels !== null ? "; reconnecting to ask the sentinels for the primary" : ""),
      );
    }
    if (expected && message.startsWith("WRONGTYPE")) {
      let actual: string | undefined;
      try {
        actual = await client.type(key);
      } catch {
        // Best effort: the type is only for the message.
      }
      return new WrongTypeError(key, expected, actual);
    }
    if (message.includes("enableOfflineQueue")) {
      return new Error(`redis ${target}: ${what} failed: not connected (status ${client.status})`);
    }
    // With maxRetriesPerRequest 0 a command in flight when the socket closes (socket timeout,
    // CLIENT KILL, server gone) is rejected with ioredis' "max retries per request" text, which
    // reads like a retry policy. Say what it means: the reply was lost; the server may or may not
    // have run the command, and nothing resends it.
    if (message === "Command timed out") {
      return new Error(
        `redis ${target}: ${what} failed: no reply within ${commandTimeoutMs} ms (outcome unknown; the connection is dropped so it cannot run later, and it is not resent)`,
      );
    }
    if (
      /max retries per request|Connection is closed|Command aborted due to connection close/i.test(
        message,
      )
    ) {
      return new Error(
        `redis ${target}: ${what} failed: connection lost before the reply (outcome unknown, not resent)`,
      );
    }
    return new Error(`redis ${target}: ${what} failed: ${message}`);
  };

  // 'ready' only once the handshake has answered; until then the connection is 'connect'.
  const status = (): string =>
    closed ? "end" : client.status === "ready" && !usable ? "connect" : client.status;

  const notConnected = (operation: string, key: string): Error => {
    const what = key === "" ? operation : `${operation} ${key}`;
    return authRefusal === null
      ? new Error(`redis ${target}: ${what} failed: not connected (status ${status()})`)
      : new RedisAuthError(
          `redis ${target}: ${what} failed: not connected (status ${status()}): ${authRefusal}`,
        );
  };

  /** QUIT when connected (the server finishes what it received), else disconnect; bounded. */
  const closeClient = async (): Promise<void> => {
    closed = true;
    // Wake anything waiting for the connection (waitReady): it sees `closed` and gives up.
    gate.emit("end");
    if (client.status === "end") return;
    if (client.status === "ready") {
      try {
        // QUIT lets the server finish what it already received; the socket then closes.
        await client.quit();
        if ((client.status as string) !== "end") await nextEvent(client, ["end"], commandTimeoutMs);
      } catch {
        // Fall through to a hard disconnect.
      }
    }
    const current = client.status as string;
    if (current === "end") return;
    // Between attempts ('reconnecting', 'close') there is no socket: disconnect() only cancels
    // the pending attempt and ioredis emits no 'end'. With a socket, wait for it to close.
    const hasSocket = current === "connecting" || current === "connect" || current === "ready";
    const ended = hasSocket ? nextEvent(client, ["end"], commandTimeoutMs) : Promise.resolve();
    client.disconnect(false);
    await ended;
  };

  return {
    client,
    target,
    address,
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    report: emit,
    commandTimeoutMs,
    usable: () => usable,
    status,
    scrub,
    translate,
    notConnected,

    async run<T>(
      operation: string,
      key: string,
      expected: string | undefined,
      command: () => Promise<T>,
    ): Promise<T> {
      // Nothing is queued: before the handshake has answered, a command fails at once, like one
      // issued while the connection is down.
      if (!usable) throw notConnected(operation, key);
      try {
        return await command();
      } catch (error) {
        throw await translate(error, operation, key, expected);
      }
    },

    async waitReady(timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          throw new Error(
            `redis ${target} not ready after ${timeoutMs} ms (status ${status()}${lastError ? `; last error: ${lastError}` : ""})`,
          );
        }
        if (closed || client.status === "end") {
          throw new Error(
            `redis ${target}: connection closed and not reconnecting${lastError ? ` (last error: ${lastError})` : ""}`,
          );
        }
        if (usable) {
          try {
            await withTimeout(client.ping(), remaining, "PING");
            return;
          } catch (error) {
            // e.g. LOADING while the server reads its dataset: try again until the deadline.
            lastError = scrub(errorMessage(error));
            await delay(Math.min(50, Math.max(deadline - Date.now(), 0)));
          }
        } else {
          await nextEvent(gate, ["usable", "end"], remaining);
        }
      }
    },

    async close(): Promise<void> {
      try {
        await closeClient();
      } finally {
        // With Sentinel the failover detector holds a subscriber connection per sentinel, which
        // only the connector's disconnect ends (QUIT ends the primary's socket alone).
        if (sentinels !== null) client.disconnect(false);
      }
    },
  };
}

/**
 * The operator's version of a handshake error that means "the server will not let us in": no
 * password given where one is required (NOAUTH), a wrong one (WRONGPASS; "invalid password" on
 * Redis < 6), or an ACL user without a command it needs (NOPERM). undefined for other errors.
 * `reply` is already scrubbed.
 */
function describeAuthFailure(
  reply: string,
  step: string,
  hasPassword: boolean,
  username: string | undefined,
  passwordSource: string,
): string | undefined {
  if (/^NOAUTH\b|Authentication required/i.test(reply)) {
    return hasPassword
      ? `authentication failed: the server still requires authentication after AUTH (${reply}) — check ${passwordSource}`
      : "authentication failed: the server requires a password (NOAUTH) — set redisPassword / REDIS_PASSWORD";
  }
  if (/^WRONGPASS\b|invalid (username-)?password/i.test(reply)) {
    const who = username !== undefined ? `user ${username}` : "the default user";
    return `authentication failed: the server refused the password for ${who} (${reply}) — check ${passwordSource}`;
  }
  if (/^NOPERM\b/.test(reply)) {
    const who = username !== undefined ? `user ${username}` : "the default user";
    return `authentication failed: ${who} is not allowed to run ${step} (${reply}) — check the user's ACL`;
  }
  return undefined;
}

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves on the first of `events` or after `timeoutMs`, whichever comes first. */
function nextEvent(
  emitter: Pick<EventEmitter, "once" | "off">,
  events: string[],
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      for (const event of events) emitter.off(event, done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    for (const event of events) emitter.once(event, done);
  });
}
