// A live run for the recorder tests without the service around it: the real phase steps on a
// store, wrapped by the flight recorder exactly as the service wraps them, run by the real
// publisher machines, one cycle at a time per actor (RUN), chained marketstate → risk → harvest.
import { createActor, type AnyActorRef } from "xstate";
import type { PhaseName } from "../../src/core/phases.js";
import type { Config } from "../../src/config/schema.js";
import type { Store } from "../../src/store/types.js";
import { publisherFor, type PhaseDeps, type PhaseSteps } from "../../src/phases/steps.js";
import { marketStateSteps } from "../../src/phases/marketstate.js";
import { riskSteps } from "../../src/phases/risk.js";
import { harvestSteps } from "../../src/phases/harvest.js";
import { createPositionSource } from "../../src/inputs/positions.js";
import { PositionBook } from "../../src/inputs/positionMemory.js";
import { LiveCandles } from "../../src/inputs/klines.js";
import { candleGuardsFromConfig, readCandleExtremes } from "../../src/candles/index.js";
import type { PolicyBook } from "../../src/policy/policyBook.js";
import { FlightRecorder } from "../../src/recorder/recorder.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import {
  brainFields,
  candlePayload,
  dataSinkKey,
  MINUTE_MS,
  positionKey,
} from "../helpers/producers.js";
import { prices } from "../helpers/seed.js";
import { serviceConfig } from "../helpers/serviceHarness.js";
import type { CycleTrigger, PublisherContext } from "../../machines/publisher.js";
import type { Redis } from "ioredis";

export interface LiveRun {
  /** One chained pass: marketstate, risk, harvest of every symbol, each cycle to its end. */
  pass(): Promise<void>;
  /** The same, every symbol's chain at once (a burst); `phases` to run only some. */
  burst(phases?: readonly PhaseName[]): Promise<void>;
  stop(): void;
  outcomes: { phase: PhaseName; symbol: string; outcome: string }[];
}

export function liveRun(options: {
  store: Store;
  config: Config;
  /** null: the same run without a recorder (the benchmark's baseline). */
  recorder: FlightRecorder | null;
  now: () => number;
  policy?: PolicyBook;
}): LiveRun {
  const { config, recorder, now } = options;
  const store = recorder === null ? options.store : recorder.wrapStore(options.store);
  const positions = createPositionSource(config.positionSource, store, {
    maxPositionAgeSec: config.maxPositionAge,
    maxClockSkewSec: config.maxClockSkew,
  });
  const book = new PositionBook(
    store,
    (symbol, fromMs) =>
      readCandleExtremes(
        store,
        symbol,
        config.candlePatterns,
        fromMs,
        candleGuardsFromConfig(config, now()),
      ),
    { maxPriceRatio: config.maxPriceRatio },
  );
  const deps: PhaseDeps = {
    store,
    positions,
    book,
    live: new LiveCandles(),
    config,
    now,
    ...(options.policy ? { policy: options.policy } : {}),
  };
  const outcomes: LiveRun["outcomes"] = [];
  const reported = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const wrap = <M, I, R>(phase: PhaseName, steps: PhaseSteps<M, I, R>): PhaseSteps<M, I, R> =>
    recorder === null ? steps : recorder.wrapSteps(phase, steps);
  const steps = {
    marketstate: wrap("marketstate", marketStateSteps(deps)),
    risk: wrap("risk", riskSteps(deps)),
    harvest: wrap("harvest", harvestSteps(deps)),
  };
  const actors = new Map<string, AnyActorRef>();
  for (const phase of config.phases) {
    const logic = publisherFor(steps[phase] as PhaseSteps<unknown, unknown, unknown>).provide({
      actions: {
        reportCycle: ({ context }: { context: PublisherContext }) => {
          const key = `${context.phase} ${context.symbol}`;
          outcomes.push({
            phase: context.phase,
            symbol: context.symbol,
            outcome: context.lastOutcome ?? "error",
          });
          recorder?.noteCycle({
            phase: context.phase,
            symbol: context.symbol,
            // (the cycle's trigger: context.cycle.trigger since the context was grouped)
            trigger:
              (context as { cycle?: { trigger?: CycleTrigger | null } }).cycle?.trigger ?? null,
          });
          reported.set(key, (reported.get(key) ?? 0) + 1);
          waiters.get(key)?.();
        },
      },
    });
    for (const symbol of config.symbols) {
      const actor = createActor(logic, {
        input: {
          phase,
          symbol,
          intervalMs: Number.POSITIVE_INFINITY,
          firstDelayMs: Number.POSITIVE_INFINITY,
          backoff: { baseMs: 1, capMs: 1 },
        },
      });
      actor.start();
      actors.set(`${phase} ${symbol}`, actor);
    }
  }
  const cycle = async (phase: PhaseName, symbol: string): Promise<void> => {
    const key = `${phase} ${symbol}`;
    const before = reported.get(key) ?? 0;
    const done = new Promise<void>((resolve) =>
      waiters.set(key, () => {
        if ((reported.get(key) ?? 0) > before) resolve();
      }),
    );
    // A RUN during seeding is remembered and run right after it.
    actors.get(key)?.send({ type: "RUN" });
    await done;
  };
  return {
    outcomes,
    async pass() {
      for (const symbol of config.symbols)
        for (const phase of config.phases) await cycle(phase, symbol);
    },
    async burst(phases = config.phases) {
      await Promise.all(
        config.symbols.map(async (symbol) => {
          for (const phase of phases) await cycle(phase, symbol);
        }),
      );
    },
    stop() {
      for (const actor of actors.values()) actor.stop();
    },
  };
}

