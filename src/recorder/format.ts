// The flight recording's format, version 1 (documented field by field in docs/recording.md).
// One JSON object per line; short keys, because a day at 400 symbols is millions of lines.
// Every segment file starts with a header line and is self-contained: the first cycle of each
// actor in a segment carries its inputs in full (later ones a delta against the actor's previous
// recorded read) and its rate-limit memory, so deleting old segments never breaks the newer ones.
import type { PhaseName } from "../core/phases.js";
import type { Delta, Json, JsonObject } from "./delta.js";

export const RECORDING_FORMAT = "quantum-calc-recording";
/** 2: closed segments stored by symbol with an index (segmentIndex.ts); lines as in 1. */
export const RECORDING_VERSION = 2;

/** First line of every segment. */
export interface HeaderRecord {
  k: "h";
  format: typeof RECORDING_FORMAT;
  v: typeof RECORDING_VERSION | 1;
  /** Segment sequence number (per recorder run) and when it was opened (epoch ms). */
  seg: number;
  t: number;
  /** host:pid of the writer. */
  by: string;
  /** The effective configuration, secrets and connection settings removed (redactConfig). */
  config: JsonObject;
}

/** A seed step: the rate-limit memory read back from the output hash, or the step's error. */
export interface SeedRecord {
  k: "s";
  p: PhaseName;
  s: string;
  /** Wall clock when the step ended (epoch ms). */
  t: number;
  m?: Json;
  e?: string;
}

/**
 * One cycle of one actor (phase p, symbol s): what its read step returned, what compute and
 * decide made of it, and what was written. Exactly one of i/f (inputs), x (read skip) or e (read
 * error) is present.
 */
export interface CycleRecord {
  k: "c";
  p: PhaseName;
  s: string;
  /** The cycle's clock reading (the read step's nowMs, epoch ms). */
  t: number;
  /** What started the cycle: interval, run, retry, wake (when the service reported it). */
  tr?: string;
  /** Full inputs (first cycle of the actor in the segment, or after a gap). */
  f?: JsonObject;
  /** Inputs as a delta against the actor's previous recorded inputs. */
  i?: Delta;
  /** The read was a counted skip: [reason, detail]. */
  x?: [string, string];
  /** The read failed (I/O): the message. */
  e?: string;
  /** Compute skipped [reason, detail] or failed (a message). */
  cx?: [string, string];
  ce?: string;
  /** The rate-limit memory decide saw (first decided cycle of the actor in the segment). */
  m?: Json;
  /** The decision: [publish, why]. */
  d?: [boolean, string];
  /** What the publish or heartbeat wrote (the batch), or its error. */
  w?: WrittenBatch;
  we?: string;
  /** A heartbeat that writes nothing (marketstate): 1. */
  hb?: 1;
  /** The cycle did not end: its publisher was stopped mid-way (lease lost, shutdown). */
  z?: 1;
  /** This same skip repeated n more times, the last at t2 (identical skips are folded). */
  n?: number;
  t2?: number;
}

/** A batch as written: hashes [key, fields, ttlSec|null], streams [key, fields, maxLen]. */
export interface WrittenBatch {
  h: [string, Record<string, string>, number | null][];
  x: [string, Record<string, string>, number][];
}

/** The lease role changed (leader, standby, none). */
export interface RoleRecord {
  k: "r";
  t: number;
  role: string;
  holder?: string;
}

/** Records were dropped here (queue full, disk full, slow I/O): n of them since the last line. */
export interface GapRecord {
  k: "g";
  t: number;
  n: number;
}

export type RecordLine = HeaderRecord | SeedRecord | CycleRecord | RoleRecord | GapRecord;

/** Configuration keys never recorded: secrets and where the secrets are. */
const SECRET_KEYS = new Set([
  "redisUrl",
  "redisPassword",
  "redisPasswordFile",
  "sentinels",
  "sentinelName",
  "sentinelPassword",
]);

/**
 * The configuration as recorded: every key but the connection and its secrets (the URL may carry a
 * password), so a recording can be handed to anyone. Replay needs only the computing keys.
 */
export function redactConfig(config: object): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(config)) {
    if (SECRET_KEYS.has(key) || /password|secret|token|url/i.test(key)) continue;
    if (value === undefined) continue;
    out[key] = JSON.parse(JSON.stringify(value)) as Json;
  }
  return out;
}

/** Segment file names: qc-<opened ms, 13 digits>-<seq, 6 digits>.jsonl(.gz). */
export const SEGMENT_PATTERN = /^qc-(\d{13})-(\d{6})\.jsonl(\.gz)?$/;

export function segmentName(openedMs: number, seq: number, closed: boolean): string {
  return `qc-${String(Math.floor(openedMs)).padStart(13, "0")}-${String(seq).padStart(6, "0")}.jsonl${closed ? ".gz" : ""}`;
}
