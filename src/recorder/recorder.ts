// The flight recorder (`run --record-dir DIR`): what every publisher cycle observed and did,
// recorded at the boundary of the phase steps (src/phases/steps.ts `PhaseSteps`), never inside
// the machines. The service wraps each phase's steps (wrapSteps) and the store they publish
// through (wrapStore); the wrappers hand every value through unchanged and only note it:
//   read    → the cycle's clock reading and its inputs (a delta against the actor's previous
//             recorded inputs), or the counted skip, or the I/O error;
//   compute → a skip or an error (an ok result is not recorded: replay recomputes it);
//   decide  → publish or not, and why; the first time in a segment, the rate-limit memory;
//   publish/heartbeat → the batch written (hashes and streams, as sent), or the error.
// Replay (src/recorder/replay.ts) runs the same machines and steps with the read step answered
// from these records, so a recording needs nothing but itself.
//
// Cost: nothing here waits for I/O, and a recorder failure never reaches the cycle: every note is
// in a try/catch, and the lines go to SegmentWriter's bounded queue (dropped, counted, warned
// when it is full). One cycle's record stays open until the cycle ends, so one line holds it all.
import { hostname } from "node:os";
import type { PhaseName } from "../core/phases.js";
import type { PhaseSteps } from "../phases/steps.js";
import type { PublishBatch, Store } from "../store/types.js";
import type { CycleDoneEvent, ReadOutput } from "../../machines/publisher.js";
import {
  HARVEST_PROPOSAL_HASH_PREFIX,
  MARKETSTATE_HASH_PREFIX,
  RISK_PROPOSAL_HASH_PREFIX,
} from "../store/keyGuard.js";
import type { Json, JsonObject } from "./delta.js";
import { InputMirror, jsonText } from "./inputMirror.js";
import { TapeArena } from "./tapeArena.js";
import { CLOSE_BRACE, CLOSE_BRACKET, COMMA, JsonBytes } from "./jsonBytes.js";
import { writeCycleHead, writeDecision, writePair, writeText } from "./cycleLine.js";
import {
  RECORDING_FORMAT,
  RECORDING_VERSION,
  redactConfig,
  type CycleRecord,
  type HeaderRecord,
} from "./format.js";
import { SegmentWriter, type SegmentIo, type SegmentWriterStats } from "./segmentWriter.js";

export interface FlightRecorderOptions {
  dir: string;
  retentionMs: number;
  maxBytes: number;
  /** The effective configuration: recorded (without secrets) in every segment's header. */
  config: object;
  /** Wall clock (epoch ms). */
  now?: () => number;
  /** The lease role, asked at each read: a change is one role line (undefined: not known yet). */
  role?: () => { role: string; holder?: string | null } | undefined;
  warn?: (message: string, details: Record<string, unknown>) => void;
  /** Hold each cycle's line until noteCycle() names its trigger (the service wires it). */
  triggers?: boolean;
  segmentBytes?: number;
  segmentMs?: number;
  queueBytes?: number;
  /** How long queued lines may wait for their write (SegmentWriter's flushMs; default 200 ms). */
  flushMs?: number;
  io?: SegmentIo;
}

export interface FlightRecorderStats extends SegmentWriterStats {
  /** Recorder faults swallowed so that the cycle went on (a bug if ever > 0). */
  faults: number;
}

interface ActorState {
  phase: PhaseName;
  symbol: string;
  /** The hash its batches write first (HASH_PREFIX + symbol): a batch's actor is found by it. */
  hashKey: string;
  /** The inputs of the actor's last read, and each read's delta against the one before. */
  mirror: InputMirror;
  /** Reads with inputs so far (numbering them). */
  reads: number;
  /** The read whose inputs the actor's last line carried (the next delta's base); null: none. */
  writtenRead: number | null;
  /** The memory was recorded in this segment. */
  memoryRecorded: boolean;
  /** The cycle under way (read done, not ended). */
  open: LineCycle | null;
  /** An ended cycle waiting for its trigger (options.triggers). */
  held: PendingCycle | null;
  /** The last skip line, folded while identical skips repeat (not written yet). */
  folded: CycleRecord | null;
}

