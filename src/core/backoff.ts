// Capped exponential backoff, the one formula behind every retry delay of the service: the
// actors' backoff after an I/O failure (with jitter, machines/publisher.ts backoffDelayMs) and the
// Redis connection's reconnect delay (src/store/redisConnection.ts).

/** Delay before attempt `attempt` (1-based): base, 2·base, 4·base, … never above cap. */
export function cappedExponentialMs(attempt: number, baseMs: number, capMs: number): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(capMs, baseMs * 2 ** exponent);
}

/**
 * "Equal jitter": a uniformly random point in the upper half of `ceilingMs`, so many clients
 * failing together do not retry in lockstep, yet the delay never collapses to zero.
 */
export function equalJitterMs(ceilingMs: number, random: () => number = Math.random): number {
  return Math.round(ceilingMs / 2 + random() * (ceilingMs / 2));
}
