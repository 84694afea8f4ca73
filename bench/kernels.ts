// Per-call cost of the three kernels (`npm run bench`). Each row warms its kernel up (so the
// optimising compiler has done its work), then times several rounds of many calls with
// process.hrtime.bigint and reports the median round: on a shared machine the median is steadier
// than the mean, and the spread between rounds is printed so a noisy run is visible as such.
//
// Market-state inputs are 300 closes (the service's default window_size) from seeded synthetic
// paths of every regime; calls cycle through several paths so the figures are not those of one
// memorised input. The SPEC reference implementation needs about 7.6 ms per market-state call on
// 300 closes with the default theta; the last column is the speed-up against that.
import { cpus, loadavg } from 'node:os';
import { computeHarvest } from '../src/kernels/harvest.js';
import { computeMarketState } from '../src/kernels/marketState.js';
import { computeStops } from '../src/kernels/stops.js';
import type { MarketState, Position } from '../src/kernels/types.js';
import { REGIMES, syntheticPrices } from '../src/synthetic/prices.js';

const REFERENCE_MARKET_STATE_MS = 7.6;
const WARMUP_MS = 300;
const ROUNDS = 7;
const ROUND_MS = 250;

interface Row {
  kernel: string;
  input: string;
  medianUs: number;
  minUs: number;
  maxUs: number;
  reference: boolean;
}

/** Keeps results alive so no call can be optimised away. */
let sink = 0;

function consume(value: unknown): void {
  sink += value === null ? 0 : 1;
}

/** Times `call(i)` for i = 0, 1, 2, …; returns per-call microseconds of each round. */
function measure(call: (i: number) => unknown): number[] {
  const warmEnd = process.hrtime.bigint() + BigInt(WARMUP_MS * 1e6);
  let i = 0;
  let calibration = 0;
  while (process.hrtime.bigint() < warmEnd) {
    for (let k = 0; k < 50; k++) consume(call(i++));
    calibration += 50;
  }
  // Calls per round so that a round lasts about ROUND_MS.
  const perRound = Math.max(50, Math.round((calibration * ROUND_MS) / WARMUP_MS));
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let k = 0; k < perRound; k++) consume(call(i++));
    rounds.push(Number(process.hrtime.bigint() - start) / 1000 / perRound);
  }
  return rounds;
}

function row(kernel: string, input: string, call: (i: number) => unknown, reference = false): Row {
  const rounds = measure(call).sort((a, b) => a - b);
  return {
    kernel,
    input,
    medianUs: rounds[Math.floor(rounds.length / 2)],
    minUs: rounds[0],
    maxUs: rounds[rounds.length - 1],
    reference,
  };
}

function requireState(state: MarketState | null): MarketState {
  if (state === null) throw new Error('benchmark input is shorter than the kernel needs');
  return state;
}

// --- inputs ----------------------------------------------------------------------------------

const SEEDS = [1, 2, 3, 4];
const paths = REGIMES.flatMap((regime) => SEEDS.map((seed) => syntheticPrices(regime, { length: 300, seed, start: 45000 })));
const constant = new Array<number>(300).fill(45000);
const OLS = { trend: { method: 'ols' as const } };

const states = paths.map((prices) => requireState(computeMarketState(prices)));
const positions: Position[] = paths.map((prices, k) => {
  const price = prices[prices.length - 1];
  const long = k % 2 === 0;
  const entry = price * (long ? 0.97 : 1.03);
  return {
    symbol: 'BTCUSDT',
    side: long ? 'LONG' : 'SHORT',
    entry_price: entry,
    current_price: price,
    peak_price: long ? Math.max(...prices) : Math.min(...prices),
    trough_price: long ? Math.min(...prices) : Math.max(...prices),
    age_sec: 3600 * (k + 1),
    unrealized_pnl: (long ? price - entry : entry - price) * 0.5,
    current_sl: k % 3 === 0 ? null : entry * (long ? 0.98 : 1.02),
    current_tp: null,
  };
});
const stopsProposals = paths.map((_, k) => computeStops({ market_state: states[k], position: positions[k] }, 'BTCUSDT'));

// --- run -------------------------------------------------------------------------------------

const n = paths.length;
const rows: Row[] = [
  row('market-state', `theil_sen, 300 closes (${n} paths)`, (i) => computeMarketState(paths[i % n]), true),
  // The reference's 7.6 ms is for theil_sen; comparing the ols row with it would flatter it.
  row('market-state', `ols, 300 closes (${n} paths)`, (i) => computeMarketState(paths[i % n], OLS)),
  row('market-state', 'theil_sen, 300 constant closes (all slopes tie)', () => computeMarketState(constant), true),
  row('stops', `${n} positions`, (i) => computeStops({ market_state: states[i % n], position: positions[i % n] }, 'BTCUSDT')),
  row('harvest', `${n} positions, with P1 proposal`, (i) =>
    computeHarvest({
      position: positions[i % n],
      market_state: {
        sigma: states[i % n].sigma,
        ts: states[i % n].ts,
        p_trend: states[i % n].regime_probs.trend,
        p_mr: states[i % n].regime_probs.mr,
        p_chop: states[i % n].regime_probs.chop,
      },
      p1_proposal: { stop_dist_pct: stopsProposals[i % n].intermediates.stop_dist_pct },
    }),
  ),
];

const fmt = (x: number, digits: number) => x.toFixed(digits);
const table = rows.map((r) => ({
  kernel: r.kernel,
  input: r.input,
  'µs/call': fmt(r.medianUs, r.medianUs < 10 ? 2 : 1),
  'rounds min–max µs': `${fmt(r.minUs, r.minUs < 10 ? 2 : 1)}–${fmt(r.maxUs, r.maxUs < 10 ? 2 : 1)}`,
  'calls/s': Math.round(1e6 / r.medianUs).toLocaleString('en-US'),
  'vs reference 7.6 ms': r.reference ? `${Math.round((REFERENCE_MARKET_STATE_MS * 1000) / r.medianUs)}×` : '',
}));

const headers = Object.keys(table[0]) as (keyof (typeof table)[number])[];
const widths = headers.map((h) => Math.max(h.length, ...table.map((t) => String(t[h]).length)));
const line = (cells: string[]) => `| ${cells.map((c, k) => c.padEnd(widths[k])).join(' | ')} |`;
const cpu = cpus();
console.log(
  `Kernel benchmark — Node ${process.version}, ${process.platform}/${process.arch}, ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ` +
    `load average ${loadavg()[0].toFixed(2)}; median of ${ROUNDS} rounds of ~${ROUND_MS} ms after ${WARMUP_MS} ms warm-up`,
);
console.log(line(headers));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const t of table) console.log(line(headers.map((h) => String(t[h]))));
if (sink < 0) console.log(sink); // never true; reading sink keeps it observable
