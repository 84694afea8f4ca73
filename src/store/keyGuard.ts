// The write allow-list of CONTRACT.md ("Outputs"). This service is calc-only: it may write its
// output hashes, their streams and its own bookkeeping under `quantum:calc:`, and nothing else.
// Both stores call assertPublishable() on every batch before touching anything, so a bug in a
// publisher (a wrong key, a NaN that slipped through) is refused loudly instead of landing in a
// key that some trading component reads. Deletion is narrower still: only `quantum:calc:` keys
// (assertDeletable). The argument checks the two stores share for their reads live here too.
//
// The output keys and streams are not spelled here: they come from the output declarations
// (src/contracts/outputs.ts), so a hash added there is allowed here, and nothing else is.
import type { PublishBatch } from "./types.js";
import {
  HARVEST_PROPOSAL_OUTPUT,
  MARKETSTATE_OUTPUT,
  OUTPUTS,
  RISK_PROPOSAL_OUTPUT,
} from "../contracts/outputs.js";
import { assertSymbol, ForbiddenKeyError, outputKey } from "../contracts/output.js";
import {
  HARVEST_PROPOSAL_STREAM,
  MARKETSTATE_STREAM,
  RISK_PROPOSAL_STREAM,
} from "../contracts/streams.js";
export { HARVEST_PROPOSAL_STREAM, MARKETSTATE_STREAM, RISK_PROPOSAL_STREAM };
export { assertSymbol, ForbiddenKeyError };

export const MARKETSTATE_HASH_PREFIX = MARKETSTATE_OUTPUT.keyPrefix;
export const RISK_PROPOSAL_HASH_PREFIX = RISK_PROPOSAL_OUTPUT.keyPrefix;
export const HARVEST_PROPOSAL_HASH_PREFIX = HARVEST_PROPOSAL_OUTPUT.keyPrefix;

/** Our own bookkeeping (hashes or streams); nothing outside this service reads it. */
export const CALC_PREFIX = "quantum:calc:";

/** The output hashes' key prefixes: every declared output's, and no other. */
export const OUTPUT_HASH_PREFIXES: readonly string[] = OUTPUTS.map((o) => o.keyPrefix);
/** The output streams: every declared output's, and no other. */
export const OUTPUT_STREAMS: readonly string[] = OUTPUTS.map((o) => o.stream.key);

/** What a write does to a key: HSET (hash) or XADD (stream). */
export type WriteKind = "hash" | "stream";

/** Thrown for a malformed publish batch (empty field set, NaN value, bad TTL, ...). */
export class InvalidWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidWriteError";
  }
}

export function marketStateKey(symbol: string): string {
  return outputKey(MARKETSTATE_OUTPUT, symbol);
}

export function riskProposalKey(symbol: string): string {
  return outputKey(RISK_PROPOSAL_OUTPUT, symbol);
}

export function harvestProposalKey(symbol: string): string {
  return outputKey(HARVEST_PROPOSAL_OUTPUT, symbol);
}

/** A bookkeeping key of our own, e.g. calcKey('publisher', 'BTCUSDT') → quantum:calc:publisher:BTCUSDT. */
export function calcKey(...parts: string[]): string {
  if (parts.length === 0)
    throw new ForbiddenKeyError(CALC_PREFIX, "a bookkeeping key needs a name after the prefix");
  parts.forEach(assertSymbol);
  return CALC_PREFIX + parts.join(":");
}

function hasNonEmptySuffix(key: string, prefix: string): boolean {
  return key.startsWith(prefix) && key.length > prefix.length;
}

/** True when `key` may be written (as `kind`, when given). */
export function isWritable(key: string, kind?: WriteKind): boolean {
  if (typeof key !== "string") return false;
  if (hasNonEmptySuffix(key, CALC_PREFIX)) return true;
  const hashOk = OUTPUT_HASH_PREFIXES.some((prefix) => hasNonEmptySuffix(key, prefix));
  const streamOk = OUTPUT_STREAMS.includes(key);
  if (kind === "hash") return hashOk;
  if (kind === "stream") return streamOk;
  return hashOk || streamOk;
}

