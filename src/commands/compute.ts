// `quantum-calc compute <kernel>`: run one kernel on a JSON input (SPEC §8 `input` shape) and print
// the result as JSON. `--batch` runs one input per line (JSON Lines) and prints one output line per
// input line, so parity vectors and ad-hoc checks can be driven from scripts without Redis.
import { accessSync, constants, createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { Command } from 'commander';
import { CliError, ExitCode } from '../exitCodes.js';
import {
  computeHarvest,
  computeMarketState,
  computeStops,
  KernelInputError,
  requireObject,
  type HarvestInput,
  type StopsInput,
} from '../kernels/index.js';

export const KERNEL_NAMES = ['market-state', 'stops', 'harvest'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

/** The top-level keys each kernel's input may have (SPEC §8). Anything else is a typo. */
const INPUT_KEYS: Record<KernelName, readonly string[]> = {
  'market-state': ['prices', 'theta'],
  stops: ['market_state', 'position', 'theta'],
  harvest: ['position', 'market_state', 'p1_proposal', 'theta'],
};

export function isKernelName(value: string): value is KernelName {
  return (KERNEL_NAMES as readonly string[]).includes(value);
}

/**
 * Runs one kernel on a parsed input and returns the SPEC-shaped result (`null` for market-state
 * with insufficient data). Throws KernelInputError for invalid input.
 */
export function runKernel(kernel: KernelName, input: unknown, options: { symbol?: string } = {}): unknown {
  const root = requireObject(input, 'input');
  for (const key of Object.keys(root)) {
    if (!INPUT_KEYS[kernel].includes(key)) {
      throw new KernelInputError(`input.${key}`, root[key], `unknown key for ${kernel} (expected ${INPUT_KEYS[kernel].join(', ')})`);
    }
  }
  let result: unknown;
  switch (kernel) {
    case 'market-state': {
      if (!Array.isArray(root.prices)) throw new KernelInputError('input.prices', root.prices, 'must be an array of closes');
      const ms = computeMarketState(root.prices as number[], root.theta as Parameters<typeof computeMarketState>[1]);
      result = ms === null ? null : { sigma: ms.sigma, mu: ms.mu, ts: ms.ts, regime_probs: { ...ms.regime_probs }, features: { ...ms.features } };
      break;
    }
    case 'stops': {
      const r = computeStops(root as unknown as StopsInput, options.symbol);
      result = { proposed_sl: r.proposed_sl, proposed_tp: r.proposed_tp, reason_codes: r.reason_codes, intermediates: r.intermediates };
      break;
    }
    case 'harvest': {
      const r = computeHarvest(root as unknown as HarvestInput);
      result = {
        harvest_action: r.harvest_action,
        new_sl_proposed: r.new_sl_proposed,
        R_net: r.R_net,
        risk_unit: r.risk_unit,
        cost_est: r.cost_est,
        kill_score: r.kill_score,
        reason_codes: r.reason_codes,
        k_components: r.k_components,
        tranche_weights: r.tranche_weights,
      };
      break;
    }
  }
  assertAllFinite(result, 'result');
  return result;
}

/**
 * JSON would print NaN/Infinity as null, silently. The kernels never produce them; this guards
 * that promise at the edge, so a regression fails loudly instead of printing a plausible null.
 */
function assertAllFinite(value: unknown, path: string): void {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`internal error: ${path} is ${value}`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => assertAllFinite(v, `${path}[${i}]`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) assertAllFinite(v, `${path}.${k}`);
  }
}

function parseKernelName(value: string | undefined): KernelName {
  if (value === undefined) throw new CliError(`compute: missing kernel name (one of ${KERNEL_NAMES.join(', ')})`);
  if (!isKernelName(value)) {
    throw new CliError(`compute: unknown kernel ${JSON.stringify(value)} (expected one of ${KERNEL_NAMES.join(', ')})`);
  }
  return value;
}

function openInput(file: string | undefined): Readable {
  if (file !== undefined) {
    // Open eagerly so a missing file is a usage error before anything runs.
    try {
      accessSync(file, constants.R_OK);
      if (!statSync(file).isFile()) throw new Error('not a regular file');
    } catch (err) {
      throw new CliError(`compute: cannot read --input ${file}: ${(err as Error).message}`);
    }
    return createReadStream(file, { encoding: 'utf8' });
  }
  if (process.stdin.isTTY) throw new CliError('compute: no input: pass --input FILE or pipe JSON to stdin');
  process.stdin.setEncoding('utf8');
  return process.stdin;
}

async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk as string;
  return text;
}

