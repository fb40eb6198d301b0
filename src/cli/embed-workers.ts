import {WorkerPool} from '../lib/util/worker-pool.js'
import {UserError} from '../lib/util/errors.js'
import type {Embedder, RowItems} from '../lib/towers/embedder.js'
import type {TowerName} from '../lib/towers/towers.js'

export const ENGINES = ['onnx', 'tfjs'] as const
export type Engine = (typeof ENGINES)[number]

export interface EmbedderSpec {
  run: TowerName[]
  model: string
  clip: string
  normalize: boolean
  engine: Engine
  /** The TensorFlow.js backend, or ONNX Runtime's execution provider. */
  backend: string
}

/**
 * The towers in worker threads. TensorFlow.js: data parallelism over cores, since wasm runs
 * single-threaded under Node: each worker runs the towers on its own backend and chunks of rows go to
 * whichever worker is free. ONNX Runtime: one worker, whose session uses every core, so that its
 * blocking runs leave the main thread free to feed it.
 */
export async function workerEmbedder(workers: number, spec: EmbedderSpec): Promise<Embedder> {
  const pool = new WorkerPool<EmbedTask, EmbedReply>(new URL('./embed-worker.js', import.meta.url), workers, spec)
  // Every worker loads the towers on start; the first answer also says their sizes. A worker's errors
  // (a missing model file, say) are the user's to fix, so they keep their one-line form.
  const run = (task: EmbedTask, transfer: ArrayBuffer[] = []) =>
    pool.run(task, transfer).catch((error: Error) => {
      throw new UserError(error.message)
    })
  const ready = await Promise.all(Array.from({length: pool.size}, () => run({kind: 'describe'})))
  const {dims, sources} = ready[0] as Extract<EmbedReply, {dims: unknown}>
  return {
    dims,
    sources,
    embed: async (tower, rows) => {
      const copies = rows.map((items) => items.map((x) => (typeof x === 'string' ? x : x.slice()))) // a view would clone its whole buffer
      const transfer = copies.flat().flatMap((x) => (typeof x === 'string' ? [] : [x.buffer as ArrayBuffer]))
      return ((await run({kind: 'embed', tower, rows: copies}, transfer)) as {embeddings: (Float32Array | null)[]})
        .embeddings
    },
    close: () => pool.close(),
  }
}

export type EmbedTask = {kind: 'describe'} | {kind: 'embed'; tower: TowerName; rows: RowItems}
export type EmbedReply = {dims: Embedder['dims']; sources: Embedder['sources']} | {embeddings: (Float32Array | null)[]}
