// `quantum-calc replay <harvest|stops|market-state>`: the proof-pack scenarios as readable tables,
// one row per step, computed live by the same kernels the service runs. `--json` gives the same
// data for scripts.
import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { CliError, ExitCode } from "../exitCodes.js";
import {
  computeHarvest,
  computeMarketState,
  computeStops,
  dominantRegime,
  marketStateMinRequired,
  type HarvestResult,
  type MarketState,
  type StopsResult,
} from "../kernels/index.js";
import { HARVEST_SCENARIOS } from "../replay/harvestScenarios.js";
import { parsePriceFile, PriceFileError } from "../replay/priceFile.js";
import { marketStateAt, positionAt, STOPS_SCENARIOS } from "../replay/stopsScenarios.js";
import { fmt, renderTable, type Column } from "../replay/table.js";
import { registerRecordingReplay } from "./recording.js";
import {
  isSyntheticRegime,
  REGIMES,
  syntheticPrices,
  type SyntheticRegime,
} from "../synthetic/prices.js";

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

// --- harvest --------------------------------------------------------------------------------

const HARVEST_COLUMNS: Column[] = [
  { header: "step" },
  { header: "side" },
  { header: "price", align: "right" },
  { header: "pnl", align: "right" },
  { header: "sigma", align: "right" },
  { header: "ts", align: "right" },
  { header: "p_trend", align: "right" },
  { header: "p_mr", align: "right" },
  { header: "p_chop", align: "right" },
  { header: "age_h", align: "right" },
  { header: "P1 stop", align: "right" },
  { header: "R_net", align: "right" },
  { header: "K", align: "right" },
  { header: "action" },
  { header: "new_sl", align: "right" },
  { header: "reasons" },
];

function replayHarvest(json: boolean): void {
  const results = HARVEST_SCENARIOS.map((s) => ({
    scenario: s,
    steps: s.steps.map((step) => ({ step, result: computeHarvest(step.input) })),
  }));
  if (json) {
    print(
      JSON.stringify(
        results.map(({ scenario, steps }) => ({
          id: scenario.id,
          title: scenario.title,
          story: scenario.story,
          steps: steps.map(({ step, result }) => ({
            label: step.label,
            parity_case: step.parityCase ?? null,
            input: step.input,
            output: result,
          })),
        })),
        null,
        2,
      ),
    );
    return;
  }
  print("P2 harvest proof pack (default theta; K = kill score, full close at K >= 0.6)");
  for (const { scenario, steps } of results) {
    print("");
    print(`${scenario.id}. ${scenario.title} — ${scenario.story}`);
    const rows = steps.map(({ step, result }) => harvestRow(step.label, step.input, result));
    print(renderTable(HARVEST_COLUMNS, rows));
  }
}

function harvestRow(
  label: string,
  input: (typeof HARVEST_SCENARIOS)[number]["steps"][number]["input"],
  r: HarvestResult,
): string[] {
  const p = input.position;
  const m = input.market_state;
  return [
    label,
    p.side,
    fmt(p.current_price, 2),
    fmt(p.unrealized_pnl, 2),
    fmt(m.sigma, 3),
    fmt(m.ts, 2),
    fmt(m.p_trend, 2),
    fmt(m.p_mr, 2),
    fmt(m.p_chop, 2),
    fmt(p.age_sec / 3600, 1),
    input.p1_proposal ? `${fmt(input.p1_proposal.stop_dist_pct * 100, 1)}%` : "absent",
    fmt(r.R_net, 2),
    fmt(r.kill_score, 3),
    r.harvest_action,
    fmt(r.new_sl_proposed, 2),
    r.reason_codes.join(",") || "-",
  ];
}

// --- stops ----------------------------------------------------------------------------------

const STOPS_COLUMNS: Column[] = [
  { header: "step", align: "right" },
  { header: "sigma", align: "right" },
  { header: "price", align: "right" },
  { header: "peak", align: "right" },
  { header: "trough", align: "right" },
  { header: "current_sl", align: "right" },
  { header: "raw_sl", align: "right" },
  { header: "trail_sl", align: "right" },
  { header: "proposed_sl", align: "right" },
  { header: "proposed_tp", align: "right" },
  { header: "stop%", align: "right" },
  { header: "tp%", align: "right" },
  { header: "reasons" },
];

