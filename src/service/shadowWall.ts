// Shadow mode in the service (`run --shadow`, src/shadow/): everything reads and "writes" through
// the write wall (ShadowStore, with its overlay), every phase's publish compares instead of
// writing, and the klines follower's own connection — which only reads — is behind a wall too.
import type { PhaseName } from "../../machines/publisher.js";
import type { PhaseSteps } from "../phases/steps.js";
import { shadowCompareSteps, type ShadowReport } from "../shadow/shadow.js";
import { ShadowStore } from "../shadow/shadowStore.js";
import type { Store } from "../store/types.js";
import type { KlinesConnection } from "./connections.js";

export interface ShadowWall {
  /** The store behind the wall; null when not in shadow mode. */
  store: ShadowStore | null;
  /** A phase's steps as the publishers run them: compared, not written, in shadow mode. */
  phaseSteps: <M, I, R>(phase: PhaseName, steps: PhaseSteps<M, I, R>) => PhaseSteps<M, I, R>;
  /** The klines follower's store, behind the wall when it is a connection of its own. */
  klinesStore: (klines: KlinesConnection | null) => Store | null;
}

export function shadowWall(report: ShadowReport | undefined, inner: Store): ShadowWall {
  if (report === undefined)
    return {
      store: null,
      phaseSteps: (_phase, steps) => steps,
      klinesStore: (k) => k?.store ?? null,
    };
  const store = new ShadowStore(inner, report);
  return {
    store,
    phaseSteps: (phase, steps) => shadowCompareSteps(phase, steps, store, report),
    klinesStore: (k) => (k === null ? null : k.own ? new ShadowStore(k.store) : k.store),
  };
}
