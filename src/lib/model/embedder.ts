import * as tf from '@tensorflow/tfjs-core'
import {EOT_TOKEN, tokenize} from '../text/tokenizer.js'
import {UserError} from '../util/errors.js'
import {WorkerPool} from '../util/worker-pool.js'
import {l2normalize} from './transformer.js'
import {disposeTowers, type TowerName, type Towers} from './towers.js'

/** One row's inputs to a tower: its log-mel, its captions (or class), its frames; empty when it has none. */
export type RowItems = (Float32Array | string)[][]

/**
 * Turns rows' items into embeddings: per row, its items' vectors end to end (null for a row without
 * items). On TensorFlow.js in this thread or spread over worker threads each holding its own copy of
 * the towers (the training engine, and the fallback), or on ONNX Runtime (src/lib/onnx/embedder.ts).
 */
export interface Embedder {
  dims: Partial<Record<TowerName, number>>
  sources: Partial<Record<TowerName, string>>
  embed(tower: TowerName, rows: RowItems): Promise<(Float32Array | null)[]>
  close(): Promise<void>
}

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

export function localEmbedder(towers: Towers, normalize: boolean): Embedder {
  return {
    dims: Object.fromEntries((['audio', 'text', 'image'] as const).flatMap((t) => (towers[t] ? [[t, towers[t]!.outputDim]] : []))),
    sources: towers.sources,
    embed: async (tower, rows) => embedRows(towers, tower, rows, normalize),
    close: async () => disposeTowers(towers),
  }
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
      return ((await run({kind: 'embed', tower, rows: copies}, transfer)) as {embeddings: (Float32Array | null)[]}).embeddings
    },
    close: () => pool.close(),
  }
}

export type EmbedTask = {kind: 'describe'} | {kind: 'embed'; tower: TowerName; rows: RowItems}
export type EmbedReply = {dims: Embedder['dims']; sources: Embedder['sources']} | {embeddings: (Float32Array | null)[]}

/** All items of all rows in one forward pass, split back per row. */
function embedRows(towers: Towers, tower: TowerName, rows: RowItems, normalize: boolean): (Float32Array | null)[] {
  const all = rows.flat()
  if (all.length === 0) return rows.map(() => null)
  const out = tf.tidy(() => {
    const x = forward(towers, tower, all)
    return normalize ? l2normalize(x) : x
  })
  const values = out.dataSync() as Float32Array
  out.dispose()
  return perRow(rows, values)
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

export function forward(towers: Towers, tower: TowerName, items: (Float32Array | string)[]): tf.Tensor2D {
  if (tower === 'text') {
    const {ids, shape} = paddedIds(items as string[], towers.text!.contextLength, towers.text!.vocabSize)
    return towers.text!.forward(tf.tensor2d(ids, shape, 'int32'))
  }
  const arrays = items as Float32Array[]
  const stacked = stack(arrays)
  if (tower === 'audio') return towers.audio!.forward(tf.tensor3d(stacked, [arrays.length, arrays[0].length / 128, 128])) // shape = [n, T, 128]
  const side = Math.sqrt(arrays[0].length / 3)
  return towers.image!.forward(tf.tensor4d(stacked, [arrays.length, side, side, 3])) // shape = [n, 224, 224, 3]
}

/** Equal-sized inputs end to end, as one batch. */
export function stack(arrays: Float32Array[]): Float32Array {
  const stacked = new Float32Array(arrays.length * arrays[0].length)
  arrays.forEach((a, k) => stacked.set(a, k * a.length))
  return stacked
}

/**
 * CLIP token ids padded to the batch's longest text: the causal mask hides the rest from the EOT token (docs/method.md §5.6).
 * A text tower with a smaller vocabulary than CLIP's tokenizer (a cut-down test model) cannot read them: refused here,
 * before an engine indexes its embedding table out of bounds.
 */
export function paddedIds(texts: string[], contextLength: number, vocabSize: number): {ids: Int32Array; shape: [number, number]} {
  const {ids} = tokenize(texts, contextLength)
  const outside = ids.findIndex((id) => id >= vocabSize)
  if (outside >= 0) {
    const text = texts[Math.floor(outside / contextLength)]
    throw new UserError(`the text tower has a vocabulary of ${vocabSize} tokens, but CLIP's tokenizer gives token ${ids[outside]} for ${JSON.stringify(text)}: a CLIP text tower has ${EOT_TOKEN + 1}`)
  }
  let longest = 1
  for (let r = 0; r < texts.length; r++) {
    for (let c = contextLength - 1; c >= longest; c--) {
      if (ids[r * contextLength + c] !== 0) {
        longest = c + 1
        break
      }
    }
  }
  const trimmed = new Int32Array(texts.length * longest)
  for (let r = 0; r < texts.length; r++) trimmed.set(ids.subarray(r * contextLength, r * contextLength + longest), r * longest)
  return {ids: trimmed, shape: [texts.length, longest]} // shape = [n, longest]
}