/** Writes and waits for drain when the pipe is full, so a large batch never buffers unbounded. */
async function writeLine(out: Writable, line: string): Promise<void> {
  if (!out.write(`${line}\n`)) await new Promise<void>((resolve) => out.once('drain', resolve));
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function computeOne(kernel: KernelName, stream: Readable, opts: ComputeOptions): Promise<void> {
  const text = await readAll(stream);
  if (text.trim() === '') throw new CliError('compute: empty input (expected one JSON object)');
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new CliError(`compute: invalid JSON input: ${errorMessage(err)}`);
  }
  let result: unknown;
  try {
    result = runKernel(kernel, input, { symbol: opts.symbol });
  } catch (err) {
    if (err instanceof KernelInputError) throw new CliError(`compute ${kernel}: ${err.message}`, ExitCode.FAILURE);
    throw err;
  }
  await writeLine(process.stdout, opts.compact ? JSON.stringify(result) : JSON.stringify(result, null, 2));
}

/**
 * One output line per input line, in order. A line that fails (blank, bad JSON, invalid input)
 * yields `{"error": "line N: ..."}` on its line and the rest still run; the exit status is then 1.
 */
async function computeBatch(kernel: KernelName, stream: Readable, opts: ComputeOptions): Promise<void> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  let failed = 0;
  for await (const line of lines) {
    lineNo++;
    let output: string;
    try {
      if (line.trim() === '') throw new Error('blank line (expected one JSON input per line)');
      let input: unknown;
      try {
        input = JSON.parse(line);
      } catch (err) {
        throw new Error(`invalid JSON: ${errorMessage(err)}`);
      }
      output = JSON.stringify(runKernel(kernel, input, { symbol: opts.symbol }));
    } catch (err) {
      failed++;
      output = JSON.stringify({ error: `line ${lineNo}: ${errorMessage(err)}` });
    }
    await writeLine(process.stdout, output);
  }
  if (failed > 0) throw new CliError(`compute --batch: ${failed} of ${lineNo} lines failed`, ExitCode.FAILURE);
}

interface ComputeOptions {
  input?: string;
  batch?: boolean;
  symbol?: string;
  compact?: boolean;
}

export function registerCompute(program: Command): void {
  program
    .command('compute')
    .description(
      'Run one kernel on a JSON input and print the result as JSON (SPEC §8 shapes, snake_case). ' +
        'market-state: {prices, theta?} -> {sigma, mu, ts, regime_probs, features} or null (insufficient data); ' +
        'stops: {market_state, position, theta?} -> {proposed_sl, proposed_tp, reason_codes, intermediates}; ' +
        'harvest: {position, market_state, p1_proposal|null, theta?} -> {harvest_action, new_sl_proposed, R_net, ...}.',
    )
    .argument('[kernel]', `kernel to run: ${KERNEL_NAMES.join(' | ')}`)
    .option('-i, --input <file>', 'read the input from FILE instead of stdin')
    .option(
      '-b, --batch',
      'JSON Lines mode: one input per line, one output line per input line in the same order; a failing or blank ' +
        'line prints {"error": "line N: ..."} on its line, the others still run, and the exit status is 1',
    )
    .option('-s, --symbol <symbol>', 'stops only: require position.symbol to equal SYMBOL (as the risk publisher does)')
    .option('-c, --compact', 'single-line JSON output (batch output is always one line per result)')
    .addHelpText(
      'after',
      [
        '',
        'Exit status:',
        '  0  ok',
        '  1  invalid kernel input (with --batch: any line failed)',
        '  2  usage error: unknown kernel, unreadable --input, invalid JSON (outside --batch)',
        '',
        'Examples:',
        "  echo '{\"prices\": [100, 101, ...]}' | quantum-calc compute market-state",
        '  quantum-calc compute harvest --batch --input cases.jsonl > results.jsonl',
        '',
      ].join('\n'),
    )
    .action(async (kernelArg: string | undefined, opts: ComputeOptions) => {
      const kernel = parseKernelName(kernelArg);
      if (opts.symbol !== undefined && kernel !== 'stops') throw new CliError('compute: --symbol applies to the stops kernel only');
      const stream = openInput(opts.input);
      if (opts.batch) await computeBatch(kernel, stream, opts);
      else await computeOne(kernel, stream, opts);
    });
}
