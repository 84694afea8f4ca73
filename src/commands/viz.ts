import { writeFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { CliError, ExitCode } from "../exitCodes.js";
import {
  FORMATS,
  MACHINES,
  renderDiagram,
  type DiagramFormat,
  type MachineName,
} from "../viz/diagram.js";

export function registerViz(program: Command): void {
  program
    .command("viz")
    .description(
      "Print a state machine as a diagram, generated from its definition (machines/*.ts), so it always matches the code. For the live view of a running service see `run --inspect` (/viz).",
    )
    .addOption(
      new Option("--machine <name>", "which machine")
        .choices(Object.keys(MACHINES))
        .default("publisher"),
    )
    .addOption(
      new Option(
        "--format <format>",
        "mermaid (stateDiagram-v2) | dot (Graphviz) | json (the machine's toJSON) | svg (the /viz drawing, laid out by ELK)",
      )
        .choices([...FORMATS])
        .default("mermaid"),
    )
    .option("--out <file>", "write to this file instead of stdout")
    .addHelpText(
      "after",
      `
Examples:
  quantum-calc viz --format mermaid > publisher.mmd
  quantum-calc viz --machine supervisor --format dot | dot -Tsvg > supervisor.svg
  quantum-calc viz --machine klinesFollower --format svg --out klinesFollower.svg`,
    )
    .action(async (opts: { machine: MachineName; format: DiagramFormat; out?: string }) => {
      const text = await renderDiagram(opts.machine, opts.format);
      if (opts.out === undefined) {
        process.stdout.write(text);
        return;
      }
      try {
        writeFileSync(opts.out, text);
      } catch (err) {
        throw new CliError(
          `--out ${opts.out}: cannot write (${(err as Error).message})`,
          ExitCode.FAILURE,
        );
      }
    });
}
