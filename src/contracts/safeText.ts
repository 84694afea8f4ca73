// Strings other services write (a policy_version, …) end up in our hashes, log lines, metric
// labels, `status` and the /viz page. A control character there can split or forge a log line; a
// bidirectional override or an invisible character makes one text read as another on screen.
// Such a string is refused (CONTRACT.md, "Plausibility"), and the refusal names the code point
// without echoing the character itself.

/**
 * C0 controls and DEL, C1 controls, and the format characters that reorder or hide text: the
 * Arabic letter mark, zero-width space/joiners and LRM/RLM, the line and paragraph separators
 * (line breaks to many log viewers), the bidi embeddings and overrides, the bidi isolates, and
 * the BOM / zero-width no-break space.
 */
const UNSAFE_CHARACTER =
  /[\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069\uFEFF]/u;
const UNSAFE_CHARACTERS = new RegExp(UNSAFE_CHARACTER.source, "gu");

/** `U+202E`: how a code point is named in a detail. */
export function codePointName(char: string): string {
  return `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/** The first unsafe character of `text` and where it is, or null when there is none. */
export function firstUnsafeCharacter(text: string): { index: number; codePoint: string } | null {
  const match = UNSAFE_CHARACTER.exec(text);
  return match === null ? null : { index: match.index, codePoint: codePointName(match[0]) };
}

/**
 * `text` with every unsafe character written as a JSON escape (`\u202e`), for text that is
 * already JSON (a JSON.stringify'd value: C0 controls are escaped by it, DEL, C1 and the format
 * characters are not).
 */
export function escapeUnsafe(text: string): string {
  return text.replace(
    UNSAFE_CHARACTERS,
    (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * `text` quoted for a log line or a detail: JSON-quoted with escapeUnsafe applied, cut to
 * `maxChars` characters of the original.
 */
export function quoteForLog(text: string, maxChars = 60): string {
  const cut = text.length > maxChars ? `${text.slice(0, Math.max(0, maxChars - 3))}...` : text;
  return escapeUnsafe(JSON.stringify(cut));
}

/** A JSON value (as parsed from another service's field) for a detail: its JSON text, escaped, cut. */
export function jsonForLog(value: unknown, maxChars = 40): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = typeof value;
  }
  return escapeUnsafe(text.slice(0, maxChars));
}
