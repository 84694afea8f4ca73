// The operator's view of the config flags (issue 11, item 7): --help shows every default once in
// one style, a usage error is the error plus one hint line, a config error names the real flag
// and a list item by place and value, and every key but three (two secrets and theta) has a flag.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { KEY_INFO } from "../../src/config/keys.js";
import { runCli } from "../helpers/runCli.js";

const oneLine = (text: string): string => text.replace(/\s+/g, " ");
const lines = (text: string): string[] => text.split("\n").filter((l) => l.length > 0);

describe("quantum-calc run --help", () => {
  it("shows every default once, as (default: …) from the declaration", () => {
    const r = runCli(["run", "--help"]);
    expect(r.status).toBe(0);
    const help = oneLine(r.stdout);
    const shared = KEY_INFO.filter((k) => k.source === "flag");
    expect(help.match(/\bdefault: /g)).toHaveLength(shared.length);
    expect(help.match(/\(default \w/g)).toBeNull();
    for (const k of shared) expect(help).toContain(`default: ${k.defaultText})`);
    for (const flag of [
      "--only <phases>",
      "--no-follow-klines",
      "--command-timeout-ms <ms>",
      "--connect-timeout-ms <ms>",
      "--backoff-base-ms <ms>",
      "--backoff-cap-ms <ms>",
      "--restart-budget <n>",
      "--restart-window-sec <sec>",
      "--drain-timeout-ms <ms>",
      "--redis-password-file <file>",
      "--candle-patterns <list>",
      "--inspect",
      "--once",
    ]) {
      expect(help).toContain(flag);
    }
    expect(help).toContain(
      "No flag: redisPassword (environment or file), sentinelPassword (environment or file), theta (file only).",
    );
  });

  it("status takes its shared flags from the same declaration", () => {
    const help = oneLine(runCli(["status", "--help"]).stdout);
    expect(help).toContain("marketstate interval in seconds; stale past 3 intervals (default: 60)");
    expect(help).toContain("(default: redis://127.0.0.1:6379/0)");
  });
});

describe("usage errors", () => {
  it("an unknown flag prints the error and one hint line, not the whole help (exit 2)", () => {
    const r = runCli(["run", "--phases", "x"]);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toEqual([
      "error: unknown option '--phases'",
      "run `quantum-calc run --help` for the flags",
    ]);
    expect(r.stdout).toBe("");
    const print = runCli(["config", "print", "--frobnicate"]);
    expect(print.status).toBe(2);
    expect(lines(print.stderr)).toEqual([
      "error: unknown option '--frobnicate'",
      "run `quantum-calc config print --help` for the flags",
    ]);
    expect(lines(runCli(["frob"]).stderr)).toEqual([
      "error: unknown command 'frob'",
      "run `quantum-calc --help` for the commands",
    ]);
  });
});

describe("quantum-calc config print: errors name the flag and the item", () => {
  it("a bad list item: its place and value, and the flag it came from (exit 2)", () => {
    const r = runCli(["config", "print", "--symbols", "A,b b"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'quantum-calc: invalid configuration:\n  symbols item 2 ("b b") from flag --symbols: a symbol is 1-40 letters, digits, dot, dash or underscore\n',
    );
  });

  it("--only: the flag is named --only, never --phases (exit 2)", () => {
    const r = runCli(["config", "print", "--only", "foo"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      'phases item 1 ("foo") from flag --only: must be one of marketstate, risk, harvest',
    );
    expect(r.stderr).not.toMatch(/--phases|phases\.0/);
  });

  it("the new flags set their keys, with the flag as the origin; the password from a file stays masked", () => {
    const dir = mkdtempSync(join(tmpdir(), "qc-flags-"));
    const pwFile = join(dir, "pw");
    writeFileSync(pwFile, "flag-secret-pw\n", { mode: 0o600 });
    const r = runCli([
      "config",
      "print",
      "--origins",
      "--command-timeout-ms",
      "1500",
      "--connect-timeout-ms",
      "2500",
      "--backoff-base-ms",
      "200",
      "--backoff-cap-ms",
      "4000",
      "--restart-budget",
      "2",
      "--restart-window-sec",
      "30",
      "--drain-timeout-ms",
      "5000",
      "--redis-password-file",
      pwFile,
    ]);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain("flag-secret-pw");
    const out = JSON.parse(r.stdout) as {
      config: Record<string, unknown>;
      origins: Record<string, string>;
    };
    expect(Object.keys(out)).toEqual(["config", "origins"]);
    expect(out.config).toMatchObject({
      commandTimeoutMs: 1500,
      connectTimeoutMs: 2500,
      backoffBaseMs: 200,
      backoffCapMs: 4000,
      restartBudget: 2,
      restartWindowSec: 30,
      drainTimeoutMs: 5000,
      redisPassword: "***",
    });
    expect(out.origins).toMatchObject({
      commandTimeoutMs: "flag --command-timeout-ms",
      drainTimeoutMs: "flag --drain-timeout-ms",
      redisPasswordFile: "flag --redis-password-file",
      redisPassword: "flag --redis-password-file",
    });
    const bad = runCli(["config", "print", "--backoff-cap-ms", "10"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(
      "backoffCapMs from flag --backoff-cap-ms: must be >= backoffBaseMs (1000) (got 10)",
    );
  });
});

describe("switches that turn something off", () => {
  it("say what the flag does, not what the key is (--no-lease, --no-follow-klines)", () => {
    const negated = KEY_INFO.filter((k) => k.negated);
    expect(negated.map((k) => k.flag)).toEqual(["no-follow-klines", "no-lease"]);
    for (const k of negated) expect(k.help).toMatch(/^turn off /);
    const help = oneLine(runCli(["run", "--help"]).stdout);
    expect(help).toContain(
      "--no-lease turn off the single-writer lease: write without holding leaseKey, so run only one instance",
    );
  });
});
