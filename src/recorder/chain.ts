// What-if replays that follow the chain marketstate → risk → harvest (docs/recording.md, "What-if
// along the chain"). Risk and harvest read what this service itself published earlier: the
// marketstate hash, and (harvest) the risk proposal. A recorded read returned the values of a
// recorded publish; a what-if replay must give the cycle the values the *replayed* publish would
// have left in that hash instead, or a marketstate or stops theta never reaches the proposals.
//
// Per symbol and hash this keeps the hash twice, as it would be in Redis after each cycle that
// wrote it: folded from the recorded writes and from the replayed writes of the same cycles (a
// version: the pair). A recorded input is matched to the newest version whose recorded hash,
// read by the read step's own reader (src/inputs/publishedState.ts) at the reading cycle's clock,
// gives exactly the recorded value — the stamps included (ts_timestamp is one of the market
// fields; the risk proposal's freshness note depends on last_update_epoch). That version's replayed
// hash, read the same way at the same clock, is what the what-if cycle reads: the values parsed by
// the output declaration's codecs, and the freshness rules (stale marketstate: a skip; a stale risk
// proposal: absent) applied to the replayed stamps. Where the what-if changes a publish decision
// the two sides simply differ in that version: a replayed hold leaves the last replayed publish in
// the hash, a replayed publish where the recording held writes a new one.
//
// Nothing is substituted where the source is not known: a hash last written before the recording
// began (or before a gap, a stopped cycle, a lease change: another writer may have been in
// between), or a recorded value that matches no known version. Those inputs stay as recorded and
// are counted.
import type { PhaseName } from "../core/phases.js";
import { MARKETSTATE_OUTPUT, PUBLISHED_MARKET_FIELDS } from "../contracts/marketstateOutput.js";
import { RISK_PROPOSAL_OUTPUT } from "../contracts/riskProposalOutput.js";
import { outputKey } from "../contracts/output.js";
import { readPublishedMarketState, readRiskProposal } from "../inputs/publishedState.js";
import type { Store } from "../store/types.js";
import type { Json, JsonObject } from "./delta.js";
import type { WrittenBatch } from "./format.js";

/** A hash as it would be in Redis: its fields, and when its TTL ends (null: no TTL). */
interface HashState {
  fields: Record<string, string>;
  expiresAtMs: number | null;
}

/**
 * The hash after one writing cycle: as recorded and as replayed. null: not known (written before
 * the recording began, and not wholly rewritten since).
 */
interface Version {
  recorded: HashState | null;
  replayed: HashState | null;
}

/** Versions kept per hash: a read meets the newest, or one a concurrent publish just replaced. */
const KEEP_VERSIONS = 8;

/** The chained hashes: the marketstate hash (read by risk and harvest), the risk proposal (harvest). */
const CHAINED = {
  marketstate: MARKETSTATE_OUTPUT,
  risk: RISK_PROPOSAL_OUTPUT,
} as const;
type ChainedPhase = keyof typeof CHAINED;

const isChained = (phase: PhaseName): phase is ChainedPhase => phase in CHAINED;

/** The hash's write in a batch: its fields and TTL; undefined when the batch does not write it. */
function writeOf(
  batch: WrittenBatch | null,
  key: string,
): [Record<string, string>, number | null] | undefined {
  const h = batch?.h.find(([k]) => k === key);
  return h === undefined ? undefined : [h[1], h[2]];
}

const live = (state: HashState, atMs: number): boolean =>
  state.expiresAtMs === null || atMs < state.expiresAtMs;

/**
 * `state` after HSET of `write` at `atMs` (and EXPIRE when it has a TTL), as Redis does it: the
 * fields merge into a live hash, an expired one is gone first; a hash not known stays not known
 * unless the write is a publish (it carries the publish stamp: every field the readers read).
 */
function applyWrite(
  state: HashState | null,
  write: [Record<string, string>, number | null] | undefined,
  atMs: number,
  publishedStamp: string,
): HashState | null {
  if (write === undefined) return state;
  const [fields, ttlSec] = write;
  let base: HashState | null;
  if (state === null) {
    if (!(publishedStamp in fields)) return null;
    base = null;
  } else base = live(state, atMs) ? state : null;
  return {
    fields: { ...(base?.fields ?? {}), ...fields },
    expiresAtMs: ttlSec !== null ? atMs + ttlSec * 1000 : (base?.expiresAtMs ?? null),
  };
}

/** The store a reader sees: one hash, as it is at `atMs` (gone once its TTL ended). */
function hashStore(key: string, state: HashState, atMs: number): Store {
  const fields = live(state, atMs) ? state.fields : {};
  return new Proxy({} as Store, {
    get(_target, prop) {
      if (prop === "hgetall") return (k: string) => Promise.resolve(k === key ? { ...fields } : {});
      if (prop === "then") return undefined;
      return () => {
        throw new Error(`chain: the published-state reader asked ${String(prop)}`);
      };
    },
  });
}

/** A read's outcome as data, for comparison with the recorded input. */
type MarketRead =
  { ok: true; value: Record<string, number> } | { ok: false; reason: string; detail: string };

