// `quantum-calc compute <kernel>`: run one kernel on a JSON input (docs/specification.md §8 `input` shape) and print
// the result as JSON. `--batch` runs one input per line (JSON Lines) and prints one output line per
// input line, so parity vectors and ad-hoc checks can be driven from scripts without Redis.
import { accessSync, constants, createReadStream, statSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import type { Command } from "commander";
import { CliError, ExitCode } from "../exitCodes.js";
import {
  computeHarvest,
  computeMarketState,
  computeStops,
  KernelInputError,
  marketStateMinRequired,
  requireObject,
  type HarvestInput,
  type StopsInput,
} from "../kernels/index.js";
import { errorMessage } from "../core/errors.js";

export const KERNEL_NAMES = ["market-state", "stops", "harvest"] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

/** The top-level keys each kernel's input may have (docs/specification.md §8). Anything else is a typo. */
const INPUT_KEYS: Record<KernelName, readonly string[]> = {
  "market-state": ["prices", "theta"],
  stops: ["market_state", "position", "theta"],
  harvest: ["position", "market_state", "p1_proposal", "theta"],
};

/** How far the three regime probabilities may be from summing to 1. */
export const PROBABILITY_SUM_TOLERANCE = 1e-6;
/** position.symbol when neither the input nor --symbol names one. */
export const DEFAULT_SYMBOL = "SYMBOL";

const FLAT_PROBS = { trend: "p_trend", mr: "p_mr", chop: "p_chop" } as const;
type Regime = keyof typeof FLAT_PROBS;

/**
 * The market state's regime probabilities, given either as the stops kernel's
 * `regime_probs: {trend, mr, chop}` or as the harvest kernel's flat `p_trend, p_mr, p_chop` —
 * both shapes are accepted by both commands. Both at once must agree; the three must sum to 1.
 */
function regimeProbabilities(ms: Record<string, unknown>): Record<Regime, unknown> {
  const nested =
    ms.regime_probs === undefined
      ? null
      : requireObject(ms.regime_probs, "input.market_state.regime_probs");
  const flatGiven = Object.values(FLAT_PROBS).some((key) => ms[key] !== undefined);
  if (nested === null && !flatGiven) {
    throw new KernelInputError(
      "input.market_state",
      ms,
      "needs regime_probs {trend, mr, chop} or p_trend, p_mr, p_chop",
    );
  }
  const probs = {} as Record<Regime, unknown>;
  for (const regime of Object.keys(FLAT_PROBS) as Regime[]) {
    const fromNested = nested?.[regime];
    const fromFlat = ms[FLAT_PROBS[regime]];
    if (nested !== null && flatGiven && fromNested !== fromFlat) {
      throw new KernelInputError(
        `input.market_state.${FLAT_PROBS[regime]}`,
        fromFlat,
        `differs from regime_probs.${regime} (${JSON.stringify(fromNested)}): give one shape`,
      );
    }
    probs[regime] = nested !== null ? fromNested : fromFlat;
  }
  const values = Object.values(probs);
  if (values.every((v) => typeof v === "number" && Number.isFinite(v))) {
    const sum = (values as number[]).reduce((a, b) => a + b, 0);
    if (Math.abs(sum - 1) > PROBABILITY_SUM_TOLERANCE) {
      throw new KernelInputError(
        "input.market_state",
        probs,
        `regime probabilities must sum to 1 (±${PROBABILITY_SUM_TOLERANCE}); they sum to ${sum}`,
      );
    }
  }
  return probs;
}

/** The input with the market state in the shape the kernel takes and position.symbol filled in. */
function normalizeInput(
  kernel: "stops" | "harvest",
  root: Record<string, unknown>,
  symbol: string | undefined,
): Record<string, unknown> {
  const ms = requireObject(root.market_state, "input.market_state");
  const probs = regimeProbabilities(ms);
  const { regime_probs: _nested, p_trend: _t, p_mr: _m, p_chop: _c, ...rest } = ms;
  const market_state =
    kernel === "stops"
      ? { ...rest, regime_probs: probs }
      : { ...rest, p_trend: probs.trend, p_mr: probs.mr, p_chop: probs.chop };
  const position = root.position;
  const filled =
    typeof position === "object" &&
    position !== null &&
    !Array.isArray(position) &&
    (position as Record<string, unknown>).symbol === undefined
      ? { ...position, symbol: symbol ?? DEFAULT_SYMBOL }
      : position;
  return { ...root, market_state, position: filled };
}

export function isKernelName(value: string): value is KernelName {
  return (KERNEL_NAMES as readonly string[]).includes(value);
}

/**
 * Runs one kernel on a parsed input and returns the result shaped as docs/specification.md gives it (`null` for market-state
 * with insufficient data). Throws KernelInputError for invalid input.
 */
export function runKernel(
  kernel: KernelName,
  input: unknown,
  options: { symbol?: string } = {},
): unknown {
  const root = requireObject(input, "input");
  for (const key of Object.keys(root)) {
    if (!INPUT_KEYS[kernel].includes(key)) {
      throw new KernelInputError(
        `input.${key}`,
        root[key],
        `unknown key for ${kernel} (expected ${INPUT_KEYS[kernel].join(", ")})`,
      );
    }
  }
  let result: unknown;
  switch (kernel) {
    case "market-state": {
      if (!Array.isArray(root.prices))
        throw new KernelInputError("input.prices", root.prices, "must be an array of closes");
      const ms = computeMarketState(
        root.prices as number[],
        root.theta as Parameters<typeof computeMarketState>[1],
      );
      result =
        ms === null
          ? null
          : {
              sigma: ms.sigma,
              mu: ms.mu,
              ts: ms.ts,
              regime_probs: { ...ms.regime_probs },
              features: { ...ms.features },
            };
      break;
    }
    case "stops": {
      const r = computeStops(
        normalizeInput("stops", root, options.symbol) as unknown as StopsInput,
        options.symbol,
      );
      result = {
        proposed_sl: r.proposed_sl,
        proposed_tp: r.proposed_tp,
        reason_codes: r.reason_codes,
        intermediates: r.intermediates,
      };
      break;
    }
    case "harvest": {
      const r = computeHarvest(
        normalizeInput("harvest", root, options.symbol) as unknown as HarvestInput,
      );
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
  assertAllFinite(result, "result");
  return result;
}

/**
 * JSON would print NaN/Infinity as null, silently. The kernels never produce them; this guards
 * that promise at the edge, so a regression fails loudly instead of printing a plausible null.
 */
function assertAllFinite(value: unknown, path: string): void {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`internal error: ${path} is ${value}`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => assertAllFinite(v, `${path}[${i}]`));
  } else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) assertAllFinite(v, `${path}.${k}`);
  }
}

