// A bounded, JSON-safe copy of an actor's context for the /viz page: the page shows what the
// actor holds without the server serialising 300 candles, a 3,000-entry id map or a cycle.
//
// Bounds: nesting depth, items per array, keys per object, characters per string. What JSON
// cannot carry is named instead (`[function now]`, `123n`, `Infinity`, `[circular]`).

export interface PreviewLimits {
  depth: number;
  items: number;
  keys: number;
  chars: number;
}

export const DEFAULT_PREVIEW_LIMITS: PreviewLimits = { depth: 5, items: 12, keys: 40, chars: 240 };

export function previewValue(
  value: unknown,
  limits: PreviewLimits = DEFAULT_PREVIEW_LIMITS,
): unknown {
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (v === null || typeof v === "boolean") return v;
    if (v === undefined) return "[undefined]";
    if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
    if (typeof v === "bigint") return `${v}n`;
    if (typeof v === "string")
      return v.length > limits.chars ? `${v.slice(0, limits.chars)}… (${v.length} chars)` : v;
    if (typeof v === "symbol") return v.toString();
    if (typeof v === "function") return `[function ${v.name || "anonymous"}]`;
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a primitive by now
    if (typeof v !== "object") return String(v);
    if (seen.has(v)) return "[circular]";
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? "[invalid date]" : v.toISOString();
    if (v instanceof Error) return { error: v.message };
    if (depth >= limits.depth) return Array.isArray(v) ? `[array of ${v.length}]` : "[object]";
    seen.add(v);
    try {
      if (Array.isArray(v) || v instanceof Set) {
        const items = Array.isArray(v) ? v : [...v];
        const out = items.slice(0, limits.items).map((item) => walk(item, depth + 1));
        if (items.length > limits.items) out.push(`… ${items.length - limits.items} more`);
        return out;
      }
      const entries: Array<[string, unknown]> =
        v instanceof Map ? [...v.entries()].map(([k, x]) => [String(k), x]) : Object.entries(v);
      const out: Record<string, unknown> = {};
      for (const [k, x] of entries.slice(0, limits.keys)) out[k] = walk(x, depth + 1);
      if (entries.length > limits.keys) out["…"] = `${entries.length - limits.keys} more keys`;
      return out;
    } catch {
      return "[unreadable]";
    } finally {
      seen.delete(v);
    }
  };
  return walk(value, 0);
}