const sameMarket = (recorded: Json | undefined, read: MarketRead): boolean => {
  if (!read.ok || typeof recorded !== "object" || recorded === null || Array.isArray(recorded))
    return false;
  return PUBLISHED_MARKET_FIELDS.every((f) => recorded[f] === read.value[f]);
};

interface RiskRead {
  proposal: { stop_dist_pct: number } | null;
  note: string | null;
}

const sameRisk = (recorded: Json | undefined, read: RiskRead): boolean => {
  if (typeof recorded !== "object" || recorded === null || Array.isArray(recorded)) return false;
  const p = recorded.proposal;
  const proposalSame =
    p === null || p === undefined
      ? read.proposal === null
      : typeof p === "object" &&
        !Array.isArray(p) &&
        read.proposal !== null &&
        p.stop_dist_pct === read.proposal.stop_dist_pct;
  return proposalSame && (recorded.note ?? null) === read.note;
};

/** What a chained read gives a what-if cycle. */
export type ChainedRead =
  { ok: true; inputs: JsonObject } | { ok: false; reason: string; detail: string };

export interface ChainCounts {
  /** Inputs read from the replayed publish of the value the recording read. */
  followed: number;
  /** Inputs left as recorded: the publish they came from is not in the recording. */
  asRecorded: number;
}

export class ChainedOutputs {
  private readonly versions = new Map<string, Version[]>();
  readonly counts: ChainCounts = { followed: 0, asRecorded: 0 };

  /**
   * After a replayed marketstate or risk cycle: its recorded and replayed writes (null: none
   * landed — a skip, a hold that writes nothing, a failed write).
   */
  noteCycle(
    phase: PhaseName,
    symbol: string,
    atMs: number,
    recorded: WrittenBatch | null,
    replayed: WrittenBatch | null,
  ): void {
    if (!isChained(phase)) return;
    const output = CHAINED[phase];
    const key = outputKey(output, symbol);
    const rec = writeOf(recorded, key);
    const rep = writeOf(replayed, key);
    if (rec === undefined && rep === undefined) return;
    let list = this.versions.get(key);
    if (list === undefined) this.versions.set(key, (list = []));
    const last = list[list.length - 1] ?? { recorded: null, replayed: null };
    list.push({
      recorded: applyWrite(last.recorded, rec, atMs, output.publishedStamp),
      replayed: applyWrite(last.replayed, rep, atMs, output.publishedStamp),
    });
    if (list.length > KEEP_VERSIONS) list.shift();
  }

  /** The symbol's hash written by a cycle the replay does not run (stopped mid-way): not known. */
  forget(phase: PhaseName, symbol: string): void {
    if (isChained(phase)) this.versions.delete(outputKey(CHAINED[phase], symbol));
  }

  /** Lines lost, or the lease changed hands (another writer may come between): nothing known. */
  forgetAll(): void {
    this.versions.clear();
  }

  /**
   * A risk or harvest cycle's recorded inputs with the chained values replaced by what the
   * replayed publishes left in their hashes; a skip where the read step would have skipped on them.
   */
  async read(
    phase: PhaseName,
    symbol: string,
    inputs: JsonObject,
    nowMs: number,
    maxAgeSec: number,
  ): Promise<ChainedRead> {
    if (phase !== "risk" && phase !== "harvest") return { ok: true, inputs };
    let out = inputs;
    const marketKey = outputKey(MARKETSTATE_OUTPUT, symbol);
    const market = await this.follow(
      marketKey,
      nowMs,
      (store) => readPublishedMarketState(store, symbol, nowMs, maxAgeSec) as Promise<MarketRead>,
      (read) => sameMarket(inputs.market, read),
    );
    if (market !== null) {
      if (!market.ok) return market;
      out = { ...out, market: market.value };
    }
    if (phase === "harvest") {
      const riskKey = outputKey(RISK_PROPOSAL_OUTPUT, symbol);
      const risk = await this.follow(
        riskKey,
        nowMs,
        (store) => readRiskProposal(store, symbol, nowMs, maxAgeSec),
        (read) => sameRisk(inputs.risk, read),
      );
      if (risk !== null) out = { ...out, risk: { proposal: risk.proposal, note: risk.note } };
    }
    return { ok: true, inputs: out };
  }

  /**
   * The replayed read of the version whose recorded read is the recorded input (the newest such),
   * or null: no known version gives it (counted: left as recorded).
   */
  private async follow<R>(
    key: string,
    nowMs: number,
    reader: (store: Store) => Promise<R>,
    matches: (read: R) => boolean,
  ): Promise<R | null> {
    const list = this.versions.get(key) ?? [];
    for (let i = list.length - 1; i >= 0; i--) {
      const { recorded, replayed } = list[i];
      if (recorded === null) continue;
      if (!matches(await reader(hashStore(key, recorded, nowMs)))) continue;
      if (replayed === null) break;
      this.counts.followed++;
      return reader(hashStore(key, replayed, nowMs));
    }
    this.counts.asRecorded++;
    return null;
  }
}
