/** Edit distance with adjacent transpositions (optimal string alignment): "retreive" is one edit from "retrieve". */
function distance(a: string, b: string): number {
  const d = Array.from({length: a.length + 1}, (_, i) =>
    Array.from({length: b.length + 1}, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/**
 * The candidates a mistyped word probably meant, best first: those it abbreviates (as git and cargo
 * complete a prefix), else those within a third of its length in edits (at least one edit, as git's "did you mean").
 */
export function suggest(word: string, candidates: Iterable<string>): string[] {
  const all = [...new Set(candidates)].filter((c) => c !== word)
  const prefixed = all.filter((c) => c.startsWith(word)).sort()
  if (prefixed.length > 0) return prefixed
  const limit = Math.max(1, Math.floor(word.length / 3))
  return all
    .map((c) => ({c, d: distance(word, c)}))
    .filter((x) => x.d <= limit)
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c))
    .map((x) => x.c)
}

/** "'a'", "'a' or 'b'", "'a', 'b' or 'c'": the quoted alternatives of a suggestion. */
export function alternatives(words: string[]): string {
  const quoted = words.map((w) => `'${w}'`)
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`
}
