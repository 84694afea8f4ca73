// The ops of a mirror's tape (inputMirror.ts, "The tape") and the answers of a compare of a read
// against it: shared by the generic compare (inputMirror.ts check) and the compare compiled for
// one tape's shape (compiledCheck.ts).

/** An op's kind (its low 4 bits; the count, where there is one, is in the rest). */
export const OBJ = 1; // an object of n members: n names in `names`, each followed by its value's ops
export const NUM = 2; // a finite number, in `nums`
export const STR = 3; // a string, in `strs`
export const LIT = 4; // true, false or null: which one is in `nums`, as TRUE, FALSE or NUL
export const NUMS = 7; // an array of n finite numbers, in `nums`
export const ARR = 8; // an array of n other values, each followed by its ops

/**
 * A literal's value, held in `nums` rather than in the op: a tape's ops are its shape's alone, and
 * every tape of a shape shares them (inputMirror.ts sharedShape) — a literal that changes (a
 * flag turning true) writes the tape's own numbers, not the shared ops.
 */
export const TRUE = 1;
export const FALSE = 2;
export const NUL = 3;

/**
 * A shape's key: its ops and its member names. The shapes shared by tapes (inputMirror.ts
 * sharedShape) and the compares compiled for them (compiledCheck.ts) are kept by it.
 */
export const shapeKey = (ops: ArrayLike<number>, names: readonly string[]): string =>
  `${Array.prototype.join.call(ops, ",")}|${JSON.stringify(names)}`;

/** A compare's answers. */
export const SAME = 0;
/** Only leaves, or numbers in windows, changed: noted in the change log, written by emit(). */
export const LEAVES = 1;
/** Anything else: the tree's way (members added, removed, reordered, retyped; arrays resized). */
export const SHAPE = 2;
/** The compiled compare met what it does not decide (compiledCheck.ts): the generic one decides. */
export const UNSURE = 3;

/** Notes a change of the op at `at`: a number's new value or a literal's (TRUE, …); or a reference. */
export type LogChange = (at: number, num: number, ref: unknown) => void;