/**
 * Throws ForbiddenKeyError unless `key` is on the allow-list. With `kind`, the key must also be
 * allowed for that kind of write: an HSET on an output stream's name is refused here rather than
 * discovered as WRONGTYPE in production.
 */
export function assertWritable(key: string, kind?: WriteKind): void {
  if (isWritable(key, kind)) return;
  const allowed =
    kind === "stream"
      ? `streams ${OUTPUT_STREAMS.join(", ")} or ${CALC_PREFIX}*`
      : kind === "hash"
        ? `hashes ${OUTPUT_HASH_PREFIXES.map((p) => `${p}*`).join(", ")} or ${CALC_PREFIX}*`
        : `${OUTPUT_HASH_PREFIXES.map((p) => `${p}*`).join(", ")}, ${OUTPUT_STREAMS.join(", ")} or ${CALC_PREFIX}*`;
  throw new ForbiddenKeyError(
    key,
    `not on the calc-only write allow-list (${kind ?? "any"} writes allowed to ${allowed})`,
  );
}

/** True when `key` may be deleted: only our own bookkeeping under `quantum:calc:`. */
export function isDeletable(key: string): boolean {
  return typeof key === "string" && hasNonEmptySuffix(key, CALC_PREFIX);
}

/**
 * Throws ForbiddenKeyError unless `key` is one of our own bookkeeping keys (a non-empty name
 * under `quantum:calc:`). Narrower than assertWritable on purpose: the output hashes are shared
 * with other services (we own only some of their fields), so deleting one would destroy data
 * that is not ours.
 */
export function assertDeletable(key: string): void {
  if (isDeletable(key)) return;
  throw new ForbiddenKeyError(
    String(key),
    `only this service's own bookkeeping keys (${CALC_PREFIX}<name>) may be deleted`,
    "delete",
  );
}

// ---- argument checks of the reads, shared by both stores ------------------------------------

/** Thrown for a malformed read or delete argument (count, blockMs, minScore, stream id). */
export class InvalidArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidArgumentError";
  }
}

const shown = (value: unknown): string =>
  typeof value === "string" ? JSON.stringify(value) : String(value);

/** `count` of a read: a positive safe integer. */
export function assertCount(operation: string, count: number): void {
  if (!(typeof count === "number" && Number.isSafeInteger(count) && count > 0)) {
    throw new InvalidArgumentError(
      `${operation}: count must be a positive integer (got ${shown(count)})`,
    );
  }
}

/** `blockMs` of a blocking read: a non-negative safe integer (0 = do not block). */
export function assertBlockMs(operation: string, blockMs: number): void {
  if (!(typeof blockMs === "number" && Number.isSafeInteger(blockMs) && blockMs >= 0)) {
    throw new InvalidArgumentError(
      `${operation}: blockMs must be a non-negative integer (got ${shown(blockMs)})`,
    );
  }
}

/** `minScore` of a sorted-set range: finite, or -Infinity for "from the lowest". */
export function assertMinScore(operation: string, minScore: number): void {
  if (!(typeof minScore === "number" && (Number.isFinite(minScore) || minScore === -Infinity))) {
    throw new InvalidArgumentError(
      `${operation}: minScore must be a finite number or -Infinity (got ${shown(minScore)})`,
    );
  }
}

/** `maxBytes` of a size-bounded read: a non-negative safe integer, or Infinity for "no bound". */
export function assertMaxBytes(operation: string, maxBytes: number): void {
  if (!(
    typeof maxBytes === "number" &&
    ((Number.isSafeInteger(maxBytes) && maxBytes >= 0) || maxBytes === Infinity)
  )) {
    throw new InvalidArgumentError(
      `${operation}: maxBytes must be a non-negative integer or Infinity (got ${shown(maxBytes)})`,
    );
  }
}

