// The publisher machinery alone (`node dist/bench/cycle.js [--actors 1000] [--rounds 30]`): N
// publishers whose steps do no work (resolved promises, a constant result), all sent RUN at once
// — the shape of the minute burst — for a number of rounds. Reports the CPU time per cycle
// (seeding excluded), so a change to the machine or the step adapter is measured without Redis,
// kernels or candles in the way.
//
//   --supervised     the real supervisor over N symbols × 3 phases of such publishers; each round
//                    is one KLINES.CANDLES for every symbol, chained marketstate → risk → harvest
//                    (CPU per chain of three cycles, the supervisor's share included)
//   --heartbeat 1    rate-limited cycles (heartbeat) instead of publishes
//   --alloc-prof F   a sampling heap profile of the measured rounds (collected objects included)
//   --against DIR    A/B in one process: the same actors also from another build's dist/ (e.g. a
//                    worktree of the commit before, built), the rounds alternating between the two
//                    (ABBA); prints each build's median CPU per round and their ratio. On a shared
//                    machine, load that comes and goes then weighs on both alike. Run it with
//                    `node --expose-gc` so that each round starts from a collected heap.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { createActor } from "xstate";
import type { CycleDoneEvent } from "../machines/publisher.js";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { supervisorMachine } from "../machines/supervisor.js";
import { publisherFor, type PhaseSteps } from "../src/phases/steps.js";

/** What the bench needs from a build: this one, or another's dist/ (--against). */
interface Build {
  publisherFor: typeof publisherFor;
  supervisorMachine: typeof supervisorMachine;
}

interface Args {
  actors: number;
  rounds: number;
  heartbeat: boolean;
  supervised: boolean;
  allocProf: string | null;
  against: string | null;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    actors: 1000,
    rounds: 30,
    heartbeat: false,
    supervised: false,
    allocProf: null,
    against: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--supervised") {
      args.supervised = true;
      continue;
    }
    i++;
    if (flag === "--actors") args.actors = Number(value);
    else if (flag === "--rounds") args.rounds = Number(value);
    else if (flag === "--alloc-prof") args.allocProf = value ?? null;
    else if (flag === "--against") args.against = value ?? null;
    else if (flag === "--heartbeat") args.heartbeat = value === "true" || value === "1";
    else throw new Error(`unknown argument ${flag}`);
  }
  return args;
}

function idleSteps(heartbeat: boolean): PhaseSteps<unknown, unknown, unknown> {
  const inputs = { x: 1 };
  const result = { y: 2 };
  const memory = { m: 1 };
  return {
    seed: async () => null,
    read: async () => ({ nowMs: Date.now(), read: { ok: true, value: inputs } }),
    compute: () => ({ ok: true, value: result }),
    decide: () =>
      heartbeat ? { publish: false, why: "rate_limited" } : { publish: true, why: "new_candles" },
    publish: async () => ({ memory, summary: "ok", figures: {} }),
    heartbeat: async () => undefined,
  };
}

/** Starts the actors; `round()` runs one round and resolves when it is done. */
function setupActors(
  args: Args,
  { publisherFor, supervisorMachine }: Build,
): {
  round: () => Promise<void>;
  stop: () => void;
  perRound: number;
  unit: string;
} {
  const steps = idleSteps(args.heartbeat);
  let done = 0;
  let wake: (() => void) | null = null;
  if (!args.supervised) {
    const machine = publisherFor(steps).provide({
      actions: {
        reportCycle: () => {
          if (++done === args.actors && wake !== null) wake();
        },
      },
    });
    const actors = Array.from({ length: args.actors }, (_, i) =>
      createActor(machine, {
        input: {
          phase: "risk",
          symbol: `S${i}`,
          intervalMs: 3_600_000,
          backoff: { baseMs: 1000, capMs: 8000 },
        },
      }).start(),
    );
    return {
      perRound: args.actors,
      unit: "cycle",
      round: () => {
        done = 0;
        const all = new Promise<void>((r) => (wake = r));
        for (const a of actors) a.send({ type: "RUN" });
        return all;
      },
      stop: () => actors.forEach((a) => a.stop()),
    };
  }
  const symbols = Array.from({ length: args.actors }, (_, i) => `S${i}`);
  const publisher = publisherFor(steps);
  const supervisor = createActor(
    supervisorMachine.provide({
      actors: {
        marketstatePublisher: publisher,
        riskPublisher: publisher,
        harvestPublisher: publisher,
      },
      actions: {
        onCycleDone: (_args: unknown, e: CycleDoneEvent) => {
          if (e.phase === "harvest" && ++done === args.actors && wake !== null) wake();
        },
      },
    }),
    {
      input: {
        symbols,
        phases: ["marketstate", "risk", "harvest"],
        intervalsMs: { marketstate: 3_600_000, risk: 3_600_000, harvest: 3_600_000 },
        backoff: { baseMs: 1000, capMs: 8000 },
        restartBudget: 5,
        restartWindowMs: 60_000,
        drainTimeoutMs: 1000,
      },
    },
  ).start();
  return {
    perRound: args.actors,
    unit: "chain (3 cycles)",
    round: () => {
      done = 0;
      const all = new Promise<void>((r) => (wake = r));
      supervisor.send({ type: "KLINES.CANDLES", symbols });
      return all;
    },
    stop: () => supervisor.stop(),
  };
}

