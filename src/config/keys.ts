// Views generated from the one declaration of the config keys (CONFIG_SPEC in ./schema.ts):
// how a flag/env string is coerced, the environment name, the flag, the default as `--help`
// shows it, and the choices. Nothing here names a key: add a key to CONFIG_SPEC and it gets all
// of these.
import type { z } from "zod";
import { CONFIG_SPEC, type ConfigKey, type KeySource, type KeySpec } from "./schema.js";

/** How a string (from a flag or an environment variable) becomes a typed config value. */
export type ValueKind =
  "string" | "number" | "int" | "boolean" | "list" | "nullableNumber" | "json";

export interface KeyInfo {
  key: ConfigKey;
  source: KeySource;
  kind: ValueKind;
  help: string;
  /** The flag without dashes ('only', 'no-follow-klines'), or null for an env/file-only key. */
  flag: string | null;
  /** `--only <phases>`: what commander is given. */
  flagSpec: string | null;
  /** A switch that sets the key to false (commander's `--no-…`). */
  negated: boolean;
  /** QUANTUM_CALC_<UPPER_SNAKE>, or null for a file-only key. */
  env: string | null;
  /** The default value (undefined for an optional key without one). */
  defaultValue: unknown;
  /** The default as `--help` and the table in docs/configuration.md show it. */
  defaultText: string;
  /** The allowed values of an enum key (or of a list's items). */
  choices: readonly string[] | null;
}

/** riskInterval → risk-interval: a key's flag unless the declaration names another. */
export const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function envNameOf(key: string): string {
  return `QUANTUM_CALC_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

type Def = {
  type: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  entries?: Record<string, string>;
};
const defOf = (schema: z.ZodType): Def => (schema as unknown as { def: Def }).def;

/** Peels .default/.optional/.nullable off a zod type; says whether null is allowed. */
function unwrap(schema: z.ZodType): { core: z.ZodType; nullable: boolean } {
  let core = schema;
  let nullable = false;
  for (
    let def = defOf(core);
    ["default", "optional", "nullable"].includes(def.type);
    def = defOf(core)
  ) {
    if (def.type === "nullable") nullable = true;
    core = def.innerType as z.ZodType;
  }
  return { core, nullable };
}

/** The coercion follows the zod type, so it cannot disagree with it. */
function kindOf(schema: z.ZodType): ValueKind {
  const { core, nullable } = unwrap(schema);
  const def = defOf(core);
  switch (def.type) {
    case "number":
      if (nullable) return "nullableNumber";
      return (core as z.ZodNumber).isInt ? "int" : "number";
    case "boolean":
      return "boolean";
    case "array":
      return "list";
    case "string":
    case "enum":
      return "string";
    default:
      return "json";
  }
}

function choicesOf(schema: z.ZodType): readonly string[] | null {
  let { core } = unwrap(schema);
  if (defOf(core).type === "array") core = unwrap(defOf(core).element as z.ZodType).core;
  const entries = defOf(core).type === "enum" ? defOf(core).entries : undefined;
  return entries ? Object.values(entries) : null;
}

/** One style for every default: what you would type (lists comma-separated, switches on/off). */
function showDefault(value: unknown, spec: KeySpec): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (value === undefined || value === null) return "none";
  if (typeof value === "boolean") return value ? "on" : "off";
  if (Array.isArray(value)) return value.join(",");
  if (typeof value === "object") return JSON.stringify(value);
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a primitive by now
  return String(value);
}

function infoOf(key: ConfigKey, spec: KeySpec): KeyInfo {
  const source = spec.source ?? "flag";
  const kind = kindOf(spec.schema);
  const hasFlag = source === "flag" || source === "run-flag";
  const flag = hasFlag ? (spec.flag ?? kebab(key)) : null;
  const takesValue = kind !== "boolean";
  const defaultValue = spec.schema.safeParse(undefined).data;
  return {
    key,
    source,
    kind,
    help: spec.help,
    flag,
    flagSpec: flag === null ? null : `--${flag}${takesValue ? ` <${spec.arg ?? "value"}>` : ""}`,
    negated: flag !== null && flag.startsWith("no-"),
    env: source === "file" ? null : envNameOf(key),
    defaultValue,
    defaultText: showDefault(defaultValue, spec),
    choices: choicesOf(spec.schema),
  };
}

/** Every key, in declaration order. */
export const KEY_INFO: readonly KeyInfo[] = (
  Object.entries(CONFIG_SPEC) as Array<[ConfigKey, KeySpec]>
).map(([key, spec]) => infoOf(key, spec));
const BY_KEY = new Map<string, KeyInfo>(KEY_INFO.map((info) => [info.key, info]));

export function keyInfo(key: string): KeyInfo | undefined {
  return BY_KEY.get(key);
}

/** The keys a string (flag or environment) can set: all but the file-only ones. */
export const STRING_KEYS: readonly ConfigKey[] = KEY_INFO.filter((k) => k.env !== null).map(
  (k) => k.key,
);

/** The origin a message names for a value given as a flag: "flag --only" for phases. */
export function flagOrigin(key: string): string {
  const flag = keyInfo(key)?.flag;
  return flag ? `flag --${flag}` : `option ${key}`;
}

/** The `--help` line of a key's flag: the help, the choices, the default, in one style. */
export function flagHelp(info: KeyInfo): string {
  const choices = info.choices
    ? `${info.kind === "list" ? "any of" : "one of"}: ${info.choices.join(", ")}; `
    : "";
  return `${info.help} (${choices}default: ${info.defaultText})`;
}