/** A stream entry id as Redis orders it: by milliseconds, then sequence, both unsigned 64-bit. */
export interface StreamId {
  ms: bigint;
  seq: bigint;
}

const STREAM_ID_PATTERN = /^(\d{1,20})(?:-(\d{1,20}))?$/;
const U64_MAX = 2n ** 64n - 1n;

/**
 * Parses `ms-seq` or `ms` (sequence 0, as XREAD reads an incomplete id); '0' and '0-0' mean
 * "from the beginning". Throws InvalidArgumentError naming `name` otherwise.
 */
export function parseStreamId(operation: string, name: string, id: string): StreamId {
  const match = typeof id === "string" ? STREAM_ID_PATTERN.exec(id) : null;
  const ms = match ? BigInt(match[1]) : -1n;
  const seq = match?.[2] !== undefined ? BigInt(match[2]) : 0n;
  if (!match || ms > U64_MAX || seq > U64_MAX) {
    throw new InvalidArgumentError(
      `${operation}: ${name} must be a stream id "<ms>-<seq>" or "<ms>" (got ${shown(id)})`,
    );
  }
  return { ms, seq };
}

/** Negative, 0 or positive as `a` is before, equal to or after `b` (numerically, not as text). */
export function compareStreamIds(a: StreamId, b: StreamId): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1;
  return 0;
}

// Values the contract forbids in any output, whatever the field: the Python services wrote these.
const FORBIDDEN_VALUES = new Set([
  "NaN",
  "nan",
  "Infinity",
  "-Infinity",
  "inf",
  "-inf",
  "None",
  "undefined",
  "null",
]);

function assertFields(key: string, fields: Record<string, string>): void {
  if (typeof fields !== "object" || fields === null)
    throw new InvalidWriteError(`write to ${key}: fields must be an object`);
  // Names, not entries (every publish passes here: no [name, value] pair per field).
  const names = Object.keys(fields);
  // HSET/XADD with no field is a Redis syntax error; refuse it before anything is sent.
  if (names.length === 0) throw new InvalidWriteError(`write to ${key}: no fields given`);
  for (let i = 0; i < names.length; i++) {
    const field = names[i];
    const value = fields[field];
    if (field.length === 0) throw new InvalidWriteError(`write to ${key}: empty field name`);
    if (typeof value !== "string") {
      throw new InvalidWriteError(
        `write to ${key}: field ${field} must be a string (got ${typeof value})`,
      );
    }
    if (FORBIDDEN_VALUES.has(value)) {
      throw new InvalidWriteError(
        `write to ${key}: field ${field} has the forbidden value ${JSON.stringify(value)}`,
      );
    }
  }
}

/**
 * Validates a whole batch before anything is written: allow-listed keys, non-empty string
 * fields, no NaN/Infinity/None values, positive integer TTLs (EXPIRE 0 or negative would
 * delete the hash other services share) and positive integer stream lengths.
 */
export function assertPublishable(batch: PublishBatch): void {
  if (
    typeof batch !== "object" ||
    batch === null ||
    !Array.isArray(batch.hashes) ||
    !Array.isArray(batch.streams)
  ) {
    throw new InvalidWriteError("a publish batch needs hashes[] and streams[]");
  }
  for (const write of batch.hashes) {
    assertWritable(write.key, "hash");
    assertFields(write.key, write.fields);
    if (write.ttlSec !== undefined && !(Number.isSafeInteger(write.ttlSec) && write.ttlSec > 0)) {
      throw new InvalidWriteError(
        `write to ${write.key}: ttlSec must be a positive integer (got ${String(write.ttlSec)})`,
      );
    }
  }
  for (const write of batch.streams) {
    assertWritable(write.key, "stream");
    assertFields(write.key, write.fields);
    if (!(Number.isSafeInteger(write.maxLen) && write.maxLen > 0)) {
      throw new InvalidWriteError(
        `write to ${write.key}: maxLen must be a positive integer (got ${String(write.maxLen)})`,
      );
    }
  }
}