function parseKernelName(value: string | undefined): KernelName {
  if (value === undefined)
    throw new CliError(`compute: missing kernel name (one of ${KERNEL_NAMES.join(", ")})`);
  if (!isKernelName(value)) {
    throw new CliError(
      `compute: unknown kernel ${JSON.stringify(value)} (expected one of ${KERNEL_NAMES.join(", ")})`,
    );
  }
  return value;
}

function openInput(file: string | undefined): Readable {
  if (file !== undefined) {
    // Open eagerly so a missing file is a usage error before anything runs.
    try {
      accessSync(file, constants.R_OK);
      if (!statSync(file).isFile()) throw new Error("not a regular file");
    } catch (err) {
      throw new CliError(`compute: cannot read --input ${file}: ${(err as Error).message}`);
    }
    return createReadStream(file, { encoding: "utf8" });
  }
  if (process.stdin.isTTY)
    throw new CliError("compute: no input: pass --input FILE or pipe JSON to stdin");
  process.stdin.setEncoding("utf8");
  return process.stdin;
}

async function readAll(stream: Readable): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += chunk as string;
  return text;
}

/** Writes and waits for drain when the pipe is full, so a large batch never buffers unbounded. */
async function writeLine(out: Writable, line: string): Promise<void> {
  if (!out.write(`${line}\n`)) await new Promise<void>((resolve) => out.once("drain", resolve));
}

async function computeOne(
  kernel: KernelName,
  stream: Readable,
  opts: ComputeOptions,
): Promise<void> {
  const text = await readAll(stream);
  if (text.trim() === "") throw new CliError("compute: empty input (expected one JSON object)");
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
    if (err instanceof KernelInputError)
      throw new CliError(`compute ${kernel}: ${err.message}`, ExitCode.FAILURE);
    throw err;
  }
  if (result === null) process.stderr.write(`compute ${kernel}: ${insufficientNote(input)}\n`);
  await writeLine(
    process.stdout,
    opts.compact ? JSON.stringify(result) : JSON.stringify(result, null, 2),
  );
}

