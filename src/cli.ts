#!/usr/bin/env node
// Executable entry point (package.json `bin`). Kept tiny: everything lives in program.ts.
import { main } from './program.js';

main(process.argv).then((code) => {
  process.exitCode = code;
});
