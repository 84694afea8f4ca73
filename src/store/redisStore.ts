// The production store: ioredis with a client discipline chosen for a calc-only service whose
// proposals are acted on downstream. The guiding rule: a late or duplicated write is worse than
// none. A proposal computed from a 10-second-old snapshot that lands a minute later, or a
// transaction replayed twice, misleads every consumer; a failed publish is simply retried by the
// next cycle with fresh inputs. So commands fail fast and are never queued or resent.
import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { assertBlockMs, assertCount, assertDeletable, assertMinScore, assertPublishable, parseStreamId } from './keyGuard.js';
import { WrongTypeError, type KeyKind, type PublishBatch, type ScoredMember, type Store, type StreamEntry } from './types.js';

export interface RedisStoreEvent {
  type: 'connect' | 'ready' | 'error' | 'close' | 'reconnecting' | 'end';
  /** Error text (password scrubbed) for 'error'. */
  message?: string;
  /** Delay before the next connection attempt, for 'reconnecting'. */
  delayMs?: number;
}

export interface RedisStoreOptions {
  /**
   * redis://[user:password@]host[:port][/db] — `rediss://` for TLS (certificate verified),
   * `user:password@` for an ACL user (`:password@` for the default user), db number as the path.
   */
  url: string;
  /** Overrides the URL's password, e.g. for a credential read from a file. */
  password?: string;
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
  /** Connection lifecycle events, for the service log. Must not throw (exceptions are swallowed). */
  onEvent?: (event: RedisStoreEvent) => void;
}

export interface RedisStore extends Store {
  readonly kind: 'redis';
  /** `host:port/db` of the server, safe to log (never contains credentials). */
  readonly target: string;
  /**
   * Resolves once the connection is up and a PING succeeds; rejects after `timeoutMs` with a
   * message naming host:port (never the password) and the last connection error.
   */
  waitReady(timeoutMs: number): Promise<void>;
  /** The ioredis connection status: wait, connecting, connect, ready, close, reconnecting, end. */
  status(): string;
}

export const REDIS_STORE_DEFAULTS = {
  commandTimeoutMs: 2000,
  connectTimeoutMs: 5000,
  reconnectBaseMs: 100,
  reconnectCapMs: 5000,
  connectionName: 'quantum-calc',
} as const;

export interface ParsedRedisUrl {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username?: string;
  password?: string;
}

/** The URL with any password replaced by `***`, for logs and error messages. */
export function redactRedisUrl(url: string): string {
  const schemeEnd = url.indexOf('//');
  if (schemeEnd === -1) return url;
  const authorityStart = schemeEnd + 2;
  // The userinfo ends at the last '@' before the path: a raw '@' or '/' in a password would
  // otherwise leak part of it.
  const at = url.lastIndexOf('@');
  if (at < authorityStart) return url;
  const userinfo = url.slice(authorityStart, at);
  const colon = userinfo.indexOf(':');
  const user = colon === -1 ? '' : userinfo.slice(0, colon);
  // Without a colon the whole userinfo is a password in the `redis://secret@host` form.
  return `${url.slice(0, authorityStart)}${user}:***${url.slice(at)}`;
}

/** Parses a redis:// or rediss:// URL. Errors show the URL redacted. */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const shown = redactRedisUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`invalid Redis URL ${shown}: expected redis://[user:password@]host[:port][/db]`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`invalid Redis URL ${shown}: the scheme must be redis:// or rediss:// (TLS)`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host.length === 0) throw new Error(`invalid Redis URL ${shown}: no host`);
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const dbText = parsed.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d+$/.test(dbText)) {
    throw new Error(`invalid Redis URL ${shown}: the path must be a database number (got /${dbText})`);
  }
  const result: ParsedRedisUrl = { host, port, db: dbText === '' ? 0 : Number(dbText), tls: parsed.protocol === 'rediss:' };
  let username = decodeURIComponent(parsed.username);
  let password = decodeURIComponent(parsed.password);
  // `redis://secret@host`: a userinfo without a colon is a password for the default user, as
  // ioredis and redis-cli read it, not a user name.
  const at = url.lastIndexOf('@');
  const userinfo = at === -1 ? '' : url.slice(url.indexOf('//') + 2, at);
  if (userinfo !== '' && !userinfo.includes(':')) {
    password = username;
    username = '';
  }
  if (username !== '') result.username = username;
  if (password !== '') result.password = password;
  return result;
}

