// "Did you mean …?" for names an operator typed that we do not know (environment variables;
// commander does the same for flags). Optimal string alignment distance: insertions, deletions,
// substitutions and swaps of two neighbours each cost 1, so QUANTUM_CALC_RISKINTERVAL is one
// step from QUANTUM_CALC_RISK_INTERVAL.

/** Edit distance of `a` and `b` (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[rows - 1][cols - 1];
}

/**
 * The known names closest to `typed`, when close enough to be a typo: within 40 % of the typed
 * suffix's length (at least 1, at most 4 edits), compared case-insensitively. Best first.
 */
export function similarNames(typed: string, known: readonly string[], prefix = ""): string[] {
  const tail = (name: string): string => name.slice(prefix.length).toLowerCase();
  const want = tail(typed);
  const limit = Math.min(4, Math.max(1, Math.floor(want.length * 0.4)));
  const scored = known
    .map((name) => ({ name, distance: editDistance(want, tail(name)) }))
    .filter((s) => s.distance <= limit);
  const best = Math.min(...scored.map((s) => s.distance));
  return scored.filter((s) => s.distance === best).map((s) => s.name);
}
