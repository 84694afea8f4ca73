import type { Command } from 'commander';

// Placeholder: filled in by the kernel work (issue 2).
export function registerCompute(program: Command): void {
  program.command('compute').description('(not implemented yet)');
}