function replayStops(json: boolean): void {
  const results = STOPS_SCENARIOS.map((scenario) => {
    let currentSl: number | null = null;
    const steps = scenario.path.map((_, i) => {
      const position = positionAt(scenario, i, currentSl);
      const market_state = marketStateAt(scenario, i);
      const result: StopsResult = computeStops({ market_state, position });
      if (scenario.feedsBack) currentSl = result.proposed_sl;
      return { market_state, position, result };
    });
    return { scenario, steps };
  });
  if (json) {
    print(
      JSON.stringify(
        results.map(({ scenario, steps }) => ({
          id: scenario.id,
          title: scenario.title,
          story: scenario.story,
          feeds_back: scenario.feedsBack,
          market_state: scenario.market_state,
          steps: steps.map(({ market_state, position, result }) => ({
            market_state,
            position,
            output: result,
          })),
        })),
        null,
        2,
      ),
    );
    return;
  }
  print("P1 stops replay (default theta; prices after entry at the first step)");
  for (const { scenario, steps } of results) {
    const ms = scenario.market_state;
    const p = ms.regime_probs;
    print("");
    print(`${scenario.id}. ${scenario.title} (${scenario.side}) — ${scenario.story}`);
    const sigma = scenario.sigmaPath ? "per step (see sigma)" : String(ms.sigma);
    print(
      `   market: sigma ${sigma}, ts ${ms.ts}, trend/mr/chop ${p.trend ?? 0}/${p.mr ?? 0}/${p.chop ?? 0}; ` +
        (scenario.feedsBack
          ? "each proposed SL is applied as the next current_sl"
          : "current_sl unset"),
    );
    const rows = steps.map(({ market_state, position, result }, i) => [
      String(i),
      fmt(market_state.sigma, 3),
      fmt(position.current_price, 2),
      fmt(position.peak_price, 2),
      fmt(position.trough_price, 2),
      fmt(position.current_sl, 4),
      fmt(result.intermediates.raw_sl, 4),
      fmt(result.intermediates.trail_sl, 4),
      fmt(result.proposed_sl, 4),
      fmt(result.proposed_tp, 4),
      fmt(result.intermediates.stop_dist_pct * 100, 3),
      fmt(result.intermediates.tp_dist_pct * 100, 3),
      result.reason_codes.join(","),
    ]);
    print(renderTable(STOPS_COLUMNS, rows));
  }
}

// --- market-state ---------------------------------------------------------------------------

interface MarketStateOptions {
  regime?: string;
  seed: number;
  length: number;
  start: number;
  file?: string;
  json?: boolean;
}

function loadPrices(opts: MarketStateOptions): { source: string; prices: number[] } {
  if (opts.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.file, "utf8");
    } catch (err) {
      throw new CliError(
        `replay market-state: cannot read --file ${opts.file}: ${(err as Error).message}`,
      );
    }
    try {
      return { source: `file ${opts.file}`, prices: parsePriceFile(text, opts.file) };
    } catch (err) {
      if (err instanceof PriceFileError)
        throw new CliError(`replay market-state: ${err.message}`, ExitCode.FAILURE);
      throw err;
    }
  }
  const regime = opts.regime as SyntheticRegime;
  return {
    source: `synthetic ${regime} (seed ${opts.seed}, start ${opts.start})`,
    prices: syntheticPrices(regime, { length: opts.length, seed: opts.seed, start: opts.start }),
  };
}

const MARKET_COLUMNS: Column[] = [
  { header: "closes", align: "right" },
  { header: "first", align: "right" },
  { header: "last", align: "right" },
  { header: "sigma", align: "right" },
  { header: "mu", align: "right" },
  { header: "ts", align: "right" },
  { header: "p_trend", align: "right" },
  { header: "p_mr", align: "right" },
  { header: "p_chop", align: "right" },
  { header: "dp", align: "right" },
  { header: "vr", align: "right" },
  { header: "spike", align: "right" },
  { header: "regime" },
];

