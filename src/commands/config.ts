import type { Command } from 'commander';
import { loadConfig, redactConfig } from '../config/load.js';
import { addConfigOptions, flagsToConfig } from './runOptions.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('Configuration tools.');
  addConfigOptions(
    config
      .command('print')
      .description('Print the effective configuration (flags > environment > file > defaults), secrets masked.')
      .option('--origins', 'also show where each explicitly set value came from'),
  ).action((opts: Record<string, unknown>) => {
    const { origins: showOrigins, ...rest } = opts;
    const loaded = loadConfig({ flags: flagsToConfig(rest), configFile: opts.config as string | undefined });
    const out = showOrigins ? { config: redactConfig(loaded.config), origins: loaded.origins } : redactConfig(loaded.config);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  });
}