/**
 * A cycle not written yet: one that read inputs, spelled into its line as it goes, or a skipped
 * or failed read's record, folded while identical ones repeat.
 */
type PendingCycle = LineCycle | RecordCycle;

/** A skipped or failed read's cycle: its line (`x` or `e`, no inputs) is a record. */
interface RecordCycle {
  actor: ActorState;
  rec: CycleRecord;
  line: null;
}

/** A cycle that read inputs: its line spelled as it goes (cycleLine.ts). */
interface LineCycle {
  actor: ActorState;
  rec: null;
  /**
   * Its line, from the read to its write: a buffer taken from the recorder's spare ones when the
   * read is noted and given back when the line is written (FlightRecorder#takeLine says why).
   */
  line: JsonBytes;
  /** The steps' inputs object the cycle's later steps are handed (how they are told apart). */
  value: object | null;
  /** The read's number (ActorState.reads). */
  read: number;
  /** Its inputs are in the line as a delta (`"i"`) at line[inputsAt, inputsEnd); false: in full (`"f"`). */
  delta: boolean;
  inputsAt: number;
  inputsEnd: number;
  /** The rate-limit memory decide saw (undefined: not decided). */
  memory?: unknown;
  /**
   * Where the line's `w` begins, −1: no batch written. The batch is spelled when it is published
   * — the copy of what was sent (the steps may reuse its objects later) and the line's text at
   * once; a second publish in one cycle replaces it.
   */
  wAt: number;
}

/** A line's amendment: members added when the cycle ends (a compute skip, an error). */
type Amend = (line: JsonBytes) => void;

/** A line buffer above this size is let go after its line is written, not kept spare (write()). */
const LINE_KEPT_BYTES = 2048;
/** A new line buffer's size: most lines are a few hundred bytes. */
const LINE_START_BYTES = 1024;
/**
 * Spare line buffers kept, at most: the lines under way at once are the cycles between their read
 * and their write — a few hundred at the minute burst, a handful in the steady state.
 */
const SPARE_LINES_KEPT = 512;

