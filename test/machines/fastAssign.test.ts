// fastAssign must be XState's assign with another copy: the same snapshots (value, context with its
// keys in order, children, status), the same assigner arguments, both the function and the
// property form — checked against the pinned xstate by running one machine built with each.
import { describe, expect, it } from "vitest";
import { assign, createActor, setup } from "xstate";
import { fastAssign } from "../../machines/fastAssign.js";

function wideContext(): Record<string, number | string | null> {
  const context: Record<string, number | string | null> = {};
  for (let i = 0; i < 40; i++) context[`f${i}`] = i % 3 === 0 ? null : i;
  return context;
}

type Ctx = Record<string, number | string | null>;
type Ev = { type: "GO"; n: number } | { type: "BACK" };

function machineWith(a: typeof assign) {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- `{} as Ctx` is how XState types a context; the rule misreads setup()'s generics
  return setup({ types: { context: {} as Ctx, events: {} as Ev } }).createMachine({
    context: wideContext,
    initial: "one",
    states: {
      one: {
        on: {
          GO: {
            target: "two",
            actions: [
              a(({ context, event }) => ({
                f1: (context.f1 as number) + (event.type === "GO" ? event.n : 0),
                added: "x",
              })),
              a({ f2: ({ context }) => `${String(context.f2)}!`, f3: 7 }),
            ],
          },
        },
      },
      two: {
        entry: a(({ context }) => ({ f4: (context.f1 as number) * 2 })),
        on: { BACK: { target: "one", actions: a({ f5: null }) } },
      },
    },
  });
}

function run(a: typeof assign) {
  const actor = createActor(machineWith(a)).start();
  const seen: Array<{
    value: unknown;
    context: Ctx;
    keys: string[];
    status: string;
    tags: string[];
  }> = [];
  const note = () => {
    const s = actor.getSnapshot();
    seen.push({
      value: s.value,
      context: s.context,
      keys: Object.keys(s.context),
      status: s.status,
      tags: [...s.tags],
    });
  };
  note();
  actor.send({ type: "GO", n: 5 });
  note();
  actor.send({ type: "BACK" });
  note();
  actor.send({ type: "GO", n: 1 });
  note();
  return { seen, snapshot: actor.getSnapshot() };
}

describe("fastAssign", () => {
  it("gives the same snapshots as XState’s assign", () => {
    const ours = run(fastAssign);
    const theirs = run(assign);
    expect(ours.seen).toEqual(theirs.seen);
    expect(ours.seen[3].context).toMatchObject({
      f1: 7,
      f2: "2!!",
      f3: 7,
      f4: 14,
      f5: null,
      added: "x",
    });
    expect(ours.snapshot.matches("two")).toBe(true);
    expect(ours.snapshot.can({ type: "BACK" })).toBe(theirs.snapshot.can({ type: "BACK" }));
    expect(JSON.stringify(ours.snapshot)).toBe(JSON.stringify(theirs.snapshot));
  });

  it("is the same kind of action (type xstate.assign)", () => {
    const ours = fastAssign({ f1: 1 }) as unknown as { type: string; assignment: unknown };
    const theirs = assign({ f1: 1 }) as unknown as { type: string; assignment: unknown };
    expect(ours.type).toBe(theirs.type);
    expect(ours.assignment).toEqual(theirs.assignment);
  });

  it("refuses to spawn (XState’s assign is the one that can)", () => {
    const m = setup({ types: { context: {} as { n: number } } }).createMachine({
      context: { n: 0 },
      entry: fastAssign(({ spawn }) => {
        spawn(setup({}).createMachine({}));
        return { n: 1 };
      }),
    });
    const actor = createActor(m);
    let error: unknown = null;
    actor.subscribe({ error: (e) => (error = e) });
    actor.start();
    expect(String(error)).toMatch(/spawning inside this assign is not supported/);
  });
});
