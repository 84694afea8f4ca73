// The AI policy as a resource (docs/spec: the policy section): the book in force, read before the
// first cycles so they already compute with it, and its watch, which follows the policy key and
// its update stream — and, with symbolsSource policy, the running symbols — until the drain.
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";
import { configuredHarvestTheta } from "../phases/harvest.js";
import { policyLimitsFrom } from "../policy/policy.js";
import { PolicyBook } from "../policy/policyBook.js";
import { logPolicyEvent, PolicyWatch } from "../policy/policyWatch.js";
import type { Store } from "../store/types.js";
import type { Observers } from "./observers.js";
import type { ServiceResources } from "./resources.js";

export interface PolicyResource {
  book: PolicyBook;
  watch: PolicyWatch;
}

/** The book and its watch, not read yet (readPolicy does, at start-up). */
export function createPolicy(
  parts: { config: Config; logger: Logger; store: Store; now: () => number; observers: Observers },
  resources: ServiceResources,
): PolicyResource {
  const { config, logger, store, now, observers } = parts;
  const book = new PolicyBook({
    store,
    source: config.harvestThetaSource,
    configured: configuredHarvestTheta(config),
    limits: policyLimitsFrom(config),
    onEvent: (event) => {
      logPolicyEvent(logger, event);
      observers.notify("onPolicy", event);
    },
  });
  const watch = new PolicyWatch({ store, book, config, logger, now });
  resources.addCleanup(() => watch.stop());
  return { book, watch };
}

/** The start-up step: what "reading the policy" waits for. */
export function policyStep(config: Config): string {
  return config.symbolsSource === "policy"
    ? "reading the policy and the running symbols"
    : "reading the policy";
}

/**
 * SIGHUP (src/commands/sighup.ts): re-reads the policy now instead of at the next tick; resolves
 * with what is in force, for the log line.
 */
export async function reloadPolicy(
  config: Config,
  book: PolicyBook,
  now: () => number,
): Promise<string> {
  if (config.harvestThetaSource !== "policy" && config.symbolsSource !== "policy")
    return "the policy is not followed (harvestThetaSource and symbolsSource are config)";
  await book.refresh(now(), { universe: config.symbolsSource === "policy" });
  const inForce = book.describe(now());
  return inForce.source === "policy"
    ? `policy ${inForce.version} in force`
    : `the configured theta is in force (${inForce.why ?? "no usable policy"})`;
}
