// The flight recorder's cost (issue 19): CPU overhead at the 400-symbol minute burst and in the
// steady state between candles, and the bytes a day of recording takes at 400 symbols with 20
// open positions. Goals: overhead ≤ 5 %, ≤ 100 MB a day.
//
//   npm run build && node dist/bench/recorder.js [--symbols 400] [--positions 20] [--minutes 10] [--warm-minutes 3]
//                                               [--rounds 3] [--cpu-profile FILE]
//   npm run build && node dist/bench/recorder.js --instructions [--symbols 40] [--minutes 3] [--warm-minutes 3]
//
// The run is the real publisher machines and phase steps on the embedded store (the recorder
// sits at the steps' boundary and never sees Redis, so the store does not change what it costs),
// driven as production's schedule drives them: a minute is one candle per symbol (its burst:
// marketstate → risk → harvest of every symbol at once), a marketstate interval cycle, and five
// more 10 s risk and harvest cycles. CPU: process.cpuUsage() over the same minutes with and
// without the recorder, each in a process of its own, in A B B A order (--rounds), the recorder's
// own write loop included (awaited inside the window); the medians over every minute, each
// round's overhead and their median and range, the quartiles. A round's noise on a shared machine
// is of the order of the goal, so `--instructions` counts instructions instead (valgrind's
// callgrind, repeatable under load; see instructions()). Each prints "goal ≤ 5 %: met / NOT met"
// for the burst and the steady state. `--cpu-profile FILE`: each child's CPU profile of the
// measured minutes (FILE.plain.cpuprofile, FILE.record.cpuprofile). Bytes: the compressed
// segments after `--minutes` simulated minutes: the steady minutes scaled to 1,440, plus a
// segment's start (every actor's inputs in full) for every segment of the day.
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { Session } from "node:inspector";
import { gzipSync } from "node:zlib";
import { execFile, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../src/store/memoryStore.js";
import { FlightRecorder } from "../src/recorder/recorder.js";
import { listSegments, readSegmentLines } from "../src/recorder/reader.js";
import { loadConfig } from "../src/config/load.js";
import { liveRun } from "../test/recorder/liveRun.js";
import {
  brainFields,
  candlePayload,
  dataSinkKey,
  MINUTE_MS,
  positionKey,
} from "../test/helpers/producers.js";
import { syntheticPrices } from "../src/synthetic/prices.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0)
    throw new Error(`--${name} ${process.argv[i + 1]}: a number > 0`);
  return v;
}

const SYMBOLS = arg("symbols", 400);
const POSITIONS = arg("positions", 20);
const MINUTES = arg("minutes", 10);
const ROUNDS = arg("rounds", 3);
/**
 * Minutes played before the measured ones: the first seeds and reads every actor's inputs in full;
 * the next ones read deltas — the recorder's paths at every later minute — so that their first
 * runs and the JIT's compiling of them (on the main thread under --single-threaded, and counted
 * there) are not taken for the cost of each measured minute. With one warm-up minute the count
 * put ~50 M instructions a burst (40 symbols) on the recorder that a longer warm-up does not.
 */
const WARM_MINUTES = arg("warm-minutes", 3);
/** Child options of the instruction counts: minutes of bursts only, no minute after the warm-up. */
const BURSTS_ONLY = process.argv.includes("--bursts-only");
const WARM_ONLY = process.argv.includes("--warm-only");
const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

interface Setup {
  run: ReturnType<typeof liveRun>;
  recorder: FlightRecorder | null;
  minute: (m: number) => void;
  setNow: (ms: number) => void;
  dir: string | null;
}

