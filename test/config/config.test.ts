import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadConfig, maskUrl, redactConfig } from "../../src/config/load.js";
import { maxInputAgeSec } from "../../src/config/schema.js";
import { CliError } from "../../src/exitCodes.js";
import { flagsToConfig } from "../../src/commands/runOptions.js";
import { runCli } from "../helpers/runCli.js";
import { thrown } from "../helpers/thrown.js";

function tempFile(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), "qc-config-"));
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

const errorOf = (fn: () => unknown): CliError => thrown(CliError, fn);

describe("config layers", () => {
  it("has the documented defaults", () => {
    const { config } = loadConfig({ env: {} });
    expect(config).toMatchObject({
      redisUrl: "redis://127.0.0.1:6379/0",
      positionSource: "auto",
      marketstateInterval: 60,
      riskInterval: 10,
      harvestInterval: 10,
      maxPublishAge: 60,
      changeEpsPct: 0.001,
      fallbackStopPct: 0.02,
      enableStream: false,
      windowSize: 300,
      phases: ["marketstate", "risk", "harvest"],
      httpPort: null,
    });
  });

  it("applies flags > environment > file > defaults", () => {
    const file = tempFile(
      "c.json",
      JSON.stringify({
        riskInterval: 5,
        harvestInterval: 6,
        marketstateInterval: 30,
        symbols: ["A"],
      }),
    );
    const { config, origins } = loadConfig({
      configFile: file,
      env: { QUANTUM_CALC_HARVEST_INTERVAL: "7", QUANTUM_CALC_MARKETSTATE_INTERVAL: "20" },
      flags: { marketstateInterval: "2.5" },
    });
    expect(config.riskInterval).toBe(5);
    expect(config.harvestInterval).toBe(7);
    expect(config.marketstateInterval).toBe(2.5);
    expect(config.symbols).toEqual(["A"]);
    expect(origins.riskInterval).toBe(`file ${file}`);
    expect(origins.harvestInterval).toBe("env QUANTUM_CALC_HARVEST_INTERVAL");
    expect(origins.marketstateInterval).toBe("flag --marketstate-interval");
  });

  it("accepts the old services' environment names", () => {
    const { config } = loadConfig({
      env: {
        SYMBOLS: "BTCUSDT, ETHUSDT",
        PUBLISH_INTERVAL_SEC: "15",
        POSITION_SOURCE: "redis_hash",
        ENABLE_STREAM: "true",
        MAX_PUBLISH_AGE_SEC: "120",
        CHANGE_EPS_PCT: "0.002",
        FALLBACK_STOP_PCT: "0.03",
        MARKETSTATE_PUBLISH_INTERVAL: "30",
        MARKETSTATE_REDIS_HOST: "redis.local",
        MARKETSTATE_REDIS_PORT: "6380",
        MARKETSTATE_WINDOW_SIZE: "400",
        MARKETSTATE_SOURCE: "redis",
      },
    });
    expect(config).toMatchObject({
      symbols: ["BTCUSDT", "ETHUSDT"],
      riskInterval: 15,
      harvestInterval: 15,
      positionSource: "redis_hash",
      enableStream: true,
      maxPublishAge: 120,
      changeEpsPct: 0.002,
      fallbackStopPct: 0.03,
      marketstateInterval: 30,
      redisUrl: "redis://redis.local:6380",
      windowSize: 400,
    });
  });

  it("REDIS_URL wins over MARKETSTATE_REDIS_HOST/PORT, SYMBOLS over MARKETSTATE_SYMBOLS", () => {
    const { config } = loadConfig({
      env: {
        REDIS_URL: "redis://a:1",
        MARKETSTATE_REDIS_HOST: "b",
        SYMBOLS: "X",
        MARKETSTATE_SYMBOLS: "Y",
      },
    });
    expect(config.redisUrl).toBe("redis://a:1");
    expect(config.symbols).toEqual(["X"]);
    expect(loadConfig({ env: { MARKETSTATE_SYMBOLS: "Y,Z" } }).config.symbols).toEqual(["Y", "Z"]);
  });

  it("names the key, the source and the bad value", () => {
    expect(errorOf(() => loadConfig({ env: { PUBLISH_INTERVAL_SEC: "ten" } })).message).toMatch(
      /riskInterval from env PUBLISH_INTERVAL_SEC: must be a finite number \(got "ten"\)/,
    );
    expect(
      errorOf(() => loadConfig({ env: {}, flags: { harvestInterval: "-1" } })).message,
    ).toMatch(/harvestInterval from flag --harvest-interval: .*\(got -1\)/);
    expect(errorOf(() => loadConfig({ env: { POSITION_SOURCE: "magic" } })).message).toMatch(
      /positionSource from env POSITION_SOURCE.*"magic"/,
    );
    expect(errorOf(() => loadConfig({ env: { MARKETSTATE_SOURCE: "synthetic" } })).message).toMatch(
      /MARKETSTATE_SOURCE/,
    );
    const file = tempFile("bad.json", JSON.stringify({ riskIntervall: 5 }));
    expect(errorOf(() => loadConfig({ env: {}, configFile: file })).message).toBe(
      `invalid configuration:\n  unknown config key riskIntervall in file ${file} (did you mean riskInterval?)`,
    );
    expect(
      errorOf(() => loadConfig({ env: {}, configFile: tempFile("x.json", "{nope") })).message,
    ).toMatch(/not valid JSON/);
    expect(errorOf(() => loadConfig({ env: {}, flags: { symbols: "A,A" } })).message).toMatch(
      /symbols.*twice/,
    );
  });

  it("reads the password from the systemd credential and never shows it", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-cred-"));
    writeFileSync(join(dir, "redis-password"), "s3cret-pw\n");
    const { config } = loadConfig({ env: { CREDENTIALS_DIRECTORY: dir } });
    expect(config.redisPassword).toBe("s3cret-pw");
    expect(JSON.stringify(redactConfig(config))).not.toContain("s3cret-pw");
    const empty = mkdtempSync(join(tmpdir(), "qc-cred-"));
    writeFileSync(join(empty, "redis-password"), "\n");
    expect(
      loadConfig({ env: { CREDENTIALS_DIRECTORY: empty } }).config.redisPassword,
    ).toBeUndefined();
    expect(maskUrl("redis://user:pw@host:1/0")).toBe("redis://user:***@host:1/0");
    expect(maskUrl("rediss://:pw@host")).toBe("rediss://:***@host");
  });

  it("reads the sentinels' password from the systemd credential sentinel-password; the environment wins", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-cred-"));
    writeFileSync(join(dir, "sentinel-password"), "sentinel-pw\n");
    const { config, origins } = loadConfig({ env: { CREDENTIALS_DIRECTORY: dir } });
    expect(config.sentinelPassword).toBe("sentinel-pw");
    expect(origins.sentinelPassword).toBe("systemd credential sentinel-password");
    expect(JSON.stringify(redactConfig(config))).not.toContain("sentinel-pw");
    expect(
      loadConfig({
        env: { CREDENTIALS_DIRECTORY: dir, QUANTUM_CALC_SENTINEL_PASSWORD: "from-env" },
      }).config.sentinelPassword,
    ).toBe("from-env");
  });
});

