// The mirrors' tapes kept in one arena (src/recorder/tapeArena.ts), as a recorder keeps every
// actor's: each mirror writes exactly the deltas and the full inputs a mirror with an arena of
// its own writes — while tapes outgrow their ranges, take new ones and are moved by compactions.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setCompiling } from "../../src/recorder/compiledCheck.js";
import { InputMirror } from "../../src/recorder/inputMirror.js";
import { JsonBytes } from "../../src/recorder/jsonBytes.js";
import { TapeArena } from "../../src/recorder/tapeArena.js";

/** What `mirror` writes for a read: its delta (or "-": none) and then its full inputs. */
function written(mirror: InputMirror, value: object): string {
  const out = new JsonBytes(8);
  const delta = mirror.update(value, out) ? out.toString() : "-";
  out.reset();
  mirror.jsonInto(out);
  return `${delta} ${out.toString()}`;
}

/** Inputs whose numbers and strings come and go in count: a window of `size`, `tags` strings. */
const inputs = fc.record({
  size: fc.integer({ min: 0, max: 120 }),
  from: fc.integer({ min: 0, max: 3 }),
  tags: fc.array(fc.constantFrom("a", "b", "long tag text"), { maxLength: 4 }),
  flag: fc.constantFrom(true, false, null),
  x: fc.integer({ min: 0, max: 2 }),
});

type Inputs = { size: number; from: number; tags: string[]; flag: boolean | null; x: number };

const valueOf = (p: Inputs): object => ({
  closes: Array.from({ length: p.size }, (_, i) => p.from + i + 0.5),
  tags: p.tags,
  meta: { flag: p.flag, x: p.x, name: `n${p.x}` },
});

describe.each([
  ["compiled", true],
  ["generic", false],
])("mirrors sharing an arena, their compare %s", (_, compiled) => {
  beforeAll(() => setCompiling(compiled));
  afterAll(() => setCompiling(true));

  it("write what mirrors with arenas of their own write, whatever the order of their reads", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), inputs), { maxLength: 60 }),
        (reads) => {
          const arena = new TapeArena();
          const shared = Array.from({ length: 6 }, () => new InputMirror(arena));
          const own = Array.from({ length: 6 }, () => new InputMirror());
          for (const [who, p] of reads) {
            const v = valueOf(p);
            expect(written(shared[who], v)).toBe(written(own[who], v));
          }
          // Nothing of a live tape lost: every slot taken is one of a live range or left behind.
          const use = arena.usage();
          expect(use.numsLive).toBeLessThanOrEqual(use.nums);
          expect(use.strsLive).toBeLessThanOrEqual(use.strs);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("keep a tape that held strings alone, then numbers too, through compactions", () => {
    const arena = new TapeArena();
    // Another tape first, which outgrows its ranges later: the compaction moves the tape under
    // test into the ranges it leaves behind.
    const before = new InputMirror(arena);
    written(before, { name: "z", n: [1, 2, 3] });
    const first = new InputMirror(arena);
    const twin = new InputMirror();
    // Strings only: the tape's numbers have no room yet.
    expect(written(first, { name: "a" })).toBe(written(twin, { name: "a" }));
    const later = { name: "a", closes: Array.from({ length: 50 }, (_, i) => i + 0.25) };
    expect(written(first, later)).toBe(written(twin, later));
    written(before, { name: "zz", names: ["y", "x"], n: Array.from({ length: 60 }, (_, i) => i) });
    // Other tapes grow until the arena compacts.
    const numsBefore = arena.nums;
    for (let step = 0; step < 30; step++) {
      const other = new InputMirror(arena);
      written(other, valueOf({ size: 100 + step, from: step, tags: [], flag: null, x: 0 }));
    }
    expect(arena.nums).not.toBe(numsBefore);
    const moved = { ...later, closes: [...later.closes.slice(1), 99.5] };
    expect(written(first, moved)).toBe(written(twin, moved));
  });

  it("keep their tapes through compactions as their windows and strings grow past the arena's room", () => {
    const arena = new TapeArena();
    const shared = Array.from({ length: 10 }, () => new InputMirror(arena));
    const own = Array.from({ length: 10 }, () => new InputMirror());
    let compactions = 0;
    let before = arena.nums;
    for (let step = 0; step < 40; step++)
      for (let who = 0; who < 10; who++) {
        // Every mirror's window and strings one longer each step: each read outgrows its ranges.
        const tags = Array.from({ length: step + 1 }, (_, i) => `t${i}`);
        const v = valueOf({ size: 100 + step, from: who, tags, flag: true, x: who % 3 });
        expect(written(shared[who], v)).toBe(written(own[who], v));
        if (arena.nums !== before) {
          compactions++;
          before = arena.nums;
        }
      }
    expect(compactions).toBeGreaterThan(1);
    expect(arena.usage().strsLive).toBe(10 * (40 + 1));
    // Packed at the last compaction: the ranges left behind since are at most what was live.
    const use = arena.usage();
    expect(use.nums).toBeLessThan(3 * use.numsLive);
    // Every mirror still writes the same as its twin, a read unchanged and one moved on.
    for (let who = 0; who < 10; who++)
      for (const size of [139, 139, 139]) {
        const v = valueOf({ size, from: who + 1, tags: ["t0", "t9"], flag: false, x: 1 });
        expect(written(shared[who], v)).toBe(written(own[who], v));
      }
  });
});
