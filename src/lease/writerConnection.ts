// The dedicated writer connection of the single-writer lease (issue 10, part 2): every fenced
// publish and every lease operation (acquire, renew, release) runs on it, one at a time.
//
// Why a connection of its own, and why serialized: the fence is WATCH <lease key>, GET (is the
// token still ours?), MULTI … EXEC. WATCH state belongs to the connection, and EXEC (or UNWATCH)
// clears all of it. On a connection shared by concurrent callers — autopipelining sends whatever
// was issued in the same tick together — two callers' WATCH/GET/MULTI/EXEC sequences interleave:
// one caller's EXEC clears the other's WATCH, whose EXEC then runs unfenced, or one caller's
// MULTI swallows the other's GET. So nothing but `exclusive` sessions ever sends commands here,
// and a session has the connection to itself until it settles (a FIFO mutex).
//
// The connection is redisConnection.ts' (imported, unchanged): the same client discipline as the
// store — no offline queue, nothing resent, command timeout = socket timeout, our own
// AUTH/SELECT/PING/SETNAME handshake gate, the same error translation. Its client has
// autopipelining on; that is harmless here because only one session runs at a time, and each
// round trip of a session is an explicit pipeline or MULTI (written to the socket as one block,
// in order) or a single awaited command.
import {
  createRedisConnection,
  isReadOnlyError,
  REDIS_STORE_DEFAULTS,
  type RedisConnectionOptions,
} from "../store/redisConnection.js";
import { errorMessage } from "../core/errors.js";
import { WriteOutcomes, type WriteKind } from "./writeHealth.js";

/**
 * SET NX of the lease refused by Redis (OOM, NOPERM, …) while the GET of the same round trip
 * answered: `current` is what the key holds, so a standby still knows whether another instance
 * holds the lease (then it is a healthy standby) or nobody does (then it is failing to take it).
 */
export class SetRefusedError extends Error {
  readonly current: string | null;
  constructor(message: string, current: string | null) {
    super(message);
    this.name = "SetRefusedError";
    this.current = current;
  }
}

/** One command of a transaction: name and arguments, e.g. ['hset', key, 'f', 'v']. */
export type TxCommand = readonly [name: string, ...args: Array<string | number>];
/** EXEC's reply for one command: the error Redis gave it, or null and its result. */
export type TxReply = [Error | null, unknown];

/** The commands of one exclusive session. Valid only until the session's function settles. */
export interface WriterSession {
  /**
   * SET key value NX PX ttlMs, then GET key, in one round trip. `set`: the key was absent and now
   * holds `value`; `value`: what the key holds after the SET (the current holder when not set).
   */
  setNxPxGet(
    key: string,
    value: string,
    ttlMs: number,
  ): Promise<{ set: boolean; value: string | null }>;
  /** GET key (no WATCH). */
  get(key: string): Promise<string | null>;
  /**
   * WATCH key, GET key and TYPE of each of `typeKeys`, in one round trip. The WATCH stays until
   * exec() or unwatch() (the session sends UNWATCH itself if it ends with a WATCH still open).
   */
  watch(
    key: string,
    typeKeys?: readonly string[],
  ): Promise<{ value: string | null; types: string[] }>;
  /** UNWATCH. */
  unwatch(): Promise<void>;
  /**
   * MULTI, the commands, EXEC, in one round trip. null when a watched key was modified (or
   * expired) since the WATCH: then nothing ran. Otherwise one reply per command — Redis does not
   * roll back, so a command may have failed while the others ran. Rejects on I/O failure and when
   * Redis refused to queue a command (EXECABORT: e.g. READONLY from a demoted primary, NOPERM):
   * then nothing ran either.
   */
  exec(commands: readonly TxCommand[]): Promise<TxReply[] | null>;
}

export interface WriterConnection {
  /** `host:port/db` of the server, safe to log. */
  readonly target: string;
  readonly commandTimeoutMs: number;
  /** The connection has passed the handshake: a session's commands may run. */
  usable(): boolean;
  /** The connection status (see RedisConnection.status). */
  status(): string;
  /** Resolves once the connection is up and answers PING; rejects after timeoutMs. */
  waitReady(timeoutMs: number): Promise<void>;
  /**
   * Runs `fn` with the connection to itself: sessions run one at a time, in call order. Every
   * WATCH … EXEC sequence must run inside one session. `kind` says whose writes the session
   * makes (the lease's or publishes, the default), for `writes`.
   */
  exclusive<T>(fn: (session: WriterSession) => Promise<T>, kind?: WriteKind): Promise<T>;
  /**
   * What Redis answered to the writes of the sessions (SET NX, MULTI/EXEC): accepted, or refused
   * (OOM, NOPERM, READONLY, …) since when — the truthful part of /healthz (writeHealth.ts).
   */
  readonly writes?: WriteOutcomes;
  /** Waits (bounded) for the running session, then closes the connection (QUIT). */
  close(): Promise<void>;
}

/** CLIENT SETNAME of the writer connection unless the options name one. */
export const WRITER_CONNECTION_NAME = `${REDIS_STORE_DEFAULTS.connectionName}-writer`;

