// P1 replay scenarios: a price path per scenario, run step by step through computeStops. Where a
// scenario `feedsBack`, each step's proposed SL becomes the next step's current_sl — as if the
// proposal were applied — which is what makes the monotonic ratchet visible.
import type { Position, Side, StopsMarketState } from "../kernels/index.js";

export interface StopsScenario {
  id: number;
  title: string;
  story: string;
  side: Side;
  market_state: StopsMarketState;
  /** Closes after entry at `path[0]`. */
  path: number[];
  /** Feed each proposed SL back as the next current_sl. */
  feedsBack: boolean;
  /** Optional sigma per step (same length as path), overriding market_state.sigma: a volatility change mid-path. */
  sigmaPath?: number[];
}

const trendUp: StopsMarketState = {
  sigma: 0.01,
  mu: 0.001,
  ts: 0.8,
  regime_probs: { trend: 0.7, mr: 0.15, chop: 0.15 },
};
const trendDown: StopsMarketState = {
  sigma: 0.01,
  mu: -0.001,
  ts: 0.8,
  regime_probs: { trend: 0.7, mr: 0.15, chop: 0.15 },
};
const meanReverting: StopsMarketState = {
  sigma: 0.01,
  mu: 0,
  ts: 0.05,
  regime_probs: { trend: 0.1, mr: 0.7, chop: 0.2 },
};
const choppy: StopsMarketState = {
  sigma: 0.01,
  mu: 0,
  ts: 0.05,
  regime_probs: { trend: 0.15, mr: 0.15, chop: 0.7 },
};

export const STOPS_SCENARIOS: readonly StopsScenario[] = [
  {
    id: 1,
    title: "LONG trending",
    story:
      "Trend regime: wide stop (k_sl 1.32σ blended), extended take-profit; the trail from the peak leads the stop up.",
    side: "LONG",
    market_state: trendUp,
    path: [100, 101, 102.5, 104, 103.2, 105],
    feedsBack: true,
  },
  {
    id: 2,
    title: "LONG mean-reverting",
    story:
      "Mean-reversion regime: tighter stop (0.91σ) and nearer take-profit (1.39σ) than in a trend, no extension; the stop holds while price swings.",
    side: "LONG",
    market_state: meanReverting,
    path: [100, 101, 99.5, 100.8, 99.2, 100],
    feedsBack: true,
  },
  {
    id: 3,
    title: "SHORT trending down",
    story: "Mirror image: stop above price, take-profit below; the stop only moves down.",
    side: "SHORT",
    market_state: trendDown,
    path: [100, 99, 97.5, 96, 96.8, 95],
    feedsBack: true,
  },
  {
    id: 4,
    title: "Monotonic tightening",
    story:
      "Price rises, then pauses while volatility doubles: the wider trail gap would lower the stop, but it is held " +
      "(sl_tightened_monotonic); when volatility calms and price makes a new high it ratchets up again. It never loosens.",
    side: "LONG",
    market_state: trendUp,
    path: [100, 102, 104, 106, 105.5, 105, 106.5, 107.5],
    sigmaPath: [0.01, 0.01, 0.01, 0.01, 0.015, 0.02, 0.02, 0.01],
    feedsBack: true,
  },
  {
    id: 5,
    title: "Trailing activation at a peak",
    story:
      "Chop regime, where the trail gap (1.315σ blended) is wider than the stop (1.045σ): at the peak the price stop " +
      "rules; once price pulls back more than ~0.27 % from the peak the trail takes over (trail_active). current_sl stays unset.",
    side: "LONG",
    market_state: choppy,
    path: [100, 102, 104, 103.9, 103.5, 103],
    feedsBack: false,
  },
];

/**
 * The position snapshot at step i of a scenario: peak = best price so far, trough = worst
 * (docs/specification.md §4: highest/lowest for LONG, lowest/highest for SHORT).
 */
export function positionAt(scenario: StopsScenario, i: number, currentSl: number | null): Position {
  const seen = scenario.path.slice(0, i + 1);
  const entry = scenario.path[0];
  const price = scenario.path[i];
  const high = Math.max(...seen);
  const low = Math.min(...seen);
  const long = scenario.side === "LONG";
  return {
    symbol: "BTCUSDT",
    side: scenario.side,
    entry_price: entry,
    current_price: price,
    peak_price: long ? high : low,
    trough_price: long ? low : high,
    age_sec: i * 600,
    unrealized_pnl: long ? price - entry : entry - price,
    current_sl: currentSl,
    current_tp: null,
  };
}

/** The market state at step i: the scenario's, with sigma from sigmaPath when given. */
export function marketStateAt(scenario: StopsScenario, i: number): StopsMarketState {
  const sigma = scenario.sigmaPath?.[i];
  return sigma === undefined ? scenario.market_state : { ...scenario.market_state, sigma };
}