/** Capped exponential backoff: base, 2·base, 4·base, … never above cap. `attempt` counts from 1. */
export function reconnectDelayMs(attempt: number, baseMs: number, capMs: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(capMs, baseMs * 2 ** exponent);
}

const KEY_KINDS: ReadonlySet<string> = new Set(['string', 'hash', 'zset', 'list', 'set', 'stream', 'none']);

export function createRedisStore(options: RedisStoreOptions): RedisStore {
  const url = parseRedisUrl(options.url);
  const password = options.password ?? url.password;
  const commandTimeoutMs = options.commandTimeoutMs ?? REDIS_STORE_DEFAULTS.commandTimeoutMs;
  const connectTimeoutMs = options.connectTimeoutMs ?? REDIS_STORE_DEFAULTS.connectTimeoutMs;
  const reconnectBaseMs = options.reconnectBaseMs ?? REDIS_STORE_DEFAULTS.reconnectBaseMs;
  const reconnectCapMs = options.reconnectCapMs ?? REDIS_STORE_DEFAULTS.reconnectCapMs;
  for (const [name, value] of Object.entries({ commandTimeoutMs, connectTimeoutMs, reconnectBaseMs, reconnectCapMs })) {
    if (!(Number.isFinite(value) && value > 0)) throw new Error(`redis store: ${name} must be a positive number (got ${String(value)})`);
  }
  const target = `${url.host.includes(':') ? `[${url.host}]` : url.host}:${url.port}/${url.db}`;

  // Never let the password reach a log line or an error message, whatever ioredis puts in one.
  const secrets = password ? [password, encodeURIComponent(password)] : [];
  const scrub = (text: string): string => secrets.reduce((out, secret) => out.split(secret).join('***'), text);

  const clientOptions: RedisOptions = {
    host: url.host,
    port: url.port,
    // No db, user, password or name for ioredis: the store runs that handshake itself (see
    // `handshake` below). ioredis awaits its own handshake (CLIENT SETNAME, CLIENT SETINFO)
    // before declaring the connection ready, and when the socket dies during it, it still marks
    // the dead connection 'ready' afterwards, which cancels the pending reconnect: the client then
    // refuses every command ("stream isn't writeable") for ever. Seen in
    // test/faults/unresponsive.test.ts when a silent path made the socket time out mid-handshake.
    // Without a handshake ioredis is ready at once; the store keeps its own gate closed until AUTH
    // (and SELECT) have answered, so no command can run as the wrong user or in the wrong db.
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
    retryStrategy: (attempt: number) =>
      options.reconnect === false ? null : reconnectDelayMs(attempt, reconnectBaseMs, reconnectCapMs),
  };

  const client = new Redis(clientOptions);
  let lastError: string | undefined;
  let closed = false;
  /** The current connection has passed the handshake: commands may use it. */
  let usable = false;
  /** Counts connections, so a late handshake answer never opens the gate of a newer one. */
  let connectionEpoch = 0;
  let handshakeFailures = 0;
  const gate = new EventEmitter();
  gate.setMaxListeners(0);

  const emit = (event: RedisStoreEvent): void => {
    if (!options.onEvent) return;
    try {
      options.onEvent(event);
    } catch {
      // A failing logger must not break the connection handling.
    }
  };
  // An 'error' listener must always exist: without one ioredis prints to the console.
  client.on('error', (error: Error) => {
    lastError = scrub(error.message);
    emit({ type: 'error', message: lastError });
  });
  client.on('connect', () => emit({ type: 'connect' }));
  const connectionName = options.connectionName ?? REDIS_STORE_DEFAULTS.connectionName;

  /**
   * AUTH, SELECT, PING, CLIENT SETNAME on a new connection, each awaited in turn, before the gate
   * opens. A failed AUTH, SELECT or PING drops the connection (the reconnect backoff retries; with
   * reconnect: false the store ends) — its error is kept for waitReady's message, reworded when
   * the server refused us (NOAUTH, WRONGPASS, NOPERM) so the operator sees what to fix.
   */
  const handshake = async (epoch: number): Promise<void> => {
    let step = 'AUTH';
    try {
      if (password !== undefined) {
        await (url.username !== undefined ? client.call('AUTH', url.username, password) : client.call('AUTH', password));
      }
      step = 'SELECT';
      if (url.db !== 0) await client.call('SELECT', String(url.db));
      // Without a password nothing above has asked the server anything: one that requires a
      // password would answer NOAUTH to every command after the gate opened, and 'ready' would
      // have been announced for a connection that cannot do anything. PING proves the
      // connection usable as the user we are (SETNAME below swallows its errors).
      step = 'PING';
      await client.call('PING');
      // Best effort: an operator finds us by this name in CLIENT LIST. A user not allowed CLIENT
      // SETNAME works the same.
      await client.call('CLIENT', 'SETNAME', connectionName).catch(() => undefined);
      if (epoch !== connectionEpoch || client.status !== 'ready') return;
      usable = true;
      gate.emit('usable');
      emit({ type: 'ready' });
    } catch (error) {
      if (epoch !== connectionEpoch) return;
      const reply = scrub(error instanceof Error ? error.message : String(error));
      lastError = describeAuthFailure(reply, step, password !== undefined, url.username) ?? reply;
      emit({ type: 'error', message: lastError });
      // ioredis resets its attempt counter on every connection, so a server that keeps refusing
      // the password would be redialled every reconnectBaseMs; this backoff caps that too.
      handshakeFailures++;
      const delayMs = options.reconnect === false ? 0 : reconnectDelayMs(handshakeFailures, reconnectBaseMs, reconnectCapMs);
      setTimeout(() => {
        if (epoch === connectionEpoch && !closed) client.disconnect(true);
      }, delayMs).unref();
      return;
    }
    handshakeFailures = 0;
  };
  client.on('ready', () => {
    connectionEpoch++;
    usable = false;
    void handshake(connectionEpoch);
  });
  client.on('close', () => {
    connectionEpoch++;
    usable = false;
    emit({ type: 'close' });
  });
  client.on('reconnecting', (delayMs: number) => emit({ type: 'reconnecting', delayMs }));
  client.on('end', () => {
    gate.emit('end');
    emit({ type: 'end' });
  });

  /** Maps a command failure to WrongTypeError or to an error naming the server and operation. */
  const translate = async (error: unknown, operation: string, key: string, expected?: string): Promise<Error> => {
    const message = scrub(error instanceof Error ? error.message : String(error));
    const what = key === '' ? operation : `${operation} ${key}`;
    if (expected && message.startsWith('WRONGTYPE')) {
      let actual: string | undefined;
      try {
        actual = await client.type(key);
      } catch {
        // Best effort: the type is only for the message.
      }
      return new WrongTypeError(key, expected, actual);
    }
    if (message.includes('enableOfflineQueue')) {
      return new Error(`redis ${target}: ${what} failed: not connected (status ${client.status})`);
    }
    // With maxRetriesPerRequest 0 a command in flight when the socket closes (socket timeout,
    // CLIENT KILL, server gone) is rejected with ioredis' "max retries per request" text, which
    // reads like a retry policy. Say what it means: the reply was lost; the server may or may not
    // have run the command, and nothing resends it.
    if (message === 'Command timed out') {
      return new Error(`redis ${target}: ${what} failed: no reply within ${commandTimeoutMs} ms (outcome unknown; the connection is dropped so it cannot run later, and it is not resent)`);
    }
    if (/max retries per request|Connection is closed|Command aborted due to connection close/i.test(message)) {
      return new Error(`redis ${target}: ${what} failed: connection lost before the reply (outcome unknown, not resent)`);
    }
    return new Error(`redis ${target}: ${what} failed: ${message}`);
  };

  const notConnected = (operation: string, key: string): Error =>
    new Error(`redis ${target}: ${key === '' ? operation : `${operation} ${key}`} failed: not connected (status ${store.status()})`);

  const run = async <T>(operation: string, key: string, expected: string | undefined, command: () => Promise<T>): Promise<T> => {
    // Nothing is queued: before the handshake has answered, a command fails at once, like one
    // issued while the connection is down.
    if (!usable) throw notConnected(operation, key);
    try {
      return await command();
    } catch (error) {
      throw await translate(error, operation, key, expected);
    }
  };

  const store: RedisStore = {
    kind: 'redis',
    target,

    // 'ready' only once the handshake has answered; until then the connection is 'connect'.
    status: () => (closed ? 'end' : client.status === 'ready' && !usable ? 'connect' : client.status),

    async waitReady(timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          throw new Error(
            `redis ${target} not ready after ${timeoutMs} ms (status ${store.status()}${lastError ? `; last error: ${lastError}` : ''})`,
          );
        }
        if (closed || client.status === 'end') {
          throw new Error(`redis ${target}: connection closed and not reconnecting${lastError ? ` (last error: ${lastError})` : ''}`);
        }
        if (usable) {
          try {
            await withTimeout(client.ping(), remaining, 'PING');
            return;
          } catch (error) {
            // e.g. LOADING while the server reads its dataset: try again until the deadline.
            lastError = scrub(error instanceof Error ? error.message : String(error));
            await delay(Math.min(50, Math.max(deadline - Date.now(), 0)));
          }
        } else {
          await nextEvent(gate, ['usable', 'end'], remaining);
        }
      }
    },

    async keyKind(key: string): Promise<KeyKind> {
      const type = await run('TYPE', key, undefined, () => client.type(key));
      return KEY_KINDS.has(type) ? (type as KeyKind) : 'other';
    },

    async hgetall(key: string): Promise<Record<string, string>> {
      return await run('HGETALL', key, 'hash', () => client.hgetall(key));
    },

    async hget(key: string, field: string): Promise<string | null> {
      return await run('HGET', key, 'hash', () => client.hget(key, field));
    },

    async zrangeTail(key: string, count: number): Promise<string[]> {
      if (count <= 0) return [];
      return await run('ZRANGE', key, 'zset', () => client.zrange(key, -count, -1));
    },

    async zrangeTailWithScores(key: string, count: number): Promise<ScoredMember[]> {
      if (count <= 0) return [];
      const flat = await run('ZRANGE', key, 'zset', () => client.zrange(key, -count, -1, 'WITHSCORES'));
      const members: ScoredMember[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) members.push({ member: flat[i], score: parseScore(flat[i + 1]) });
      return members;
    },

    async lrangeTail(key: string, count: number): Promise<string[]> {
      if (count <= 0) return [];
      return await run('LRANGE', key, 'list', () => client.lrange(key, -count, -1));
    },

    async xrevrange(key: string, count: number): Promise<StreamEntry[]> {
      if (count <= 0) return [];
      const raw = await run('XREVRANGE', key, 'stream', () => client.xrevrange(key, '+', '-', 'COUNT', count));
      return raw.map(toStreamEntry);
    },

    async zrangeFromScore(key: string, minScore: number, count: number): Promise<ScoredMember[]> {
      assertMinScore('zrangeFromScore', minScore);
      assertCount('zrangeFromScore', count);
      // String(x) is the shortest text that reads back as exactly x; Redis parses it with strtod.
      const min = minScore === -Infinity ? '-inf' : String(minScore);
      const flat = await run('ZRANGEBYSCORE', key, 'zset', () => client.zrangebyscore(key, min, '+inf', 'WITHSCORES', 'LIMIT', 0, count));
      const members: ScoredMember[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) members.push({ member: flat[i], score: parseScore(flat[i + 1]) });
      return members;
    },

    async deleteOwn(keys: string[]): Promise<number> {
      if (!Array.isArray(keys)) throw new TypeError('deleteOwn: keys must be an array of key names');
      // Every key is checked before anything is sent: a refused call deletes nothing.
      keys.forEach(assertDeletable);
      // DEL without a key is a syntax error; there is nothing to do.
      if (keys.length === 0) return 0;
      return await run('DEL', keys.join(', '), undefined, () => client.del(...keys));
    },

    async xreadAfter(key: string, afterId: string, count: number, blockMs: number): Promise<StreamEntry[]> {
      assertCount('xreadAfter', count);
      assertBlockMs('xreadAfter', blockMs);
      parseStreamId('xreadAfter', 'afterId', afterId);
      // The socket timeout equals the command timeout: a server that keeps silent that long is
      // taken for stalled and the connection is dropped. A block that long would be cut off as
      // "no reply" (and take every command in flight on the connection with it), so it is refused
      // here; keep blockMs below commandTimeoutMs, with room for the round trip.
      if (blockMs >= commandTimeoutMs) {
        throw new Error(
          `redis ${target}: xreadAfter ${key}: blockMs ${blockMs} must be below the command timeout, commandTimeoutMs ${commandTimeoutMs} ` +
            '(the socket timeout equals it, so a longer block would be cut off as "no reply")',
        );
      }
      const reply = await run('XREAD', key, 'stream', () =>
        blockMs === 0
          ? client.xread('COUNT', count, 'STREAMS', key, afterId)
          : client.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', key, afterId),
      );
      // null: nothing arrived within blockMs (or, without BLOCK, nothing newer / no such stream).
      if (reply === null) return [];
      return reply.filter(([name]) => name === key).flatMap(([, items]) => items.map(toStreamEntry));
    },

    async publish(batch: PublishBatch): Promise<void> {
      assertPublishable(batch);
      const [only] = batch.hashes;
      if (batch.hashes.length === 1 && batch.streams.length === 0 && only.ttlSec === undefined) {
        // A single HSET (the heartbeat) is atomic by itself — every field or, on WRONGTYPE,
        // nothing — so it needs neither the type check nor MULTI/EXEC: one command, one round
        // trip, on the path most cycles take.
        await run('HSET', only.key, 'hash', () => client.hset(only.key, only.fields));
        return;
      }
      const keysShown = [...batch.hashes, ...batch.streams].map((w) => w.key).join(', ');

      // Redis does not roll a MULTI back when one command fails (WRONGTYPE): the others still
      // run. Checking every target's type first makes the common case — a key someone created
      // with another type — all-or-nothing, like the memory store. Only a type change in the
      // microseconds between this check and EXEC can still split a publish, and EXEC's replies
      // are checked below for exactly that.
      const targets = [
        ...batch.hashes.map((w) => ({ key: w.key, type: 'hash' })),
        ...batch.streams.map((w) => ({ key: w.key, type: 'stream' })),
      ];
      const types = await Promise.all(targets.map((t) => run('TYPE', t.key, undefined, () => client.type(t.key))));
      targets.forEach((t, i) => {
        if (types[i] !== 'none' && types[i] !== t.type) throw new WrongTypeError(t.key, t.type, types[i]);
      });

      // The TYPE checks awaited: the connection may have gone (and come back) meanwhile.
      if (!usable) throw notConnected('publish (MULTI/EXEC) of', keysShown);
      const transaction = client.multi();
      for (const write of batch.hashes) {
        transaction.hset(write.key, write.fields);
        if (write.ttlSec !== undefined) transaction.expire(write.key, write.ttlSec);
      }
      for (const write of batch.streams) {
        const flat = Object.entries(write.fields).flat();
        transaction.xadd(write.key, 'MAXLEN', '~', write.maxLen, '*', ...flat);
      }
      let replies: Array<[Error | null, unknown]> | null;
      try {
        replies = await transaction.exec();
      } catch (error) {
        throw await translate(error, 'publish (MULTI/EXEC) of', keysShown);
      }
      if (replies === null) throw new Error(`redis ${target}: publish of ${keysShown} failed: transaction aborted`);
      const failures = replies.filter(([error]) => error !== null).map(([error]) => scrub(String(error?.message)));
      if (failures.length > 0) {
        throw new Error(
          `redis ${target}: publish of ${keysShown} partly failed (Redis applied the other commands of the transaction): ` +
            `${failures.length} of ${replies.length} commands failed: ${failures.join('; ')}`,
        );
      }
    },

    async ping(): Promise<void> {
      await run('PING', '', undefined, () => client.ping());
    },

    async close(): Promise<void> {
      closed = true;
      // Wake anything waiting for the connection (waitReady): it sees `closed` and gives up.
      gate.emit('end');
      if (client.status === 'end') return;
      if (client.status === 'ready') {
        try {
          // QUIT lets the server finish what it already received; the socket then closes.
          await client.quit();
          if ((client.status as string) !== 'end') await nextEvent(client, ['end'], commandTimeoutMs);
        } catch {
          // Fall through to a hard disconnect.
        }
      }
      const status = client.status as string;
      if (status === 'end') return;
      // Between attempts ('reconnecting', 'close') there is no socket: disconnect() only cancels
      // the pending attempt and ioredis emits no 'end'. With a socket, wait for it to close.
      const hasSocket = status === 'connecting' || status === 'connect' || status === 'ready';
      const ended = hasSocket ? nextEvent(client, ['end'], commandTimeoutMs) : Promise.resolve();
      client.disconnect(false);
      await ended;
    },
  };
  return store;
}

