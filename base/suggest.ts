// "Did you mean": the closest known word to a misspelt one, by edit distance
// (insertions, deletions, substitutions and swaps of neighbours).

/** Optimal-string-alignment distance between a and b, or Infinity when it exceeds `max`. */
export function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return Infinity;
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push(new Array<number>(b.length + 1).fill(0));
    rows[i]![0] = i;
  }
  for (let j = 0; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    let best = Infinity;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
      if (d < best) best = d;
    }
    if (best > max) return Infinity;
  }
  const d = rows[a.length]![b.length]!;
  return d > max ? Infinity : d;
}

/** The candidate closest to `word` (case-insensitive), if one is close enough to be a likely typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  // Short words tolerate one edit, longer ones two.
  const max = w.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    if (c === word) continue;
    const d = editDistance(w, c.toLowerCase(), max);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}

/** `; did you mean \`x\`?` or nothing, for appending to a hint. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : `did you mean \`${c}\`?`;
}

/** Puts a "did you mean" in front of a diagnostic's hint, when there is a close candidate. */
export function suggesting<D extends { hint?: string; suggestion?: string }>(d: D, word: string, candidates: Iterable<string>): D {
  const c = closest(word, candidates);
  if (c === undefined) return d;
  const s = `did you mean \`${c}\`?`;
  d.hint = d.hint ? `${s} ${d.hint.charAt(0).toUpperCase()}${d.hint.slice(1)}` : s;
  d.suggestion = c;
  return d;
}
