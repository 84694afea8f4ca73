// Builds the effective configuration from four layers, highest first:
//   CLI flags  >  environment  >  --config FILE (JSON)  >  defaults
// Every value remembers where it came from, so an error (and `config print`) can say
// "harvestInterval from env PUBLISH_INTERVAL_SEC: must be > 0 (got -1)".
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { z } from "zod";
import { CONFIG_SPEC, crossCheck, type Config, type ConfigKey, type KeySpec } from "./schema.js";
import { redactRedisUrl } from "../store/redisUrl.js";
import { envNameOf, flagOrigin, keyInfo, STRING_KEYS } from "./keys.js";
import { CliError, ExitCode } from "../exitCodes.js";
import { parseFiniteNumber } from "../inputs/parse.js";
import { similarNames } from "./suggest.js";

/** The keys a flag or an environment variable can set (all but the file-only theta). */
export const CONFIG_KEYS: readonly string[] = STRING_KEYS;

/**
 * The old Python services' environment names, so their env files can be pointed at the new
 * unit. Order matters where two names feed one key: the first one set wins.
 */
export const LEGACY_ENV: ReadonlyArray<{ env: string; key: string; note: string }> = [
  { env: "REDIS_URL", key: "redisUrl", note: "all three services" },
  { env: "REDIS_PASSWORD", key: "redisPassword", note: "password (overrides the URL's)" },
  { env: "SYMBOLS", key: "symbols", note: "risk/harvest symbol list (comma-separated)" },
  { env: "MARKETSTATE_SYMBOLS", key: "symbols", note: "used when SYMBOLS is not set" },
  { env: "PUBLISH_INTERVAL_SEC", key: "riskInterval", note: "risk/harvest interval: sets both" },
  { env: "PUBLISH_INTERVAL_SEC", key: "harvestInterval", note: "risk/harvest interval: sets both" },
  { env: "POSITION_SOURCE", key: "positionSource", note: "auto|redis_hash|redis_stream|synthetic" },
  { env: "ENABLE_STREAM", key: "enableStream", note: "true/false/1/0" },
  { env: "MAX_PUBLISH_AGE_SEC", key: "maxPublishAge", note: "harvest/risk max publish age" },
  { env: "CHANGE_EPS_PCT", key: "changeEpsPct", note: "rate-limit change threshold" },
  { env: "FALLBACK_STOP_PCT", key: "fallbackStopPct", note: "harvest fallback stop" },
  {
    env: "MARKETSTATE_PUBLISH_INTERVAL",
    key: "marketstateInterval",
    note: "marketstate interval (s)",
  },
  { env: "MARKETSTATE_WINDOW_SIZE", key: "windowSize", note: "closes per symbol" },
];
// MARKETSTATE_REDIS_HOST / MARKETSTATE_REDIS_PORT build redisUrl when REDIS_URL is unset, and
// MARKETSTATE_SOURCE must name the Redis candle source: handled in envLayer below.

export type Origin = string;
export interface LoadedConfig {
  config: Config;
  /** Where each explicitly set key came from ("flag --symbols", "env SYMBOLS", "file x.json"). */
  origins: Record<string, Origin>;
}

export interface LoadOptions {
  /** Values from CLI flags, already keyed by config key (strings or typed values). */
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  configFile?: string;
}

/** Converts a flag/env string to the key's type; throws a message naming the source and value. */
export function coerce(key: string, raw: unknown, origin: Origin): unknown {
  if (typeof raw !== "string") return raw;
  const kind = keyInfo(key)?.kind ?? "string";
  const text = raw.trim();
  const bad = (what: string): never => {
    throw new CliError(`${key} from ${origin}: ${what} (got ${JSON.stringify(raw)})`);
  };
  switch (kind) {
    case "string":
    case "json": // file-only keys: a string is refused by the schema, naming the key
      return text;
    case "number":
    case "int":
    case "nullableNumber": {
      if (kind === "nullableNumber" && (text === "" || text === "null" || text === "off"))
        return null;
      // The same linear-time decimal grammar as every other outside input (src/inputs/parse.ts).
      const value = parseFiniteNumber(text);
      if (value === null) bad("must be a finite number");
      if (kind === "int" && !Number.isInteger(value)) bad("must be a whole number");
      return value;
    }
    case "boolean": {
      const lower = text.toLowerCase();
      if (["1", "true", "yes", "on"].includes(lower)) return true;
      if (["0", "false", "no", "off", ""].includes(lower)) return false;
      return bad("must be true/false/1/0/yes/no");
    }
    case "list": {
      const items = text
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      if (items.length === 0) bad("must list at least one item");
      return items;
    }
  }
}

