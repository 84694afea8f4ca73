// `quantum-calc replay harvest | head -1`: the reader closes the pipe after one line and the
// next write fails with EPIPE — an 'error' event on process.stdout that, unhandled, crashed the
// command with a stack trace and exit 1. A command that only prints has nothing left to do when
// nobody reads it: it ends quietly with exit 0, as `head`'s other writers do. `run` is the
// exception: its stdout is the log, and a closed log pipe must not skip the drain and the lease
// release, so there the error is ignored (the lines are lost, the service goes on).
export function handleClosedStdout(
  command: string | undefined,
  stream: NodeJS.WriteStream = process.stdout,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    if (command !== "run") exit(0);
  });
}
