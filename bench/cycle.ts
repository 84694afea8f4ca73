// The publisher machinery alone (`node dist/bench/cycle.js [--actors 1000] [--rounds 30]`): N
// publishers whose steps do no work (resolved promises, a constant result), all sent RUN at once
// — the shape of the minute burst — for a number of rounds. Reports the CPU time per cycle
// (seeding excluded) and how many cycles end published vs heartbeat, so a change to the machine
// or the step adapter is measured without Redis, kernels or candles in the way.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createActor } from 'xstate';
import { publisherFor, type PhaseSteps } from '../src/phases/steps.js';

function parseArgs(argv: string[]): { actors: number; rounds: number; heartbeat: boolean; allocProf: string | null } {
  const args = { actors: 1000, rounds: 30, heartbeat: false, allocProf: null as string | null };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--actors') args.actors = Number(value);
    else if (flag === '--rounds') args.rounds = Number(value);
    else if (flag === '--alloc-prof') args.allocProf = value ?? null;
    else if (flag === '--heartbeat') args.heartbeat = value === 'true' || value === '1';
    else throw new Error(`unknown argument ${flag}`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const inputs = { x: 1 };
  const result = { y: 2 };
  const memory = { m: 1 };
  const steps: PhaseSteps<unknown, unknown, unknown> = {
    seed: async () => null,
    read: async () => ({ nowMs: Date.now(), read: { ok: true, value: inputs } }),
    compute: () => ({ ok: true, value: result }),
    decide: () => (args.heartbeat ? { publish: false, why: 'rate_limited' } : { publish: true, why: 'new_candles' }),
    publish: async () => ({ memory, summary: 'ok', figures: {} }),
    heartbeat: async () => undefined,
  };
  let done = 0;
  const outcomes: Record<string, number> = {};
  let wake: (() => void) | null = null;
  const machine = publisherFor(steps).provide({
    actions: {
      reportCycle: ({ context }: { context: { lastOutcome: string | null } }) => {
        done++;
        const o = context.lastOutcome ?? 'error';
        outcomes[o] = (outcomes[o] ?? 0) + 1;
        if (done === args.actors && wake !== null) wake();
      },
    },
  });
  const actors = Array.from({ length: args.actors }, (_, i) =>
    createActor(machine, { input: { phase: 'risk', symbol: `S${i}`, intervalMs: 3_600_000, backoff: { baseMs: 1000, capMs: 8000 } } }).start(),
  );
  await new Promise((r) => setTimeout(r, 50));
  const round = async (): Promise<void> => {
    done = 0;
    const all = new Promise<void>((r) => (wake = r));
    for (const a of actors) a.send({ type: 'RUN' });
    await all;
  };
  for (let w = 0; w < 5; w++) await round();
  for (const k of Object.keys(outcomes)) delete outcomes[k];
  // --alloc-prof FILE: a sampling heap profile of everything the measured rounds allocate,
  // including what the GC collected again (a .heapprofile for DevTools).
  const session = args.allocProf === null ? null : new Session();
  if (session !== null) {
    session.connect();
    await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let r = 0; r < args.rounds; r++) await round();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (session !== null && args.allocProf !== null) {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(args.allocProf, JSON.stringify(profile));
  }
  const cycles = args.actors * args.rounds;
  const cpuUs = cpu.user + cpu.system;
  console.log(
    `${args.actors} publishers × ${args.rounds} rounds: ${(cpuUs / cycles).toFixed(1)} µs CPU per cycle, ${((wallMs * 1000) / cycles).toFixed(1)} µs wall per cycle ` +
      `(${JSON.stringify(outcomes)}) — ${process.version}`,
  );
  for (const a of actors) a.stop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
