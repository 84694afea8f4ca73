// The config keys are declared once (CONFIG_SPEC in src/config/schema.ts); the coercion, the
// environment names, the flags, the defaults in --help and the table in docs/configuration.md are generated from
// or checked against that declaration. These tests pin what the generation must keep.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Command } from "commander";
import { CONFIG_KEYS, coerce, loadConfig } from "../../src/config/load.js";
import { CONFIG_SPEC, configSchema } from "../../src/config/schema.js";
import { KEY_INFO, envNameOf, flagOrigin, keyInfo } from "../../src/config/keys.js";
import { addConfigOptions, flagsToConfig } from "../../src/commands/runOptions.js";
import { CliError } from "../../src/exitCodes.js";
import { thrown } from "../helpers/thrown.js";

const errorOf = (fn: () => unknown): CliError => thrown(CliError, fn);

/** The hand-written coercion table this declaration replaced (src/config/load.ts KEY_KINDS). */
const FORMER_KINDS: Record<string, string> = {
  redisUrl: "string",
  redisPassword: "string",
  redisPasswordFile: "string",
  store: "string",
  symbols: "list",
  // Added with Redis Sentinel (issue 10).
  sentinels: "list",
  sentinelName: "string",
  sentinelPassword: "string",
  positionSource: "string",
  phases: "list",
  marketstateInterval: "number",
  riskInterval: "number",
  harvestInterval: "number",
  maxPublishAge: "number",
  changeEpsPct: "number",
  fallbackStopPct: "number",
  enableStream: "boolean",
  windowSize: "int",
  candlePatterns: "list",
  maxCandleAge: "number",
  followKlines: "boolean",
  klinesStream: "string",
  maxPositionAge: "number",
  rNetBasis: "string",
  // Added with the AI policy (issue 9).
  harvestThetaSource: "string",
  symbolsSource: "string",
  maxInputAge: "nullableNumber",
  commandTimeoutMs: "int",
  connectTimeoutMs: "int",
  backoffBaseMs: "int",
  backoffCapMs: "int",
  restartBudget: "int",
  restartWindowSec: "number",
  drainTimeoutMs: "int",
  httpHost: "string",
  httpPort: "nullableNumber",
  inspect: "boolean",
  logLevel: "string",
  watchdogSec: "number",
  // Added with the single-writer lease (issue 10).
  lease: "boolean",
  leaseKey: "string",
  leaseTtlMs: "int",
  // Added with the plausibility rules (issue 21).
  maxClockSkew: "number",
  minCandlePrice: "number",
  maxCandlePrice: "number",
  maxCandleGap: "nullableNumber",
  maxCandleKeyBytes: "int",
  maxPriceRatio: "number",
  maxStopDistPct: "number",
  maxPolicyValidity: "number",
  maxSymbols: "int",
  universeApplyInterval: "number",
  // Added with the flight recorder (issue 19).
  recordDir: "string",
  recordRetention: "number",
  recordMaxBytes: "int",
};

