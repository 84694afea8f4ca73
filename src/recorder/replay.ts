// Replay of a flight recording through the service's own publisher machines and phase steps,
// with no Redis (docs/recording.md, "Replay").
//
// Each recorded actor (phase × symbol) gets the real publisher machine (machines/publisher.ts)
// provided with the real phase steps (src/phases/marketstate.ts, risk.ts, harvest.ts via
// publisherFor), except at the edge:
//   seed and read  → answered from the recording: the actor's next recorded seed or cycle;
//   publish/heartbeat → the real step runs on a store that captures the batch instead of
//                    writing it (and fails where the recorded write failed, so the machine takes
//                    the same path: backoff, re-seed);
//   the clock      → one XState SimulatedClock per actor (createActor's `clock` option), moved to
//                    each recorded cycle's time, and past a backoff's delay when the recording
//                    says the cycle was a retry.
// Compute and decide are the real pure steps. Cycles are started with RUN in the order they were
// recorded (polling intervals are off: the recording says when cycles ran), so what decides the
// output — the inputs, the clock reading, the rate-limit memory the machine carries from cycle to
// cycle — is exactly what the live run had, and every replayed write can be compared with the
// recorded one field by field.
//
// The supervisor is not run: it decides *when* cycles start (intervals, chaining, restarts) and
// the recording already says that; what a cycle computes and writes is the publisher's.
import { createActor, SimulatedClock, type AnyActorRef, type InspectionEvent } from "xstate";
import type { PhaseName } from "../core/phases.js";
import type { Config } from "../config/schema.js";
import type { CycleTrigger, PublisherContext, ReadOutput } from "../../machines/publisher.js";
import { publisherFor, type PhaseDeps, type PhaseSteps } from "../phases/steps.js";
import { stepGate } from "../phases/stepGate.js";
import { marketStateSteps } from "../phases/marketstate.js";
import { riskSteps } from "../phases/risk.js";
import { harvestSteps } from "../phases/harvest.js";
import { LiveCandles } from "../inputs/klines.js";
import type { PublishBatch, Store } from "../store/types.js";
import type { PositionBook } from "../inputs/positionMemory.js";
import type { PositionSource } from "../inputs/positions.js";
import { CALC_PREFIX } from "../store/keyGuard.js";
import { patch, DeltaError, type Json, type JsonObject } from "./delta.js";
import { ChainedOutputs, type ChainCounts } from "./chain.js";
import { maxInputAgeSec } from "../config/schema.js";
import type { CycleRecord, WrittenBatch } from "./format.js";
import { readRecording, RecordingError, type ReadReport } from "./reader.js";

/** Theta overrides for a what-if replay, per kernel (validated by the caller). */
export interface ThetaOverride {
  marketstate?: Record<string, unknown>;
  stops?: Record<string, unknown>;
  harvest?: Record<string, unknown>;
}

export interface ReplayOptions {
  dir: string;
  /** Only cycles at or after / before these times (epoch ms) are reported and checked. */
  fromMs?: number | null;
  toMs?: number | null;
  symbols?: readonly string[] | null;
  phases?: readonly PhaseName[] | null;
  theta?: ThetaOverride | null;
  /** Called now and then with how far the replay is (records read, recorded time reached). */
  progress?: (p: { records: number; atMs: number }) => void;
  /**
   * XState's inspection observer (createActor's `inspect` option), given to every publisher the
   * replay starts: the visualizer on a recording (src/viz/recording.ts) follows their transitions.
   */
  inspect?: (event: InspectionEvent) => void;
  /**
   * Whether each reported cycle keeps the inputs it was replayed with (default true). A check
   * needs only the writes: holding every cycle's candle arrays to the end is most of a long
   * replay's memory and garbage-collection time.
   */
  keepInputs?: boolean;
  /**
   * Called with each reported cycle as it ends; returning false leaves it out of the result's
   * `cycles` (a check counts and compares as it goes, and holds none of them to the end).
   */
  onCycle?: (cycle: ReplayedCycle) => boolean | undefined;
}