export function createWriterConnection(options: RedisConnectionOptions): WriterConnection {
  const connection = createRedisConnection({
    ...options,
    connectionName: options.connectionName ?? WRITER_CONNECTION_NAME,
  });
  const { client, run, scrub } = connection;
  let tail: Promise<void> = Promise.resolve();
  const writes = new WriteOutcomes();

  /** The replies of an explicit pipeline, throwing the first command error (translated by `run`). */
  const replies = (results: Array<[Error | null, unknown]> | null): unknown[] => {
    if (results === null) throw new Error("pipeline returned no replies");
    for (const [error] of results) if (error) throw error;
    return results.map(([, value]) => value);
  };

  const openSession = (kind: WriteKind): { session: WriterSession; end: () => Promise<void> } => {
    let open = true;
    /** A WATCH may be open on the server: sent and neither EXEC nor UNWATCH answered since. */
    let watching = false;
    const live = (what: string): void => {
      if (!open) throw new Error(`writer connection: ${what} after its session ended`);
    };
    const session: WriterSession = {
      async setNxPxGet(key, value, ttlMs) {
        live("SET NX");
        // The GET's answer when Redis refused the SET but answered the GET (see SetRefusedError).
        let seen: { value: string | null } | undefined;
        let setReply: unknown;
        let current: unknown;
        try {
          [setReply, current] = await run("SET NX PX + GET", key, undefined, async () => {
            const results = await client
              .pipeline()
              .set(key, value, "PX", ttlMs, "NX")
              .get(key)
              .exec();
            const get = results?.[1];
            if (results?.[0]?.[0] && get && get[0] === null)
              seen = { value: (get[1] as string | null) ?? null };
            return replies(results);
          });
        } catch (error) {
          writes.failed(kind, error);
          if (seen !== undefined) throw new SetRefusedError(errorMessage(error), seen.value);
          throw error;
        }
        writes.accepted(kind);
        return { set: setReply === "OK", value: (current as string | null) ?? null };
      },
      async get(key) {
        live("GET");
        return await run("GET", key, undefined, () => client.get(key));
      },
      async watch(key, typeKeys = []) {
        live("WATCH");
        watching = true;
        const values = await run("WATCH + GET", key, undefined, async () => {
          const pipeline = client.pipeline().watch(key).get(key);
          for (const typeKey of typeKeys) pipeline.type(typeKey);
          return replies(await pipeline.exec());
        });
        return { value: (values[1] as string | null) ?? null, types: values.slice(2).map(String) };
      },
      async unwatch() {
        live("UNWATCH");
        await run("UNWATCH", "", undefined, () => client.unwatch());
        watching = false;
      },
      async exec(commands) {
        live("MULTI/EXEC");
        const keysShown = [...new Set(commands.map((c) => String(c[1] ?? "")))].join(", ");
        // EXEC ends the WATCH whatever its outcome; a connection that dies takes it along.
        watching = false;
        const outcome = run("MULTI/EXEC of", keysShown, undefined, async () => {
          try {
            return await client.multi(commands.map((command) => [...command])).exec();
          } catch (error) {
            // EXECABORT: Redis refused to queue a command, so it discarded the whole transaction.
            // Say which refusal (READONLY from a demoted primary, NOPERM, …): ioredis keeps them
            // in previousErrors.
            // Only for EXECABORT: a timed-out MULTI/EXEC also carries previousErrors (each queued
            // command's "Command timed out"), and its outcome is unknown — the server may have
            // run it — so it must go to the timeout translation below, never "nothing applied".
            const previous = (error as { previousErrors?: unknown[] }).previousErrors;
            // READONLY (a demoted primary) is rethrown as it is: the translation recognises it in
            // previousErrors, closes the gate and (with Sentinel) reconnects to ask for the primary.
            if (
              /EXECABORT/i.test(errorMessage(error)) &&
              Array.isArray(previous) &&
              previous.length > 0 &&
              !isReadOnlyError(error)
            ) {
              const why = [...new Set(previous.map((e) => scrub(errorMessage(e))))].join("; ");
              throw new Error(`${errorMessage(error)} (${why}); nothing was applied`);
            }
            throw error;
          }
        });
        let result: TxReply[] | null;
        try {
          result = await outcome;
        } catch (error) {
          writes.failed(kind, error);
          throw error;
        }
        // A null EXEC (the WATCH refused it) says nothing about whether writes are accepted.
        if (result !== null) {
          const refused = result.find(([error]) => error !== null)?.[0];
          if (refused) writes.failed(kind, refused);
          else writes.accepted(kind);
        }
        return result;
      },
    };
    const end = async (): Promise<void> => {
      open = false;
      // A session that ends (normally or by an error) with a WATCH still open would leave it to
      // the next session, whose EXEC it could abort. Only ever stricter, never unfenced, but
      // clean it up. A dead connection took the WATCH with it.
      if (watching && connection.usable()) {
        await client.unwatch().catch(() => undefined);
      }
    };
    return { session, end };
  };

  return {
    target: connection.target,
    commandTimeoutMs: connection.commandTimeoutMs,
    usable: () => connection.usable(),
    status: () => connection.status(),
    waitReady: (timeoutMs) => connection.waitReady(timeoutMs),
    writes,

    exclusive<T>(
      fn: (session: WriterSession) => Promise<T>,
      kind: WriteKind = "publish",
    ): Promise<T> {
      const result = tail.then(async () => {
        const { session, end } = openSession(kind);
        try {
          return await fn(session);
        } finally {
          await end();
        }
      });
      tail = result.then(
        () => undefined,
        () => undefined,
      );
      return result;
    },

    async close(): Promise<void> {
      // Let the session in progress finish (each of its round trips is bounded by the command
      // timeout), so QUIT does not cut a transaction in half on our side.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        tail,
        new Promise<void>(
          (resolve) => (timer = setTimeout(resolve, 2 * connection.commandTimeoutMs)),
        ),
      ]);
      clearTimeout(timer);
      await connection.close();
    },
  };
}