function replayMarketState(opts: MarketStateOptions): void {
  if (opts.file !== undefined && opts.regime !== undefined)
    throw new CliError("replay market-state: use either --regime or --file, not both");
  if (opts.file === undefined && opts.regime === undefined) {
    throw new CliError(
      `replay market-state: pass --regime ${REGIMES.join("|")} or --file prices.csv`,
    );
  }
  if (opts.regime !== undefined && !isSyntheticRegime(opts.regime)) {
    throw new CliError(
      `replay market-state: unknown regime ${JSON.stringify(opts.regime)} (expected ${REGIMES.join("|")})`,
    );
  }
  const { source, prices } = loadPrices(opts);
  const ms: MarketState | null = computeMarketState(prices);
  const regime = ms === null ? null : dominantRegime(ms.regime_probs);
  if (opts.json) {
    print(
      JSON.stringify(
        { source, closes: prices.length, market_state: ms, dominant_regime: regime },
        null,
        2,
      ),
    );
    return;
  }
  print(`P0 market state of ${prices.length} closes from ${source}`);
  if (ms === null) {
    print(
      `insufficient data: ${prices.length} closes, the kernel needs at least ${marketStateMinRequired()}`,
    );
    return;
  }
  const row = [
    String(prices.length),
    fmt(prices[0], 4),
    fmt(prices[prices.length - 1], 4),
    fmt(ms.sigma, 6),
    fmt(ms.mu, 8),
    fmt(ms.ts, 4),
    fmt(ms.regime_probs.trend, 4),
    fmt(ms.regime_probs.mr, 4),
    fmt(ms.regime_probs.chop, 4),
    fmt(ms.features.dp, 4),
    fmt(ms.features.vr, 4),
    fmt(ms.features.spike_proxy, 4),
    regime ?? "-",
  ];
  print(renderTable(MARKET_COLUMNS, [row]));
}

// --- registration ---------------------------------------------------------------------------

function integerOption(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    }
    return n;
  };
}

function priceOption(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError("must be a finite price > 0");
  return n;
}

export function registerReplay(program: Command): void {
  const replay = program
    .command("replay")
    .description(
      "Replay the proof-pack scenarios through the kernels and print them as tables (one row per step).",
    );

  registerRecordingReplay(replay);

  replay
    .command("harvest")
    .description(
      "P2 harvest proof pack: increasing PnL, regime flip, sigma spike, TS collapse, aging, perfect storm, " +
        "profit lock (LONG and SHORT), no-P1 fallback.",
    )
    .option("--json", "print the scenarios, their inputs and outputs as JSON instead of tables")
    .action((opts: { json?: boolean }) => replayHarvest(opts.json === true));

  replay
    .command("stops")
    .description(
      "P1 stops scenarios: LONG trending, LONG mean-reverting, SHORT trending down, monotonic tightening, " +
        "trailing activation at a peak.",
    )
    .option("--json", "print the scenarios, positions and outputs as JSON instead of tables")
    .action((opts: { json?: boolean }) => replayStops(opts.json === true));

  replay
    .command("market-state")
    .description(
      "P0 market state of a synthetic price path (--regime) or of closes read from a file (--file).",
    )
    .option(
      "-r, --regime <regime>",
      `generate a deterministic synthetic path: ${REGIMES.join(" | ")}`,
    )
    .option("--seed <n>", "PRNG seed of the synthetic path", integerOption("--seed", 0), 1)
    .option("--length <n>", "number of synthetic closes", integerOption("--length", 1), 300)
    .option("--start <price>", "first synthetic close", priceOption, 100)
    .option(
      "-f, --file <path>",
      'read closes, oldest first: one per line, or CSV with a header that has a "close" column (blank lines ignored; a bad value is an error naming its line)',
    )
    .option("--json", "print the market state as JSON instead of a table")
    .action((opts: MarketStateOptions) => replayMarketState(opts));
}
