// The writes of the two proposal phases (risk, harvest), from their output declarations: the
// publish (the hash, its stream when configured, and the position memory in the same batch) and
// the heartbeat of a rate-limited cycle. Which fields, key and stream: the declaration says.
import {
  heartbeatFields,
  outputKey,
  stamped,
  type Fields,
  type OutputDeclaration,
} from "../contracts/output.js";
import { publishWithMemory } from "./positionInput.js";
import type { PhaseDeps } from "./steps.js";

/**
 * Publishes the proposal whose fields compute spelled (and the output guard checked), stamped
 * with the publish's clock; resolves with the fields written.
 */
export async function publishProposal<H extends object>(
  deps: Pick<PhaseDeps, "book" | "store" | "config">,
  output: OutputDeclaration<H>,
  symbol: string,
  computed: Fields,
  nowMs: number,
): Promise<Fields> {
  const fields = stamped(output, computed, nowMs);
  const stream = output.stream;
  const streamed = stream.when === "always" || deps.config.enableStream;
  await publishWithMemory(deps, symbol, nowMs, {
    hashes: [{ key: outputKey(output, symbol), fields }],
    streams: streamed
      ? [
          {
            key: stream.key,
            // Proposal streams carry the hash fields (their entries need no other values).
            fields: stream.entry(symbol, fields, {}),
            maxLen: stream.maxLen,
          },
        ]
      : [],
  });
  return fields;
}

/** A rate-limited cycle's write: only the declaration's heartbeat fields (and the position memory). */
export async function proposalHeartbeat<H extends object>(
  deps: Pick<PhaseDeps, "book" | "store">,
  output: OutputDeclaration<H>,
  symbol: string,
  nowMs: number,
): Promise<void> {
  const fields = heartbeatFields(output, nowMs);
  if (fields === null) throw new Error(`${output.title} has no heartbeat`);
  await publishWithMemory(deps, symbol, nowMs, {
    hashes: [{ key: outputKey(output, symbol), fields }],
    streams: [],
  });
}
