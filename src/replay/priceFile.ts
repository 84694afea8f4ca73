// Closes from a text file for `replay market-state --file`: either one close per line, or a CSV
// whose header has a `close` column. Every bad value is an error naming its line — a silently
// skipped or zeroed close would change sigma and the regime without anyone noticing.

export class PriceFileError extends Error {
  constructor(
    readonly source: string,
    readonly line: number | null,
    why: string,
  ) {
    super(line === null ? `${source}: ${why}` : `${source} line ${line}: ${why}`);
    this.name = "PriceFileError";
  }
}

/** Plain decimal notation only: Number() alone would also accept hex ("0x1F") and whitespace. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function cellsOf(line: string): string[] {
  return line.split(",").map((c) =>
    c
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .trim(),
  );
}

/** Parses closes, oldest first. Blank lines are ignored; anything else must be a valid close. */
export function parsePriceFile(text: string, source = "input"): number[] {
  const lines = text.split(/\r?\n/);
  let closeColumn: number | null = null;
  const closes: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    if (lines[i].trim() === "") continue;
    const cells = cellsOf(lines[i]);
    if (closeColumn === null) {
      // The first non-blank line decides the format.
      const header = cells.findIndex((c) => c.toLowerCase() === "close");
      if (header >= 0) {
        closeColumn = header;
        continue;
      }
      if (cells.length > 1) {
        throw new PriceFileError(
          source,
          lineNo,
          'several columns but no header with a "close" column',
        );
      }
      closeColumn = 0;
    }
    if (cells.length <= closeColumn) {
      throw new PriceFileError(
        source,
        lineNo,
        `missing the close column (column ${closeColumn + 1})`,
      );
    }
    const raw = cells[closeColumn];
    const value = DECIMAL.test(raw) ? Number(raw) : NaN;
    if (!(Number.isFinite(value) && value > 0)) {
      throw new PriceFileError(
        source,
        lineNo,
        `bad close value ${JSON.stringify(raw)} (must be a finite number > 0)`,
      );
    }
    closes.push(value);
  }
  if (closes.length === 0) throw new PriceFileError(source, null, "no closes found");
  return closes;
}