/** [id, [f1, v1, …]] as XRANGE/XREAD reply it → a StreamEntry. */
function toStreamEntry([id, flat]: [string, string[]]): StreamEntry {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
  return { id, fields };
}

/**
 * The operator's version of a handshake error that means "the server will not let us in": no
 * password given where one is required (NOAUTH), a wrong one (WRONGPASS; "invalid password" on
 * Redis < 6), or an ACL user without a command it needs (NOPERM). undefined for other errors.
 * `reply` is already scrubbed.
 */
function describeAuthFailure(reply: string, step: string, hasPassword: boolean, username: string | undefined): string | undefined {
  if (/^NOAUTH\b|Authentication required/i.test(reply)) {
    return hasPassword
      ? `authentication failed: the server still requires authentication after AUTH (${reply}) — check redisPassword / REDIS_PASSWORD`
      : 'authentication failed: the server requires a password (NOAUTH) — set redisPassword / REDIS_PASSWORD';
  }
  if (/^WRONGPASS\b|invalid (username-)?password/i.test(reply)) {
    const who = username !== undefined ? `user ${username}` : 'the default user';
    return `authentication failed: the server refused the password for ${who} (${reply}) — check redisPassword / REDIS_PASSWORD`;
  }
  if (/^NOPERM\b/.test(reply)) {
    const who = username !== undefined ? `user ${username}` : 'the default user';
    return `authentication failed: ${who} is not allowed to run ${step} (${reply}) — check the user's ACL`;
  }
  return undefined;
}

function parseScore(raw: string): number {
  if (raw === 'inf' || raw === '+inf') return Infinity;
  if (raw === '-inf') return -Infinity;
  return Number(raw);
}

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
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
function nextEvent(client: Pick<EventEmitter, 'once' | 'off'>, events: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      for (const event of events) client.off(event, done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    for (const event of events) client.once(event, done);
  });
}
