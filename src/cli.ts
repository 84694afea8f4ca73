#!/usr/bin/env node
// Executable entry point (package.json `bin`). Kept tiny: everything lives in program.ts.
import { main } from "./program.js";
import { handleClosedStdout } from "./commands/closedStdout.js";

handleClosedStdout(process.argv[2]);
void main(process.argv).then((code) => {
  process.exitCode = code;
});
