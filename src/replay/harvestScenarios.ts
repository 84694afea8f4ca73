// The harvest proof pack (docs/specification.md §3/§8): eight scenarios that show how P2 reacts to profit, regime,
// volatility, trend strength and age. Each step is a full kernel input; steps that are cases of
// the shared harvest vector name that case, and a test checks the inputs are identical.
import type { HarvestInput } from "../kernels/index.js";
import type { HarvestMarketState, Position } from "../kernels/index.js";

export interface HarvestStep {
  label: string;
  /** Name of the harvest.json parity case with exactly this input, if any. */
  parityCase?: string;
  input: HarvestInput & { position: Position };
}

export interface HarvestScenario {
  id: number;
  title: string;
  /** One sentence on what the scenario demonstrates. */
  story: string;
  steps: HarvestStep[];
}

/** LONG BTCUSDT from 100, 1 h old, stop at 99; a calm trending market; P1 stop distance 2%. */
const basePosition: Position = {
  symbol: "BTCUSDT",
  side: "LONG",
  entry_price: 100,
  current_price: 103,
  peak_price: 105,
  trough_price: 99,
  age_sec: 3600,
  unrealized_pnl: 3,
  current_sl: 99,
  current_tp: null,
};
const calm: HarvestMarketState = { sigma: 0.01, ts: 0.4, p_trend: 0.6, p_mr: 0.2, p_chop: 0.2 };
const flipped: Pick<HarvestMarketState, "p_trend" | "p_mr" | "p_chop"> = {
  p_trend: 0.1,
  p_mr: 0.3,
  p_chop: 0.6,
};
/** The P1 proposal as the harvest publisher reads it from the risk hash (extra fields ignored). */
const p1 = { stop_dist_pct: 0.02, proposed_sl: null, proposed_tp: null };
const AGED_SEC = 28 * 3600; // 100800 s: past max_age_sec (24 h)

function step(
  label: string,
  parityCase: string | undefined,
  position: Partial<Position>,
  market: Partial<HarvestMarketState>,
  withP1 = true,
): HarvestStep {
  return {
    label,
    parityCase,
    input: {
      position: { ...basePosition, ...position },
      market_state: { ...calm, ...market },
      p1_proposal: withP1 ? { ...p1 } : null,
    },
  };
}

const pnlStep = (pnl: number) =>
  step(
    `PnL +${pnl}`,
    `replay1_increasing_pnl_${pnl}`,
    { current_price: 100 + pnl, peak_price: 101 + pnl, unrealized_pnl: pnl },
    {},
  );
const baseline = (label = "baseline") => step(label, "replay2_regime_flip_before", {}, {});

export const HARVEST_SCENARIOS: readonly HarvestScenario[] = [
  {
    id: 1,
    title: "Increasing PnL",
    story:
      "As R_net crosses T1/T2/T3 (2/4/6 R) the action steps up 25 → 50 → 75 %, and the stop locks in break-even + 0.2 %.",
    steps: [1, 5, 9, 14].map(pnlStep),
  },
  {
    id: 2,
    title: "Regime flip",
    story:
      "Trend probability falls below 0.3 while mr + chop > 0.5: the flip alone lifts K from 0.503 to 0.734 → full close.",
    steps: [
      baseline("before: trend 0.6"),
      step("after: trend 0.1", "replay2_regime_flip_after", {}, flipped),
    ],
  },
  {
    id: 3,
    title: "Sigma spike",
    story:
      "Volatility triples (sigma 0.01 → 0.03): sigma_spike hits its cap of 2 → K 0.734 → full close.",
    steps: [baseline(), step("sigma 0.03", "replay3_sigma_spike", {}, { sigma: 0.03 })],
  },
  {
    id: 4,
    title: "TS collapse",
    story:
      "Trend strength drops 0.4 → 0.1: ts_drop 0.2 raises K a little (0.528), not enough to close.",
    steps: [baseline(), step("ts 0.1", "replay4_ts_collapse", {}, { ts: 0.1 })],
  },
  {
    id: 5,
    title: "Aging",
    story:
      "The same trade held 28 h instead of 1 h: age_penalty saturates at 1 → K 0.574, still below the 0.6 threshold.",
    steps: [baseline("age 1 h"), step("age 28 h", "replay5_aging", { age_sec: AGED_SEC }, {})],
  },
  {
    id: 6,
    title: "Perfect storm",
    story:
      "Regime flip, sigma spike, TS collapse and age together: K 0.917 → full close with every reason named.",
    steps: [
      baseline(),
      step(
        "all at once",
        "replay6_perfect_storm",
        { age_sec: AGED_SEC },
        { ...flipped, sigma: 0.03, ts: 0.1 },
      ),
    ],
  },
  {
    id: 7,
    title: "Profit lock",
    story:
      "At 4.95 R the stop moves to break-even + 0.2 %: up to 100.2 for a LONG, down to 99.8 for a SHORT.",
    steps: [
      step(
        "LONG +10",
        "replay7_profit_lock_long",
        { current_price: 110, peak_price: 111, unrealized_pnl: 10 },
        {},
      ),
      step(
        "SHORT +10",
        "replay7_profit_lock_short",
        {
          side: "SHORT",
          current_price: 90,
          peak_price: 89,
          trough_price: 101,
          unrealized_pnl: 10,
          current_sl: 101,
        },
        {},
      ),
    ],
  },
  {
    id: 8,
    title: "No-P1 fallback",
    story:
      "Without a risk proposal the risk unit uses fallback_stop_pct (2 %): same R_net, same action, no crash.",
    steps: [
      step(
        "P1 stop 2 %",
        "replay1_increasing_pnl_5",
        { current_price: 105, peak_price: 106, unrealized_pnl: 5 },
        {},
      ),
      step(
        "P1 absent",
        "replay8_no_p1_fallback",
        { current_price: 105, peak_price: 106, unrealized_pnl: 5 },
        {},
        false,
      ),
    ],
  },
];
