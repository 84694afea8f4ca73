// Redis URLs, in one place: parsing redis:// and rediss:// into what the connection needs, the
// `host:port/db` target that logs and errors name, and redaction — the URL with its password
// replaced by `***` — for the store's messages and for `config print` / `status`
// (src/config/load.ts maskUrl). Nothing here opens a connection.

export interface ParsedRedisUrl {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username?: string;
  password?: string;
}

export interface RedactOptions {
  /**
   * How a userinfo without ':' — all of it a password, `redis://secret@host` — is shown:
   * `':***'` (default: the store's messages, `redis://:***@host`) or `'***'` (`config print`
   * and `status`, `redis://***@host`).
   */
  bareSecret?: ":***" | "***";
}

/**
 * The URL with any password replaced by `***`, for logs and error messages. The userinfo runs to
 * the LAST '@': a password pasted with a raw '@' or '/' (which the URL parser and ioredis accept)
 * would otherwise show its tail (test/security/leastPrivilege.test.ts).
 */
export function redactRedisUrl(url: string, options: RedactOptions = {}): string {
  const schemeEnd = url.indexOf("//");
  if (schemeEnd === -1) return url;
  const authorityStart = schemeEnd + 2;
  const at = url.lastIndexOf("@");
  if (at < authorityStart) return url;
  const userinfo = url.slice(authorityStart, at);
  const colon = userinfo.indexOf(":");
  // Without a colon the whole userinfo is a password in the `redis://secret@host` form.
  const shown = colon === -1 ? (options.bareSecret ?? ":***") : `${userinfo.slice(0, colon)}:***`;
  return `${url.slice(0, authorityStart)}${shown}${url.slice(at)}`;
}

/** Parses a redis:// or rediss:// URL. Errors show the URL redacted. */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const shown = redactRedisUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The URL parser says only "Invalid URL"; a port out of range is the common typo: name it.
    const authority = url
      .slice(Math.max(url.lastIndexOf("@") + 1, url.indexOf("//") + 2))
      .split("/")[0];
    const port = /:(\d+)$/.exec(authority)?.[1];
    if (port !== undefined && Number(port) > 65535)
      throw new Error(`invalid Redis URL ${shown}: the port must be 1-65535 (got ${port})`);
    throw new Error(
      `invalid Redis URL ${shown}: expected redis://[user:password@]host[:port][/db]`,
    );
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new Error(`invalid Redis URL ${shown}: the scheme must be redis:// or rediss:// (TLS)`);
  }
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
  if (host.length === 0) throw new Error(`invalid Redis URL ${shown}: no host`);
  const port = parsed.port === "" ? 6379 : Number(parsed.port);
  if (port === 0) throw new Error(`invalid Redis URL ${shown}: the port must be 1-65535 (got 0)`);
  const dbText = parsed.pathname.replace(/^\//, "");
  if (dbText !== "" && !/^\d+$/.test(dbText)) {
    throw new Error(
      `invalid Redis URL ${shown}: the path must be a database number (got /${dbText})`,
    );
  }
  const result: ParsedRedisUrl = {
    host,
    port,
    db: dbText === "" ? 0 : Number(dbText),
    tls: parsed.protocol === "rediss:",
  };
  let username = decodeURIComponent(parsed.username);
  let password = decodeURIComponent(parsed.password);
  // `redis://secret@host`: a userinfo without a colon is a password for the default user, as
  // ioredis and redis-cli read it, not a user name.
  const at = url.lastIndexOf("@");
  const userinfo = at === -1 ? "" : url.slice(url.indexOf("//") + 2, at);
  if (userinfo !== "" && !userinfo.includes(":")) {
    password = username;
    username = "";
  }
  if (username !== "") result.username = username;
  if (password !== "") result.password = password;
  return result;
}

/** `host:port/db` (an IPv6 host in brackets): how logs and errors name the server, never with credentials. */
export function redisTarget(url: Pick<ParsedRedisUrl, "host" | "port" | "db">): string {
  return `${url.host.includes(":") ? `[${url.host}]` : url.host}:${url.port}/${url.db}`;
}
