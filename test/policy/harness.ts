// Shared by the policy tests (docs/specification.md §9, §10): the inputs as the live stack's producers write them,
// the harvest kernel re-run on what the service published, and reading a Prometheus scrape.
import type { Redis } from "ioredis";
import { expect } from "vitest";
import {
  computeHarvest,
  DEFAULT_HARVEST_THETA,
  type HarvestTheta,
} from "../../src/kernels/harvest.js";
import type { HarvestResult } from "../../src/kernels/types.js";
import { POLICY_KEY, POLICY_UPDATE_STREAM } from "../../src/policy/policy.js";
import {
  applyLayerFields,
  brainFields,
  GENERATOR_HARVEST_PARAMS,
  GENERATOR_KILL_PARAMS,
  hsetPosition,
  seedDataSink,
} from "../helpers/producers.js";
import { prices } from "../helpers/seed.js";
import type { SyntheticRegime } from "../../src/synthetic/prices.js";

export const harvestKey = (symbol: string): string => `quantum:harvest:proposal:${symbol}`;
export const riskKey = (symbol: string): string => `quantum:risk:proposal:${symbol}`;
export const marketKey = (symbol: string): string => `quantum:marketstate:${symbol}`;

/** 300 fresh data-sink candles for `symbol` (by default a trend: K stays low); returns the mark price. */
export async function seedMarket(
  redis: Redis,
  symbol: string,
  nowMs: number,
  seed = 7,
  start = 100,
  regime: SyntheticRegime = "trend",
): Promise<number> {
  const closes = prices(regime, 300, start, seed);
  await seedDataSink(redis, symbol, closes, { nowMs });
  return Math.round(closes[closes.length - 1] * 100) / 100;
}

/**
 * A LONG opened by the apply layer `ageSec` ago (no stop), snapshotted by the position brain at
 * `nowMs`, `profit` above its entry (as a fraction of the mark).
 */
export async function openLong(
  redis: Redis,
  symbol: string,
  mark: number,
  nowMs: number,
  options: { ageSec?: number; profit?: number; amount?: number } = {},
): Promise<void> {
  const amount = options.amount ?? 0.5;
  const entry = Math.round(mark * (1 - (options.profit ?? 0.02)) * 100) / 100;
  const createdAt = Math.floor(nowMs / 1000) - (options.ageSec ?? 7200);
  await hsetPosition(
    redis,
    applyLayerFields({ symbol, side: "LONG", quantity: amount, entry, createdAt }),
  );
  await hsetPosition(
    redis,
    brainFields(
      {
        symbol,
        positionAmt: amount,
        entry,
        mark,
        unrealizedPnl: (mark - entry) * amount,
        tsEpoch: Math.floor(nowMs / 1000),
      },
      nowMs,
    ),
  );
}

/** The position brain's snapshot of a closed position (side FLAT, amount 0). */
export async function flatten(
  redis: Redis,
  symbol: string,
  mark: number,
  nowMs: number,
): Promise<void> {
  await hsetPosition(
    redis,
    brainFields(
      {
        symbol,
        positionAmt: 0,
        entry: 0,
        mark,
        unrealizedPnl: 0,
        tsEpoch: Math.floor(nowMs / 1000),
      },
      nowMs,
    ),
  );
}

/** Writes the policy hash (replacing the whole hash, as save_policy's HSET of every field does on a fresh key) and announces it. */
export async function writePolicy(
  redis: Redis,
  fields: Record<string, string>,
  announce = true,
): Promise<void> {
  await redis.multi().del(POLICY_KEY).hset(POLICY_KEY, fields).exec();
  if (announce)
    await redis.xadd(
      POLICY_UPDATE_STREAM,
      "MAXLEN",
      "~",
      "1000",
      "*",
      "event_type",
      "policy.updated",
      "policy_version",
      fields.policy_version ?? "",
    );
}

/** The generator's theta keys (harvest_params + kill_params, minus k_close_threshold). */
export function generatorTheta(
  harvest: Record<string, number> = {},
  kill: Record<string, number> = {},
): Partial<HarvestTheta> {
  const { k_close_threshold: _unused, ...killTheta } = { ...GENERATOR_KILL_PARAMS, ...kill };
  return { ...GENERATOR_HARVEST_PARAMS, ...harvest, ...killTheta };
}

/** docs/specification.md §9: defaults, then the configured theta.harvest and fallbackStopPct, then the policy's keys. */
export function thetaOf(
  configured: Partial<HarvestTheta>,
  policy: Partial<HarvestTheta> | null,
): HarvestTheta {
  const { fallback_stop_pct: _ignored, ...fromPolicy } = policy ?? {};
  return { ...DEFAULT_HARVEST_THETA, ...configured, ...fromPolicy };
}

export interface Published {
  harvest: Record<string, string>;
  risk: Record<string, string>;
}