const SYMBOLS = ["BTCUSDT", "ETHUSDT"];
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

/** A run of `passes` minutes: a candle a minute, ETHUSDT's long opened at 2, moved, closed at 7. */
export async function recordRun(
  dir: string,
  passes: number,
  segmentBytes?: number,
  /** Called after every pass, before the recorder closes (a crash's snapshot of the directory). */
  afterPass?: (pass: number, recorder: FlightRecorder) => Promise<void>,
  /** I/O failures: the first two reads (HGET) of pass `read`, the first two publishes of pass `publish`. */
  faults: { read?: number; publish?: number } = {},
  /** Run on redis-server: the store the steps use, and a client that writes the producers' keys. */
  redis?: { store: Store; client: Redis },
): Promise<FlightRecorder> {
  let nowMs = T0;
  const memory = new MemoryStore({ now: () => nowMs });
  const store: Store = redis?.store ?? memory;
  const producer = {
    zadd: async (key: string, score: number, member: string) => {
      if (redis) await redis.client.zadd(key, score, member);
      else memory.zadd(key, score, member);
    },
    hset: async (key: string, fields: Record<string, string>) => {
      if (redis) await redis.client.hset(key, fields);
      else memory.hset(key, fields);
    },
  };
  const series: Record<string, number[]> = {
    BTCUSDT: prices("trend", 300 + passes, 80_000, 3),
    ETHUSDT: prices("mr", 300 + passes, 3_000, 5),
  };
  const addCandle = async (symbol: string, i: number) => {
    const open_time = T0 - 300 * MINUTE_MS + i * MINUTE_MS;
    const close = series[symbol][i];
    await producer.zadd(
      dataSinkKey(symbol),
      open_time,
      candlePayload({ symbol, open_time, close, high: close * 1.002, low: close * 0.998 }),
    );
  };
  for (const symbol of SYMBOLS) for (let i = 0; i < 300; i++) await addCandle(symbol, i);
  const config = serviceConfig({ store: "memory", symbols: SYMBOLS, followKlines: false });
  const recorder = new FlightRecorder({
    dir,
    retentionMs: 86_400_000,
    maxBytes: 1e9,
    config,
    now: () => nowMs,
    triggers: true,
    ...(segmentBytes ? { segmentBytes } : {}),
  });
  let pass = -1;
  const failed = { read: 0, publish: 0 };
  const faulty = new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      const fn = (value as (...a: unknown[]) => unknown).bind(target);
      const kind = prop === "hget" ? "read" : prop === "publish" ? "publish" : null;
      if (kind === null) return fn;
      return (...args: unknown[]) => {
        if (faults[kind] === pass && failed[kind] < 2) {
          failed[kind]++;
          return Promise.reject(new Error(`connection lost (${kind} fault)`));
        }
        return fn(...args);
      };
    },
  });
  const run = liveRun({ store: faulty, config, recorder, now: () => nowMs });
  for (let p = 0; p < passes; p++) {
    pass = p;
    nowMs = T0 + p * MINUTE_MS + 1_234.5;
    for (const symbol of SYMBOLS) await addCandle(symbol, 300 + p);
    const eth = series.ETHUSDT[300 + p];
    if (p >= 2 && p < 7) {
      await producer.hset(
        positionKey("ETHUSDT"),
        brainFields(
          {
            symbol: "ETHUSDT",
            positionAmt: 1.5,
            entry: series.ETHUSDT[301] * 0.98,
            mark: eth,
            unrealizedPnl: (eth - series.ETHUSDT[301] * 0.98) * 1.5,
          },
          nowMs,
        ),
      );
    } else if (p === 7) {
      await producer.hset(
        positionKey("ETHUSDT"),
        brainFields(
          { symbol: "ETHUSDT", positionAmt: 0, entry: 0, mark: eth, unrealizedPnl: 0 },
          nowMs,
        ),
      );
    }
    await run.pass();
    await afterPass?.(p, recorder);
  }
  run.stop();
  await recorder.close();
  return recorder;
}
