import { writeFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { CliError, ExitCode } from "../exitCodes.js";
import { startHttpServer } from "../http/server.js";
import { createLogger } from "../log.js";
import { RecordingError } from "../recorder/reader.js";
import { ReplayError } from "../recorder/replay.js";
import { parseTime } from "./recording.js";
import { ReplayModel, type ReplayWindow } from "../viz/recording.js";
import { vizReplayRoutes } from "../viz/routes.js";
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
    .option(
      "--recording <dir>",
      "serve the /viz page in replay mode over this flight recording (docs/visualizer.md, 'On a recording'); needs --http-port",
    )
    .option(
      "--symbols <list>",
      "with --recording: only these symbols (comma-separated; a long recording is many steps, all held in memory)",
    )
    .option(
      "--from <time>",
      "with --recording: only steps at or after this time (ISO 8601 or epoch seconds)",
    )
    .option("--to <time>", "with --recording: only steps before this time")
    .option("--http-host <host>", "with --recording: the address to serve on", "127.0.0.1")
    .option("--http-port <port>", "with --recording: the port to serve on (0: any free one)")
    .addHelpText(
      "after",
      `
Examples:
  quantum-calc viz --format mermaid > publisher.mmd
  quantum-calc viz --machine supervisor --format dot | dot -Tsvg > supervisor.svg
  quantum-calc viz --machine klinesFollower --format svg --out klinesFollower.svg
  quantum-calc viz --recording /var/lib/quantum-calc/recording --http-port 9465   # then http://127.0.0.1:9465/viz`,
    )
    .action(async (opts: VizOptions) => {
      if (opts.recording !== undefined) {
        await serveRecording(opts.recording, opts);
        return;
      }
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

interface VizOptions {
  machine: MachineName;
  format: DiagramFormat;
  out?: string;
  recording?: string;
  symbols?: string;
  from?: string;
  to?: string;
  httpHost: string;
  httpPort?: string;
}

/** The port as given: a whole number 0–65535, else a usage error naming it. */
function portOf(raw: string | undefined): number {
  if (raw === undefined)
    throw new CliError(
      "--recording needs --http-port: the page is served at http://<http-host>:<http-port>/viz",
      ExitCode.USAGE,
    );
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port > 65535)
    throw new CliError(`--http-port ${raw}: not a port (0–65535)`, ExitCode.USAGE);
  return port;
}

/** --symbols, --from, --to: which part of the recording the page shows. */
function windowOf(opts: VizOptions): ReplayWindow {
  let symbols: string[] | null = null;
  if (opts.symbols !== undefined) {
    symbols = opts.symbols
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (symbols.length === 0)
      throw new CliError(
        `--symbols ${JSON.stringify(opts.symbols)}: an empty list`,
        ExitCode.USAGE,
      );
  }
  const fromMs = opts.from === undefined ? null : parseTime("--from", opts.from);
  const toMs = opts.to === undefined ? null : parseTime("--to", opts.to);
  if (fromMs !== null && toMs !== null && toMs <= fromMs)
    throw new CliError(`--to ${opts.to} is not after --from ${opts.from}`, ExitCode.USAGE);
  return { symbols, fromMs, toMs };
}

/** Replays the recording, then serves the page over it until SIGINT or SIGTERM. */
async function serveRecording(dir: string, opts: VizOptions): Promise<void> {
  if (opts.out !== undefined)
    throw new CliError("--out and --recording: a recording is served, not written", ExitCode.USAGE);
  const port = portOf(opts.httpPort);
  process.stderr.write(`viz: replaying ${dir} …\n`);
  let model: ReplayModel;
  try {
    model = await ReplayModel.load(dir, windowOf(opts));
  } catch (err) {
    if (err instanceof RecordingError) throw new CliError(err.message, ExitCode.USAGE);
    if (err instanceof ReplayError) throw new CliError(err.message, ExitCode.FAILURE);
    throw err;
  }
  const o = model.overview();
  const logger = createLogger({ level: "warn", pretty: false, destination: process.stderr });
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  try {
    server = await startHttpServer({
      host: opts.httpHost,
      port,
      routes: vizReplayRoutes(model),
      logger,
    });
  } catch (err) {
    throw new CliError(
      `cannot serve HTTP on ${opts.httpHost}:${port}: ${(err as Error).message}`,
      ExitCode.FAILURE,
    );
  }
  process.stdout.write(
    `viz: ${o.actors.length} actors, ${o.steps} steps; the recording's visualizer: http://${opts.httpHost}:${server.port}/viz (Ctrl-C to stop)\n`,
  );
  let stop = (): void => undefined;
  await new Promise<void>((resolve) => {
    stop = resolve;
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  await server.close();
}