/** Why market-state printed `null`: the JSON stays `null` on stdout, the reason goes to stderr. */
function insufficientNote(input: unknown): string {
  const root = input as { prices: unknown[]; theta?: Parameters<typeof marketStateMinRequired>[0] };
  return `insufficient data: ${root.prices.length} prices, the kernel needs at least ${marketStateMinRequired(root.theta)} (max(vol.window, max(trend.windows), regime.window) + 1); printing null`;
}

/** One batch line's outcome: its output line, and the stderr note when market-state printed null. */
export interface BatchLineResult {
  output: string;
  failed: boolean;
  note: string | null;
}

/**
 * One JSON Lines input → its output line: the result's JSON, or `{"error": "line N: ..."}` for a
 * blank line, bad JSON or invalid input. The unit `--batch` runs per line (and the benchmark times).
 */
export function computeBatchLine(
  kernel: KernelName,
  line: string,
  lineNo: number,
  opts: { symbol?: string } = {},
): BatchLineResult {
  try {
    if (line.trim() === "") throw new Error("blank line (expected one JSON input per line)");
    let input: unknown;
    try {
      input = JSON.parse(line);
    } catch (err) {
      throw new Error(`invalid JSON: ${errorMessage(err)}`);
    }
    const result = runKernel(kernel, input, { symbol: opts.symbol });
    return {
      output: JSON.stringify(result),
      failed: false,
      note: result === null ? `line ${lineNo}: ${insufficientNote(input)}` : null,
    };
  } catch (err) {
    return {
      output: JSON.stringify({ error: `line ${lineNo}: ${errorMessage(err)}` }),
      failed: true,
      note: null,
    };
  }
}

/**
 * Splits a text stream into lines as readline does with crlfDelay Infinity — `\n`, `\r\n` and a
 * lone `\r` each end a line; a final line without a line break still counts; an empty input has no
 * lines — but a chunk at a time, so a batch's lines cost no per-line promise or regular expression.
 */
export class LineSplitter {
  private rest = "";

  /** The complete lines in `chunk` (after what was left from the previous chunk). */
  push(chunk: string): string[] {
    let text = this.rest + chunk;
    // A trailing \r may be the first half of a \r\n split across chunks: keep it for the next one.
    const hold = text.endsWith("\r") ? 1 : 0;
    const lastBreak = Math.max(
      text.lastIndexOf("\n"),
      text.lastIndexOf("\r", text.length - 1 - hold),
    );
    if (lastBreak < 0) {
      this.rest = text;
      return [];
    }
    this.rest = text.slice(lastBreak + 1);
    text = text.slice(0, lastBreak + 1);
    return splitComplete(text);
  }

  /** The last line, when the input did not end with a line break. */
  end(): string[] {
    const rest = this.rest;
    this.rest = "";
    if (rest === "") return [];
    return rest.endsWith("\r") ? splitComplete(rest) : [...splitComplete(`${rest}\n`)];
  }
}

/** Lines of `text`, which ends with a line break (\n or \r). */
function splitComplete(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf("\n", start);
    const end = nl < 0 ? text.length : nl;
    const piece = text.slice(start, end);
    if (piece.indexOf("\r") < 0) {
      if (nl >= 0) lines.push(piece);
    } else {
      // \r\n is one break; every other \r ends a line of its own.
      const body = nl >= 0 && piece.endsWith("\r") ? piece.slice(0, -1) : piece;
      const parts = body.split("\r");
      if (nl < 0) {
        // No \n after this piece: it ends with \r, so its last part is empty and not a line.
        parts.pop();
      }
      for (const part of parts) lines.push(part);
    }
    if (nl < 0) break;
    start = nl + 1;
    if (start >= text.length) break;
  }
  return lines;
}

/**
 * One output line per input line, in order. A line that fails (blank, bad JSON, invalid input)
 * yields `{"error": "line N: ..."}` on its line and the rest still run; the exit status is then 1.
 * The input is read a chunk at a time and each chunk's output lines are written in one write.
 */
