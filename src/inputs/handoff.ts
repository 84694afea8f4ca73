// The in-chain hand-off (docs/specification.md §6, "In-chain hand-off"): in a chain
// (marketstate → risk → harvest, machines/supervisor.ts `chain`) a later phase takes what the
// same chain just published or fetched instead of reading it back from Redis. Each part is
// exactly what the read would have found, or it is not handed on:
//   marketstate — the fields the chain's marketstate publish wrote (HSET: the hash's other
//                 fields are no reader's here), judged by the reader at its own clock
//                 (publishedMarketStateFrom), and only while the hash cannot have expired;
//   position    — the snapshot the chain's risk fetched, judged at the reader's clock (freshness
//                 and clock skew) and folded into the position book as a read would be;
//   risk        — the fields the chain's risk publish wrote. A held or skipped risk cycle hands
//                 nothing on: its hash holds the last publish, which harvest reads.
// An interval cycle, and a part older than HANDOFF_MAX_AGE_MS (a RUN that waited behind a long
// cycle or a backoff), reads from Redis as before.
import type { FetchedPosition } from "./positions.js";

/** A hash as the chain's own publish wrote it. */
export interface HandedHash {
  /** The fields written (the publish's stamps included). */
  fields: Readonly<Record<string, string>>;
  /** The publishing cycle's clock (epoch ms). */
  atMs: number;
}

export interface ChainHandoff {
  marketstate?: HandedHash;
  position?: { fetched: FetchedPosition; atMs: number };
  risk?: HandedHash;
}

/** A part older than this (ms, by the reader's clock) is read from Redis again. */
export const HANDOFF_MAX_AGE_MS = 10_000;

/** `part` when it is no older than `maxAgeMs` at `nowMs` (and not from the future); else null. */
export function handed<T extends { atMs: number }>(
  part: T | undefined,
  nowMs: number,
  maxAgeMs: number = HANDOFF_MAX_AGE_MS,
): T | null {
  if (part === undefined) return null;
  const age = nowMs - part.atMs;
  return age >= 0 && age < maxAgeMs ? part : null;
}

/**
 * How long a handed marketstate hash may be used: never past half its TTL (the hash a read would
 * find must still exist), and never past HANDOFF_MAX_AGE_MS.
 */
export function marketStateHandoffMaxAgeMs(ttlSec: number): number {
  return Math.min(HANDOFF_MAX_AGE_MS, (ttlSec * 1000) / 2);
}

/** The hand-off a cycle passes on: what its read passed on, with what its publish wrote on top. */
export function passedOn(
  read: ChainHandoff | null,
  published: ChainHandoff | null | undefined,
): ChainHandoff | null {
  if (published == null) return read;
  return read === null ? published : { ...read, ...published };
}
