// pino: JSON lines on stdout (journald keeps one entry per line), pretty in a terminal.
// Secrets never reach a log line: the redaction list covers every place a password can sit.
import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export const REDACT_PATHS = [
  "password",
  "redisPassword",
  "*.password",
  "*.redisPassword",
  "config.redisPassword",
];

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Human-readable output (pino-pretty); default: when stdout is a TTY. */
  pretty?: boolean;
  /** Write here instead of stdout (tests). */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: { service: "quantum-calc" },
    redact: { paths: REDACT_PATHS, censor: "***" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (options.destination) return pino(base, options.destination as pino.DestinationStream);
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  if (pretty) {
    return pino({
      ...base,
      transport: {
        target: "pino-pretty",
        options: {
          colorize: true,
          translateTime: "SYS:HH:MM:ss.l",
          ignore: "pid,hostname,service",
        },
      },
    });
  }
  // Synchronous writes: a crash or an escalation exit must not lose the lines explaining it.
  return pino(base, pino.destination({ fd: 1, sync: true }));
}
