// What a phase must provide to the publisher machine, and the adapter that turns those plain
// functions into the machine's injected steps: the I/O ones into the publisher's step actor
// (machines/stepActor.ts), the pure ones into one assign action. The machine is built over the
// phase's own types (createPublisherMachine<Memory, Inputs, Result>), so the steps get their
// values as they are.
import { assign } from "xstate";
import { fromSteps } from "../../machines/stepActor.js";
import { stepGate, stepPriority } from "./stepGate.js";
import {
  createPublisherMachine,
  type AnyPublisherMachine,
  type Decision,
  type IoSteps,
  type PublishOutput,
  type ReadOutput,
  type StepResult,
} from "../../machines/publisher.js";
import type { Read } from "../inputs/types.js";
import type { ChainHandoff } from "../inputs/handoff.js";
import type { Config } from "../config/schema.js";
import type { PositionSource } from "../inputs/positions.js";
import type { PositionBook } from "../inputs/positionMemory.js";
import type { LiveCandles } from "../inputs/klines.js";
import type { PolicyBook } from "../policy/policyBook.js";
import type { Store } from "../store/types.js";
import { WrongTypeError } from "../store/types.js";
import { KernelInputError } from "../kernels/types.js";
import { maxInputAgeSec } from "../config/schema.js";
import { errorMessage } from "../core/errors.js";
import type { PhaseName } from "../core/phases.js";
import type { AnyOutputDeclaration } from "../contracts/output.js";

export interface PhaseDeps {
  store: Store;
  positions: PositionSource;
  /** Peak, trough and first-seen of open positions (docs/specification.md §4.2), shared by risk and harvest. */
  book: PositionBook;
  /** Closed candles from the klines stream not yet in the sorted set (empty without following). */
  live: LiveCandles;
  /** The AI policy in force (docs/specification.md §9); without one the configured harvest theta is used. */
  policy?: PolicyBook;
  config: Config;
  /** Wall clock, ms since epoch. */
  now: () => number;
}

/**
 * One phase's steps, typed by what flows between them: `Memory` (what was last published, for
 * the rate limit), `Inputs` (what read delivers) and `Result` (what compute makes of them). One
 * cycle is read → compute → decide → publish (or heartbeat). Read and compute answer with
 * `Read<T>`: a value or a counted skip; an I/O failure is thrown.
 */
export interface PhaseSteps<Memory, Inputs, Result> {
  /** Rate-limit memory from the output hash (null: nothing published yet). */
  seed(symbol: string): Promise<Memory | null>;
  /**
   * `handoff`: what the chain that runs this cycle just published or fetched, taken instead of
   * reading it back (src/inputs/handoff.ts); absent or null, everything is read. The inputs are
   * the same either way; the output's `handoff` is what this cycle passes on.
   */
  read(symbol: string, handoff?: ChainHandoff | null): Promise<ReadOutput<Inputs>>;
  /** Pure. A throw that is not an input error becomes the cycle's compute error. */
  compute(symbol: string, inputs: Inputs): Read<Result>;
  /** Pure. A throw becomes the cycle's `decide: no decision` error. */
  decide(memory: Memory | null, inputs: Inputs, result: Result, nowMs: number): Decision;
  publish(
    symbol: string,
    inputs: Inputs,
    result: Result,
    nowMs: number,
  ): Promise<PublishOutput<Memory>>;
  heartbeat(symbol: string, nowMs: number): Promise<void>;
}

/**
 * Wrong-typed keys and bad values are data problems, not outages: they become a counted
 * `bad_input` skip. Anything else thrown by a read is I/O and sends the actor to backoff.
 */
export async function readGuarded<T>(read: () => Promise<Read<T>>): Promise<Read<T>> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof WrongTypeError || err instanceof KernelInputError) {
      return { ok: false, reason: "bad_input", detail: err.message };
    }
    throw err;
  }
}

/**
 * All fields of one of our own hashes, read to seed the rate-limit memory; `{}` (no memory) when
 * the key holds another type. Seeding must not fail on a data problem: a failed seed is retried
 * with backoff for ever (and is an error in --once), so the symbol never reaches the read step
 * that reports it as the counted `bad_input` skip it is (test/badinput/service.test.ts).
 */
export async function readOwnHash(store: Store, key: string): Promise<Record<string, string>> {
  try {
    return await store.hgetall(key);
  } catch (err) {
    if (err instanceof WrongTypeError) return {};
    throw err;
  }
}

/** A kernel's input error is a counted `bad_input` skip; any other throw is a compute error. */
export function computeGuarded<T>(compute: () => Read<T>): Read<T> {
  try {
    return compute();
  } catch (err) {
    if (err instanceof KernelInputError)
      return { ok: false, reason: "bad_input", detail: err.message };
    throw err;
  }
}

/** Runs a pure step; an unexpected throw becomes an `error` result instead of crashing the actor. */
export function runPureStep<T>(step: () => Read<T>): StepResult<T> {
  try {
    const out = step();
    return out.ok
      ? { kind: "ok", value: out.value }
      : { kind: "skip", reason: out.reason, detail: out.detail };
  } catch (err) {
    return { kind: "error", message: errorMessage(err) };
  }
}