/**
 * Everything wrong with a configuration, collected from every layer before anything is refused, so
 * the operator fixes a file, an environment and a command line in one go, not one error per try.
 * Every line names what the operator typed and where: a known key as "<key> from <origin>: <what>
 * (got <value>)", a name we do not know as "unknown … <name> in <origin> (did you mean …?)".
 */
class Problems {
  readonly lines: string[] = [];
  add(line: string): void {
    this.lines.push(line);
  }
  /** Runs `fn`; a CliError it throws (a coercion naming key, origin and value) is collected. */
  collect<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      this.add(err.message);
      return undefined;
    }
  }
  throwIfAny(): void {
    if (this.lines.length > 0)
      throw new CliError(`invalid configuration:\n  ${this.lines.join("\n  ")}`, ExitCode.USAGE);
  }
}

/** " (did you mean a or b?)" or nothing. */
function didYouMean(names: readonly string[]): string {
  return names.length > 0 ? ` (did you mean ${names.join(" or ")}?)` : "";
}

/** The config file's keys, or undefined (a problem collected) when it cannot be used. */
function fileLayer(
  path: string,
  origin: Origin,
  problems: Problems,
): Record<string, unknown> | undefined {
  const refuse = (what: string): undefined => {
    problems.add(`config from ${origin}: ${what} (got ${JSON.stringify(path)})`);
    return undefined;
  };
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return refuse(`cannot read the file: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return refuse(`the file is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return refuse("the file must hold a JSON object");
  }
  return parsed as Record<string, unknown>;
}

/** Our prefix: every variable under it must be one we read, like every flag and file key. */
export const ENV_PREFIX = "QUANTUM_CALC_";
/** The environment names we read under the prefix: one per string-settable key, and the config file. */
export const KNOWN_ENV: readonly string[] = [...CONFIG_KEYS.map(envNameOf), `${ENV_PREFIX}CONFIG`];

/**
 * A misspelled QUANTUM_CALC_* variable (in a systemd EnvironmentFile, say) would otherwise be
 * ignored without a word and the service run on a default the operator meant to change: it is
 * refused (exit 2) as an unknown flag or file key is, with the names it may have meant. A file-only
 * key's name (QUANTUM_CALC_THETA) is refused too, saying where that key is set.
 */
function refuseUnknownEnv(env: NodeJS.ProcessEnv, problems: Problems): void {
  const known = new Set(KNOWN_ENV);
  const unknown = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && !known.has(name))
    .sort();
  for (const name of unknown) {
    const fileOnly = keyInfo(fileKeyOf(name) ?? "");
    if (fileOnly !== undefined) {
      problems.add(`${fileOnly.key} from env ${name}: can be set only in the --config file`);
    } else {
      const similar = similarNames(name, KNOWN_ENV, ENV_PREFIX);
      problems.add(`unknown environment variable ${name}${didYouMean(similar)}`);
    }
  }
}

/** QUANTUM_CALC_THETA → theta when that is a file-only key; else undefined. */
function fileKeyOf(name: string): string | undefined {
  const key = name
    .slice(ENV_PREFIX.length)
    .toLowerCase()
    .replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  const info = keyInfo(key);
  return info !== undefined && info.env === null ? key : undefined;
}

