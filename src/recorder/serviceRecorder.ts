// The flight recorder as the service uses it (src/service/service.ts): made from the config
// (recordDir set, and never for --once), its warnings in the service's log, and the three things
// the service installs — the phase steps' decorator, the store the steps publish through, and
// the cycle hook that names each cycle's trigger — plus its close, after the drain.
import type { Counter, Gauge, Registry } from "prom-client";
import { Counter as PromCounter, Gauge as PromGauge } from "prom-client";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { PhaseName } from "../core/phases.js";
import type { PhaseSteps } from "../phases/steps.js";
import type { CycleDoneEvent } from "../../machines/publisher.js";
import type { RoleDescription } from "../lease/index.js";
import { FlightRecorder, type FlightRecorderStats } from "./recorder.js";

export interface RecorderHooks {
  onCycle?(event: CycleDoneEvent, nowMs: number): void;
  onRole?(role: RoleDescription): void;
}

/** null when recording is off (no recordDir, or --once). */
export function createServiceRecorder(options: {
  config: Config;
  logger: Logger;
  once: boolean;
  now: () => number;
  role?: () => { role: string; holder?: string | null } | undefined;
}): FlightRecorder | null {
  const { config, logger, once } = options;
  if (config.recordDir === undefined) return null;
  if (once) {
    logger.info({ recordDir: config.recordDir }, "--once: the flight recorder does not record");
    return null;
  }
  const recorder = new FlightRecorder({
    dir: config.recordDir,
    retentionMs: config.recordRetention * 1000,
    maxBytes: config.recordMaxBytes,
    config,
    now: options.now,
    ...(options.role ? { role: options.role } : {}),
    triggers: true,
    warn: (message, details) => logger.warn(details, message),
  });
  logger.info(
    {
      recordDir: config.recordDir,
      recordRetention: config.recordRetention,
      recordMaxBytes: config.recordMaxBytes,
    },
    `flight recorder on: ${config.recordDir} (replay: quantum-calc replay recording ${config.recordDir})`,
  );
  return recorder;
}

/**
 * The hooks with the recorder's notes first: each cycle's trigger (onCycle), and each change of
 * the lease role as it happens (onRole: a standby reads nothing, so it would otherwise not be
 * recorded until it writes).
 */
export function withRecorderHooks<H extends RecorderHooks>(
  recorder: FlightRecorder | null,
  hooks: H | undefined,
): H | undefined {
  if (recorder === null) return hooks;
  const inner = hooks?.onCycle?.bind(hooks);
  const innerRole = hooks?.onRole?.bind(hooks);
  return {
    ...(hooks ?? ({} as H)),
    onCycle(event: CycleDoneEvent, nowMs: number) {
      recorder.noteCycle(event);
      inner?.(event, nowMs);
    },
    onRole(role: RoleDescription) {
      recorder.noteRole();
      innerRole?.(role);
    },
  };
}

/** The phase steps' decorator with the recorder outermost (it records what the cycle saw). */
export function recordingSteps(
  recorder: FlightRecorder | null,
  inner: <M, I, R>(phase: PhaseName, steps: PhaseSteps<M, I, R>) => PhaseSteps<M, I, R>,
): <M, I, R>(phase: PhaseName, steps: PhaseSteps<M, I, R>) => PhaseSteps<M, I, R> {
  if (recorder === null) return inner;
  return (phase, steps) => recorder.wrapSteps(phase, inner(phase, steps));
}

/**
 * quantum_calc_recorder_* on a registry, read at scrape time: lines written and dropped (a full
 * queue, a failed write: the drops the warning tells of), bytes, segments, the queue now.
 */
export function registerRecorderMetrics(
  registry: Registry,
  stats: () => FlightRecorderStats,
): void {
  const counter = (name: string, help: string, pick: (s: FlightRecorderStats) => number) => {
    const c: Counter = new PromCounter({
      name,
      help,
      registers: [registry],
      collect() {
        c.reset();
        c.inc(pick(stats()));
      },
    });
  };
  const gauge = (name: string, help: string, pick: (s: FlightRecorderStats) => number) => {
    const g: Gauge = new PromGauge({
      name,
      help,
      registers: [registry],
      collect() {
        g.set(pick(stats()));
      },
    });
  };
  counter(
    "quantum_calc_recorder_lines_total",
    "Flight recorder lines written.",
    (s) => s.linesWritten,
  );
  counter(
    "quantum_calc_recorder_dropped_total",
    "Flight recorder lines dropped (queue full, write failed): publishing went on without them.",
    (s) => s.linesDropped,
  );
  counter(
    "quantum_calc_recorder_bytes_total",
    "Flight recorder bytes written (before compression).",
    (s) => s.bytesWritten,
  );
  counter(
    "quantum_calc_recorder_segments_deleted_total",
    "Flight recorder segments deleted by recordRetention or recordMaxBytes.",
    (s) => s.segmentsDeleted,
  );
  gauge(
    "quantum_calc_recorder_queued_bytes",
    "Flight recorder bytes waiting for the disk.",
    (s) => s.queuedBytes,
  );
}
