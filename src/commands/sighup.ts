// SIGHUP (issue 21): never a death. systemd's `systemctl reload` (ExecReload= in the unit) and an
// operator's `kill -HUP` used to end the writer without a drain or a lease release — Node's
// default for SIGHUP — so the standby waited out the lease TTL.
//
// What it does instead, the small honest version: the AI policy is re-read at once (the running
// symbols follow within a policy tick), and the config file is re-read and validated — but not
// applied. A running service keeps the config it started with: the connections, the lease, the
// intervals and the publishers are built from it, and swapping them live is a restart anyway,
// one that systemd does better (drain, release, start). So the log line says whether the file is
// valid, which keys differ on disk (names only, never values: a password may be among them) and
// that they apply on restart; an invalid file is reported with its error while the running
// config stays.
import type { Config } from "../config/schema.js";
import { errorMessage } from "../core/errors.js";
import type { Logger } from "../log.js";

/** The config keys whose values differ between the running config and the one on disk, sorted. */
export function configDifferences(running: Config, onDisk: Config): string[] {
  const keys = new Set([...Object.keys(running), ...Object.keys(onDisk)]);
  const differ: string[] = [];
  for (const key of keys) {
    const a = JSON.stringify((running as unknown as Record<string, unknown>)[key]);
    const b = JSON.stringify((onDisk as unknown as Record<string, unknown>)[key]);
    if (a !== b) differ.push(key);
  }
  return differ.sort();
}

export interface ReloadOptions {
  /** The config the service runs with. */
  running: Config;
  /** Loads the config again as `run` did at start (same flags, same file); throws when invalid. */
  reread: () => Config;
  /** The config file given (`--config`), for the log line; undefined without one. */
  configFile?: string;
  /** Re-reads the policy now (ServiceHandle.reloadPolicy); resolves with what is in force. */
  reloadPolicy: () => Promise<string>;
  logger: Logger;
}

export interface ReloadOutcome {
  policy: { ok: boolean; text: string };
  config: { valid: true; differs: string[] } | { valid: false; error: string };
}

/** One SIGHUP: re-read the policy, validate the config on disk, log one line. Never rejects. */
export async function reloadOnHangup(options: ReloadOptions): Promise<ReloadOutcome> {
  const { logger } = options;
  let policy: ReloadOutcome["policy"];
  try {
    policy = { ok: true, text: await options.reloadPolicy() };
  } catch (error) {
    policy = {
      ok: false,
      text: `re-reading it failed (${errorMessage(error)}); the policy in force stays`,
    };
  }
  let config: ReloadOutcome["config"];
  try {
    config = { valid: true, differs: configDifferences(options.running, options.reread()) };
  } catch (error) {
    // One line: the loader lists its complaints one per line.
    config = {
      valid: false,
      error: errorMessage(error)
        .replace(/:\s*\n\s*/g, ": ")
        .replace(/\s*\n\s*/g, "; "),
    };
  }
  const file =
    options.configFile === undefined
      ? "the config (no --config file: flags and environment)"
      : `config file ${options.configFile}`;
  const configText = !config.valid
    ? `${file} is INVALID, the running config stays: ${config.error}`
    : config.differs.length === 0
      ? `${file} is valid and the same as the running config`
      : `${file} is valid; ${config.differs.length} key(s) differ from the running config: ${config.differs.join(", ")} — config changes apply on restart (systemctl restart quantum-calc), the running config stays`;
  const line = `SIGHUP: policy re-read: ${policy.text}; ${configText}`;
  const fields = {
    signal: "SIGHUP",
    policy: policy.text,
    configValid: config.valid,
    ...(config.valid ? { configDiffers: config.differs } : { configError: config.error }),
  };
  (config.valid && policy.ok ? logger.info : logger.error).call(logger, fields, line);
  return { policy, config };
}
