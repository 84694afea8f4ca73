// Theta overrides are deep-merged onto a kernel's defaults: every leaf is overridable and an
// override names only the leaves it changes. Arrays (e.g. trend.windows) are leaves: an override
// replaces them whole, because merging [64,128,256] with [32] element-wise would mean nothing.
import { KernelInputError, type DeepPartial } from "./types.js";

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Returns a new theta: `defaults` with `override` merged in. An override key that the defaults
 * do not have is rejected (a typo like `sl_min_pc` must not silently do nothing), and so is a
 * leaf whose type differs from the default's.
 */
export function mergeTheta<T extends object>(
  defaults: T,
  override: DeepPartial<T> | undefined | null,
  path = "theta",
): T {
  if (override === undefined || override === null) return structuredClone(defaults);
  if (!isPlainObject(override)) throw new KernelInputError(path, override, "must be an object");
  const out: Record<string, unknown> = structuredClone(defaults) as Record<string, unknown>;
  for (const [key, value] of Object.entries(override)) {
    const here = `${path}.${key}`;
    if (!(key in out)) throw new KernelInputError(here, value, "unknown theta key");
    const base = out[key];
    if (value === undefined) continue;
    if (isPlainObject(base)) {
      out[key] = mergeTheta(base, value as DeepPartial<typeof base>, here);
    } else if (Array.isArray(base)) {
      if (!Array.isArray(value)) throw new KernelInputError(here, value, "must be an array");
      out[key] = structuredClone(value);
    } else if (typeof base !== typeof value) {
      throw new KernelInputError(here, value, `must be a ${typeof base}`);
    } else {
      out[key] = value;
    }
  }
  return out as T;
}
