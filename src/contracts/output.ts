// What one output hash is, declared once (CONTRACT.md, "Outputs"): its key, its stream, its
// fields in the contract's order with how each is spelled and read back (codecs.ts), which of
// them the publish's clock stamps, and what a heartbeat writes. The publish, the seed of the rate
// limit, the published-state reader, `status`, shadow mode and the key guard's allow-list all
// read the same declaration (outputs.ts lists them), so a field or a key changes in one place.
import type { FieldCodec } from "./codecs.js";
import { describeProblem } from "./codecs.js";

/** Field name → the text written, as one HSET (or XADD) carries them. */
export type Fields = Record<string, string>;

/** Thrown for a key that must not be built (a symbol Redis users could not find, or a bare prefix). */
export class ForbiddenKeyError extends Error {
  readonly key: string;
  constructor(key: string, why: string, action: "write" | "delete" = "write") {
    super(`refusing to ${action} ${JSON.stringify(key)}: ${why}`);
    this.name = "ForbiddenKeyError";
    this.key = key;
  }
}

// A symbol is interpolated into key names. Whitespace or control characters there would make a
// key nobody can find with redis-cli, and an empty one would write the bare prefix.
const SYMBOL_PATTERN = /^[^\s\x00-\x1f\x7f]{1,100}$/;

export function assertSymbol(symbol: string): void {
  if (typeof symbol !== "string" || !SYMBOL_PATTERN.test(symbol)) {
    throw new ForbiddenKeyError(
      String(symbol),
      "a symbol must be 1-100 characters without whitespace or control characters",
    );
  }
}

/** The stream an output appends to on each publish. */
export interface OutputStream<H> {
  key: string;
  /** XADD MAXLEN ~ this. */
  maxLen: number;
  /** `always`, or only with the config's enableStream. */
  when: "always" | "enableStream";
  /**
   * The entry of one publish, from the hash fields as written and the values (unrounded) it
   * needs beyond them.
   */
  entry(symbol: string, fields: Fields, values: Partial<H>): Fields;
}

/** The fields of `H` whose values are numbers (times: epoch seconds or ms). */
export type NumberField<H> = {
  [K in keyof H]-?: H[K] extends number ? K : never;
}[keyof H] &
  string;

/** A hash's fields in order, each with its codec (an output's, or our bookkeeping's). */
export interface HashDeclaration<H extends object> {
  /** Every field we write, in the contract's order, each with its codec. */
  fields: { readonly [K in keyof H]: FieldCodec<H[K]> };
}

export interface OutputDeclaration<H extends object> extends HashDeclaration<H> {
  /** What it is, for messages ("marketstate hash"). */
  title: string;
  /** The key is this prefix followed by the symbol. */
  keyPrefix: string;
  /** The fields the publish's clock writes (not computed: spelled at the publish). */
  stampsAt(nowMs: number): Partial<H>;
  /** Written only by a real publish: its presence says the hash holds one of ours. */
  publishedStamp: NumberField<H>;
  /** Refreshed by every write, heartbeats too (epoch seconds): how old the hash is. */
  updatedStamp: NumberField<H>;
  /** The fields a rate-limited cycle writes (a heartbeat); empty: it writes nothing. */
  heartbeat: ReadonlyArray<keyof H & string>;
  /** Fields the Python services never wrote (CONTRACT.md, "Deliberate differences" 9). */
  oursOnly: ReadonlyArray<keyof H & string>;
  stream: OutputStream<H>;
}

/** A declaration of any output hash (the lists that loop over all of them). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each declaration is used through its own typed constant; lists only read the untyped parts
export type AnyOutputDeclaration = OutputDeclaration<any>;

/** The hash key of `symbol` (the symbol checked: ForbiddenKeyError). */
export function outputKey(output: Pick<AnyOutputDeclaration, "keyPrefix">, symbol: string): string {
  assertSymbol(symbol);
  return output.keyPrefix + symbol;
}

/** The names of an output's fields, in the contract's order. */
export function fieldNames<H extends object>(output: HashDeclaration<H>): Array<keyof H & string> {
  return [...orderedNames(output)];
}

