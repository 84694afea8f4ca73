// The mirror's compare of a read against its tape (inputMirror.ts check), compiled for one tape's
// shape: its ops and member names written into the code of a function, made once per shape and
// shared by every actor whose tape has it.
//
// Why: the generic compare walks the read and the tape together, and every step of the walk is
// decided by data — the next op read from the tape, the next member name, a keyed load through
// a lookup that sees every phase's objects, a switch on the op's kind. In the service, where an
// actor's tape is out of the caches between two of its reads, that was the recorder's largest
// single cost in the steady state. Compiled, the ops and names are the code: a member's name is a
// constant compared with the key for…in gives, each value's test is the one its kind needs, and
// only the tape's numbers and strings are read. A loop over a recording's inputs compared a read
// in (µs, generic → compiled): risk 0.86 → 0.34, harvest 1.01 → 0.43, marketstate 1.59 → 1.22
// (docs/performance.md).
//
// It decides only the common reads, exactly as the generic compare would: nothing changed, or
// only leaves and windows changed (each change noted in the change log, in the same order, at the
// same op). Anything else — a member added, removed, reordered or retyped, an array resized or
// not an Array, a value of a kind it does not expect — answers UNSURE, and the generic compare
// walks the read from the start. A shape with very many ops, and the shapes beyond the first
// MAX_SHAPES, are not compiled (the generic compare serves them).
import {
  ARR,
  FALSE,
  LEAVES,
  LIT,
  NUL,
  NUM,
  NUMS,
  OBJ,
  SAME,
  STR,
  TRUE,
  UNSURE,
  shapeKey,
  type LogChange,
} from "./tapeOps.js";

/**
 * A compare compiled for one shape: SAME, LEAVES (the changes noted through `log`) or UNSURE
 * (nothing decided; what it noted is to be dropped). The shape is in the code; the tape's values
 * (numbers, literals, strings) are read from `nums` from `numsAt` on and `strs` from `strsAt` on
 * (its ranges of its arena, tapeArena.ts).
 */
export type CompiledCheck = (
  v: object,
  nums: Float64Array,
  numsAt: number,
  strs: readonly string[],
  strsAt: number,
  log: LogChange,
) => number;

/** Shapes with more ops than this are compared by the generic compare (a window is one op). */
const MAX_OPS = 1024;
/** How many shapes are compiled (the phases' inputs have a few each); later ones are not. */
const MAX_SHAPES = 64;

const cache = new Map<string, CompiledCheck>();
let compiling = true;

/**
 * Whether new tapes get a compiled compare (on by default). The tests run the mirror both ways;
 * the service never turns it off.
 */
export function setCompiling(on: boolean): void {
  compiling = on;
}

/**
 * The compiled compare of the tape whose ops and names these are, made on first sight of its
 * shape; null when the shape is not compiled (the generic compare serves it).
 */
export function compiledCheck(ops: Int32Array, names: readonly string[]): CompiledCheck | null {
  if (!compiling || ops.length === 0 || ops.length > MAX_OPS || (ops[0] & 15) !== OBJ) return null;
  const key = shapeKey(ops, names);
  let check = cache.get(key);
  if (check === undefined) {
    if (cache.size >= MAX_SHAPES) return null;
    check = compile(ops, names);
    cache.set(key, check);
  }
  return check;
}

