// The phase registry: the calc-only phases, in dependency order (a chain runs them in this
// order), with what each reads, what it writes and which config key sets its interval. The
// config, the supervisor, the machines, the metrics and the live page read it from here.
export const PHASE_NAMES = ["marketstate", "risk", "harvest"] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];

export interface PhaseInfo {
  name: PhaseName;
  /** The kernel it runs (SPEC §1-3). */
  kernel: "P0 MarketState" | "P1 stops" | "P2 harvest";
  /** The config key of its polling interval (seconds). */
  intervalKey: `${PhaseName}Interval`;
  /** The output hash, with `{symbol}`. */
  output: string;
  /** What it reads, for the README and the page. */
  inputs: readonly string[];
}

export const PHASE_REGISTRY: Readonly<Record<PhaseName, PhaseInfo>> = {
  marketstate: {
    name: "marketstate",
    kernel: "P0 MarketState",
    intervalKey: "marketstateInterval",
    output: "quantum:marketstate:{symbol}",
    inputs: [
      "candles (quantum:history:ohlcv:{symbol}:1m, …)",
      "live candles (quantum:stream:market.klines)",
    ],
  },
  risk: {
    name: "risk",
    kernel: "P1 stops",
    intervalKey: "riskInterval",
    output: "quantum:risk:proposal:{symbol}",
    inputs: ["quantum:marketstate:{symbol}", "the position (quantum:state:positions:{symbol})"],
  },
  harvest: {
    name: "harvest",
    kernel: "P2 harvest",
    intervalKey: "harvestInterval",
    output: "quantum:harvest:proposal:{symbol}",
    inputs: [
      "quantum:marketstate:{symbol}",
      "the position",
      "quantum:risk:proposal:{symbol}",
      "quantum:policy:current",
    ],
  },
};
