// The config file's kernel overrides (`theta.marketstate`, `theta.stops`, `theta.harvest`) are
// checked at start by the kernels themselves (their resolveTheta), so the service refuses what a
// cycle would refuse, with exit 2, not a bad_input skip for ever. A kernel stops at the first bad
// leaf; an operator fixing a file wants every one at once. So the override is resolved again
// without each bad leaf until it passes, and every problem is named by its full path in the file
// (theta.stops.k_sl.trend), with its value, and an unknown key with the names it may have meant.
import { KernelInputError } from "../kernels/types.js";
import { DEFAULT_MARKET_STATE_THETA, marketStateMinRequired } from "../kernels/marketState.js";
import { DEFAULT_STOPS_THETA, resolveTheta as resolveStopsTheta } from "../kernels/stops.js";
import { DEFAULT_HARVEST_THETA, resolveTheta as resolveHarvestTheta } from "../kernels/harvest.js";
import { similarNames } from "./suggest.js";

export const THETA_KERNELS = ["marketstate", "stops", "harvest"] as const;
export type ThetaKernel = (typeof THETA_KERNELS)[number];

/** Each kernel's defaults (the names an override may use) and its own check of an override. */
const KERNELS: Record<ThetaKernel, { defaults: object; resolve: (override: never) => unknown }> = {
  marketstate: { defaults: DEFAULT_MARKET_STATE_THETA, resolve: marketStateMinRequired },
  stops: { defaults: DEFAULT_STOPS_THETA, resolve: resolveStopsTheta },
  harvest: { defaults: DEFAULT_HARVEST_THETA, resolve: resolveHarvestTheta },
};

export interface ThetaProblem {
  /** The full dotted path in the config file: theta.stops.k_sl.trend, theta.marketstate.trend.windows[1]. */
  path: string;
  /** What is wrong, without the path or the value. */
  message: string;
  value: unknown;
  /** For a key the kernel does not have: the known names it may have meant (full paths). */
  unknown?: { suggestions: string[] };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** "theta.trend.windows[1]" → ["trend", "windows"]: the override's node the field lies in. */
function nodePath(field: string): string[] {
  return field
    .replace(/^theta\.?/, "")
    .replace(/\[\d+\]/g, "")
    .split(".")
    .filter((p) => p.length > 0);
}

function nodeAt(root: unknown, path: readonly string[]): { found: boolean; value: unknown } {
  let at = root;
  for (const part of path) {
    if (!isObject(at) || !Object.hasOwn(at, part)) return { found: false, value: undefined };
    at = at[part];
  }
  return { found: true, value: at };
}

/** A copy of `root` without the node at `path` (which exists). */
function without(root: Json, path: readonly string[]): Json {
  const [head, ...rest] = path;
  const copy = { ...root };
  if (rest.length === 0) delete copy[head];
  else copy[head] = without(copy[head] as Json, rest);
  return copy;
}

/** The kernel's reason alone: its message is "<field>: <why> (got <value>)". */
function reasonOf(error: KernelInputError): string {
  let text = error.message;
  if (text.startsWith(`${error.field}: `)) text = text.slice(error.field.length + 2);
  const got = text.lastIndexOf(" (got ");
  return got > 0 && text.endsWith(")") ? text.slice(0, got) : text;
}

/**
 * Every problem of one kernel's override (empty when the kernel accepts it). The first problem
 * is always reported; after a bad node is taken out, a later problem is reported only when it
 * lies in what the operator wrote (a check across keys that failed only because a bad value was
 * replaced by its default is not theirs).
 */
export function thetaProblems(kernel: ThetaKernel, override: unknown): ThetaProblem[] {
  if (override === undefined || override === null) return [];
  const { defaults, resolve } = KERNELS[kernel];
  const prefix = `theta.${kernel}`;
  const problems: ThetaProblem[] = [];
  let rest = override;
  // Each round takes one node out, so this ends; the bound only guards a kernel that misbehaves.
  for (let round = 0; round <= 1000; round++) {
    try {
      (resolve as (o: unknown) => unknown)(rest);
      return problems;
    } catch (error) {
      if (!(error instanceof KernelInputError)) {
        problems.push({ path: prefix, message: (error as Error).message, value: override });
        return problems;
      }
      const path = nodePath(error.field);
      const node = nodeAt(rest, path);
      if (problems.length > 0 && !node.found) return problems;
      const field = error.field.replace(/^theta/, prefix);
      const known = nodeAt(defaults, path);
      if (!known.found && path.length > 0) {
        const parent = nodeAt(defaults, path.slice(0, -1)).value;
        const names = isObject(parent) ? Object.keys(parent) : [];
        const base = [prefix, ...path.slice(0, -1)].join(".");
        problems.push({
          path: field,
          message: reasonOf(error),
          value: error.value,
          unknown: {
            suggestions: similarNames(path[path.length - 1], names).map((n) => `${base}.${n}`),
          },
        });
      } else {
        problems.push({ path: field, message: reasonOf(error), value: error.value });
      }
      if (!node.found || path.length === 0 || !isObject(rest)) return problems;
      rest = without(rest, path);
    }
  }
  return problems;
}