function compile(ops: Int32Array, names: readonly string[]): CompiledCheck {
  let oi = 0;
  let ki = 0;
  let ni = 0;
  let si = 0;
  let ids = 0;
  const code: string[] = ["let c = 0;"];

  /**
   * The test of the value in variable `x` against the op at oi. Under an array of other things
   * (`strict`) any change answers UNSURE: the generic compare sends such an array the tree's way.
   */
  const test = (x: string, strict: boolean): void => {
    const at = oi++;
    const op = ops[at];
    const n = op >> 4;
    const changed = (num: string, ref: string): string =>
      strict ? `return ${UNSURE};` : `{ log(${at}, ${num}, ${ref}); c = ${LEAVES}; }`;
    switch (op & 15) {
      case NUM: {
        const k = ni++;
        code.push(
          `if (${x} !== nums[na + ${k}]) {`,
          `if (typeof ${x} !== "number" || ${x} - ${x} !== 0) return ${UNSURE};`,
          changed(x, "null"),
          "}",
        );
        return;
      }
      case STR: {
        const k = si++;
        code.push(
          `if (${x} !== strs[sa + ${k}]) {`,
          `if (typeof ${x} !== "string") return ${UNSURE};`,
          changed("0", x),
          "}",
        );
        return;
      }
      case NUMS: {
        const k = ni;
        ni += n;
        const w = `w${ids++}`;
        const y = `y${ids++}`;
        code.push(
          `if (!Array.isArray(${x}) || ${x}.length !== ${n}) return ${UNSURE};`,
          `let ${w} = 0;`,
          `for (let i = 0; i < ${n}; i++) {`,
          `const ${y} = ${x}[i];`,
          `if (${y} === nums[na + ${k} + i]) continue;`,
          // Tested inline, not handed to a function: a number read from a holey array would be
          // boxed (inputMirror.ts check says more).
          `if (typeof ${y} !== "number" || ${y} - ${y} !== 0) return ${UNSURE};`,
          `${w} = 1;`,
          "}",
          `if (${w} === 1) ${changed("0", x)}`,
        );
        return;
      }
      case ARR: {
        code.push(`if (!Array.isArray(${x}) || ${x}.length !== ${n}) return ${UNSURE};`);
        for (let i = 0; i < n; i++) {
          const e = `e${ids++}`;
          code.push(`{ const ${e} = ${x}[${i}];`);
          test(e, true);
          code.push("}");
        }
        return;
      }
      case OBJ: {
        const i = `i${ids++}`;
        const key = `k${ids++}`;
        const y = `y${ids++}`;
        code.push(
          `if (typeof ${x} !== "object" || ${x} === null || Array.isArray(${x}) || ArrayBuffer.isView(${x})) return ${UNSURE};`,
          `let ${i} = 0;`,
          `for (const ${key} in ${x}) {`,
          `const ${y} = ${x}[${key}];`,
          // Left out of the mirror, as JSON leaves it out (inputMirror.ts leftOut).
          `if (${y} === undefined || typeof ${y} === "function") continue;`,
          `switch (${i}++) {`,
        );
        for (let m = 0; m < n; m++) {
          code.push(
            `case ${m}: {`,
            `if (${key} !== ${JSON.stringify(names[ki++])}) return ${UNSURE};`,
          );
          test(y, strict);
          code.push("break; }");
        }
        code.push(`default: return ${UNSURE};`, "}", "}", `if (${i} !== ${n}) return ${UNSURE};`);
        return;
      }
      case LIT: {
        // Which literal it is now is the tape's, in nums (TRUE, FALSE or NUL).
        const k = ni++;
        const now = `t${ids++}`;
        code.push(
          `const ${now} = ${x} === true ? ${TRUE} : ${x} === false ? ${FALSE} :`,
          `${x} === null || (typeof ${x} === "number" && ${x} - ${x} !== 0) ? ${NUL} : 0;`,
          `if (${now} === 0) return ${UNSURE};`,
          `if (${now} !== nums[na + ${k}]) ${changed(now, "null")}`,
        );
        return;
      }
      default:
        throw new Error(`compiledCheck: no op ${op & 15}`);
    }
  };
  test("v", false);
  code.push(`return c === ${LEAVES} ? ${LEAVES} : ${SAME};`);
  // The shape's own code, made from the tape's ops and its names spelled as string literals
  // (JSON.stringify): nothing of a read's values is in it.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function("v", "nums", "na", "strs", "sa", "log", code.join("\n")) as CompiledCheck;
}
