// The options shared by `run` and `config print`, generated from the config declaration
// (CONFIG_SPEC in src/config/schema.ts): one flag per key, so `config print` shows exactly what
// `run` would use. The help text, its "(default: …)" and the flag↔key mapping all come from there.
import { Option, type Command } from "commander";
import { KEY_INFO, flagHelp, kebab, keyInfo } from "../config/keys.js";

/** The commander option of a config key; `help` replaces the key's own line (the default is still added). */
export function configOption(key: string, help?: string): Option {
  const info = keyInfo(key);
  if (!info?.flagSpec) throw new Error(`config key ${key} has no flag`);
  return new Option(info.flagSpec, flagHelp(help === undefined ? info : { ...info, help }));
}

export function addConfigOptions(command: Command): Command {
  command.option("--config <file>", "JSON config file (flags > environment > file > defaults)");
  // A 'run-flag' key's flag (--inspect) is declared by `run` itself, next to --once.
  for (const info of KEY_INFO)
    if (info.source === "flag") command.addOption(configOption(info.key));
  const envOnly = KEY_INFO.filter((k) => k.source === "env").map(
    (k) => `${k.key} (environment or file)`,
  );
  const fileOnly = KEY_INFO.filter((k) => k.source === "file").map((k) => `${k.key} (file only)`);
  // The environment name follows the key, not the flag: say so where they differ.
  const renamed = KEY_INFO.filter(
    (k) => k.flag !== null && k.env !== null && k.flag !== kebab(k.key),
  ).map((k) => `--${k.flag}: ${k.env}${k.negated ? "=false" : ""}`);
  return command.addHelpText(
    "after",
    `
Every key is also QUANTUM_CALC_<KEY_IN_UPPER_SNAKE> in the environment (--risk-interval: QUANTUM_CALC_RISK_INTERVAL${renamed.map((r) => `, ${r}`).join("")}) and its camelCase key in the --config file.
No flag: ${[...envOnly, ...fileOnly].join(", ") || "none"}.`,
  );
}

/**
 * Commander's parsed options → config keys (flags not given stay undefined). Only declared
 * flags map: --once, --config, --origins, --json are the commands' own.
 */
export function flagsToConfig(opts: Record<string, unknown>): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  for (const info of KEY_INFO) {
    if (info.flagSpec === null) continue;
    const value = opts[new Option(info.flagSpec).attributeName()];
    // Commander gives a `--no-…` flag's key the value true when the flag is absent: only its
    // presence (false) is a setting, so a file or the environment can still switch it off.
    if (info.negated ? value === false : value !== undefined) flags[info.key] = value;
  }
  return flags;
}
