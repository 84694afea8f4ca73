// How one field of an output hash is spelled and read back: a codec per kind of field (CONTRACT.md,
// "Outputs": fixed decimals for the market state's figures, the shortest round-tripping decimal
// for everything else, epoch seconds, ISO-8601 with ms and Z, comma-joined codes, "" for no
// stop). The output declarations (marketstateOutput.ts, riskProposalOutput.ts,
// harvestProposalOutput.ts) give each of their fields one of these, so a spelling and its parse
// are written down once, side by side, and a test checks that each reads back what it wrote.
//
// Parsing is as strict as the readers were (src/inputs/parse.ts): a value is either read or
// refused with why; a refused value is never defaulted.
import { NonFiniteValueError, formatDecimal, formatIsoUtc } from "./decimal.js";
import { parseFiniteNumber } from "../inputs/parse.js";

/** A field read back: its value, or why it cannot be (`missing`, `is not a number`, …). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; why: string };

export interface FieldCodec<T> {
  /** The text written for `value`; throws NonFiniteValueError (naming `field`) for a number that cannot be. */
  spell(value: T, field: string): string;
  /** The value of `raw` (undefined: the hash has no such field). */
  parse(raw: string | undefined): Parsed<T>;
  /** Fixed decimals of a number field (the market state's figures), else undefined. */
  readonly decimals?: number;
  /** True for a field that is text, not a number (not held to the output guard's number length). */
  readonly text: boolean;
}

const MISSING: Parsed<never> = { ok: false, why: "missing" };
const NOT_A_NUMBER: Parsed<never> = { ok: false, why: "is not a number" };

function parsedNumber(raw: string | undefined): Parsed<number> {
  if (raw === undefined) return MISSING;
  const value = parseFiniteNumber(raw);
  return value === null ? NOT_A_NUMBER : { ok: true, value };
}

/** A decimal: `decimals` fixed (like Python's f"{x:.8f}"), else the shortest that reads back exactly. */
export function decimal(decimals?: number): FieldCodec<number> {
  return {
    spell: (value, field) => formatDecimal(value, field, decimals),
    parse: parsedNumber,
    decimals,
    text: false,
  };
}

/** A whole number (a count, epoch seconds): written as the integer it is. */
export const integer: FieldCodec<number> = {
  spell(value, field) {
    if (!Number.isSafeInteger(value)) throw new NonFiniteValueError(field, value);
    return String(value);
  },
  // The old services wrote some of these as floats ("1764576060.123"): read as the number it is.
  parse: parsedNumber,
  text: false,
};

/** A time as ISO-8601 UTC with milliseconds and `Z`; the value is ms since epoch. */
export const isoUtc: FieldCodec<number> = {
  spell(value, field) {
    if (!Number.isFinite(value)) throw new NonFiniteValueError(field, value);
    return formatIsoUtc(value);
  },
  parse(raw) {
    if (raw === undefined || raw === "") return MISSING;
    const ms = Date.parse(raw);
    return Number.isFinite(ms) ? { ok: true, value: ms } : { ok: false, why: "is not a time" };
  },
  text: true,
};

/** Text written as it is. `orAbsent`: the value an absent field reads as (else it is missing). */
export function text(options: { orAbsent?: string; nonEmpty?: boolean } = {}): FieldCodec<string> {
  return {
    spell: (value) => value,
    parse(raw) {
      if (raw === undefined)
        return options.orAbsent === undefined ? MISSING : { ok: true, value: options.orAbsent };
      if (options.nonEmpty === true && raw === "") return MISSING;
      return { ok: true, value: raw };
    },
    text: true,
  };
}

/** Codes joined with commas (`regime_trend,tp_extended`); "" is none. */
export const codeList: FieldCodec<string[]> = {
  spell: (value) => value.join(","),
  parse(raw) {
    if (raw === undefined) return MISSING;
    return { ok: true, value: raw === "" ? [] : raw.split(",") };
  },
  text: true,
};

/** Python's spellings of "no value" that the old services left in these hashes. */
const UNSET: ReadonlySet<string> = new Set(["", "None"]);

/** A price or nothing: "" when null (Python wrote `None`); absent, "" and "None" read as null. */
export const optionalDecimal: FieldCodec<number | null> = {
  spell: (value, field) => (value === null ? "" : formatDecimal(value, field)),
  parse: (raw) =>
    raw === undefined || UNSET.has(raw) ? { ok: true, value: null } : parsedNumber(raw),
  text: false,
};

export interface Probabilities {
  trend: number;
  mr: number;
  chop: number;
}

const PROBABILITY_DECIMALS = 6;

/** `{"trend":…,"mr":…,"chop":…}`, each with the hash's own 6-decimal spelling (the exit brain reads it). */
export const probabilitiesJson: FieldCodec<Probabilities> = {
  spell: (p) =>
    `{"trend":${formatDecimal(p.trend, "p_trend", PROBABILITY_DECIMALS)},"mr":${formatDecimal(p.mr, "p_mr", PROBABILITY_DECIMALS)},"chop":${formatDecimal(p.chop, "p_chop", PROBABILITY_DECIMALS)}}`,
  parse(raw) {
    if (raw === undefined) return MISSING;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      return { ok: false, why: "is not JSON" };
    }
    const o = value as Record<string, unknown> | null;
    const read = (k: string): number | null =>
      typeof o === "object" && o !== null ? parseFiniteNumber(o[k]) : null;
    const trend = read("trend");
    const mr = read("mr");
    const chop = read("chop");
    if (trend === null || mr === null || chop === null)
      return { ok: false, why: "is not {trend, mr, chop} numbers" };
    return { ok: true, value: { trend, mr, chop } };
  },
  text: true,
};

/** `field missing` or `field="…" is not a number` (the raw text cut at 40 characters). */
export function describeProblem(field: string, raw: string | undefined, why: string): string {
  return raw === undefined || why === "missing"
    ? `${field} missing`
    : `${field}=${JSON.stringify(raw.slice(0, 40))} ${why}`;
}
