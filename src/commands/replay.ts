import type { Command } from 'commander';

// Placeholder: filled in by the kernel work (issue 2).
export function registerReplay(program: Command): void {
  program.command('replay').description('(not implemented yet)');
}
