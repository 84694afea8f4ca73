// Plain-text tables for the replay command: aligned columns, numbers right-aligned, text left.

export interface Column {
  header: string;
  /** 'right' for numbers (so decimal points line up at equal precision), 'left' for text. */
  align?: "left" | "right";
}

export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
): string {
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length)),
  );
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => {
        const cell = cells[i] ?? "";
        return c.align === "right" ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
      })
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(columns.map((c) => c.header)), rule, ...rows.map(line)].join("\n");
}

/** Fixed decimals; null/undefined print as '-' so an unset value is visibly unset. */
export function fmt(value: number | null | undefined, decimals: number): string {
  return value === null || value === undefined ? "-" : value.toFixed(decimals);
}