export type Outcome = "published" | "heartbeat" | "skipped" | "error";

/** One cycle's end, as recorded or as replayed. */
export interface CycleEnd {
  outcome: Outcome;
  /** The decision's why, the skip reason, or the error. */
  why: string;
  written: WrittenBatch | null;
}

export interface ReplayedCycle {
  phase: PhaseName;
  symbol: string;
  /** 1-based, per actor, counting every recorded cycle (folded repeats too). */
  cycle: number;
  /** The cycle's clock reading (epoch ms). */
  t: number;
  trigger: string | null;
  recorded: CycleEnd;
  replayed: CycleEnd;
  /** The inputs the cycle was replayed with (null: a read skip or error, or not kept). */
  inputs: JsonObject | null;
  /** The memory the replayed decide saw differed from the recorded one: the recorded, replayed. */
  memory?: [Json, Json];
}

export interface ReplayResult {
  cycles: ReplayedCycle[];
  report: ReadReport;
  /** Recorded cycles not replayed: their inputs were a delta whose base was lost in a gap. */
  unreplayable: number;
  /** Recorded cycles that did not end (their publisher was stopped): shown, not replayed. */
  stopped: number;
  /** Records dropped by the recorder (gap records). */
  dropped: number;
  /** The recorded span (epoch ms of the first and last cycle). */
  spanMs: [number, number] | null;
  /**
   * A what-if with a marketstate or stops theta: the risk and harvest inputs read from the
   * replayed publishes (followed) and those left as recorded (their publish is not in the
   * recording); null when the replay does not follow the chain.
   */
  chain: ChainCounts | null;
}

export class ReplayError extends Error {}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

interface Deferred<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

interface CurrentCycle {
  rec: CycleRecord;
  inputs: JsonObject | null;
  config: Config;
  replayed: CycleEnd;
  memoryDiff?: [Json, Json];
}

