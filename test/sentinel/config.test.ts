// The Sentinel configuration (issue 10 part 3): the three keys, their flags and environment, the
// checks made at start, the address parsing, and the READONLY rule — no processes needed.
import { describe, expect, it } from "vitest";
import { loadConfig, redactConfig } from "../../src/config/load.js";
import { flagsToConfig } from "../../src/commands/runOptions.js";
import { createRedisStore, parseSentinelAddress } from "../../src/store/redisStore.js";
import { isReadOnlyError } from "../../src/store/redisConnection.js";
import { CliError } from "../../src/exitCodes.js";

const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliError) return err.message;
    throw err;
  }
  throw new Error("expected a CliError");
};

describe("Sentinel configuration", () => {
  it("--sentinels and --sentinel-name are flags, sentinelPassword comes from the environment (or the file), never a flag", () => {
    const { config, origins } = loadConfig({
      env: { QUANTUM_CALC_SENTINEL_PASSWORD: "s3cret" },
      flags: flagsToConfig({
        sentinels: "10.0.0.1:26379, 10.0.0.2:26379,[::1]:26380",
        sentinelName: "mymaster",
      }),
    });
    expect(config.sentinels).toEqual(["10.0.0.1:26379", "10.0.0.2:26379", "[::1]:26380"]);
    expect(config.sentinelName).toBe("mymaster");
    expect(config.sentinelPassword).toBe("s3cret");
    expect(origins).toMatchObject({
      sentinels: "flag --sentinels",
      sentinelName: "flag --sentinel-name",
      sentinelPassword: "env QUANTUM_CALC_SENTINEL_PASSWORD",
    });
    // Redacted wherever the config is shown.
    expect(redactConfig(config)).toMatchObject({ sentinelPassword: "***" });
    expect(JSON.stringify(redactConfig(config))).not.toContain("s3cret");
    // Off by default: no key at all.
    expect(loadConfig({ env: {} }).config.sentinels).toBeUndefined();
  });

  it("refuses sentinels without a name, an address that is not host:port, and rediss:// (exit 2, naming the key)", () => {
    expect(
      errorOf(() =>
        loadConfig({ env: {}, flags: flagsToConfig({ sentinels: "127.0.0.1:26379" }) }),
      ),
    ).toContain("sentinelName: is needed with sentinels");
    expect(
      errorOf(() =>
        loadConfig({
          env: {},
          flags: flagsToConfig({ sentinels: "127.0.0.1:26379,nohost", sentinelName: "m" }),
        }),
      ),
    ).toContain('sentinels item 2 ("nohost") from flag --sentinels: a sentinel is host:port');
    expect(
      errorOf(() =>
        loadConfig({
          env: {},
          flags: flagsToConfig({
            redisUrl: "rediss://h:6380",
            sentinels: "h:26379",
            sentinelName: "m",
          }),
        }),
      ),
    ).toContain(
      "sentinels from flag --sentinels: cannot be combined with a rediss:// (TLS) redisUrl yet",
    );
    // A bad sentinel password is shown masked.
    expect(
      errorOf(() =>
        loadConfig({
          env: { QUANTUM_CALC_SENTINEL_PASSWORD: " x" },
          flags: { sentinelPassword: "" },
        }),
      ),
    ).toMatch(/sentinelPassword from option sentinelPassword: .*\(got \*\*\*\)/);
  });

  it("parses host:port and [ipv6]:port", () => {
    expect(parseSentinelAddress("127.0.0.1:26379")).toEqual({ host: "127.0.0.1", port: 26379 });
    expect(parseSentinelAddress(" sentinel-a.internal:5000 ")).toEqual({
      host: "sentinel-a.internal",
      port: 5000,
    });
    expect(parseSentinelAddress("[::1]:26379")).toEqual({ host: "::1", port: 26379 });
    for (const bad of ["127.0.0.1", ":26379", "h:0", "h:70000", "h:26379/0"])
      expect(() => parseSentinelAddress(bad), bad).toThrow("expected host:port");
  });

  it("a store with sentinels needs their name, and refuses TLS", () => {
    expect(() =>
      createRedisStore({ url: "redis://x:1", sentinels: [{ host: "127.0.0.1", port: 26379 }] }),
    ).toThrow(/sentinels need sentinelName/);
    expect(() =>
      createRedisStore({
        url: "rediss://x:1",
        sentinels: [{ host: "127.0.0.1", port: 26379 }],
        sentinelName: "m",
      }),
    ).toThrow(/TLS/);
  });

  it("READONLY is recognised as a reply and inside an aborted MULTI/EXEC", () => {
    expect(
      isReadOnlyError(new Error("READONLY You can't write against a read only replica.")),
    ).toBe(true);
    const execAbort = Object.assign(
      new Error("EXECABORT Transaction discarded because of previous errors."),
      {
        previousErrors: [new Error("READONLY You can't write against a read only replica.")],
      },
    );
    expect(isReadOnlyError(execAbort)).toBe(true);
    expect(
      isReadOnlyError(
        new Error("WRONGTYPE Operation against a key holding the wrong kind of value"),
      ),
    ).toBe(false);
    expect(isReadOnlyError("READONLY")).toBe(false);
  });
});
