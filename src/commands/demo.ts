import { Option, type Command } from "commander";
import { CliError } from "../exitCodes.js";
import { parseFiniteNumber } from "../inputs/parse.js";
import { createLogger } from "../log.js";
import { DEMO_SYMBOLS } from "../demo/feed.js";
import { startDemo } from "../demo/startDemo.js";
import type { LevelWithSilent } from "pino";
import type { CycleDoneEvent } from "../../machines/publisher.js";

function clockTime(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

export function formatDemoLine(e: CycleDoneEvent, nowMs: number): string {
  return `${clockTime(nowMs)}  ${e.phase.padEnd(11)} ${e.symbol.padEnd(8)} ${e.summary ?? ""}`;
}

/** The longest --duration-sec a timer can wait: 2^31-1 ms, in whole seconds. */
const MAX_DURATION_SEC = Math.floor((2 ** 31 - 1) / 1000);

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description(
      "The whole supervisor on the embedded store with synthetic candles and positions laid out as the live stack writes them (BTCUSDT trending, ETHUSDT mean-reverting, SOLUSDT choppy): the data sink's sorted set, the klines stream, the position hashes. No Redis needed. Ctrl-C to stop.",
    )
    .option("--candle-ms <ms>", "a new candle per symbol every this many ms", "2000")
    .option("--duration-sec <sec>", "stop by itself after this long (default: run until Ctrl-C)")
    .addOption(
      new Option("--log-level <level>", "service log level on stderr")
        .choices(["trace", "debug", "info", "warn", "error", "fatal", "silent"])
        .default("warn"),
    )
    .action(async (opts: { candleMs: string; durationSec?: string; logLevel: string }) => {
      // The same decimal grammar as every config value (no "0x10", no empty string as 0).
      const candleMs = parseFiniteNumber(opts.candleMs.trim());
      if (candleMs === null || candleMs < 50)
        throw new CliError(
          `flag --candle-ms: must be a number >= 50 (got ${JSON.stringify(opts.candleMs)})`,
        );
      const duration =
        opts.durationSec === undefined ? null : parseFiniteNumber(opts.durationSec.trim());
      // A timer longer than 2^31-1 ms would fire at once (Node clamps it to 1 ms).
      if (
        opts.durationSec !== undefined &&
        !(duration !== null && duration > 0 && duration <= MAX_DURATION_SEC)
      ) {
        throw new CliError(
          `flag --duration-sec: must be a number of seconds > 0 and <= ${MAX_DURATION_SEC} (got ${JSON.stringify(opts.durationSec)})`,
        );
      }
      // Publish lines go to stdout; the service's own log (warnings) to stderr.
      const logger = createLogger({
        level: opts.logLevel as LevelWithSilent,
        pretty: false,
        destination: process.stderr,
      });
      process.stdout.write(
        `quantum-calc demo: ${DEMO_SYMBOLS.map((s) => `${s.symbol} (${s.regime})`).join(", ")}; a candle every ${candleMs} ms. Ctrl-C to stop.\n`,
      );
      const demo = await startDemo({
        candleMs,
        logger,
        hooks: {
          onCycle: (e, nowMs) => {
            if (e.outcome === "published") process.stdout.write(`${formatDemoLine(e, nowMs)}\n`);
          },
        },
      });
      const stop = (): void => void demo.stop();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      const timer = duration === null ? null : setTimeout(stop, duration * 1000);
      const output = await demo.service.done;
      if (timer) clearTimeout(timer);
      await demo.stop();
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      process.stdout.write(`demo stopped (${output.reason}).\n`);
      process.exitCode = output.exitCode;
    });
}