function envLayer(
  env: NodeJS.ProcessEnv,
  problems: Problems,
): {
  values: Record<string, unknown>;
  origins: Record<string, Origin>;
} {
  const values: Record<string, unknown> = {};
  const origins: Record<string, Origin> = {};
  const set = (key: string, raw: string, origin: Origin): void => {
    if (key in origins) return; // the first name listed wins
    origins[key] = origin;
    const value = problems.collect(() => coerce(key, raw, origin));
    if (value !== undefined) values[key] = value;
  };
  const present = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === "" ? undefined : v;
  };
  refuseUnknownEnv(env, problems);
  // Our own names first: QUANTUM_CALC_HARVEST_INTERVAL beats the legacy PUBLISH_INTERVAL_SEC.
  for (const key of CONFIG_KEYS) {
    const v = present(envNameOf(key));
    if (v !== undefined) set(key, v, `env ${envNameOf(key)}`);
  }
  for (const { env: name, key } of LEGACY_ENV) {
    const v = present(name);
    if (v !== undefined) set(key, v, `env ${name}`);
  }
  const host = present("MARKETSTATE_REDIS_HOST");
  const port = present("MARKETSTATE_REDIS_PORT");
  if ((host !== undefined || port !== undefined) && !("redisUrl" in origins)) {
    if (port !== undefined && !/^\d{1,5}$/.test(port)) {
      problems.add(
        `redisUrl from env MARKETSTATE_REDIS_PORT: must be a port number (got ${JSON.stringify(port)})`,
      );
    } else {
      set(
        "redisUrl",
        `redis://${host ?? "127.0.0.1"}:${port ?? "6379"}`,
        "env MARKETSTATE_REDIS_HOST/PORT",
      );
    }
  }
  const source = present("MARKETSTATE_SOURCE");
  if (source !== undefined && !["redis", "candles"].includes(source.toLowerCase())) {
    problems.add(
      `env MARKETSTATE_SOURCE: only the Redis candle source exists here (redis); synthetic candles run only in \`npm run demo\` (got ${JSON.stringify(source)})`,
    );
  }
  // systemd LoadCredential=redis-password:… puts the secret in a file, never in the environment.
  // The unit falls back to an empty credential (SetCredential=) when no password file exists,
  // so an empty credential means "no password", unlike an explicit redisPasswordFile.
  // The same for the sentinels' own password (LoadCredential=sentinel-password:…).
  const credDir = present("CREDENTIALS_DIRECTORY");
  for (const [key, name] of [
    ["redisPassword", "redis-password"],
    ["sentinelPassword", "sentinel-password"],
  ] as const) {
    const credential = credDir === undefined ? undefined : join(credDir, name);
    if (credential === undefined || key in origins || !existsSync(credential)) continue;
    const secret = readFileSync(credential, "utf8").trim();
    if (secret.length > 0) {
      values[key] = secret;
      origins[key] = `systemd credential ${name}`;
    }
  }
  return { values, origins };
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? "nothing" : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A value as an error shows it: secrets masked, a URL's password masked. */
function shown(key: string, value: unknown): string {
  if (/password/i.test(key)) return "***";
  if (key === "redisUrl") return maskUrl(String(value));
  return describe(value);
}