/**
 * The publisher machine provided with a phase's steps: the I/O steps become its step actor, the
 * pure ones (compute, decide) one assign action. Inside, the machine is typed by the phase's
 * Memory, Inputs and Result; what it returns is a publisher of some phase (AnyPublisherMachine),
 * the one type the supervisor spawns all three phases' publishers as.
 */
export function publisherFor<Memory, Inputs, Result>(
  steps: PhaseSteps<Memory, Inputs, Result>,
): AnyPublisherMachine {
  // Through the process's step gate (src/phases/stepGate.ts): a bounded number under way, a
  // chain's later steps first; `alive` keeps a step queued for a stopped publisher from starting.
  const io: IoSteps<Memory, Inputs, Result> = {
    seedMemory: (input, alive) =>
      stepGate.run(stepPriority(input.phase, "read"), alive, () => steps.seed(input.symbol)),
    readInputs: (input, alive) =>
      stepGate.run(stepPriority(input.phase, "read"), alive, () =>
        steps.read(input.symbol, input.handoff),
      ),
    publishResult: (input, alive) =>
      stepGate.run(stepPriority(input.phase, "write"), alive, () =>
        steps.publish(input.symbol, input.inputs, input.result, input.nowMs),
      ),
    writeHeartbeat: (input, alive) =>
      stepGate.run(stepPriority(input.phase, "write"), alive, () =>
        steps.heartbeat(input.symbol, input.nowMs),
      ),
  };
  return createPublisherMachine<Memory, Inputs, Result>().provide({
    actors: { steps: fromSteps(io) },
    actions: {
      // One assign for the read's inputs, compute and decide: one copy of the context per cycle
      // instead of three (machines/publisher.ts, computing).
      computeAndDecide: assign(({ context, event }) => {
        const { symbol, cycle } = context;
        // computing is entered only from a read that delivered inputs.
        const output: ReadOutput<Inputs> | null =
          event.type === "readInputs.done" ? event.output : null;
        const nowMs = output === null ? cycle.nowMs : output.nowMs;
        const inputs = output !== null && output.read.ok ? output.read.value : null;
        const computed: StepResult<Result> =
          inputs === null
            ? { kind: "error", message: "no inputs read" }
            : runPureStep(() => steps.compute(symbol, inputs));
        let decision: Decision | null = null;
        if (inputs !== null && computed.kind === "ok") {
          try {
            decision = steps.decide(context.rateLimit.memory, inputs, computed.value, nowMs);
          } catch {
            decision = null;
          }
        }
        // What this cycle passes on to the next phase of its chain: its read's, so far.
        const passOn = output?.handoff ?? null;
        return { cycle: { ...cycle, nowMs, passOn, inputs, computed, decision } };
      }),
    },
  });
}

/** Wraps a phase's steps before they are provided (shadow mode's comparison of every cycle). */
export type StepsDecorator = <Memory, Inputs, Result>(
  phase: PhaseName,
  steps: PhaseSteps<Memory, Inputs, Result>,
) => PhaseSteps<Memory, Inputs, Result>;

/**
 * The steps reading everything themselves, whatever a chain hands on (ServiceOptions
 * chainHandoff false): the comparison the in-chain hand-off is measured and tested against.
 */
export function withoutHandoff<Memory, Inputs, Result>(
  steps: PhaseSteps<Memory, Inputs, Result>,
): PhaseSteps<Memory, Inputs, Result> {
  return { ...steps, read: (symbol) => steps.read(symbol) };
}

/**
 * A phase, as its module declares it: its steps, the output hash they write (the declaration in
 * src/contracts/, the same one PHASE_REGISTRY names) and its rate-limit rule (what `decide`
 * applies). The registry (src/phases/registry.ts) carries one per phase.
 */
export interface PhaseModuleSpec<Memory, Inputs, Result> {
  name: PhaseName;
  output: AnyOutputDeclaration;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each rule takes its own phase's memory and values; the registry only names it
  rateLimit: (...args: any[]) => Decision;
  steps(deps: PhaseDeps): PhaseSteps<Memory, Inputs, Result>;
}

export interface PhaseModule<Memory, Inputs, Result> extends PhaseModuleSpec<
  Memory,
  Inputs,
  Result
> {
  /** The publisher machine provided with this phase's steps (decorated first, when asked). */
  publisher(deps: PhaseDeps, decorate?: StepsDecorator): AnyPublisherMachine;
}

/** A phase module from its parts; `publisher` keeps the phase's own types inside. */
export function definePhase<Name extends PhaseName, Memory, Inputs, Result>(
  spec: PhaseModuleSpec<Memory, Inputs, Result> & { name: Name },
): PhaseModule<Memory, Inputs, Result> & { name: Name } {
  return {
    ...spec,
    publisher(deps, decorate) {
      const steps = spec.steps(deps);
      return publisherFor(decorate === undefined ? steps : decorate(spec.name, steps));
    },
  };
}

export function rateLimitSettings(config: Config) {
  return { maxPublishAgeMs: config.maxPublishAge * 1000, changeEpsPct: config.changeEpsPct };
}

export { maxInputAgeSec };