/** One recorded actor during the replay. */
class ReplayActor {
  actor: AnyActorRef | null = null;
  clock: SimulatedClock | null = null;
  pendingSeed: Deferred<unknown> | null = null;
  pendingRead: Deferred<ReadOutput<unknown>> | null = null;
  current: CurrentCycle | null = null;
  /** Inputs of the last recorded cycle (the base of the next delta). */
  base: JsonObject | null = null;
  /** Whether the machine's memory is the recorded run's (false after a gap or a made-up seed). */
  memoryKnown = true;
  cycles = 0;
  reported = 0;
  backoffCapMs = 0;
  private waiters: (() => void)[] = [];
  constructor(
    readonly phase: PhaseName,
    readonly symbol: string,
  ) {}
  changed(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  nextChange(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** The states a publisher waits in without asking for a step. */
const isResting = (value: string): boolean =>
  value === "idle" || value === "backoff" || value === "stopped";

const isObject = (v: unknown): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The written batch without our position memory (the book's state, not the cycle's result). */
function ownWrites(batch: PublishBatch): WrittenBatch {
  return {
    h: batch.hashes
      .filter((h) => !h.key.startsWith(`${CALC_PREFIX}position:`))
      .map((h) => [h.key, { ...h.fields }, h.ttlSec ?? null]),
    x: batch.streams.map((s) => [s.key, { ...s.fields }, s.maxLen]),
  };
}

function withoutPositionMemory(w: WrittenBatch): WrittenBatch {
  return { h: w.h.filter(([key]) => !key.startsWith(`${CALC_PREFIX}position:`)), x: w.x };
}

/** How a recorded cycle ended. */
export function recordedEnd(rec: CycleRecord): CycleEnd {
  const written = rec.w === undefined ? null : withoutPositionMemory(rec.w);
  if (rec.x !== undefined) return { outcome: "skipped", why: rec.x[0], written: null };
  if (rec.e !== undefined) return { outcome: "error", why: rec.e, written: null };
  if (rec.cx !== undefined) return { outcome: "skipped", why: rec.cx[0], written: null };
  if (rec.ce !== undefined) return { outcome: "error", why: rec.ce, written: null };
  if (rec.we !== undefined) return { outcome: "error", why: rec.we, written };
  if (rec.d === undefined) return { outcome: "error", why: "cycle did not end", written };
  return { outcome: rec.d[0] ? "published" : "heartbeat", why: rec.d[1], written };
}

/** A store that has nothing to read (reads are answered from the recording) and captures writes. */
function captureStore(onPublish: (batch: PublishBatch) => void): Store {
  const noRead = (): never => {
    throw new ReplayError("replay: a step read the store; reads come from the recording");
  };
  return new Proxy({} as Store, {
    get(_target, prop) {
      if (prop === "kind") return "memory";
      if (prop === "publish") return (batch: PublishBatch) => Promise.resolve(onPublish(batch));
      if (prop === "close") return () => Promise.resolve();
      if (prop === "then") return undefined;
      return noRead;
    },
  });
}

/** The position book as replay needs it: publish adds no memory write (see ownWrites). */
const replayBook = {
  pendingWrite: () => null,
  flat: () => Promise.resolve(),
  observe: () => Promise.reject(new ReplayError("replay: the position book is not read")),
} as unknown as PositionBook;

const noPositions = {
  read: () => Promise.reject(new ReplayError("replay: positions come from the recording")),
} as unknown as PositionSource;

type AnySteps = PhaseSteps<unknown, unknown, unknown>;

function stepsFor(phase: PhaseName, deps: PhaseDeps): AnySteps {
  if (phase === "marketstate") return marketStateSteps(deps);
  if (phase === "risk") return riskSteps(deps);
  return harvestSteps(deps);
}

/** Recorded config + the what-if theta (marketstate and stops: the steps are built with it). */
function configWith(config: Config, theta: ThetaOverride | null | undefined): Config {
  if (!theta) return config;
  const merged = { ...config.theta } as Record<string, unknown>;
  for (const kernel of ["marketstate", "stops", "harvest"] as const) {
    const over = theta[kernel];
    if (over === undefined) continue;
    const base = (merged[kernel] ?? {}) as Record<string, unknown>;
    merged[kernel] = deepMerge(base, over);
  }
  return { ...config, theta: merged };
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>) {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

export async function replayRecording(options: ReplayOptions): Promise<ReplayResult> {
  // Replay's reads wait for the recording: no gate may hold them back (it is this process's only use).
  stepGate.setLimit(Number.POSITIVE_INFINITY);
  const theta = options.theta ?? null;
  const keepInputs = options.keepInputs ?? true;
  const symbolSet = options.symbols ? new Set(options.symbols) : null;
  const phaseSet = options.phases ? new Set<string>(options.phases) : null;
  const wantSymbol = (s: string) => symbolSet === null || symbolSet.has(s);
  const wantPhase = (p: string) => phaseSet === null || phaseSet.has(p);
  // A marketstate or stops theta changes what risk and harvest read: the replay follows the chain
  // (src/recorder/chain.ts), and runs every phase of the chosen symbols (options.phases: those shown).
  const chain =
    theta?.marketstate !== undefined || theta?.stops !== undefined ? new ChainedOutputs() : null;
  const runPhase = (p: string) => chain !== null || wantPhase(p);
  // Other actors' lines are not even parsed (the reader skips them by their prefix).
  const skipActor =
    symbolSet === null && (phaseSet === null || chain !== null)
      ? undefined
      : (p: string, s: string) => !runPhase(p) || !wantSymbol(s);
  const inRange = (t: number) =>
    (options.fromMs == null || t >= options.fromMs) && (options.toMs == null || t < options.toMs);

  const actors = new Map<string, ReplayActor>();
  const cycles: ReplayedCycle[] = [];
  const report: ReadReport = { segments: 0, badLines: 0 };
  let unreplayable = 0;
  let stoppedCycles = 0;
  let dropped = 0;
  let span: [number, number] | null = null;

  // Steps per phase and recorded configuration (a restart may have changed it).
  let config: Config | null = null;
  let configKey = "";
  // Steps per (phase, config object): every cycle asks, so no string keys here.
  const stepsByConfig = new WeakMap<Config, Map<PhaseName, AnySteps>>();
  const realSteps = (phase: PhaseName, cfg: Config): AnySteps => {
    let perPhase = stepsByConfig.get(cfg);
    if (perPhase === undefined) stepsByConfig.set(cfg, (perPhase = new Map<PhaseName, AnySteps>()));
    let steps = perPhase.get(phase);
    if (steps === undefined) {
      const deps: PhaseDeps = {
        store: captureStore((batch) => capture(batch)),
        positions: noPositions,
        book: replayBook,
        live: new LiveCandles(),
        config: configWith(cfg, theta),
        now: () => {
          throw new ReplayError("replay: a step asked the wall clock");
        },
      };
      steps = stepsFor(phase, deps);
      perPhase.set(phase, steps);
    }
    return steps;
  };
  // The actor whose publish or heartbeat is under way (steps run one at a time here).
  let publishing: ReplayActor | null = null;
  const capture = (batch: PublishBatch): void => {
    const cur = publishing?.current;
    if (cur == null) throw new ReplayError("replay: a write outside a publish step");
    const own = ownWrites(batch);
    const w = cur.replayed.written;
    cur.replayed.written = w === null ? own : { h: [...w.h, ...own.h], x: [...w.x, ...own.x] };
  };

  const byInputs = new WeakMap<object, ReplayActor>();
  const replaySteps = (phase: PhaseName): AnySteps => {
    const actorOf = (symbol: string): ReplayActor => {
      const a = actors.get(`${phase} ${symbol}`);
      if (a === undefined) throw new ReplayError(`replay: no actor ${phase} ${symbol}`);
      return a;
    };
    const cur = (a: ReplayActor): CurrentCycle => {
      if (a.current === null) throw new ReplayError(`replay: ${phase} ${a.symbol} has no cycle`);
      return a.current;
    };
    return {
      seed: (symbol) =>
        new Promise((resolve, reject) => {
          const a = actorOf(symbol);
          a.pendingSeed = { resolve, reject };
          a.changed();
        }),
      // A chain's hand-off is not needed: the read is answered from the record, which holds the
      // inputs the live read had, handed on or read (src/inputs/handoff.ts).
      read: (symbol) =>
        new Promise((resolve, reject) => {
          const a = actorOf(symbol);
          a.pendingRead = { resolve, reject };
          a.changed();
        }),
      compute: (symbol, inputs) => {
        const a = actorOf(symbol);
        const c = cur(a);
        try {
          const out = realSteps(phase, c.config).compute(symbol, inputs);
          if (!out.ok) c.replayed = { outcome: "skipped", why: out.reason, written: null };
          return out;
        } catch (err) {
          c.replayed = { outcome: "error", why: errorText(err), written: null };
          throw err;
        }
      },
      decide: (memory, inputs, result, nowMs) => {
        const a = isObject(inputs) ? byInputs.get(inputs) : undefined;
        if (a === undefined) throw new ReplayError("replay: decide for inputs not read");
        const c = cur(a);
        let seen = memory;
        if (c.rec.m !== undefined) {
          // The recorded memory stands in where the replay's is not the live run's (after a gap,
          // or a recording that begins mid-run); elsewhere it must agree.
          if (!a.memoryKnown) {
            seen = c.rec.m;
            a.memoryKnown = true;
          } else if (JSON.stringify(c.rec.m) !== JSON.stringify(memory ?? null) && !theta) {
            c.memoryDiff = [c.rec.m, (memory ?? null) as Json];
          }
        }
        let decision: ReturnType<AnySteps["decide"]>;
        try {
          decision = realSteps(phase, c.config).decide(seen, inputs, result, nowMs);
        } catch (err) {
          c.replayed = { outcome: "error", why: `decide: ${errorText(err)}`, written: null };
          throw err;
        }
        c.replayed = {
          outcome: decision.publish ? "published" : "heartbeat",
          why: decision.why,
          written: null,
        };
        return decision;
      },
      publish: async (symbol, inputs, result, nowMs) => {
        const a = actorOf(symbol);
        const c = cur(a);
        publishing = a;
        try {
          const out = await realSteps(phase, c.config).publish(symbol, inputs, result, nowMs);
          if (c.rec.we !== undefined) throw new Error(c.rec.we);
          return out;
        } finally {
          publishing = null;
        }
      },
      heartbeat: async (symbol, nowMs) => {
        const a = actorOf(symbol);
        const c = cur(a);
        publishing = a;
        try {
          await realSteps(phase, c.config).heartbeat(symbol, nowMs);
          if (c.rec.we !== undefined) throw new Error(c.rec.we);
        } finally {
          publishing = null;
        }
      },
    };
  };

  const logic = new Map<PhaseName, ReturnType<typeof publisherFor>>();
  const logicFor = (phase: PhaseName) => {
    let l = logic.get(phase);
    if (l === undefined) {
      l = publisherFor(replaySteps(phase)).provide({
        actions: {
          reportCycle: ({ context }: { context: PublisherContext }) => {
            const a = actors.get(`${context.phase} ${context.symbol}`);
            if (a === undefined) return;
            a.reported++;
            a.changed();
          },
        },
      });
      logic.set(phase, l);
    }
    return l;
  };

  const state = (a: ReplayActor): { value: string; context: PublisherContext } => {
    const snap = a.actor?.getSnapshot() as { value: string; context: PublisherContext } | undefined;
    if (snap === undefined) throw new ReplayError(`replay: ${a.phase} ${a.symbol} not started`);
    return snap;
  };

  /**
   * Waits until `ready()` holds; an actor that stops moving first is a replay error. Nothing here
   * waits on I/O or timers (the clock is simulated, the store captures), so an actor that still
   * moves does so in microtasks: one macrotask turn (setImmediate) after the wait began, they have
   * all run — if `ready()` still fails then, the actor is stuck. One turn per wait, not per change.
   */
  const until = async (a: ReplayActor, ready: () => boolean, what: string): Promise<void> => {
    if (ready()) return;
    let idle = false;
    const idleTurn = new Promise<void>((resolve) =>
      setImmediate(() => {
        idle = true;
        resolve();
      }),
    );
    while (!ready()) {
      if (idle) {
        throw new ReplayError(
          `replay: ${a.phase} ${a.symbol} did not ${what} (state ${JSON.stringify((a.actor?.getSnapshot() as { value: unknown } | undefined)?.value)})`,
        );
      }
      await Promise.race([a.nextChange(), idleTurn]);
    }
  };

  const start = (a: ReplayActor, atMs: number, backoff: { baseMs: number; capMs: number }) => {
    a.actor?.stop();
    a.backoffCapMs = backoff.capMs;
    a.clock = new SimulatedClock();
    a.clock.set(atMs);
    a.pendingSeed = null;
    a.pendingRead = null;
    const actor = createActor(logicFor(a.phase), {
      clock: a.clock,
      input: {
        phase: a.phase,
        symbol: a.symbol,
        // The recording says when cycles ran: no polling of its own.
        intervalMs: Number.POSITIVE_INFINITY,
        firstDelayMs: Number.POSITIVE_INFINITY,
        backoff,
      },
      ...(options.inspect !== undefined ? { inspect: options.inspect } : {}),
    });
    actor.subscribe({ next: () => a.changed(), error: () => a.changed() });
    a.actor = actor;
    actor.start();
  };

  /** Moves the actor's clock to `t`, and past its backoff if it still waits in one. */
  const advance = (a: ReplayActor, t: number, pastBackoff: boolean) => {
    const clock = a.clock;
    if (clock === null) return;
    if (t > clock.now()) clock.increment(t - clock.now());
    if (pastBackoff && state(a).value === "backoff") {
      // The delay the backoff was armed with (jittered: not the live run's), else the longest one.
      const armed = (state(a).context as { retryDelayMs?: number | null }).retryDelayMs;
      clock.increment((armed ?? a.backoffCapMs) + 1);
    }
  };

  const backoffOf = (cfg: Config) => ({ baseMs: cfg.backoffBaseMs, capMs: cfg.backoffCapMs });

  /** Waits until the actor asks for a step or rests (idle, backoff). */
  const settle = (a: ReplayActor) =>
    until(
      a,
      () => a.pendingRead !== null || a.pendingSeed !== null || isResting(state(a).value),
      "settle",
    );

  /** A seed the recording lacks (it begins mid-run, or lost a re-seed): the cycle's memory stands in. */
  const standInSeed = async (a: ReplayActor, rec: CycleRecord) => {
    const seed = a.pendingSeed;
    if (seed === null) return;
    a.pendingSeed = null;
    a.memoryKnown = rec.m !== undefined;
    seed.resolve(rec.m ?? null);
    await settle(a);
  };

  let records = 0;
  let lastProgress = 0;
  for await (const { record } of readRecording(options.dir, report, skipActor)) {
    records++;
    if (options.progress && records - lastProgress >= 5000) {
      lastProgress = records;
      options.progress({ records, atMs: "t" in record ? record.t : 0 });
    }
    if (record.k === "h") {
      const header = record;
      const key = JSON.stringify(header.config);
      if (key !== configKey) {
        configKey = key;
        config = header.config as unknown as Config;
      }
      continue;
    }
    if (record.k === "g") {
      dropped += record.n;
      chain?.forgetAll();
      for (const a of actors.values()) {
        a.base = null;
        a.memoryKnown = false;
      }
      continue;
    }
    if (record.k === "r") {
      chain?.forgetAll();
      continue;
    }
    if (!runPhase(record.p) || !wantSymbol(record.s)) continue;
    if (config === null) throw new RecordingError("recording: a record before any header");
    const cfg = config;
    const key = `${record.p} ${record.s}`;
    let a = actors.get(key);
    if (a === undefined) {
      a = new ReplayActor(record.p, record.s);
      actors.set(key, a);
    }

    if (record.k === "s") {
      // A seed: the retry of a failed publish re-seeds the same machine; otherwise a new run began.
      if (a.actor !== null && a.pendingSeed === null && state(a).value === "backoff") {
        advance(a, record.t, true);
        await settle(a);
      }
      if (a.pendingSeed === null) {
        start(a, record.t, backoffOf(cfg));
        await settle(a);
      }
      const seed = a.pendingSeed;
      if (seed === null) throw new ReplayError(`replay: ${key} did not ask for its seed`);
      a.pendingSeed = null;
      a.memoryKnown = true;
      if (record.e !== undefined) seed.reject(new Error(record.e));
      else seed.resolve(record.m ?? null);
      continue;
    }

    // A cycle record.
    const rec = record;
    if (rec.z === 1) {
      // Its publisher was stopped mid-cycle (lease lost, shutdown): the live machine never ended
      // it, and the next one starts from a seed. Its inputs still base the next delta.
      if (rec.f !== undefined) a.base = rec.f;
      else if (rec.i !== undefined && a.base !== null) a.base = patch(a.base, rec.i);
      a.cycles++;
      if (wantPhase(rec.p)) stoppedCycles++;
      chain?.forget(rec.p, rec.s);
      continue;
    }
    let inputs: JsonObject | null = null;
    if (rec.f !== undefined) inputs = rec.f;
    else if (rec.i !== undefined) {
      if (a.base === null) {
        if (wantPhase(rec.p)) unreplayable++;
        a.cycles++;
        continue;
      }
      try {
        inputs = patch(a.base, rec.i);
      } catch (err) {
        if (!(err instanceof DeltaError)) throw err;
        if (wantPhase(rec.p)) unreplayable++;
        a.cycles++;
        a.base = null;
        continue;
      }
    }
    if (inputs !== null) a.base = inputs;
    if (wantPhase(rec.p))
      span = span === null ? [rec.t, rec.t] : [Math.min(span[0], rec.t), Math.max(span[1], rec.t)];

    if (a.actor === null) start(a, rec.t, backoffOf(cfg));
    await settle(a);
    await standInSeed(a, rec);
    advance(a, rec.t, false);
    if (a.pendingRead === null) {
      // Ask for the read the way the live run did: RUN, or the end of a backoff.
      if (state(a).value === "idle") a.actor?.send({ type: "RUN" });
      else if (state(a).value === "backoff") advance(a, rec.t, true);
      await settle(a);
      await standInSeed(a, rec);
      if (a.pendingRead === null && state(a).value === "idle") {
        a.actor?.send({ type: "RUN" });
        await settle(a);
      }
    }
    const read = a.pendingRead;
    if (read === null) throw new ReplayError(`replay: ${key} did not ask for its read`);
    a.pendingRead = null;
    a.cycles += 1 + (rec.n ?? 0);
    // What-if along the chain: the marketstate and risk values as the replayed publishes left
    // them (src/recorder/chain.ts); a skip where the read would have skipped on them.
    const chained =
      chain !== null && inputs !== null && rec.e === undefined && rec.x === undefined
        ? await chain.read(rec.p, rec.s, inputs, rec.t, maxInputAgeSec(cfg))
        : null;
    const own = chained?.ok === true ? chained.inputs : inputs;
    const harvestInputs =
      own !== null && rec.p === "harvest" && theta?.harvest !== undefined
        ? withHarvestTheta(own, theta.harvest)
        : own;
    const current: CurrentCycle = {
      rec,
      inputs: harvestInputs,
      config: cfg,
      replayed: { outcome: "error", why: "did not end", written: null },
    };
    a.current = current;
    const reportedBefore = a.reported;
    if (rec.e !== undefined) read.reject(new Error(rec.e));
    else if (chained?.ok === false) {
      current.replayed = { outcome: "skipped", why: chained.reason, written: null };
      read.resolve({
        nowMs: rec.t,
        read: { ok: false, reason: chained.reason as never, detail: chained.detail },
      });
    } else if (rec.x !== undefined) {
      current.replayed = { outcome: "skipped", why: rec.x[0], written: null };
      read.resolve({
        nowMs: rec.t,
        read: { ok: false, reason: rec.x[0] as never, detail: rec.x[1] },
      });
    } else if (harvestInputs !== null) {
      // A new object every cycle (patch and JSON.parse make one); the pure steps never change it.
      const value = harvestInputs;
      byInputs.set(value, a);
      read.resolve({ nowMs: rec.t, read: { ok: true, value } });
    } else {
      read.reject(new Error("recorded cycle without inputs"));
    }
    await until(a, () => a.reported > reportedBefore, "end its cycle");
    // The recorded I/O failures happen again here, whatever the replay computed.
    if (rec.e !== undefined) current.replayed = { outcome: "error", why: rec.e, written: null };
    else if (rec.we !== undefined && current.replayed.outcome !== "skipped")
      current.replayed = { ...current.replayed, outcome: "error", why: rec.we };
    a.current = null;
    chain?.noteCycle(
      rec.p,
      rec.s,
      rec.t,
      rec.we === undefined ? (rec.w ?? null) : null,
      rec.we === undefined ? current.replayed.written : null,
    );
    if (!inRange(rec.t) || !wantPhase(rec.p)) continue;
    const replayed: ReplayedCycle = {
      phase: rec.p,
      symbol: rec.s,
      cycle: a.cycles,
      t: rec.t,
      trigger: (rec.tr as CycleTrigger | undefined) ?? null,
      recorded: recordedEnd(rec),
      replayed: current.replayed,
      inputs: keepInputs ? harvestInputs : null,
      ...(current.memoryDiff ? { memory: current.memoryDiff } : {}),
    };
    if (options.onCycle?.(replayed) !== false) cycles.push(replayed);
  }
  for (const a of actors.values()) a.actor?.stop();
  return {
    cycles,
    report,
    unreplayable,
    stopped: stoppedCycles,
    dropped,
    spanMs: span,
    chain: chain?.counts ?? null,
  };
}

/** Harvest inputs with the what-if theta over the one the cycle had in force (policy or config). */
function withHarvestTheta(inputs: JsonObject, over: Record<string, unknown>): JsonObject {
  const theta = inputs.theta;
  if (!isObject(theta)) return inputs;
  const inForce = isObject(theta.theta) ? theta.theta : {};
  return {
    ...inputs,
    theta: { ...theta, theta: deepMerge(inForce, over) as JsonObject },
  };
}

/** A difference between a recorded and a replayed cycle: the first field that differs. */
export interface Divergence {
  field: string;
  recorded: string;
  replayed: string;
}

/** Compares one cycle's recorded and replayed ends; null when identical. */
export function divergence(c: ReplayedCycle): Divergence | null {
  const r = c.recorded;
  const p = c.replayed;
  if (r.outcome !== p.outcome)
    return { field: "outcome", recorded: r.outcome, replayed: p.outcome };
  if (r.why !== p.why) return { field: "decision", recorded: r.why, replayed: p.why };
  if (c.memory) {
    return {
      field: "memory",
      recorded: JSON.stringify(c.memory[0]),
      replayed: JSON.stringify(c.memory[1]),
    };
  }
  return batchDivergence(r.written, p.written);
}

export function batchDivergence(
  rec: WrittenBatch | null,
  rep: WrittenBatch | null,
): Divergence | null {
  const show = (v: unknown) => (v === undefined ? "(absent)" : JSON.stringify(v));
  if (rec === null || rep === null) {
    if (rec === rep) return null;
    return {
      field: "write",
      recorded: rec === null ? "none" : "a write",
      replayed: rep === null ? "none" : "a write",
    };
  }
  const parts: [string, [string, Record<string, string>, number | null][]][] = [
    ["hash", rec.h],
    ["stream", rec.x],
  ];
  for (const [kind, list] of parts) {
    const other = kind === "hash" ? rep.h : rep.x;
    if (list.length !== other.length)
      return {
        field: `${kind} count`,
        recorded: String(list.length),
        replayed: String(other.length),
      };
    for (let i = 0; i < list.length; i++) {
      const [key, fields, extra] = list[i];
      const [okey, ofields, oextra] = other[i];
      if (key !== okey) return { field: `${kind} ${i + 1} key`, recorded: key, replayed: okey };
      const names = [...new Set([...Object.keys(fields), ...Object.keys(ofields)])];
      for (const name of names) {
        if (fields[name] !== ofields[name])
          return {
            field: `${key} ${name}`,
            recorded: show(fields[name]),
            replayed: show(ofields[name]),
          };
      }
      if (extra !== oextra)
        return {
          field: `${key} ${kind === "hash" ? "ttl" : "maxlen"}`,
          recorded: String(extra),
          replayed: String(oextra),
        };
    }
  }
  return null;
}
