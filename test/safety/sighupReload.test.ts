// What one SIGHUP does (src/commands/sighup.ts), without a process: the policy re-read, the config on disk
// compared key by key (names only), an invalid file or a failed policy read reported in one line.
// The same through the built CLI: test/safety/sighup.test.ts.
import { describe, expect, it } from "vitest";
import { configDifferences, reloadOnHangup } from "../../src/commands/sighup.js";
import { captureLogger, serviceConfig } from "../helpers/serviceHarness.js";

const running = serviceConfig({
  store: "memory",
  symbols: ["BTCUSDT"],
  redisPassword: "old-secret",
});

describe("reloadOnHangup", () => {
  it("names the keys that differ, never their values (a password may be one)", async () => {
    expect(configDifferences(running, running)).toEqual([]);
    const log = captureLogger("info");
    const outcome = await reloadOnHangup({
      running,
      reread: () =>
        serviceConfig({
          store: "memory",
          symbols: ["BTCUSDT", "ETHUSDT"],
          redisPassword: "new-secret",
        }),
      configFile: "/etc/quantum/quantum-calc.json",
      reloadPolicy: async () => "policy v7 in force",
      logger: log.logger,
    });
    expect(outcome.config).toEqual({ valid: true, differs: ["redisPassword", "symbols"] });
    const [line] = log.lines().filter((l) => l.msg.startsWith("SIGHUP"));
    expect(line.msg).toBe(
      "SIGHUP: policy re-read: policy v7 in force; config file /etc/quantum/quantum-calc.json is valid; 2 key(s) differ from the running config: redisPassword, symbols — config changes apply on restart (systemctl restart quantum-calc), the running config stays",
    );
    expect(log.text()).not.toMatch(/old-secret|new-secret/);
  });

  it("a policy that cannot be read and an invalid file: one error line, the running ones stay; never rejects", async () => {
    const log = captureLogger("info");
    const outcome = await reloadOnHangup({
      running,
      reread: () => {
        throw new Error("invalid configuration:\n  riskInterval: Too small");
      },
      reloadPolicy: () =>
        Promise.reject(
          new Error(
            "redis 127.0.0.1:6379/0: HGETALL quantum:policy:current failed: no reply within 300 ms",
          ),
        ),
      logger: log.logger,
    });
    expect(outcome.policy.ok).toBe(false);
    const [line] = log.lines().filter((l) => l.msg.startsWith("SIGHUP"));
    expect(line.level).toBe(50);
    expect(line.msg).toBe(
      "SIGHUP: policy re-read: re-reading it failed (redis 127.0.0.1:6379/0: HGETALL quantum:policy:current failed: no reply within 300 ms); the policy in force stays; " +
        "the config (no --config file: flags and environment) is INVALID, the running config stays: invalid configuration: riskInterval: Too small",
    );
  });
});