async function computeBatch(
  kernel: KernelName,
  stream: Readable,
  opts: ComputeOptions,
): Promise<void> {
  const splitter = new LineSplitter();
  let lineNo = 0;
  let failed = 0;
  const run = async (lines: readonly string[]): Promise<void> => {
    if (lines.length === 0) return;
    const outputs = new Array<string>(lines.length);
    for (let k = 0; k < lines.length; k++) {
      lineNo++;
      const r = computeBatchLine(kernel, lines[k], lineNo, opts);
      if (r.failed) failed++;
      if (r.note !== null) process.stderr.write(`${r.note}\n`);
      outputs[k] = r.output;
    }
    await writeLine(process.stdout, outputs.join("\n"));
  };
  for await (const chunk of stream) await run(splitter.push(chunk as string));
  await run(splitter.end());
  if (failed > 0)
    throw new CliError(`compute --batch: ${failed} of ${lineNo} lines failed`, ExitCode.FAILURE);
}

interface ComputeOptions {
  input?: string;
  batch?: boolean;
  symbol?: string;
  compact?: boolean;
}

export function registerCompute(program: Command): void {
  program
    .command("compute")
    .description(
      "Run one kernel on a JSON input and print the result as JSON (docs/specification.md §8 shapes, snake_case). " +
        "market-state: {prices, theta?} -> {sigma, mu, ts, regime_probs, features} or null (insufficient data); " +
        "stops: {market_state, position, theta?} -> {proposed_sl, proposed_tp, reason_codes, intermediates}; " +
        "harvest: {position, market_state, p1_proposal|null, theta?} -> {harvest_action, new_sl_proposed, R_net, ...}.",
    )
    .argument("[kernel]", `kernel to run: ${KERNEL_NAMES.join(" | ")}`)
    .option("-i, --input <file>", "read the input from FILE instead of stdin")
    .option(
      "-b, --batch",
      "JSON Lines mode: one input per line, one output line per input line in the same order; a failing or blank " +
        'line prints {"error": "line N: ..."} on its line, the others still run, and the exit status is 1',
    )
    .option(
      "-s, --symbol <symbol>",
      `stops and harvest: position.symbol when the input has none (default ${DEFAULT_SYMBOL}); stops also requires an explicit position.symbol to equal it (as the risk publisher does)`,
    )
    .option("-c, --compact", "single-line JSON output (batch output is always one line per result)")
    .addHelpText(
      "after",
      [
        "",
        "Exit status:",
        "  0  ok",
        "  1  invalid kernel input (with --batch: any line failed)",
        "  2  usage error: unknown kernel, unreadable --input, invalid JSON (outside --batch)",
        "",
        "Input shapes (either market_state shape works for both stops and harvest; the three",
        "probabilities must sum to 1 within 1e-6; position.symbol defaults to --symbol):",
        '  market-state: {"prices": [100, 100.4, ...]}   (at least 257 closes with the default theta; fewer prints null, the reason on stderr)',
        '  stops:   {"market_state": {"sigma": 0.01, "mu": 0.0002, "ts": 0.4, "regime_probs": {"trend": 0.6, "mr": 0.1, "chop": 0.3}},',
        '            "position": {"side": "LONG", "entry_price": 100, "current_price": 104, "peak_price": 105, "trough_price": 99,',
        '                         "age_sec": 3600, "unrealized_pnl": 4, "current_sl": 97}}',
        '  harvest: {"market_state": {"sigma": 0.01, "ts": 0.4, "p_trend": 0.6, "p_mr": 0.1, "p_chop": 0.3},',
        '            "position": {"side": "LONG", "entry_price": 100, "current_price": 104, "peak_price": 105, "trough_price": 99,',
        '                         "age_sec": 3600, "unrealized_pnl": 4}, "p1_proposal": {"stop_dist_pct": 0.015}}',
        "",
        "Examples:",
        "  echo '{\"prices\": [100, 101, ...]}' | quantum-calc compute market-state",
        "  quantum-calc compute harvest --batch --input cases.jsonl > results.jsonl",
        "",
      ].join("\n"),
    )
    .action(async (kernelArg: string | undefined, opts: ComputeOptions) => {
      const kernel = parseKernelName(kernelArg);
      if (opts.symbol !== undefined && kernel === "market-state")
        throw new CliError("compute: --symbol applies to the stops and harvest kernels only");
      const stream = openInput(opts.input);
      if (opts.batch) await computeBatch(kernel, stream, opts);
      else await computeOne(kernel, stream, opts);
    });
}
