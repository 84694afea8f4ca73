import type { Command } from "commander";
import { loadConfig, redactConfig } from "../config/load.js";
import { maxInputAgeSec } from "../config/schema.js";
import { addConfigOptions, flagsToConfig } from "./runOptions.js";

export function registerConfig(program: Command): void {
  const config = program.command("config").description("Configuration tools.");
  addConfigOptions(
    config
      .command("print")
      .description(
        "Print the effective configuration (flags > environment > file > defaults), secrets masked.",
      )
      .option("--origins", "also show where each explicitly set value came from"),
  ).action((opts: Record<string, unknown>) => {
    const { origins: showOrigins, ...rest } = opts;
    const loaded = loadConfig({
      flags: flagsToConfig(rest),
      configFile: opts.config as string | undefined,
    });
    // The effective value of a computed default (maxInputAge: null means "derived from the
    // intervals"), so what is printed is what the service will use.
    const effective = {
      ...redactConfig(loaded.config),
      maxInputAge: maxInputAgeSec(loaded.config),
    };
    const out = showOrigins ? { config: effective, origins: loaded.origins } : effective;
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  });
}
