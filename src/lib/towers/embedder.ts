/** The seam both engines implement: rows of items in, their embeddings out. */
import type {TowerName} from './towers.js'

/** One row's inputs to a tower: its log-mel, its captions (or class), its frames; empty when it has none. */
export type RowItems = (Float32Array | string)[][]

/**
 * Turns rows' items into embeddings: per row, its items' vectors end to end (null for a row without items). On
 * TensorFlow.js (src/lib/model/embedder.ts) or ONNX Runtime (src/lib/onnx/embedder.ts), in this thread or in worker
 * threads (src/cli/embed-workers.ts).
 */
export interface Embedder {
  dims: Partial<Record<TowerName, number>>
  sources: Partial<Record<TowerName, string>>
  embed(tower: TowerName, rows: RowItems): Promise<(Float32Array | null)[]>
  close(): Promise<void>
}

/** The vectors of all items of all rows, end to end, cut back into each row's (null for a row without items). */
export function perRow(rows: RowItems, values: Float32Array): (Float32Array | null)[] {
  const dim = values.length / rows.reduce((n, items) => n + items.length, 0)
  let at = 0
  return rows.map((items) => {
    if (items.length === 0) return null
    const slice = values.slice(at * dim, (at + items.length) * dim)
    at += items.length
    return slice
  })
}
