// startService({ shadow }) in-process on the memory store: the wiring of shadow mode. The store the
// service hands out is the write wall, the store underneath stays exactly as seeded, every phase
// still computes and "publishes" (so the cycle counts are those of a real pass), and each proposal
// reaches the report — here all "no hash in Redis", since nothing had been published before.
import { describe, expect, it } from "vitest";
import { startService } from "../../src/service/service.js";
import { ShadowReport } from "../../src/shadow/shadow.js";
import { MemoryStore } from "../../src/store/memoryStore.js";
import { isShadowStore } from "../../src/shadow/shadowStore.js";
import {
  brainFields,
  candlePayload,
  dataSinkKey,
  lastClosedOpenTime,
  MINUTE_MS,
  positionKey,
} from "../helpers/producers.js";
import { prices } from "../helpers/seed.js";
import { captureLogger, serviceConfig } from "../helpers/serviceHarness.js";

function seeded(nowMs: number): MemoryStore {
  const memory = new MemoryStore();
  const closes = prices("trend", 300, 100, 3);
  const last = lastClosedOpenTime(nowMs);
  closes.forEach((close, i) => {
    const open_time = last - (closes.length - 1 - i) * MINUTE_MS;
    memory.zadd(
      dataSinkKey("BTCUSDT"),
      open_time,
      candlePayload({ symbol: "BTCUSDT", open_time, close }),
    );
  });
  memory.hset(
    positionKey("BTCUSDT"),
    brainFields(
      {
        symbol: "BTCUSDT",
        positionAmt: 1,
        entry: closes.at(-1)! * 0.98,
        mark: closes.at(-1)!,
        unrealizedPnl: 2,
      },
      nowMs,
    ),
  );
  return memory;
}

async function dump(memory: MemoryStore): Promise<string> {
  const out: unknown[] = [];
  for (const key of memory.keys())
    out.push([
      key,
      await memory.keyKind(key),
      (await memory.keyKind(key)) === "hash"
        ? await memory.hgetall(key)
        : await memory.zrangeTail(key, 1000),
    ]);
  return JSON.stringify(out);
}

describe("startService with shadow", () => {
  it('computes and "publishes" every phase, writes nothing, and reports each proposal', async () => {
    const nowMs = Date.now();
    const memory = seeded(nowMs);
    const before = await dump(memory);
    const log = captureLogger("info");
    const report = new ShadowReport({ logger: log.logger });
    const config = serviceConfig({ store: "memory", symbols: ["BTCUSDT"] });
    const handle = await startService({
      config,
      logger: log.logger,
      store: memory,
      once: true,
      shadow: report,
      now: () => nowMs,
      hooks: { onCycle: (e) => report.noteCycle(e) },
    });
    expect(isShadowStore(handle.store)).toBe(true);
    const output = await handle.done;
    const after = await dump(memory);
    const calcKeys = memory.keys("quantum:calc:*");
    await handle.close();
    expect(output.exitCode).toBe(0);
    expect(handle.stats.summary()).toMatchObject({
      "marketstate:published": 1,
      "risk:published": 1,
      "harvest:published": 1,
    });
    expect(after).toBe(before);
    expect(calcKeys).toEqual([]);
    expect(report.rows().map((r) => [r.key, r.last?.absent])).toEqual([
      ["quantum:marketstate:BTCUSDT", true],
      ["quantum:risk:proposal:BTCUSDT", true],
      ["quantum:harvest:proposal:BTCUSDT", true],
    ]);
    // Risk and harvest read the market state shadow marketstate had just "written" (else: no_marketstate).
    expect(report.totals().stopped).toMatchObject({ publishes: 3 });
    expect(log.lines().find((l) => /^quantum-calc started/.test(l.msg))?.msg).toContain(
      "in SHADOW mode: nothing is written to Redis",
    );
  });
});
