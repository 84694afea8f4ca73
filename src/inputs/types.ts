// Outcome of reading one input for one symbol. A skip is not an error: it carries a counted
// reason (docs/specification.md §6) and a human-readable detail for the log. I/O failures are thrown instead.

export const SKIP_REASONS = [
  "no_position",
  "insufficient_data",
  "stale_candles",
  "no_marketstate",
  "stale_marketstate",
  "stale_position",
  "bad_position",
  "bad_input",
  // Deliberate safety rules (CONTRACT.md, "Plausibility"): a window with more missing minutes
  // than maxCandleGap, and a result that cannot be meant (a price far from the market, …).
  "gapped_candles",
  "implausible_result",
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export type Read<T> = { ok: true; value: T } | { ok: false; reason: SkipReason; detail: string };

export const ok = <T>(value: T): Read<T> => ({ ok: true, value });
export const skip = <T = never>(reason: SkipReason, detail: string): Read<T> => ({
  ok: false,
  reason,
  detail,
});