/** The hash each phase publishes to, before its symbol: a batch's first key names its actor. */
const HASH_PREFIX: Record<PhaseName, string> = {
  marketstate: MARKETSTATE_HASH_PREFIX,
  risk: RISK_PROPOSAL_HASH_PREFIX,
  harvest: HARVEST_PROPOSAL_HASH_PREFIX,
};

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * A plain-data copy of `value` as a line carries it (inputMirror.ts's rules), sharing nothing with
 * the steps' values: the rate-limit memory of a seed line or of a segment's first decided cycle
 * (not on every cycle's path).
 */
const toJson = (value: unknown): Json => JSON.parse(jsonText(value)) as Json;

/** Every member name of `value` and its prototypes (not Object's), constructor left out. */
function memberNames(value: object): Set<string> {
  const names = new Set<string>();
  for (
    let o: object | null = value;
    o !== null && o !== Object.prototype;
    o = Object.getPrototypeOf(o) as object | null
  )
    for (const name of Object.getOwnPropertyNames(o)) if (name !== "constructor") names.add(name);
  return names;
}

/**
 * A batch's fields (`{"name":"value",…}`): a plain object of strings walked straight, without
 * value()'s toJSON lookup on each object (it missed V8's caches); anything else is value()'s.
 */
function writeFields(out: JsonBytes, fields: Record<string, string>): void {
  const proto = Object.getPrototypeOf(fields) as unknown;
  if (proto === Object.prototype || proto === null) out.object(fields);
  else out.value(fields);
}

/** One write of a batch as its line carries it: `[key,fields,n]`, n null when there is none. */
function writeEntry(
  out: JsonBytes,
  first: boolean,
  key: string,
  fields: Record<string, string>,
  n: number | undefined,
): void {
  out.ascii(first ? "[" : ",[");
  out.string(key);
  out.byte(COMMA);
  writeFields(out, fields);
  out.byte(COMMA);
  if (n === undefined) out.ascii("null");
  else out.number(n);
  out.byte(CLOSE_BRACKET);
}

/**
 * Writes the batch as a line's `w` (format.ts WrittenBatch) into `out`: hashes with their TTL,
 * streams with their MAXLEN. Spelling it when it is published is the copy of what was sent (the
 * steps may reuse its objects later) and the line's text at once.
 */
export function writeBatch(batch: PublishBatch, out: JsonBytes): void {
  out.ascii('{"h":[');
  for (let i = 0; i < batch.hashes.length; i++) {
    const { key, fields, ttlSec } = batch.hashes[i];
    writeEntry(out, i === 0, key, fields, ttlSec);
  }
  out.ascii('],"x":[');
  for (let i = 0; i < batch.streams.length; i++) {
    const { key, fields, maxLen } = batch.streams[i];
    writeEntry(out, i === 0, key, fields, maxLen);
  }
  out.ascii("]}");
}

/**
 * The symbol's open cycle when it read these inputs (the object its read returned, which the
 * later steps are handed again); null when it did not (not recorded).
 */
function openCycle(
  actors: Map<string, ActorState>,
  symbol: string,
  inputs: unknown,
): LineCycle | null {
  const open = actors.get(symbol)?.open;
  return open != null && open.value !== null && open.value === inputs ? open : null;
}

/**
 * `likely` when it is the phase's open cycle of `symbol` that read these inputs — what
 * openCycle() would find — else openCycle()'s answer. The machine runs a cycle's steps one right
 * after the other (compute as its read settles, publish or heartbeat as decide returns), so the
 * cycle last noted is nearly always the one asked for: found without the lookups, whose Map
 * entries are out of the CPU's caches between two of an actor's cycles (docs/performance.md).
 */
function cycleOf(
  likely: LineCycle | null,
  phase: PhaseName,
  actors: Map<string, ActorState>,
  symbol: string,
  inputs: unknown,
): LineCycle | null {
  if (
    likely !== null &&
    likely.value !== null &&
    likely.value === inputs &&
    likely.actor.open === likely &&
    likely.actor.phase === phase &&
    likely.actor.symbol === symbol
  )
    return likely;
  return openCycle(actors, symbol, inputs);
}

/** `likely` when it is this phase and symbol's actor, else the one looked up (cycleOf says why). */
function actorOf(
  likely: ActorState | undefined,
  phase: PhaseName,
  actors: Map<string, ActorState> | undefined,
  symbol: string,
): ActorState | undefined {
  if (likely !== undefined && likely.phase === phase && likely.symbol === symbol) return likely;
  return actors?.get(symbol);
}

/**
 * A cycle written before it ended (its publisher was stopped: lease lost, shutdown) — an open
 * one, so one that read inputs.
 */
function stopped(pending: LineCycle): LineCycle {
  pending.line.ascii(',"z":1');
  return pending;
}

export class FlightRecorder {
  private readonly writer: SegmentWriter;
  /**
   * Per phase, by symbol: looked up without building a key string on every step of every cycle.
   */
  private readonly actors = new Map<PhaseName, Map<string, ActorState>>();
  /**
   * Every actor by the hash its batches write first (HASH_PREFIX + symbol): a published batch is
   * noted on its actor with one lookup of the key it carries.
   */
  private readonly byHashKey = new Map<string, ActorState>();
  /**
   * The cycle whose compute ran last. The machine calls decide right after compute, in the same
   * action and with the same inputs (machines/publisher.ts computeAndDecide), and decide is not
   * handed the symbol: this finds its cycle without a lookup.
   */
  private computed: LineCycle | null = null;
  /** The cycle whose read was noted last: the one its compute is most often for (cycleOf). */
  private lastOpened: LineCycle | null = null;
  /**
   * The cycle whose publish or heartbeat step is being called: the steps hand their batch to the
   * store before their first await, so notePublish finds its cycle without a lookup.
   */
  private publishing: LineCycle | null = null;
  /** The actor whose cycle was last held for its trigger: the next CYCLE_DONE's, nearly always. */
  private lastHeld: ActorState | undefined = undefined;
  private readonly now: () => number;
  private readonly headerConfig: JsonObject;
  /** The role last noted (null: none yet), compared member by member, not as a built string. */
  private lastRole: { role: string; holder: string } | null = null;
  private faults = 0;
  /**
   * A line rebuilt with its inputs in full (lines lost or a segment begun since its read): the
   * rest are written from their own line (cycleLine.ts).
   */
  private readonly lineBytes = new JsonBytes(4096);
  /** Line buffers not in use, for the next lines (takeLine). */
  private readonly spareLines: JsonBytes[] = [];
  /** Where every actor's mirror keeps its tape's numbers and strings (tapeArena.ts says why). */
  private readonly tapes = new TapeArena();

  constructor(private readonly options: FlightRecorderOptions) {
    this.now = options.now ?? Date.now;
    this.headerConfig = redactConfig(options.config);
    const by = `${hostname()}:${process.pid}`;
    this.writer = new SegmentWriter({
      dir: options.dir,
      retentionMs: options.retentionMs,
      maxBytes: options.maxBytes,
      segmentBytes: options.segmentBytes,
      segmentMs: options.segmentMs,
      queueBytes: options.queueBytes,
      flushMs: options.flushMs,
      io: options.io,
      now: this.now,
      warn: options.warn,
      header: (seg, t) => {
        const header: HeaderRecord = {
          k: "h",
          format: RECORDING_FORMAT,
          v: RECORDING_VERSION,
          seg,
          t,
          by,
          config: this.headerConfig,
        };
        return JSON.stringify(header);
      },
    });
    this.writer.onLoss = () => this.restartDeltas();
  }

  stats(): FlightRecorderStats {
    return { ...this.writer.stats(), faults: this.faults };
  }

  /** The bytes the line buffers hold: spare ones and those of cycles under way (tests). */
  lineBufferBytes(): number {
    let bytes = 0;
    for (const line of this.spareLines) bytes += line.buf.length;
    for (const actor of this.allActors()) {
      if (actor.open !== null) bytes += actor.open.line.buf.length;
      if (actor.held?.line != null) bytes += actor.held.line.buf.length;
    }
    return bytes;
  }

  /** Resolves when every line queued so far is on disk (the benchmark, tests). */
  flushed(): Promise<void> {
    return this.writer.flushed();
  }

  /** Writes every held line, closes and compresses the open segment. */
  async close(): Promise<void> {
    this.guard(() => {
      for (const actor of this.allActors()) {
        if (actor.held !== null) this.write(actor, actor.held);
        actor.held = null;
        if (actor.open !== null) this.write(actor, stopped(actor.open));
        this.closeOpen(actor);
        this.flushFolded(actor);
      }
    });
    await this.writer.close();
  }

  /** The service's CYCLE_DONE: the trigger of the actor's held cycle; then it is written. */
  noteCycle(event: Pick<CycleDoneEvent, "phase" | "symbol" | "trigger">): void {
    try {
      const actor = actorOf(this.lastHeld, event.phase, this.actors.get(event.phase), event.symbol);
      if (actor?.held == null) return;
      const { held } = actor;
      if (event.trigger != null)
        if (held.rec !== null) held.rec.tr = event.trigger;
        else writeText(held.line, ',"tr":', event.trigger);
      this.write(actor, actor.held);
      actor.held = null;
    } catch (err) {
      this.fault(err);
    }
  }

  /** The store the phase steps publish through: each batch is noted on its actor's cycle. */
  wrapStore(store: Store): Store {
    const publish = (batch: PublishBatch): Promise<void> => {
      try {
        this.notePublish(batch);
      } catch (err) {
        this.fault(err);
      }
      return store.publish(batch);
    };
    // A plain object made once, not a Proxy: the steps call the store many times a cycle, and a
    // Proxy's trap on every call was the recorder's largest cost after the line's JSON. Each
    // method forwards to the store's method of the moment (a store may swap its methods), each
    // other member is read through.
    const inner = store as unknown as Record<string, unknown>;
    const wrapped: Record<string, unknown> = { publish };
    for (const name of memberNames(store)) {
      if (name in wrapped) continue;
      if (typeof inner[name] === "function")
        wrapped[name] = function forward(): unknown {
          // `arguments` handed on as it is: V8 forwards it without making an array (a rest
          // parameter made one on every store call of every cycle), and a variadic method still
          // gets exactly the arguments it was called with.
          const method = inner[name] as (...a: unknown[]) => unknown;
          // eslint-disable-next-line prefer-rest-params
          return method.apply(store, arguments as unknown as unknown[]);
        };
      else Object.defineProperty(wrapped, name, { get: () => inner[name], enumerable: true });
    }
    return wrapped as unknown as Store;
  }

  /** The phase's steps, each noting what it returned; values and errors pass through as they are. */
  wrapSteps<M, I, R>(phase: PhaseName, steps: PhaseSteps<M, I, R>): PhaseSteps<M, I, R> {
    const actors = this.phaseActors(phase);
    return {
      seed: async (symbol) => {
        try {
          const memory = await steps.seed(symbol);
          this.guard(() =>
            this.line({ k: "s", p: phase, s: symbol, t: this.now(), m: toJson(memory) }),
          );
          return memory;
        } catch (err) {
          this.guard(() =>
            this.line({ k: "s", p: phase, s: symbol, t: this.now(), e: message(err) }),
          );
          throw err;
        }
      },
      // The hand-off goes through: the inputs read with it are the ones a read would give, and
      // they are what is recorded (replay answers the read from them).
      read: (symbol, handoff) => {
        const actor = this.actor(actors, phase, symbol);
        let step: Promise<ReadOutput<I>>;
        try {
          step = steps.read(symbol, handoff);
        } catch (err) {
          this.readFailed(actor, err);
          return Promise.reject(err);
        }
        return this.observe(
          step,
          (out) => this.readDone(actor, out),
          (err: unknown) => this.readFailed(actor, err),
        );
      },
      compute: (symbol, inputs) => {
        const pending = cycleOf(this.lastOpened, phase, actors, symbol, inputs);
        this.computed = pending;
        let out: ReturnType<typeof steps.compute>;
        try {
          out = steps.compute(symbol, inputs);
        } catch (err) {
          this.guard(() =>
            this.endCycle(pending, (line) => writeText(line, ',"ce":', message(err))),
          );
          throw err;
        }
        if (!out.ok) {
          const { reason, detail } = out;
          this.guard(() =>
            this.endCycle(pending, (line) => writePair(line, ',"cx":[', reason, detail)),
          );
        }
        return out;
      },
      decide: (memory, inputs, result, nowMs) => {
        const pending = this.decidedCycle(actors, inputs);
        let decision: ReturnType<typeof steps.decide>;
        try {
          decision = steps.decide(memory, inputs, result, nowMs);
        } catch (err) {
          this.guard(() =>
            this.endCycle(pending, (line) => writeText(line, ',"ce":', `decide: ${message(err)}`)),
          );
          throw err;
        }
        if (pending !== null)
          try {
            writeDecision(pending.line, decision.publish, decision.why);
            pending.memory = memory;
          } catch (err) {
            this.fault(err);
          }
        return decision;
      },
      publish: (symbol, inputs, result, nowMs) => {
        const pending = cycleOf(this.computed, phase, actors, symbol, inputs);
        let step: ReturnType<typeof steps.publish>;
        this.publishing = pending;
        try {
          step = steps.publish(symbol, inputs, result, nowMs);
        } catch (err) {
          this.published(pending, true, err);
          return Promise.reject(err);
        } finally {
          this.publishing = null;
        }
        // A cycle not recorded: nothing to note, no reaction registered.
        if (pending === null) return step;
        return this.observe(
          step,
          () => this.published(pending, false),
          (err: unknown) => this.published(pending, true, err),
        );
      },
      heartbeat: (symbol, nowMs) => {
        // The heartbeat's note is its cycle's only: a stopped cycle's heartbeat that settles
        // after the next cycle began notes nothing (beat() says so).
        const cycle = actorOf(this.computed?.actor, phase, actors, symbol)?.open ?? null;
        let step: Promise<void>;
        this.publishing = cycle;
        try {
          step = steps.heartbeat(symbol, nowMs);
        } catch (err) {
          this.beat(cycle, true, err);
          return Promise.reject(err);
        } finally {
          this.publishing = null;
        }
        // A cycle not recorded: nothing to note, no reaction registered.
        if (cycle === null) return step;
        return this.observe(
          step,
          () => this.beat(cycle, false),
          (err: unknown) => this.beat(cycle, true, err),
        );
      },
    };
  }

  /**
   * The step's own promise, observed rather than wrapped: the note is a reaction of its own on
   * that promise, registered before the machine's, so it runs first — and the cycle waits no
   * extra turn of the microtask queue for it. (An async wrapper adds one per step; at the minute
   * burst every chain's steps then end later, more of them in flight at once.) The handlers guard
   * themselves. They are made for each step, and die young with it: made once per actor and kept
   * (as they were), 4,800 closures and their contexts lived as long as the service, marked by
   * every full collection — a dozen in seven bursts under the unit's heap cap
   * (docs/performance.md). A step that throws instead of rejecting is noted by its wrapper and
   * rejected, as an async wrapper would.
   */
  private observe<T>(step: Promise<T>, ok: (value: T) => void, failed: (err: unknown) => void) {
    step.then(ok, failed);
    return step;
  }

  /** A publish settled: its cycle ends, with the error when it failed. */
  private published(pending: LineCycle | null, failed: boolean, err?: unknown): void {
    try {
      this.endCycle(
        pending,
        failed ? (line) => writeText(line, ',"we":', message(err)) : undefined,
      );
    } catch (fault) {
      this.fault(fault);
    }
  }

  /** A read settled with its output: noted on its actor. */
  private readDone(actor: ActorState, out: ReadOutput<unknown>): void {
    try {
      this.noteRead(actor, out.nowMs, out.read);
    } catch (err) {
      this.fault(err);
    }
  }

  /** A read failed (I/O): its cycle is an error line. */
  private readFailed(actor: ActorState, err: unknown): void {
    try {
      this.noteRead(actor, this.now(), null, message(err));
    } catch (fault) {
      this.fault(fault);
    }
  }

  /**
   * A heartbeat settled (`failed`: with `err`): its cycle ends — if it is still its actor's open one
   * (endCycle): a cycle stopped meanwhile (its line written) and the next one begun are not this
   * note's.
   */
  private beat(cycle: LineCycle | null, failed: boolean, err?: unknown): void {
    if (cycle === null) return;
    try {
      this.endCycle(
        cycle,
        failed
          ? (line) => writeText(line, ',"we":', message(err))
          : (line) => {
              if (cycle.wAt < 0) line.ascii(',"hb":1');
            },
      );
    } catch (fault) {
      this.fault(fault);
    }
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fault(err);
    }
  }

  /** A recorder fault, swallowed so that the cycle goes on: counted, the first one warned. */
  private fault(err: unknown): void {
    this.faults++;
    if (this.faults === 1)
      this.options.warn?.("flight recorder fault (the cycle went on)", { error: message(err) });
  }

  private phaseActors(phase: PhaseName): Map<string, ActorState> {
    let actors = this.actors.get(phase);
    if (actors === undefined) {
      actors = new Map();
      this.actors.set(phase, actors);
    }
    return actors;
  }

  private *allActors(): Iterable<ActorState> {
    for (const actors of this.actors.values()) yield* actors.values();
  }

  /** The actor's open cycle is over (ended or stopped): later steps no longer find it. */
  private closeOpen(actor: ActorState): void {
    const open = actor.open;
    if (open === null) return;
    actor.open = null;
    if (this.computed === open) this.computed = null;
    if (this.lastOpened === open) this.lastOpened = null;
  }

  /**
   * The cycle decide's inputs belong to: the one whose compute ran last (always, in the machine),
   * else the phase's open cycle that read them; null when none did (not recorded).
   */
  private decidedCycle(actors: Map<string, ActorState>, inputs: unknown): LineCycle | null {
    const last = this.computed;
    if (last !== null && last.value === inputs && last.actor.open === last) return last;
    if (typeof inputs !== "object" || inputs === null) return null;
    for (const actor of actors.values()) if (actor.open?.value === inputs) return actor.open;
    return null;
  }

  private actor(actors: Map<string, ActorState>, phase: PhaseName, symbol: string): ActorState {
    let actor = actors.get(symbol);
    if (actor === undefined) {
      actor = {
        phase,
        symbol,
        hashKey: HASH_PREFIX[phase] + symbol,
        mirror: new InputMirror(this.tapes),
        reads: 0,
        writtenRead: null,
        memoryRecorded: false,
        open: null,
        held: null,
        folded: null,
      };
      actors.set(symbol, actor);
      this.byHashKey.set(actor.hashKey, actor);
    }
    return actor;
  }

  private noteRead(
    actor: ActorState,
    nowMs: number,
    read: { ok: true; value: unknown } | { ok: false; reason: string; detail: string } | null,
    error?: string,
  ): void {
    this.writeRole();
    const { phase, symbol } = actor;
    // A cycle that never ended (stopped mid-way) is written as far as it got.
    if (actor.held !== null) this.write(actor, actor.held);
    actor.held = null;
    if (actor.open !== null) this.write(actor, stopped(actor.open));
    this.closeOpen(actor);
    if (read === null || !read.ok) {
      const rec: CycleRecord = { k: "c", p: phase, s: symbol, t: nowMs };
      if (read === null) rec.e = error ?? "read failed";
      else rec.x = [read.reason, read.detail];
      this.end(actor, { actor, rec, line: null });
    } else {
      // The line begins: its start, the clock reading, the inputs — compared with the actor's
      // mirror now (the steps may change the value after this read), as a delta when the line
      // before carried the last read's, else in full.
      const line = this.takeLine();
      writeCycleHead(line, phase, symbol);
      line.number(nowMs);
      const readNo = ++actor.reads;
      const inputsAt = line.len;
      line.ascii(',"i":');
      const delta = actor.mirror.update(read.value, line) && actor.writtenRead === readNo - 1;
      if (!delta) {
        line.len = inputsAt;
        line.ascii(',"f":');
        actor.mirror.jsonInto(line);
      }
      actor.open = {
        actor,
        rec: null,
        line,
        value: typeof read.value === "object" && read.value !== null ? read.value : null,
        read: readNo,
        delta,
        inputsAt,
        inputsEnd: line.len,
        wAt: -1,
      };
      this.lastOpened = actor.open;
    }
  }

  private notePublish(batch: PublishBatch): void {
    const first = batch.hashes[0]?.key;
    const publishing = this.publishing;
    const actor =
      first === undefined
        ? undefined
        : publishing !== null && publishing.actor.hashKey === first
          ? publishing.actor
          : this.byHashKey.get(first);
    const open = actor?.open;
    if (actor === undefined || open == null) return;
    const { line } = open;
    if (open.wAt < 0) open.wAt = line.len;
    else line.len = open.wAt;
    line.ascii(',"w":');
    writeBatch(batch, line);
  }

  /** Ends the cycle (null: none recorded), after `amend` adds how it ended. */
  private endCycle(pending: LineCycle | null, amend?: Amend): void {
    // A cycle no longer open was written already (stopped): its late notes are not its line's
    // (which has been given back for other lines).
    if (pending === null || pending.actor.open !== pending) return;
    amend?.(pending.line);
    this.end(pending.actor);
  }

  private end(actor: ActorState, pending: PendingCycle | null = actor.open): void {
    if (pending === null) return;
    if (actor.open === pending) this.closeOpen(actor);
    if (this.options.triggers === true) {
      if (actor.held !== null) this.write(actor, actor.held);
      actor.held = pending;
      this.lastHeld = actor;
    } else this.write(actor, pending);
  }

  /** Encodes and queues one cycle line (identical skips folded into the first one's count). */
  private write(actor: ActorState, pending: PendingCycle): void {
    const { rec } = pending;
    if (rec !== null) {
      const folded = actor.folded;
      if (
        folded !== null &&
        folded.x?.[0] === rec.x?.[0] &&
        folded.x?.[1] === rec.x?.[1] &&
        folded.e === rec.e
      ) {
        folded.n = (folded.n ?? 0) + 1;
        folded.t2 = rec.t;
        return;
      }
      this.flushFolded(actor);
      actor.folded = rec;
      return;
    }
    this.flushFolded(actor);
    if (this.writer.rotateIfDue()) this.restartDeltas();
    const own = pending.line;
    let line = own;
    if (pending.delta && actor.writtenRead !== pending.read - 1) {
      // Lines were lost, or a segment began, since the read: its inputs go in full. A line is
      // written before the actor's next read, so the mirror still holds this cycle's inputs.
      const whole = this.lineBytes;
      whole.reset();
      whole.bytes(line.buf, pending.inputsAt);
      whole.ascii(',"f":');
      actor.mirror.jsonInto(whole);
      whole.bytes(line.buf.subarray(pending.inputsEnd, line.len));
      line = whole;
    }
    actor.writtenRead = pending.read;
    // The segment's first decided cycle of the actor carries the memory it decided with.
    if (pending.memory !== undefined && !actor.memoryRecorded) {
      line.ascii(',"m":');
      line.value(toJson(pending.memory));
      actor.memoryRecorded = true;
    }
    line.byte(CLOSE_BRACE);
    if (!this.writer.appendBytes(line.buf, line.len)) this.restartDeltas();
    this.giveBack(own);
  }

  /**
   * A buffer for a new line: a spare one, or made. The lines under way at once are a few hundred
   * at most, so a few hundred buffers serve every actor, reused while they are in the CPU's
   * caches — not one buffer per actor (1,200), each out of the caches by the actor's next cycle,
   * and each an ArrayBuffer the collector tracks (docs/performance.md).
   */
  private takeLine(): JsonBytes {
    return this.spareLines.pop() ?? new JsonBytes(LINE_START_BYTES);
  }

  /**
   * A written line's buffer, kept for the next line — unless it grew for a line with the inputs
   * in full (a segment's first for the actor: ~7 KB for a window of closes) while the lines after
   * it are a few hundred bytes, or enough are kept.
   */
  private giveBack(line: JsonBytes): void {
    line.reset();
    if (line.buf.length <= LINE_KEPT_BYTES && this.spareLines.length < SPARE_LINES_KEPT)
      this.spareLines.push(line);
  }

  private flushFolded(actor: ActorState): void {
    const folded = actor.folded;
    if (folded === null) return;
    actor.folded = null;
    if (this.writer.rotateIfDue()) this.restartDeltas();
    if (!this.writer.append(JSON.stringify(folded))) this.restartDeltas();
  }

  /** Lines were lost or a segment begins: every actor's next line carries full inputs and memory. */
  private restartDeltas(): void {
    for (const actor of this.allActors()) {
      actor.writtenRead = null;
      actor.memoryRecorded = false;
    }
  }

  private line(record: object): void {
    if (this.writer.rotateIfDue()) this.restartDeltas();
    if (!this.writer.append(JSON.stringify(record))) this.restartDeltas();
  }

  /**
   * The lease role, noted now: the service calls it on every role change (its onRole hook), so a
   * standby — which reads nothing — and a lost lease are in the recording when they happen, not
   * only at the next read. A role like the last one noted writes nothing.
   */
  noteRole(): void {
    this.guard(() => this.writeRole());
  }

  private writeRole(): void {
    const role = this.options.role?.();
    if (role === undefined) return;
    const holder = role.holder ?? "";
    const last = this.lastRole;
    if (last !== null && last.role === role.role && last.holder === holder) return;
    this.lastRole = { role: role.role, holder };
    this.line({
      k: "r",
      t: this.now(),
      role: role.role,
      ...(role.holder ? { holder: role.holder } : {}),
    });
  }
}