export async function published(redis: Redis, symbol: string): Promise<Published> {
  return {
    harvest: await redis.hgetall(harvestKey(symbol)),
    risk: await redis.hgetall(riskKey(symbol)),
  };
}

const num = (value: string | undefined, what: string): number => {
  expect(value, what).toBeDefined();
  expect(value, what).not.toBe("");
  return Number(value);
};

/**
 * The harvest kernel run on what the service published: the position and market fields the
 * harvest hash echoes, the risk hash's stop distance (when `withRisk`), and `theta`.
 */
export function kernelOnPublished(
  { harvest, risk }: Published,
  theta: HarvestTheta,
  withRisk = true,
): HarvestResult {
  const price = num(harvest.position_current_price, "position_current_price");
  return computeHarvest({
    position: {
      symbol: "X",
      side: harvest.position_side as "LONG" | "SHORT",
      entry_price: num(harvest.position_entry_price, "position_entry_price"),
      current_price: price,
      peak_price: price,
      trough_price: price,
      age_sec: num(harvest.position_age_sec, "position_age_sec"),
      unrealized_pnl: num(harvest.position_unrealized_pnl, "position_unrealized_pnl"),
      current_sl: null,
      current_tp: null,
    },
    market_state: {
      sigma: num(harvest.sigma, "sigma"),
      ts: num(harvest.ts, "ts"),
      p_trend: num(harvest.p_trend, "p_trend"),
      p_mr: num(harvest.p_mr, "p_mr"),
      p_chop: num(harvest.p_chop, "p_chop"),
    },
    p1_proposal: withRisk ? { stop_dist_pct: num(risk.stop_dist_pct, "stop_dist_pct") } : null,
    theta,
  });
}

/** The kernel's result as the harvest hash spells it (numbers read back exactly: CONTRACT.md, deliberate difference 7). */
export function resultFields(r: HarvestResult): Record<string, string | number> {
  return {
    harvest_action: r.harvest_action,
    new_sl_proposed: r.new_sl_proposed === null ? "" : r.new_sl_proposed,
    R_net: r.R_net,
    risk_unit: r.risk_unit,
    cost_est: r.cost_est,
    kill_score: r.kill_score,
    k_regime_flip: r.k_components.regime_flip,
    k_sigma_spike: r.k_components.sigma_spike,
    k_ts_drop: r.k_components.ts_drop,
    k_age_penalty: r.k_components.age_penalty,
    reason_codes: r.reason_codes.join(","),
  };
}

const NUMERIC_FIELDS = new Set([
  "R_net",
  "risk_unit",
  "cost_est",
  "kill_score",
  "k_regime_flip",
  "k_sigma_spike",
  "k_ts_drop",
  "k_age_penalty",
]);

/** The same fields of the harvest hash, numbers as numbers (new_sl_proposed too, unless ""). */
export function hashFields(harvest: Record<string, string>): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const name of ["harvest_action", "new_sl_proposed", ...NUMERIC_FIELDS, "reason_codes"]) {
    const text = harvest[name];
    if (text === undefined) out[name] = "<absent>";
    else
      out[name] =
        NUMERIC_FIELDS.has(name) || (name === "new_sl_proposed" && text !== "")
          ? Number(text)
          : text;
  }
  return out;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (no escapes in our label values). */
export function parseScrape(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g))
      labels[l[1]] = l[2]!;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample `name{labels}` (labels matched as a subset), undefined when absent. */
export function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1)
    throw new Error(`${name}${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value;
}

export interface CommandMonitor {
  /** Commands seen so far: the lower-cased command name and its arguments, with the time they arrived. */
  readonly commands: Array<{ atMs: number; args: string[] }>;
  count(command: string, key: string, sinceMs?: number): number;
  stop(): void;
}

/**
 * MONITOR on a raw socket (ioredis' monitor mode can trip over a busy server: "Command queue
 * state error"): every command the server runs, as it reports them.
 */
export async function monitorCommands(port: number): Promise<CommandMonitor> {
  const { connect } = await import("node:net");
  const socket = connect(port, "127.0.0.1");
  const commands: Array<{ atMs: number; args: string[] }> = [];
  let buffer = "";
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      let end: number;
      while ((end = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (line === "+OK") resolve();
        else if (line.startsWith("+") && line.includes('] "')) {
          const args = [
            ...line.slice(line.indexOf('] "') + 2).matchAll(/"((?:[^"\\]|\\.)*)"/g),
          ].map((m) => m[1]);
          if (args.length > 0)
            commands.push({ atMs: Date.now(), args: [args[0].toLowerCase(), ...args.slice(1)] });
        }
      }
    });
    socket.write("MONITOR\r\n");
  });
  return {
    commands,
    count: (command, key, sinceMs = 0) =>
      commands.filter((c) => c.atMs >= sinceMs && c.args[0] === command && c.args[1] === key)
        .length,
    stop: () => socket.destroy(),
  };
}