describe("the config declaration", () => {
  it("derives the same coercion per key as the former hand-written table, and the same string-settable keys", () => {
    expect(
      Object.fromEntries(KEY_INFO.filter((k) => k.kind !== "json").map((k) => [k.key, k.kind])),
    ).toEqual(FORMER_KINDS);
    expect([...CONFIG_KEYS].sort()).toEqual(Object.keys(FORMER_KINDS).sort());
    expect(keyInfo("theta")?.kind).toBe("json");
  });

  it("keeps every default", () => {
    expect(configSchema.parse({})).toEqual({
      redisUrl: "redis://127.0.0.1:6379/0",
      store: "redis",
      symbols: ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
      positionSource: "auto",
      phases: ["marketstate", "risk", "harvest"],
      marketstateInterval: 60,
      riskInterval: 10,
      harvestInterval: 10,
      maxPublishAge: 60,
      changeEpsPct: 0.001,
      fallbackStopPct: 0.02,
      enableStream: false,
      windowSize: 300,
      candlePatterns: [
        "quantum:history:ohlcv:{symbol}:1m",
        "candles:{symbol}:1m",
        "quantum:candles:{symbol}",
        "klines:{symbol}:1m",
      ],
      maxCandleAge: 180,
      followKlines: true,
      klinesStream: "quantum:stream:market.klines",
      lease: true,
      leaseKey: "quantum:calc:leader",
      leaseTtlMs: 5000,
      maxPositionAge: 300,
      maxClockSkew: 5,
      minCandlePrice: 1e-12,
      maxCandlePrice: 1e12,
      maxCandleGap: null,
      maxCandleKeyBytes: 8_388_608,
      maxPriceRatio: 10,
      maxStopDistPct: 0.5,
      rNetBasis: "locked",
      harvestThetaSource: "policy",
      symbolsSource: "config",
      maxPolicyValidity: 86_400,
      maxSymbols: 2000,
      universeApplyInterval: 5,
      maxInputAge: null,
      commandTimeoutMs: 2000,
      connectTimeoutMs: 5000,
      backoffBaseMs: 1000,
      backoffCapMs: 30_000,
      restartBudget: 5,
      restartWindowSec: 60,
      drainTimeoutMs: 8000,
      httpHost: "127.0.0.1",
      httpPort: null,
      inspect: false,
      logLevel: "info",
      watchdogSec: 30,
      recordRetention: 604_800,
      recordMaxBytes: 1_073_741_824,
      theta: {},
    });
  });

  it("every key but the secrets and the theta object has a flag; those are env/file and file only", () => {
    const without = KEY_INFO.filter((k) => k.flag === null).map((k) => `${k.key}:${k.source}`);
    expect(without).toEqual(["redisPassword:env", "sentinelPassword:env", "theta:file"]);
    expect(keyInfo("sentinels")).toMatchObject({
      flag: "sentinels",
      flagSpec: "--sentinels <list>",
      kind: "list",
      env: "QUANTUM_CALC_SENTINELS",
    });
    expect(keyInfo("sentinelName")).toMatchObject({
      flag: "sentinel-name",
      flagSpec: "--sentinel-name <name>",
    });
    expect(keyInfo("sentinelPassword")).toMatchObject({
      flag: null,
      env: "QUANTUM_CALC_SENTINEL_PASSWORD",
    });
    expect(keyInfo("phases")?.flag).toBe("only");
    expect(keyInfo("followKlines")).toMatchObject({
      flag: "no-follow-klines",
      negated: true,
      flagSpec: "--no-follow-klines",
    });
    expect(keyInfo("inspect")).toMatchObject({ flag: "inspect", source: "run-flag" });
    for (const k of KEY_INFO.filter((i) => i.flag !== null && !i.negated && i.key !== "phases")) {
      expect(k.flag).toBe(k.key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
    }
  });

  it("every string-settable key is read from QUANTUM_CALC_<UPPER_SNAKE>, and the origin names it", () => {
    expect(envNameOf("drainTimeoutMs")).toBe("QUANTUM_CALC_DRAIN_TIMEOUT_MS");
    expect(keyInfo("theta")?.env).toBeNull();
    const { config, origins } = loadConfig({
      env: { QUANTUM_CALC_DRAIN_TIMEOUT_MS: "4000", QUANTUM_CALC_REDIS_PASSWORD: "pw" },
    });
    expect(config.drainTimeoutMs).toBe(4000);
    expect(config.redisPassword).toBe("pw");
    expect(origins).toEqual({
      drainTimeoutMs: "env QUANTUM_CALC_DRAIN_TIMEOUT_MS",
      redisPassword: "env QUANTUM_CALC_REDIS_PASSWORD",
    });
  });

  it("a QUANTUM_CALC_* variable that names no key is refused (exit 2) with the names it may have meant, as a flag is", () => {
    const typo = errorOf(() =>
      loadConfig({ env: { QUANTUM_CALC_SYMBOL: "BTCUSDT", QUANTUM_CALC_RISKINTERVAL: "5" } }),
    );
    expect(typo.exitCode).toBe(2);
    expect(typo.message).toBe(
      "invalid configuration:\n" +
        "  unknown environment variable QUANTUM_CALC_RISKINTERVAL (did you mean QUANTUM_CALC_RISK_INTERVAL?)\n" +
        "  unknown environment variable QUANTUM_CALC_SYMBOL (did you mean QUANTUM_CALC_SYMBOLS?)",
    );
    expect(
      errorOf(() => loadConfig({ env: { QUANTUM_CALC_NOTHING_LIKE_IT: "1" } })).message,
    ).toMatch(/unknown environment variable QUANTUM_CALC_NOTHING_LIKE_IT$/m);
    // A file-only key says where it belongs.
    expect(errorOf(() => loadConfig({ env: { QUANTUM_CALC_THETA: "{}" } })).message).toContain(
      "theta from env QUANTUM_CALC_THETA: can be set only in the --config file",
    );
    // Every name we read is accepted: the keys' names and the config file's.
    const every = Object.fromEntries(
      KEY_INFO.filter((k) => k.env !== null).map((k) => [k.env!, ""]),
    );
    expect(() => loadConfig({ env: { ...every, QUANTUM_CALC_CONFIG: "" } })).not.toThrow();
  });

  it("a message names the flag the operator typed, never a derived one", () => {
    expect(flagOrigin("phases")).toBe("flag --only");
    expect(flagOrigin("followKlines")).toBe("flag --no-follow-klines");
    expect(flagOrigin("theta")).toBe("option theta");
    expect(
      errorOf(() => loadConfig({ env: {}, flags: flagsToConfig({ only: " , " }) })).message,
    ).toBe(
      'invalid configuration:\n  phases from flag --only: must list at least one item (got " , ")',
    );
    expect(() => coerce("restartBudget", "1.5", flagOrigin("restartBudget"))).toThrow(
      'restartBudget from flag --restart-budget: must be a whole number (got "1.5")',
    );
    const message = errorOf(() =>
      loadConfig({ env: {}, flags: flagsToConfig({ only: "risk,foo" }) }),
    ).message;
    expect(message).toContain(
      'phases item 2 ("foo") from flag --only: must be one of marketstate, risk, harvest',
    );
    expect(message).not.toMatch(/--phases|phases\.1/);
  });

  it("names a list item by its place and value, not by a zod path", () => {
    const message = errorOf(() => loadConfig({ env: { SYMBOLS: "BTCUSDT,bad sym" } })).message;
    expect(message).toContain(
      'symbols item 2 ("bad sym") from env SYMBOLS: a symbol is 1-40 letters',
    );
    expect(message).not.toContain("symbols.1");
    expect(
      errorOf(() =>
        loadConfig({ env: {}, flags: flagsToConfig({ candlePatterns: "a:{symbol},b" }) }),
      ).message,
    ).toContain(
      'candlePatterns item 2 ("b") from flag --candle-patterns: a candle key pattern must contain {symbol}',
    );
    // A whole-key error keeps "(got …)", a nested file key its dotted name.
    expect(
      errorOf(() => loadConfig({ env: {}, flags: flagsToConfig({ logLevel: "loud" }) })).message,
    ).toContain(
      'logLevel from flag --log-level: must be one of trace, debug, info, warn, error, fatal, silent (got "loud")',
    );
    expect(() => loadConfig({ env: {}, flags: { theta: { harvest: { T1_R: "two" } } } })).toThrow(
      'theta.harvest.T1_R from option theta: must be a number (got "two")',
    );
  });

  it("a Redis URL that cannot be connected to is a configuration error (exit 2) naming the key and origin, not a failed start (exit 1)", () => {
    for (const [url, why] of [
      ["redis://127.0.0.1:99999/0", "the port must be 1-65535"],
      ["redis://127.0.0.1:6379/abc", "the path must be a database number"],
      ["redis://h:0/1", "the port must be 1-65535"],
    ]) {
      const err = errorOf(() => loadConfig({ env: {}, flags: flagsToConfig({ redisUrl: url }) }));
      expect(err.exitCode).toBe(2);
      expect(err.message).toBe(
        `invalid configuration:\n  redisUrl from flag --redis-url: ${why} (got ${url})`,
      );
    }
    expect(
      errorOf(() => loadConfig({ env: { REDIS_URL: "redis://u:secret@h:70000" } })).message,
    ).toBe(
      "invalid configuration:\n  redisUrl from env REDIS_URL: the port must be 1-65535 (got redis://u:***@h:70000)",
    );
  });

  it("maxStopDistPct at or below the stop floor theta.stops.sl_min_pct is refused: every stop would be implausible_result", () => {
    expect(
      errorOf(() => loadConfig({ env: {}, flags: flagsToConfig({ maxStopDistPct: "0.004" }) }))
        .message,
    ).toBe(
      "invalid configuration:\n  maxStopDistPct from flag --max-stop-dist-pct: must be above theta.stops.sl_min_pct (0.005): every stop would be implausible_result (got 0.004)",
    );
    expect(() =>
      loadConfig({
        env: {},
        flags: { maxStopDistPct: "0.004", theta: { stops: { sl_min_pct: 0.001 } } },
      }),
    ).not.toThrow();
    expect(
      errorOf(() => loadConfig({ env: {}, flags: { theta: { stops: { sl_min_pct: 0.6 } } } }))
        .message,
    ).toContain("must be above theta.stops.sl_min_pct (0.6)");
  });

  it("a password file that cannot be read is named with its origin, exit 2", () => {
    const err = errorOf(() =>
      loadConfig({ env: {}, flags: flagsToConfig({ redisPasswordFile: "/nonexistent/pw" }) }),
    );
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(
      /^invalid configuration:\n {2}redisPasswordFile from flag --redis-password-file: .*ENOENT.*\(got "\/nonexistent\/pw"\)$/,
    );
  });
});

describe("the generated flags", () => {
  const command = addConfigOptions(new Command("print").exitOverride());
  const parse = (args: string[]): Record<string, unknown> =>
    flagsToConfig(command.parse(args, { from: "user" }).opts());

  it("one option per flag key shared by run and config print, plus --config", () => {
    const longs = command.options.map((o) => o.long);
    const expected = KEY_INFO.filter((k) => k.source === "flag").map((k) => `--${k.flag}`);
    expect(longs).toEqual(["--config", ...expected]);
  });

  it("map to their keys: --only to phases, --no-follow-klines only when given, command flags not at all", () => {
    expect(parse([])).toEqual({});
    expect(
      parse([
        "--only",
        "risk",
        "--no-follow-klines",
        "--enable-stream",
        "--backoff-cap-ms",
        "9000",
        "--config",
        "x.json",
      ]),
    ).toEqual({
      phases: "risk",
      followKlines: false,
      enableStream: true,
      backoffCapMs: "9000",
    });
    expect(
      flagsToConfig({ once: true, origins: true, json: true, inspect: true, followKlines: true }),
    ).toEqual({ inspect: true });
  });

  it("every help line ends with the default, generated from the schema, in one style", () => {
    for (const option of command.options.slice(1)) {
      const info = KEY_INFO.find((k) => `--${k.flag}` === option.long)!;
      expect(option.description).toMatch(
        new RegExp(
          `\\((?:(?:one|any) of: [^;]+; )?default: ${info.defaultText.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\)$`,
        ),
      );
      expect(option.description.match(/default:/g)).toHaveLength(1);
    }
    const lines = Object.fromEntries(command.options.map((o) => [o.long, o.description]));
    expect(lines["--risk-interval"]).toBe("risk polling interval in seconds (default: 10)");
    expect(lines["--symbols"]).toContain("(default: BTCUSDT,ETHUSDT,SOLUSDT)");
    expect(lines["--only"]).toContain(
      "(any of: marketstate, risk, harvest; default: marketstate,risk,harvest)",
    );
    expect(lines["--position-source"]).toContain(
      "(one of: auto, redis_hash, redis_stream, synthetic; default: auto)",
    );
    expect(lines["--enable-stream"]).toContain("(default: off)");
    expect(lines["--no-follow-klines"]).toContain("(default: on)");
    expect(lines["--http-port"]).toContain("(default: off)");
  });
});

describe("the configuration table (docs/configuration.md)", () => {
  const doc = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
  const section = doc.slice(
    doc.indexOf("## Keys"),
    doc.indexOf("\n## ", doc.indexOf("## Keys") + 1),
  );
  const rows = new Map(
    [...section.matchAll(/^\| `(\w+)` \| ([^|]+) \| `([^`]*)` \|/gm)].map((m) => [
      m[1],
      { flag: m[2].trim(), defaultText: m[3] },
    ]),
  );

  it("lists every key once, with its flag (or where it may be set) and its default", () => {
    expect([...rows.keys()]).toEqual(Object.keys(CONFIG_SPEC));
    for (const info of KEY_INFO) {
      const row = rows.get(info.key)!;
      const flag =
        info.flag === null
          ? info.source === "file"
            ? "file only"
            : "env/file only"
          : `\`--${info.flag}\`${info.source === "run-flag" ? " (`run` only)" : ""}`;
      expect(row, info.key).toEqual({ flag, defaultText: info.defaultText });
    }
  });
});
