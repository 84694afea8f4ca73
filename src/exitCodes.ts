// Process exit codes. They are part of the operator interface (systemd, scripts, `--once` in
// cron), so they are named once here and documented in the README.
export const ExitCode = {
  /** Everything published or was skipped for a counted reason; clean shutdown. */
  OK: 0,
  /** `--once`: an I/O or compute error occurred; `compute --batch`: a line failed. */
  FAILURE: 1,
  /** Bad usage or configuration: nothing was run. */
  USAGE: 2,
  /** The supervisor's restart budget was exhausted: systemd should restart the process. */
  ESCALATED: 3,
  /** The event-loop watchdog saw the loop blocked past its threshold. */
  WATCHDOG: 4,
  /** `run --once`: another instance holds the single-writer lease (it is named); nothing was run. */
  LEASE_HELD: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that should end the CLI with a given exit code and a one-line message. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode = ExitCode.USAGE) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}
