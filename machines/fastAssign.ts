// `assign` for machines with a wide context. XState's own assign builds the next context with
// `Object.assign({}, context, update)`: V8 adds the properties to the empty object one by one, and
// past ~19 of them it turns the object into a dictionary (hash table) — every copy then costs
// ~7 µs, every later property read is a hash lookup, and each copy leaves ~1 KB of garbage. The
// publisher's context has 33 fields and assigns ~6 times per cycle: in the CPU profile of the
// minute burst, resolveAssign's own time was 28 % of a cycle and the garbage a good part of the
// GC share (bench/cycle.ts: 155 µs of CPU per cycle before, see the README for after).
//
// This is the same action — the same `type`, the same assigner arguments, the same next context
// (the keys in the same order, the update's values on top) — built with object spread, which
// V8 copies map and all (the context stays a fast object). The snapshot is copied the same way:
// XState's cloneMachineSnapshot makes `{ ...snapshot, context }` and recomputes `value` and `tags`
// from `_nodes`, which an assign does not change. XState treats any action function with a
// `resolve` as a built-in one (its assign is exactly that); the version is pinned in
// package.json and test/machines/fastAssign.test.ts checks that both give the same snapshots.
// Spawning inside this assign is not supported (no publisher action spawns): it throws.
import { assign } from "xstate";

interface Scope {
  self: unknown;
  system: unknown;
}
interface SnapshotLike {
  context: Record<string, unknown> | undefined;
}
type Assignment =
  | ((args: Record<string, unknown>, params: unknown) => Record<string, unknown>)
  | Record<string, unknown>;

function noSpawn(): never {
  throw new Error("fastAssign: spawning inside this assign is not supported; use XState’s assign");
}

function resolveFastAssign(
  actorScope: Scope,
  snapshot: SnapshotLike,
  actionArgs: { event: unknown },
  actionParams: unknown,
  { assignment }: { assignment: Assignment },
): [SnapshotLike, undefined, undefined] {
  const context = snapshot.context;
  if (!context)
    throw new Error(
      "Cannot assign to undefined `context`. Ensure that `context` is defined in the machine config.",
    );
  const args = {
    context,
    event: actionArgs.event,
    spawn: noSpawn,
    self: actorScope.self,
    system: actorScope.system,
  };
  let update: Record<string, unknown>;
  if (typeof assignment === "function") {
    update = assignment(args, actionParams);
  } else {
    update = {};
    for (const key of Object.keys(assignment)) {
      const value = assignment[key];
      update[key] =
        typeof value === "function"
          ? (value as (a: unknown, p: unknown) => unknown)(args, actionParams)
          : value;
    }
  }
  return [{ ...snapshot, context: { ...context, ...update } }, undefined, undefined];
}

/** XState's `assign`, typed as it is, with a next context that stays a fast object. */
export const fastAssign: typeof assign = ((assignment: Assignment) => {
  function assign(_args: unknown, _params: unknown): void {}
  assign.type = "xstate.assign";
  assign.assignment = assignment;
  assign.resolve = resolveFastAssign;
  return assign;
}) as unknown as typeof assign;