/** The other build's modules, from its dist/ directory. */
async function loadBuild(dir: string): Promise<Build> {
  const at = (path: string) => pathToFileURL(resolve(dir, path)).href;
  const steps = (await import(at("src/phases/steps.js"))) as Pick<Build, "publisherFor">;
  const sup = (await import(at("machines/supervisor.js"))) as Pick<Build, "supervisorMachine">;
  return { publisherFor: steps.publisherFor, supervisorMachine: sup.supervisorMachine };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** --against: this build (A) and another (B), their rounds alternating A B B A … */
async function compare(args: Args, dir: string): Promise<void> {
  const a = setupActors(args, { publisherFor, supervisorMachine });
  const b = setupActors(args, await loadBuild(dir));
  await new Promise((r) => setTimeout(r, 50));
  for (let w = 0; w < 5; w++) {
    await a.round();
    await b.round();
  }
  const perRound = { a: [] as number[], b: [] as number[] };
  // With --expose-gc, a full collection before each measured round: neither build pays for the
  // other's garbage (its own scavenges, during its round, still count).
  const gc = (globalThis as { gc?: () => void }).gc;
  const measure = async (which: "a" | "b"): Promise<void> => {
    gc?.();
    const cpu0 = process.cpuUsage();
    await (which === "a" ? a : b).round();
    const cpu = process.cpuUsage(cpu0);
    perRound[which].push((cpu.user + cpu.system) / a.perRound);
  };
  for (let r = 0; r < args.rounds; r++) {
    const order: ("a" | "b")[] = r % 2 === 0 ? ["a", "b"] : ["b", "a"];
    for (const which of order) await measure(which);
  }
  const line = (xs: number[]) => {
    const s = [...xs].sort((x, y) => x - y);
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    return `median ${median(xs).toFixed(1)} µs (quartiles ${q(0.25).toFixed(1)}–${q(0.75).toFixed(1)}, n ${xs.length})`;
  };
  console.log(
    `${args.actors} ${args.supervised ? "symbols (supervised, 3 phases)" : "publishers"}, CPU per ${a.unit}, rounds alternating — ${process.version}\n` +
      `  this build:  ${line(perRound.a)}\n  ${dir}: ${line(perRound.b)}\n` +
      `  this / that: ${(median(perRound.a) / median(perRound.b)).toFixed(3)}`,
  );
  console.log("no goal: an A/B comparison of two builds (a diagnostic)");
  a.stop();
  b.stop();
}

/** Issue 20's CPU per chain at the minute burst (bench:burst; docs/performance.md). */
const CHAIN_GOAL_US = 400;

/**
 * This bench has no goal of its own: supervised, its chain is the machinery's share of the burst's
 * chain (no Redis, candles or kernels), so it is set against the burst's 0.4 ms; a cycle alone is
 * a diagnostic.
 */
function goalLine(args: Args, usPerUnit: number): string {
  if (!args.supervised)
    return `no goal: a diagnostic (the ${CHAIN_GOAL_US / 1000} ms CPU per chain goal is bench:burst's; --supervised sets a chain against it)`;
  return `goal CPU per chain ≤ ${CHAIN_GOAL_US / 1000} ms (bench:burst's, machinery only here): ${(usPerUnit / 1000).toFixed(3)} ms, ${usPerUnit <= CHAIN_GOAL_US ? "met" : "NOT met"}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.against !== null) return compare(args, args.against);
  const { round, stop, perRound, unit } = setupActors(args, { publisherFor, supervisorMachine });
  await new Promise((r) => setTimeout(r, 50));
  for (let w = 0; w < 5; w++) await round();
  const session = args.allocProf === null ? null : new Session();
  if (session !== null) {
    session.connect();
    await session.post("HeapProfiler.startSampling", {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as never);
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let r = 0; r < args.rounds; r++) await round();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (session !== null && args.allocProf !== null) {
    const { profile } = await session.post("HeapProfiler.stopSampling");
    writeFileSync(args.allocProf, JSON.stringify(profile));
  }
  const n = perRound * args.rounds;
  console.log(
    `${args.actors} ${args.supervised ? "symbols (supervised, 3 phases)" : "publishers"} × ${args.rounds} rounds: ` +
      `${((cpu.user + cpu.system) / n).toFixed(1)} µs CPU per ${unit}, ${((wallMs * 1000) / n).toFixed(1)} µs wall — ${process.version}`,
  );
  console.log(goalLine(args, (cpu.user + cpu.system) / n));
  stop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