async function setup(recording: boolean): Promise<Setup> {
  let nowMs = T0;
  const store = new MemoryStore({ now: () => nowMs });
  const symbols = Array.from({ length: SYMBOLS }, (_, i) => `S${String(i).padStart(4, "0")}USDT`);
  const horizon = 300 + WARM_MINUTES + MINUTES + 1;
  const series = symbols.map((_, i) =>
    syntheticPrices((["trend", "mr", "chop"] as const)[i % 3], {
      length: horizon,
      start: 10 + i,
      seed: i + 1,
    }),
  );
  const addCandle = (s: number, i: number) => {
    const open_time = T0 - 300 * MINUTE_MS + i * MINUTE_MS;
    const close = series[s][i];
    store.zadd(
      dataSinkKey(symbols[s]),
      open_time,
      candlePayload({
        symbol: symbols[s],
        open_time,
        close,
        high: close * 1.002,
        low: close * 0.998,
      }),
    );
  };
  for (let s = 0; s < SYMBOLS; s++) for (let i = 0; i < 300; i++) addCandle(s, i);
  const config = loadConfig({
    env: {},
    flags: { store: "memory", symbols, followKlines: false, logLevel: "silent" },
  }).config;
  const dir = recording ? await mkdtemp(join(tmpdir(), "qc-bench-rec-")) : null;
  const recorder =
    dir === null
      ? null
      : new FlightRecorder({
          dir,
          retentionMs: 7 * 86_400_000,
          maxBytes: 1 << 30,
          config,
          now: () => nowMs,
          triggers: true,
          // Written when the bench flushes, after each round of cycles (playMinute), not by the
          // 200 ms timer: that timer is real time, and under callgrind (~50× slower) it fired
          // many times within what production writes at once — counted as the recorder's cost.
          flushMs: 3_600_000,
        });
  const run = liveRun({ store, config, recorder, now: () => nowMs });
  const minute = (m: number) => {
    for (let s = 0; s < SYMBOLS; s++) addCandle(s, 300 + m);
    for (let s = 0; s < POSITIONS; s++) {
      const price = series[s][300 + m];
      const entry = series[s][300];
      store.hset(
        positionKey(symbols[s]),
        brainFields(
          {
            symbol: symbols[s],
            positionAmt: 2,
            entry,
            mark: price,
            unrealizedPnl: (price - entry) * 2,
            tsEpoch: Math.floor(nowMs / 1000),
          },
          nowMs,
        ),
      );
    }
  };
  return { run, recorder, minute, setNow: (ms) => (nowMs = ms), dir };
}

/** One production minute: the candle burst, a marketstate interval cycle, five 10 s risk/harvest cycles (burstOnly: the burst alone). */
async function playMinute(
  s: Setup,
  m: number,
  burstOnly = false,
): Promise<{ burstCpuMs: number; steadyCpuMs: number }> {
  const base = T0 + m * MINUTE_MS;
  s.setNow(base + 1_500);
  s.minute(m);
  let c = process.cpuUsage();
  await s.run.burst();
  await s.recorder?.flushed();
  let d = process.cpuUsage(c);
  const burstCpuMs = (d.user + d.system) / 1000;
  if (burstOnly) return { burstCpuMs, steadyCpuMs: 0 };
  c = process.cpuUsage();
  s.setNow(base + 30_000);
  await s.run.burst(["marketstate"]);
  await s.recorder?.flushed();
  for (let k = 1; k <= 5; k++) {
    s.setNow(base + 1_500 + k * 10_000);
    await s.run.burst(["risk", "harvest"]);
    // Each round's lines written together, as production's flush delay writes a round's.
    await s.recorder?.flushed();
  }
  d = process.cpuUsage(c);
  return { burstCpuMs, steadyCpuMs: (d.user + d.system) / 1000 };
}

/** --cpu-profile FILE: a CPU profile of the measured minutes (not the warm-up), per mode. */
function profileFile(): string | null {
  const i = process.argv.indexOf("--cpu-profile");
  return i < 0 ? null : (process.argv[i + 1] ?? null);
}

