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
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { createActor } from "xstate";
import type { CycleDoneEvent } from "../machines/publisher.js";
import { supervisorMachine } from "../machines/supervisor.js";
import { publisherFor, type PhaseSteps } from "../src/phases/steps.js";

interface Args {
  actors: number;
  rounds: number;
  heartbeat: boolean;
  supervised: boolean;
  allocProf: string | null;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    actors: 1000,
    rounds: 30,
    heartbeat: false,
    supervised: false,
    allocProf: null,
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
function setupActors(args: Args): {
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

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const { round, stop, perRound, unit } = setupActors(args);
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
  stop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
