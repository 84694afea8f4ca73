// Are this instance's writes accepted by Redis? (issue 21: a truthful /healthz)
//
// A writer whose every write is refused — Redis at maxmemory with noeviction (OOM), an ACL user
// without write access (NOPERM), a replica (READONLY), a failed RDB save with
// stop-writes-on-bgsave-error (MISCONF) — is not healthy, even though the PING behind /healthz
// answers and a standby with nobody holding the lease has no failing actor. The writer connection
// (writerConnection.ts) carries every write of the lease and every fenced publish, so it records
// here what Redis answered to each: accepted, or refused with an error reply. I/O failures (no
// reply, connection lost) are neither: they are "Redis unreachable", which the PING reports.
//
// Lease writes and publishes are tracked apart: under maxmemory, PEXPIRE (the renewal) is still
// allowed while every HSET is refused, so one kind's successes must not hide the other's
// refusals.
import { performance } from "node:perf_hooks";
import { errorMessage } from "../core/errors.js";

export type WriteKind = "lease" | "publish";

/**
 * Redis error codes that refuse a write for a reason that persists until an operator (or a
 * failover) acts. Checked in this order: an EXECABORT names the refusal of the queued command
 * inside its message, which is the code that matters.
 */
export const REFUSAL_CODES = [
  "OOM",
  "NOPERM",
  "READONLY",
  "MISCONF",
  "NOREPLICAS",
  "NOAUTH",
  "WRONGTYPE",
  "EXECABORT",
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

export interface WriteRefusal {
  code: RefusalCode;
  /** The error as the connection translated it (scrubbed of credentials), cut at 300 characters. */
  message: string;
}

/** The refusal a write error means, or null for an I/O failure (timeout, connection lost, …). */
export function writeRefusal(error: unknown): WriteRefusal | null {
  const message = errorMessage(error);
  for (const code of REFUSAL_CODES) {
    if (new RegExp(`\\b${code}\\b`).test(message))
      return { code, message: message.length > 300 ? `${message.slice(0, 297)}...` : message };
  }
  return null;
}

export interface WriteFailing {
  kind: WriteKind;
  code: RefusalCode;
  /** The latest refusal's message. */
  message: string;
  /** How long every write of this kind has been refused (since the first refusal after the last acceptance). */
  forMs: number;
}

export class WriteOutcomes {
  private readonly failingSince = new Map<WriteKind, number>();
  private readonly lastRefusal = new Map<WriteKind, WriteRefusal>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Redis accepted a write of this kind: its refusals are over. */
  accepted(kind: WriteKind): void {
    this.failingSince.delete(kind);
    this.lastRefusal.delete(kind);
  }

  /** A write of this kind failed: recorded when it is a refusal; an I/O failure changes nothing. */
  failed(kind: WriteKind, error: unknown): void {
    const refusal = writeRefusal(error);
    if (refusal === null) return;
    if (!this.failingSince.has(kind)) this.failingSince.set(kind, this.now());
    this.lastRefusal.set(kind, refusal);
  }

  /** The kinds whose writes are refused now (each since its first refusal after the last acceptance). */
  failing(): WriteFailing[] {
    const out: WriteFailing[] = [];
    for (const [kind, since] of this.failingSince) {
      const refusal = this.lastRefusal.get(kind);
      if (refusal === undefined) continue;
      out.push({
        kind,
        code: refusal.code,
        message: refusal.message,
        forMs: Math.max(0, this.now() - since),
      });
    }
    return out;
  }

  /** The latest refusal of this kind while it lasts, else null. */
  refusal(kind: WriteKind): WriteRefusal | null {
    return this.lastRefusal.get(kind) ?? null;
  }
}