async function startProfile(): Promise<Session> {
  const session = new Session();
  session.connect();
  const post = (method: string) =>
    new Promise<void>((resolve, reject) =>
      session.post(method, (err) => (err ? reject(err) : resolve())),
    );
  await post("Profiler.enable");
  await post("Profiler.start");
  return session;
}

async function stopProfile(session: Session, path: string): Promise<void> {
  const profile = await new Promise<unknown>((resolve, reject) =>
    session.post("Profiler.stop", (err, res) => (err ? reject(err) : resolve(res.profile))),
  );
  await writeFile(path, JSON.stringify(profile));
  session.disconnect();
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * One process's run: the warm-up minutes, then MINUTES production minutes, with or without the
 * recorder. Each mode runs in a process of its own, so neither pays for the other's garbage.
 */
async function child(recording: boolean): Promise<void> {
  const recorded = await setup(recording);
  for (let m = 0; m < WARM_MINUTES; m++) await playMinute(recorded, m); // seeding, full reads, JIT
  // Under --instructions (--expose-gc): a full collection after the warm-up and after the minutes,
  // so that each run pays for its own garbage and a major collection cannot fall in one run's
  // count and not in the other's.
  const collect = (globalThis as { gc?: () => void }).gc;
  collect?.();
  const profile = profileFile();
  const session = profile === null ? null : await startProfile();
  const burst: number[] = [];
  const steady: number[] = [];
  for (let m = WARM_MINUTES; m < WARM_MINUTES + (WARM_ONLY ? 0 : MINUTES); m++) {
    // --bursts-only cuts the measured minutes short, never the warm-up: the counts' differences
    // are then exactly the measured bursts, or the measured minutes' steady parts.
    const r = await playMinute(recorded, m, BURSTS_ONLY);
    burst.push(r.burstCpuMs);
    steady.push(r.steadyCpuMs);
  }
  if (session !== null && profile !== null)
    await stopProfile(session, `${profile}.${recording ? "record" : "plain"}.cpuprofile`);
  recorded.run.stop();
  if (process.argv.includes("--no-bytes")) {
    // The instruction counts: the segment closed — sorted by symbol, compressed, indexed: the
    // recorder's work at each segment's end — or, with --no-close, only its lines written (the
    // close is counted on its own, per line: instructions()). Nothing read back.
    const lines = recorded.recorder?.stats().linesWritten ?? 0;
    if (process.argv.includes("--no-close")) await recorded.recorder?.flushed();
    else await recorded.recorder?.close();
    if (recorded.dir !== null) await rm(recorded.dir, { recursive: true, force: true });
    collect?.();
    process.stdout.write(`${JSON.stringify({ burst, steady, lines })}\n`);
    return;
  }
  if (!recording) {
    process.stdout.write(`${JSON.stringify({ burst, steady })}\n`);
    return;
  }
  await recorded.recorder?.close();
  const stats = recorded.recorder?.stats();
  // The recording as written (compressed segments), and split: the first minute's lines (every
  // actor's first line carries its inputs in full, as at the start of every segment) and the
  // steady minutes after it, each gzipped as the writer does.
  let bytes = 0;
  const warm: string[] = [];
  const steadyLines: string[] = [];
  const dir = recorded.dir ?? "";
  for (const seg of await listSegments(dir)) {
    bytes += (await stat(seg.path)).size;
    for (const line of (await readSegmentLines(seg.path)).lines) {
      const t = (JSON.parse(line) as { t?: number; k: string }).t ?? 0;
      (t < T0 + MINUTE_MS ? warm : steadyLines).push(line);
    }
  }
  if (!process.env.KEEP) await rm(dir, { recursive: true, force: true });
  else process.stderr.write(`kept ${dir}\n`);
  const gz = (lines: string[]) => gzipSync(lines.join("\n") + "\n").length;
  const warmBytes = gz(warm);
  // Every minute after the first is a steady one (the warm-up's later minutes too).
  const steadyPerMinute = gz(steadyLines) / (WARM_MINUTES - 1 + MINUTES);
  // A day: 1,440 steady minutes, and a segment start (full inputs) every 6 h (segmentMs) or
  // every 64 MiB (recordMaxBytes / 16), whichever comes first.
  const steadyDay = steadyPerMinute * 1440;
  const segmentsPerDay = Math.max(4, steadyDay / (64 * 1024 * 1024));
  const perDayMb = (steadyDay + segmentsPerDay * warmBytes) / 1e6;
  const rawPerDayMb = (((stats?.bytesWritten ?? 0) / (WARM_MINUTES + MINUTES)) * 1440) / 1e6;
  process.stdout.write(
    `${JSON.stringify({
      burst,
      steady,
      compressedBytes: bytes,
      segmentStartBytes: warmBytes,
      steadyBytesPerMinute: Math.round(steadyPerMinute),
      bytesPerDayMB: perDayMb,
      uncompressedPerDayMB: rawPerDayMb,
      recordedLines: stats?.linesWritten,
      droppedLines: stats?.linesDropped,
    })}\n`,
  );
}

interface ChildResult {
  burst: number[];
  steady: number[];
  bytesPerDayMB?: number;
  compressedBytes?: number;
  segmentStartBytes?: number;
  steadyBytesPerMinute?: number;
  uncompressedPerDayMB?: number;
  droppedLines?: number;
}

function runChild(mode: "plain" | "record"): ChildResult {
  const out = execFileSync(process.execPath, [
    fileURLToPath(import.meta.url),
    "--child",
    mode,
    ...process.argv.slice(2),
  ]);
  return JSON.parse(out.toString().trim().split("\n").pop() ?? "{}") as ChildResult;
}

/** The quartiles' spread of xs: [25th, 75th] percentile (nearest rank). */
const quartiles = (xs: number[]): [number, number] => {
  const sorted = [...xs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return [at(0.25), at(0.75)];
};
const pct = (a: number, b: number) => ((a - b) / b) * 100;
const signed = (x: number, digits = 1) => `${x >= 0 ? "+" : ""}${x.toFixed(digits)}`;
const goal = (overheadPct: number) => (overheadPct <= 5 ? "met" : "NOT met");

/**
 * `--instructions`: instructions counted by valgrind's callgrind (repeatable on a loaded machine,
 * where CPU time is not), each child under callgrind, node single-threaded (no concurrent JIT or
 * GC threads whose share would vary). A count covers the whole process, so each part is a
 * difference of two runs of the same mode: the bursts = (warm-up + K bursts) − (warm-up alone),
 * the steady state = (warm-up + K full minutes) − (warm-up + K bursts); divided by K. The
 * recorder's runs leave their segment open (--no-close); closing it — once a segment, every 6 h
 * or 64 MiB, on libuv's threads — is counted by one more run, per line written, and added to the
 * burst and the steady state by their lines as a second figure (amortized). Node under callgrind
 * is ~50× slower: a small universe (default 40 symbols, 3 minutes). Two children at a time (the
 * 2-core machine).
 */
async function instructions(): Promise<void> {
  const symbols = process.argv.includes("--symbols") ? SYMBOLS : 40;
  const positions = process.argv.includes("--positions") ? POSITIONS : Math.min(POSITIONS, 5);
  const minutes = process.argv.includes("--minutes") ? MINUTES : 3;
  type Part = "warm" | "bursts" | "all" | "closed";
  const count = (mode: "plain" | "record", part: Part) =>
    new Promise<{ instructions: number; lines: number }>((resolve, reject) => {
      const args = [
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        process.execPath,
        "--single-threaded",
        "--expose-gc",
        fileURLToPath(import.meta.url),
        "--child",
        mode,
        "--no-bytes",
        "--symbols",
        String(symbols),
        "--positions",
        String(positions),
        "--minutes",
        String(minutes),
        "--warm-minutes",
        String(WARM_MINUTES),
        ...(part === "warm" ? ["--warm-only"] : part === "bursts" ? ["--bursts-only"] : []),
        ...(mode === "record" && part !== "closed" ? ["--no-close"] : []),
      ];
      execFile("valgrind", args, { maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
        const m = /Collected : (\d+)/.exec(stderr);
        if (err !== null || m === null)
          reject(new Error(`valgrind ${mode} ${part}: ${err?.message ?? stderr.slice(-500)}`));
        else {
          const out = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as { lines?: number };
          resolve({ instructions: Number(m[1]), lines: out.lines ?? 0 });
        }
      });
    });
  const jobs: Array<{ mode: "plain" | "record"; part: Part }> = [
    ...(["warm", "bursts", "all"] as const).map((part) => ({ mode: "plain" as const, part })),
    ...(["warm", "bursts", "all", "closed"] as const).map((part) => ({
      mode: "record" as const,
      part,
    })),
  ];
  const counts = new Map<string, { instructions: number; lines: number }>();
  for (let i = 0; i < jobs.length; i += 2)
    await Promise.all(
      jobs
        .slice(i, i + 2)
        .map(async (j) => counts.set(`${j.mode} ${j.part}`, await count(j.mode, j.part))),
    );
  const of = (key: string) => counts.get(key) ?? { instructions: 0, lines: 0 };
  const per = (mode: string, from: string, to: string) =>
    (of(`${mode} ${to}`).instructions - of(`${mode} ${from}`).instructions) / minutes;
  const linesPer = (from: string, to: string) =>
    (of(`record ${to}`).lines - of(`record ${from}`).lines) / minutes;
  // The close's instructions per line: the closed run less the same run left open.
  const closePerLine =
    (of("record closed").instructions - of("record all").instructions) /
    Math.max(1, of("record all").lines);
  const burst = { without: per("plain", "warm", "bursts"), with: per("record", "warm", "bursts") };
  const steady = { without: per("plain", "bursts", "all"), with: per("record", "bursts", "all") };
  const burstClose = linesPer("warm", "bursts") * closePerLine;
  const steadyClose = linesPer("bursts", "all") * closePerLine;
  const burstPct = pct(burst.with, burst.without);
  const steadyPct = pct(steady.with, steady.without);
  const burstAmortizedPct = pct(burst.with + burstClose, burst.without);
  const steadyAmortizedPct = pct(steady.with + steadyClose, steady.without);
  process.stdout.write(
    `${JSON.stringify({ symbols, positions, minutes, warmMinutes: WARM_MINUTES, counts: Object.fromEntries(counts), closePerLine, burstInstructions: { ...burst, overheadPct: burstPct, closeAmortized: burstClose, amortizedPct: burstAmortizedPct }, steadyInstructions: { ...steady, overheadPct: steadyPct, closeAmortized: steadyClose, amortizedPct: steadyAmortizedPct } }, null, 2)}\n`,
  );
  const m = (x: number) => `${(x / 1e6).toFixed(0)} M`;
  process.stdout.write(
    `recorder at ${symbols} symbols, ${positions} positions, instructions (callgrind) a minute: ` +
      `burst ${m(burst.without)} → ${m(burst.with)} (${signed(burstPct)} %), ` +
      `steady ${m(steady.without)} → ${m(steady.with)} (${signed(steadyPct)} %); ` +
      `closing a segment ${(closePerLine / 1e3).toFixed(0)} k instructions a line, amortized: ` +
      `burst +${m(burstClose)} (${signed(burstAmortizedPct)} %), steady +${m(steadyClose)} (${signed(steadyAmortizedPct)} %)\n` +
      `burst: goal ≤ 5 %: ${goal(burstPct)} (instructions; ${goal(burstAmortizedPct)} with the close amortized)\n` +
      `steady state: goal ≤ 5 %: ${goal(steadyPct)} (instructions; ${goal(steadyAmortizedPct)} with the close amortized)\n`,
  );
}

async function main(): Promise<void> {
  const mode = process.argv[process.argv.indexOf("--child") + 1];
  if (process.argv.includes("--child")) return child(mode === "record");
  if (process.argv.includes("--instructions")) return instructions();
  const all: { plain: ChildResult[]; record: ChildResult[] } = { plain: [], record: [] };
  // A B B A A B …: a drift in the machine's load falls on both modes alike.
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (["plain", "record"] as const) : (["record", "plain"] as const);
    for (const m of order) all[m].push(runChild(m));
  }
  const pooled = (rs: ChildResult[], k: "burst" | "steady") => median(rs.flatMap((r) => r[k]));
  // Each round's overhead (its two processes' medians), and their median and range: the spread
  // says how far one figure can be trusted on this machine now.
  const rounds = (k: "burst" | "steady") =>
    all.record.map((r, i) => pct(median(r[k]), median(all.plain[i][k])));
  const spread = (k: "burst" | "steady") => {
    const each = rounds(k);
    return {
      roundsPct: each.map((x) => Number(x.toFixed(1))),
      medianOfRoundsPct: median(each),
      withoutQuartilesMs: quartiles(all.plain.flatMap((r) => r[k])),
      withQuartilesMs: quartiles(all.record.flatMap((r) => r[k])),
    };
  };
  const last = all.record[all.record.length - 1];
  const out = {
    symbols: SYMBOLS,
    positions: POSITIONS,
    minutesPerRun: MINUTES,
    rounds: ROUNDS,
    burstCpuMs: {
      without: pooled(all.plain, "burst"),
      with: pooled(all.record, "burst"),
      overheadPct: pct(pooled(all.record, "burst"), pooled(all.plain, "burst")),
      ...spread("burst"),
    },
    steadyCpuMs: {
      without: pooled(all.plain, "steady"),
      with: pooled(all.record, "steady"),
      overheadPct: pct(pooled(all.record, "steady"), pooled(all.plain, "steady")),
      ...spread("steady"),
    },
    ...last,
    burst: undefined,
    steady: undefined,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  const range = (xs: number[]) => `${signed(Math.min(...xs))} … ${signed(Math.max(...xs))} %`;
  process.stdout.write(
    `recorder at ${SYMBOLS} symbols, ${POSITIONS} positions: burst CPU ${signed(out.burstCpuMs.overheadPct)} % (goal ≤ 5 %), ` +
      `steady state ${signed(out.steadyCpuMs.overheadPct)} %, ${(last.bytesPerDayMB ?? 0).toFixed(1)} MB/day compressed (goal ≤ 100 MB)\n` +
      `burst: goal ≤ 5 %: ${goal(out.burstCpuMs.medianOfRoundsPct)} (CPU time, median of ${ROUNDS} rounds ${signed(out.burstCpuMs.medianOfRoundsPct)} %, rounds ${range(rounds("burst"))})\n` +
      `steady state: goal ≤ 5 %: ${goal(out.steadyCpuMs.medianOfRoundsPct)} (CPU time, median of ${ROUNDS} rounds ${signed(out.steadyCpuMs.medianOfRoundsPct)} %, rounds ${range(rounds("steady"))})\n`,
  );
  const met = (ok: boolean): string => (ok ? "met" : "NOT met");
  process.stdout.write(
    `goals at ${SYMBOLS} symbols${SYMBOLS === 400 ? "" : " (they are set for 400)"}: burst CPU ≤ 5 % ${met(out.burstCpuMs.medianOfRoundsPct <= 5)}, ` +
      `steady CPU ≤ 5 % ${met(out.steadyCpuMs.medianOfRoundsPct <= 5)} (CPU time: --instructions for counts), ` +
      `≤ 100 MB/day ${last.bytesPerDayMB === undefined ? "not measured" : met(last.bytesPerDayMB <= 100)}\n`,
  );
}

void main();
