// The phase registry: the calc-only phases, in dependency order (a chain runs them in this
// order), with what each reads, which output hash it writes (its declaration: key, stream,
// fields, spellings — src/contracts/) and which config key sets its interval. The config, the
// supervisor, the machines, the service, `status`, shadow mode, the metrics and the live page
// read it from here and loop over it; the phases' steps are registered in src/phases/registry.ts.
import type { AnyOutputDeclaration } from "../contracts/output.js";
import {
  HARVEST_PROPOSAL_OUTPUT,
  MARKETSTATE_OUTPUT,
  RISK_PROPOSAL_OUTPUT,
} from "../contracts/outputs.js";

export const PHASE_NAMES = ["marketstate", "risk", "harvest"] as const;
export type PhaseName = (typeof PHASE_NAMES)[number];

export interface PhaseInfo {
  name: PhaseName;
  /** The kernel it runs (docs/specification.md §1-3). */
  kernel: "P0 MarketState" | "P1 stops" | "P2 harvest";
  /** The config key of its polling interval (seconds). */
  intervalKey: `${PhaseName}Interval`;
  /** The output hash it writes: its declaration (key, stream, fields and how they are spelled). */
  output: AnyOutputDeclaration;
  /** What it reads, for the README and the page. */
  inputs: readonly string[];
  /**
   * Run at once on every closed candle of its symbol (the klines follower), and when the
   * follower resumes after an outage: the head of the chain, where a chain's clock starts.
   */
  runsOnCandle: boolean;
  /**
   * In run mode the next phase runs after this one's cycle only when it published (a new market
   * state); otherwise after every cycle, whatever its outcome. `--once` chains every cycle.
   */
  chainsOnlyWhenPublished: boolean;
}

export const PHASE_REGISTRY: Readonly<Record<PhaseName, PhaseInfo>> = {
  marketstate: {
    name: "marketstate",
    kernel: "P0 MarketState",
    intervalKey: "marketstateInterval",
    output: MARKETSTATE_OUTPUT,
    inputs: [
      "candles (quantum:history:ohlcv:{symbol}:1m, …)",
      "live candles (quantum:stream:market.klines)",
    ],
    runsOnCandle: true,
    chainsOnlyWhenPublished: true,
  },
  risk: {
    name: "risk",
    kernel: "P1 stops",
    intervalKey: "riskInterval",
    output: RISK_PROPOSAL_OUTPUT,
    inputs: [
      `${MARKETSTATE_OUTPUT.keyPrefix}{symbol}`,
      "the position (quantum:state:positions:{symbol})",
    ],
    runsOnCandle: false,
    chainsOnlyWhenPublished: false,
  },
  harvest: {
    name: "harvest",
    kernel: "P2 harvest",
    intervalKey: "harvestInterval",
    output: HARVEST_PROPOSAL_OUTPUT,
    inputs: [
      `${MARKETSTATE_OUTPUT.keyPrefix}{symbol}`,
      "the position",
      `${RISK_PROPOSAL_OUTPUT.keyPrefix}{symbol}`,
      "quantum:policy:current",
    ],
    runsOnCandle: false,
    chainsOnlyWhenPublished: false,
  },
};

/** The phase a closed candle runs (the chain's head). */
export const CANDLE_PHASE: PhaseName = (() => {
  const heads = PHASE_NAMES.filter((phase) => PHASE_REGISTRY[phase].runsOnCandle);
  if (heads.length !== 1)
    throw new Error(`exactly one phase runs on candles (got ${heads.length})`);
  return heads[0];
})();

/** Every phase → what `make` gives for it (a record the callers need not spell phase by phase). */
export function byPhase<T>(make: (phase: PhaseName) => T): Record<PhaseName, T> {
  return Object.fromEntries(PHASE_NAMES.map((phase) => [phase, make(phase)])) as Record<
    PhaseName,
    T
  >;
}

/** The supervisor's name of a phase's publisher actor logic. */
export type PublisherActorName = `${PhaseName}Publisher`;

export function publisherActorName(phase: PhaseName): PublisherActorName {
  return `${phase}Publisher`;
}

/** One publisher actor logic per phase, by its actor name (the supervisor's setup and provide). */
export function publisherActors<T>(make: (phase: PhaseName) => T): Record<PublisherActorName, T> {
  return Object.fromEntries(
    PHASE_NAMES.map((phase) => [publisherActorName(phase), make(phase)]),
  ) as Record<PublisherActorName, T>;
}

/** The phase whose output hash `key` is, and the symbol; null for any other key. */
export function phaseOfOutputKey(key: string): { phase: PhaseName; symbol: string } | null {
  for (const phase of PHASE_NAMES) {
    const prefix = PHASE_REGISTRY[phase].output.keyPrefix;
    if (key.startsWith(prefix) && key.length > prefix.length)
      return { phase, symbol: key.slice(prefix.length) };
  }
  return null;
}