/**
 * Each declaration's field names, listed once: spell and stamped run on every cycle of every
 * symbol, and Object.keys would build the same list anew each time. Keyed by the declaration's
 * `fields` (declarations are constants; a fields object is never changed after it is declared).
 */
const namesByFields = new WeakMap<object, readonly string[]>();

function orderedNames<H extends object>(
  output: HashDeclaration<H>,
): ReadonlyArray<keyof H & string> {
  let names = namesByFields.get(output.fields);
  if (names === undefined) {
    names = Object.freeze(Object.keys(output.fields));
    namesByFields.set(output.fields, names);
  }
  return names as ReadonlyArray<keyof H & string>;
}

/**
 * The fields for the values given, spelled by their codecs, in the contract's order (a field
 * without a value is left out). Throws NonFiniteValueError naming a number that cannot be written.
 */
export function spell<H extends object>(output: HashDeclaration<H>, values: Partial<H>): Fields {
  const fields: Fields = {};
  const names = orderedNames(output);
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const value = values[name];
    if (value !== undefined) fields[name] = output.fields[name].spell(value, name);
  }
  return fields;
}

/**
 * The whole hash of a publish: the computed fields as they were spelled once (in compute, where
 * the output guard checked them) with the publish's stamps, in the contract's order. A stamp is
 * spelled where it goes (in field order, as spelling the stamps first would throw on the same
 * one), without a hash of the stamps alone in between.
 */
export function stamped<H extends object>(
  output: OutputDeclaration<H>,
  computed: Fields,
  nowMs: number,
): Fields {
  const stamps = output.stampsAt(nowMs);
  const fields: Fields = {};
  const names = orderedNames(output);
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const stamp = stamps[name];
    const text = stamp !== undefined ? output.fields[name].spell(stamp, name) : computed[name];
    if (text !== undefined) fields[name] = text;
  }
  return fields;
}

/** What a heartbeat writes at `nowMs`; null when the output has no heartbeat. */
export function heartbeatFields<H extends object>(
  output: OutputDeclaration<H>,
  nowMs: number,
): Fields | null {
  if (output.heartbeat.length === 0) return null;
  const stamps = spell(output, output.stampsAt(nowMs));
  const fields: Fields = {};
  for (const name of output.heartbeat) fields[name] = stamps[name];
  return fields;
}

/** One field that could not be read back. */
export interface FieldProblem {
  field: string;
  /** The text in the hash; undefined when absent. */
  raw: string | undefined;
  /** `missing`, `is not a number`, … */
  why: string;
}

/** `field missing` / `field="…" is not a number`, after `prefix` (e.g. the key and a dot). */
export function problemText(problem: FieldProblem, prefix = ""): string {
  return describeProblem(`${prefix}${problem.field}`, problem.raw, problem.why);
}

/** One field of `hash` read back by its codec. */
export function parseField<H extends object, K extends keyof H & string>(
  output: HashDeclaration<H>,
  hash: Readonly<Record<string, string>>,
  name: K,
): { ok: true; value: H[K] } | { ok: false; problem: FieldProblem } {
  const raw = Object.hasOwn(hash, name) ? hash[name] : undefined;
  const read = output.fields[name].parse(raw);
  return read.ok ? read : { ok: false, problem: { field: name, raw, why: read.why } };
}

/** The named fields read back: all of them, or every problem (in the order asked). */
export function parseFields<H extends object, K extends keyof H & string>(
  output: HashDeclaration<H>,
  hash: Readonly<Record<string, string>>,
  names: readonly K[],
): { ok: true; values: Pick<H, K> } | { ok: false; problems: FieldProblem[]; values: Partial<H> } {
  const values: Partial<H> = {};
  const problems: FieldProblem[] = [];
  for (const name of names) {
    const read = parseField(output, hash, name);
    if (read.ok) values[name] = read.value;
    else problems.push(read.problem);
  }
  return problems.length === 0
    ? { ok: true, values: values as Pick<H, K> }
    : { ok: false, problems, values };
}
