// quantum-calc command line. Each subcommand lives in src/commands/<name>.ts and registers
// itself here; this file only wires them up and maps failures to exit codes. The executable
// entry point is src/cli.ts, so tests can build and drive the program without spawning it.
import { Command, CommanderError } from "commander";
import { CliError, ExitCode } from "./exitCodes.js";
import { registerCompute } from "./commands/compute.js";
import { registerReplay } from "./commands/replay.js";
import { registerRun } from "./commands/run.js";
import { registerDemo } from "./commands/demo.js";
import { registerConfig } from "./commands/config.js";
import { registerViz } from "./commands/viz.js";
import { registerStatus } from "./commands/status.js";

export function buildProgram(): Command {
  const program = new Command("quantum-calc")
    .description(
      "Calc-only phases of the quantum trading stack (P0 MarketState, P1 stops, P2 harvest) for every symbol, published to Redis.",
    )
    .version(process.env.npm_package_version ?? "0.1.0")
    .exitOverride();
  registerCompute(program);
  registerReplay(program);
  registerRun(program);
  registerDemo(program);
  registerConfig(program);
  registerViz(program);
  registerStatus(program);
  addUsageHints(program);
  return program;
}

/**
 * After a usage error (unknown flag, missing argument) commander prints its one-line error; we
 * add one line saying where the flags are, instead of the whole help, so the error stays visible.
 */
function addUsageHints(command: Command, path: string[] = []): void {
  const name = [...path, command.name()];
  const what = command.commands.length > 0 ? "commands" : "flags";
  command.showHelpAfterError(`run \`${name.join(" ")} --help\` for the ${what}`);
  for (const sub of command.commands) addUsageHints(sub, name);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  if (argv.length <= 2) {
    // No command is a usage error (exit 2), not a success: a unit or script that lost its
    // arguments must not look as if it ran.
    program.outputHelp({ error: true });
    return ExitCode.USAGE;
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version are "errors" to commander; they are not to the operator.
      if (
        err.code === "commander.helpDisplayed" ||
        err.code === "commander.version" ||
        err.code === "commander.help"
      ) {
        return ExitCode.OK;
      }
      return ExitCode.USAGE;
    }
    if (err instanceof CliError) {
      process.stderr.write(`quantum-calc: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(
      `quantum-calc: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return ExitCode.FAILURE;
  }
}
