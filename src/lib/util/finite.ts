import {UserError} from './errors.js'

/** "NaN at value i of n" for the first value that is NaN or ±Infinity, else undefined. */
function nonFinite(values: ArrayLike<number>, total: number): string | undefined {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) return `${values[i]} at value ${i} of ${total}`
  }
  return undefined
}

/**
 * NaN and ±Infinity never become scores: one NaN in a log-mel makes every number after the audio tower
 * NaN, and NaN compares false, so a ranking built on it looks like a perfect one. Each boundary (decoded
 * samples, log-mels, embeddings, evaluation inputs) calls this, which throws "<where> holds NaN at value i
 * of n"; WHERE names the file, and the row and column where there are some. A caller that knows the rest of its
 * values repeat ones checked passes only the head, and the whole length as TOTAL.
 */
export function requireFinite(values: ArrayLike<number>, where: () => string, total = values.length): void {
  const problem = nonFinite(values, total)
  if (problem) throw new UserError(`${where()} holds ${problem}`)
}

/** "FILE: row 3 (id 1-100-A-0)": a table row as an error message names it (row counted from 0 over the whole table). */
export function rowName(source: string, row: number, id: unknown): string {
  return `${source}: row ${row}${id === null || id === undefined ? '' : ` (id ${String(id)})`}`
}