describe("the shipped example config", () => {
  it("is valid and is what the unit runs with", () => {
    const file = fileURLToPath(new URL("../../config/quantum-calc.example.json", import.meta.url));
    const { config } = loadConfig({ env: {}, configFile: file });
    expect(config.store).toBe("redis");
    expect(config.httpHost).toBe("127.0.0.1");
    expect(config.httpPort).not.toBeNull();
  });
});

describe("maxInputAge default", () => {
  it("is 3 marketstate intervals, but never below one maxPublishAge plus an interval", () => {
    expect(maxInputAgeSec(loadConfig({ env: {} }).config)).toBe(180);
    expect(
      maxInputAgeSec(loadConfig({ env: {}, flags: { marketstateInterval: "0.5" } }).config),
    ).toBe(60.5);
    expect(
      maxInputAgeSec(loadConfig({ env: {}, flags: { marketstateInterval: "120" } }).config),
    ).toBe(360);
    expect(maxInputAgeSec(loadConfig({ env: {}, flags: { maxInputAge: "5" } }).config)).toBe(5);
  });
});

describe("quantum-calc config print", () => {
  it("prints the effective config with secrets masked", () => {
    const r = runCli([
      "config",
      "print",
      "--redis-url",
      "redis://ops:topsecret@10.0.0.5:6379/2",
      "--symbols",
      "BTCUSDT",
      "--origins",
    ]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as {
      config: Record<string, unknown>;
      origins: Record<string, string>;
    };
    expect(out.config.redisUrl).toBe("redis://ops:***@10.0.0.5:6379/2");
    expect(out.config.symbols).toEqual(["BTCUSDT"]);
    expect(out.origins.symbols).toBe("flag --symbols");
    expect(r.stdout).not.toContain("topsecret");
    // A computed default is printed as the value in use, not as null.
    expect(out.config.maxInputAge).toBe(180);
    expect(
      JSON.parse(runCli(["config", "print", "--marketstate-interval", "120"]).stdout).maxInputAge,
    ).toBe(360);
  });

  it("no command at all is a usage error: the help on stderr, exit 2", () => {
    const r = runCli([]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^Usage: quantum-calc /);
  });

  it("a window below the kernel minimum is a configuration error naming both numbers (exit 2)", () => {
    const r = runCli(["config", "print", "--window-size", "100"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /windowSize from flag --window-size: must be at least the MarketState kernel's min_required 257 .*\(got 100\)/,
    );
    const run = runCli([
      "run",
      "--once",
      "--window-size",
      "256",
      "--redis-url",
      "redis://127.0.0.1:1/0",
    ]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/min_required 257.*\(got 256\)/);
    // The minimum follows the theta: a shorter kernel window allows a shorter buffer.
    const small = {
      marketstate: {
        vol: { window: 64 },
        trend: { windows: [16, 32, 64] },
        regime: { window: 64 },
      },
    };
    expect(loadConfig({ env: {}, flags: { windowSize: 65, theta: small } }).config.windowSize).toBe(
      65,
    );
    expect(() => loadConfig({ env: {}, flags: { windowSize: 64, theta: small } })).toThrow(
      /min_required 65/,
    );
  });

  it("a bad stops or harvest theta is refused at start, naming the key", () => {
    expect(() => loadConfig({ env: {}, flags: { theta: { harvest: { T1_R: "two" } } } })).toThrow(
      'theta.harvest.T1_R from option theta: must be a number (got "two")',
    );
    expect(() => loadConfig({ env: {}, flags: { theta: { stops: { sl_min_pc: 0.01 } } } })).toThrow(
      "unknown theta key theta.stops.sl_min_pc in option theta (did you mean theta.stops.sl_min_pct?)",
    );
  });

  it("the live-data keys: defaults, flags, and --no-follow-klines only when given", () => {
    const { config } = loadConfig({ env: {} });
    expect(config).toMatchObject({
      maxCandleAge: 180,
      followKlines: true,
      klinesStream: "quantum:stream:market.klines",
      maxPositionAge: 300,
      rNetBasis: "locked",
    });
    expect(config.candlePatterns[0]).toBe("quantum:history:ohlcv:{symbol}:1m");
    const off = runCli([
      "config",
      "print",
      "--no-follow-klines",
      "--r-net-basis",
      "per_unit",
      "--max-candle-age",
      "90",
      "--origins",
    ]);
    expect(off.status).toBe(0);
    const out = JSON.parse(off.stdout) as {
      config: Record<string, unknown>;
      origins: Record<string, string>;
    };
    expect(out.config).toMatchObject({
      followKlines: false,
      rNetBasis: "per_unit",
      maxCandleAge: 90,
    });
    // Not given: the file or the environment decides (commander's implicit true is not a setting).
    const fromEnv = loadConfig({
      env: { QUANTUM_CALC_FOLLOW_KLINES: "false" },
      flags: flagsToConfig({ followKlines: true }),
    });
    expect(fromEnv.config.followKlines).toBe(false);
    expect(fromEnv.origins.followKlines).toBe("env QUANTUM_CALC_FOLLOW_KLINES");
    expect(runCli(["config", "print", "--r-net-basis", "total"]).status).toBe(2);
  });

  it("exits 2 with the reason on a bad value", () => {
    const r = runCli(["config", "print", "--window-size", "1.5"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("windowSize");
  });
});