/** A zod issue of one key's value, named by the key (or a list item by its place) and origin. */
function valueProblem(key: string, issue: z.core.$ZodIssue, value: unknown, from: string): string {
  const at = issue.path.reduce<unknown>(
    (v, p) =>
      v !== null && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[p] : undefined,
    value,
  );
  const message =
    issue.code === "invalid_value"
      ? `must be one of ${issue.values.map(String).join(", ")}`
      : issue.message;
  // A list item is named as an operator counts (item 2 of what they typed), never by zod's
  // path (symbols.1); a nested file key keeps its dotted path (theta.harvest).
  if (issue.path.length >= 1 && typeof issue.path[0] === "number") {
    return `${key} item ${issue.path[0] + 1} (${shown(key, at)})${from}: ${message}`;
  }
  if (issue.code === "unrecognized_keys") {
    // Inside a key's object (theta: {"stop": …}): the same words as an unknown top-level key.
    const known = Object.keys(CONFIG_SPEC.theta.schema.unwrap().shape);
    return issue.keys
      .map((name) => {
        const full = [key, ...issue.path.map(String), name].join(".");
        const similar = similarNames(name, known).map((n) => `${key}.${n}`);
        return `unknown config key ${full}${from.replace(/^ from /, " in ")}${didYouMean(similar)}`;
      })
      .join("\n  ");
  }
  const name = [key, ...issue.path.map(String)].join(".");
  return `${name}${from}: ${message} (got ${shown(key, at)})`;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const problems = new Problems();
  const merged: Record<string, unknown> = {};
  const origins: Record<string, Origin> = {};
  const apply = (values: Record<string, unknown>, origin: (key: string) => Origin): void => {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) continue;
      merged[key] = value;
      origins[key] = origin(key);
    }
  };
  const configFile = options.configFile ?? env.QUANTUM_CALC_CONFIG;
  if (configFile) {
    const origin = options.configFile !== undefined ? "flag --config" : `env ${ENV_PREFIX}CONFIG`;
    const file = fileLayer(configFile, origin, problems);
    if (file !== undefined) apply(file, () => `file ${configFile}`);
  }
  const fromEnv = envLayer(env, problems);
  apply(fromEnv.values, (key) => fromEnv.origins[key] ?? "env");
  // A key whose environment value was refused must not fall back to the file's or the default
  // in the checks below: it is reported once, as the environment's.
  const refused = new Set(Object.keys(fromEnv.origins).filter((k) => !(k in fromEnv.values)));
  const flags: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(options.flags ?? {})) {
    if (raw === undefined) continue;
    const value = problems.collect(() => coerce(key, raw, flagOrigin(key)));
    if (value !== undefined) flags[key] = value;
    else refused.add(key);
  }
  apply(flags, flagOrigin);
  for (const key of Object.keys(flags)) refused.delete(key);

  // A URL's password and a separate password file are both "the password": read the file here
  // so the rest of the service sees one value.
  if (typeof merged.redisPasswordFile === "string" && merged.redisPassword === undefined) {
    try {
      const secret = readFileSync(merged.redisPasswordFile, "utf8").trim();
      if (secret.length === 0) throw new Error("the file is empty");
      merged.redisPassword = secret;
      origins.redisPassword = origins.redisPasswordFile ?? "password file";
    } catch (err) {
      const from = origins.redisPasswordFile ? ` from ${origins.redisPasswordFile}` : "";
      problems.add(
        `redisPasswordFile${from}: ${(err as Error).message} (got ${JSON.stringify(merged.redisPasswordFile)})`,
      );
      refused.add("redisPasswordFile");
    }
  }

  // Every key on its own first, so that every bad value is reported, then the checks across keys
  // over the keys that passed.
  const from = (key: string): string => (origins[key] ? ` from ${origins[key]}` : "");
  const known = Object.keys(CONFIG_SPEC);
  for (const key of Object.keys(merged)
    .filter((k) => !Object.hasOwn(CONFIG_SPEC, k))
    .sort()) {
    // An environment name written into the file (QUANTUM_CALC_RISK_INTERVAL) means its key.
    const envKey = CONFIG_KEYS.find((k) => envNameOf(k) === key);
    const similar = envKey !== undefined ? [envKey] : similarNames(key, known);
    problems.add(
      `unknown config key ${key}${from(key).replace(/^ from /, " in ")}${didYouMean(similar)}`,
    );
  }
  const config: Record<string, unknown> = {};
  const valid = new Set<string>();
  for (const [key, spec] of Object.entries(CONFIG_SPEC) as Array<[ConfigKey, KeySpec]>) {
    if (refused.has(key)) continue;
    const parsed = spec.schema.safeParse(merged[key]);
    if (parsed.success) {
      // As the whole object's parse would: an optional key without a value is absent.
      if (parsed.data !== undefined) config[key] = parsed.data;
      valid.add(key);
    } else {
      for (const issue of parsed.error.issues)
        problems.add(valueProblem(key, issue, merged[key], from(key)));
    }
  }
  for (const issue of crossCheck(config as Config, (key) => valid.has(key))) {
    const top = issue.path.split(".")[0];
    const origin = from(top);
    if (issue.unknown !== undefined) {
      problems.add(
        `unknown theta key ${issue.path}${origin.replace(/^ from /, " in ")}${didYouMean(issue.unknown.suggestions)}`,
      );
      continue;
    }
    const value = "value" in issue ? issue.value : config[top];
    // A value nobody set is the default: say so, and where the value it was compared with came from.
    const isDefault = origin === "" && value !== undefined ? ", the default" : "";
    const related =
      issue.related !== undefined && origins[issue.related] !== undefined
        ? `; ${issue.related} from ${origins[issue.related]}`
        : "";
    problems.add(
      `${issue.path}${origin}: ${issue.message} (got ${shown(top, value)}${isDefault}${related})`,
    );
  }
  problems.throwIfAny();
  return { config: config as Config, origins };
}

/**
 * redis://user:secret@host → redis://user:***@host, redis://secret@host → redis://***@host, for
 * `config print`, `status` and config errors: the store's redaction (src/store/redisUrl.ts, the
 * userinfo running to the LAST '@', test/security/leastPrivilege.test.ts). As before, only a
 * redis:// or rediss:// URL is rewritten; any other text is shown as given.
 */
export function maskUrl(url: string): string {
  // Any scheme: a URL refused for its scheme (`http://u:secret@h`) is shown in the error too.
  return redactRedisUrl(url, { bareSecret: "***" });
}

/** The config with every secret replaced, for `config print` and logs. */
export function redactConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    redisUrl: maskUrl(config.redisUrl),
    ...(config.redisPassword !== undefined ? { redisPassword: "***" } : {}),
    ...(config.sentinelPassword !== undefined ? { sentinelPassword: "***" } : {}),
  };
}
