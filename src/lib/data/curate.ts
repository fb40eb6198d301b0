import {Schema, type Data, type Field, type RecordBatch} from '../arrow/apache-arrow.js'
import {columnData, utf8List} from '../arrow/columns.js'
import type {TableInput} from '../arrow/input.js'
import {stageOf} from '../arrow/provenance.js'
import {stageBatch, stageSchema} from '../arrow/stage.js'
import {tensorData, tensorField, tensorRow, tensorShape, type TensorType} from '../arrow/tensor.js'
import {UserError} from '../util/errors.js'

/**
 * Curated captions (docs/method.md §1.3, §2.3): each video frame's CLIP image embedding ranks a caption pool by
 * cosine similarity with the captions' CLIP text embeddings, and a clip keeps the best captions of its
 * frames, a `captions` column that AT fine-tuning trains on in place of human ones.
 *
 * How a clip's frames combine:
 * - `union` (VIP-ANT's curated data): the top k of every frame, merged; up to frames x k captions;
 * - `max`: the k captions with the best similarity to any frame (the first k of `union`);
 * - `mean`: the k captions with the best mean similarity over the frames.
 * Captions come best first, each scored by its best (`mean`: mean) cosine; equal scores keep pool order.
 */
export const FRAME_MERGES = ['union', 'max', 'mean'] as const
export type FrameMerge = (typeof FRAME_MERGES)[number]

export interface CaptionPool {
  source: string
  texts: string[]
  /** shape = [texts.length, dim], each row L2-normalised. */
  vectors: Float32Array
  dim: number
  /** The file that supplied the text tower, when the pool's provenance says. */
  model: string | null
  /** Captions dropped: repeats of an earlier caption's text, and rows without an embedding. */
  duplicates: number
  unembedded: number
}

/**
 * A caption pool: `vipant embed --text-file` output (`text`, `text_emb` [E]) or any table with
 * `captions` and their `text_emb` [-1,E] (one vector per caption, e.g. AudioCaps train through
 * vipant embed). A caption repeated in the pool is kept once, so it cannot fill a clip's k places.
 */
export async function readCaptionPool(input: TableInput): Promise<CaptionPool> {
  const has = (name: string) => input.schema.fields.some((f) => f.name === name)
  const textColumn = has('text') ? 'text' : has('captions') ? 'captions' : null
  if (!has('text_emb') || textColumn === null) {
    throw new UserError(
      `${input.source}: a caption pool needs text (or captions) and text_emb columns (vipant embed --tower text --text-file FILE)`,
    )
  }
  const dim = tensorShape(input.schema.fields.find((f) => f.name === 'text_emb')!).at(-1)!
  const seen = new Set<string>()
  const texts: string[] = []
  const rows: Float32Array[] = []
  let duplicates = 0
  let unembedded = 0
  let row = 0
  for await (const batch of input.batches) {
    const column = batch.getChild(textColumn)!
    const emb = batch.getChild('text_emb')!
    for (let i = 0; i < batch.numRows; i++, row++) {
      const value = column.get(i) as string | Iterable<string | null> | null
      const captions =
        value === null ? [] : typeof value === 'string' ? [value] : [...value].filter((c): c is string => c !== null)
      const vectors = tensorRow(emb, i)
      if (vectors === null) {
        unembedded += captions.length
        continue
      }
      if (vectors.length !== captions.length * dim) {
        throw new UserError(
          `${input.source}: row ${row}: ${captions.length} captions but ${vectors.length / dim} text embeddings`,
        )
      }
      captions.forEach((text, k) => {
        if (seen.has(text)) {
          duplicates++
        } else {
          seen.add(text)
          texts.push(text)
          rows.push(unit(vectors.subarray(k * dim, (k + 1) * dim)))
        }
      })
    }
  }
  if (texts.length === 0) throw new UserError(`${input.source}: the caption pool holds no embedded captions`)
  const vectors = new Float32Array(texts.length * dim)
  rows.forEach((v, j) => vectors.set(v, j * dim))
  const model = (stageOf(input.schema, 'text_emb')?.params.models as Record<string, string> | undefined)?.text ?? null
  return {source: input.source, texts, vectors, dim, model, duplicates, unembedded}
}

/** Refuses a clip table without frame embeddings, or with embeddings of another size than the pool's. */
export function checkCurateInput(input: TableInput, pool: CaptionPool): void {
  const field = input.schema.fields.find((f) => f.name === 'image_emb')
  if (!field)
    throw new UserError(`${input.source}: no image_emb column (vipant mel --frames K | vipant embed --tower image)`)
  const dim = tensorShape(field).at(-1)
  if (dim !== pool.dim)
    throw new UserError(
      `${input.source}: image_emb has ${dim} dimensions, the caption pool ${pool.source} ${pool.dim}: embed both with the same CLIP`,
    )
}

/** The file that supplied the clips' image tower, when their provenance says. */
export function imageModel(input: TableInput): string | null {
  return (stageOf(input.schema, 'image_emb')?.params.models as Record<string, string> | undefined)?.image ?? null
}

export interface CurateOptions {
  pool: CaptionPool
  k: number
  merge: FrameMerge
  /** Clips ranked together: the pool is swept once per batch. */
  batchSize: number
  onRows?: (stats: CurateStats) => void
}

export interface CurateStats {
  clips: number
  /** Clips that got captions; the rest had no frame embeddings and get null. */
  curated: number
  frames: number
  captions: number
  /** Sum over curated clips of their best caption's score. */
  topScore: number
}

function curateFields(): Field[] {
  return [utf8List('captions'), tensorField('caption_scores', [-1])]
}

/**
 * Input columns the new captions make wrong: a `text_emb` embeds the captions being replaced, and
 * finetune would train on it in their place. It is dropped (vipant embed --tower text remakes it).
 */
export function staleColumns(input: TableInput): string[] {
  return input.schema.fields.filter((f) => f.name === 'text_emb').map((f) => f.name)
}

export function curateStageSchema(input: TableInput, options: CurateOptions, version: string): Schema {
  const {pool, k, merge} = options
  const params = {
    pool: pool.source,
    pool_captions: pool.texts.length,
    k,
    frames: merge,
    similarity: 'cosine',
    models: {image: imageModel(input), text: pool.model},
  }
  const stale = new Set(staleColumns(input))
  const kept = new Schema(
    input.schema.fields.filter((f) => !stale.has(f.name)),
    input.schema.metadata,
  )
  return stageSchema(kept, curateFields(), {command: 'curate', version, params})
}

/** Appends each clip's curated captions and their scores, batch by batch, in input order. */
export async function* curateStage(
  input: TableInput,
  schema: Schema,
  options: CurateOptions,
): AsyncIterable<RecordBatch> {
  const [captionsField, scoresField] = schema.fields.slice(-2)
  const stats: CurateStats = {clips: 0, curated: 0, frames: 0, captions: 0, topScore: 0}
  for await (const batch of input.batches) {
    for (let start = 0; start < batch.numRows; start += options.batchSize) {
      const rows = batch.slice(start, start + options.batchSize)
      const picked = curateRows(rows, options)
      for (const p of picked) {
        stats.clips++
        if (p === null) continue
        stats.curated++
        stats.frames += p.frames
        stats.captions += p.index.length
        stats.topScore += p.score[0] ?? 0
      }
      const texts = picked.map((p) => (p === null ? null : Array.from(p.index, (j) => options.pool.texts[j])))
      const scores = picked.map((p) => (p === null ? null : Float32Array.from(p.score)))
      yield stageBatch(schema, rows, [
        columnData(captionsField, texts),
        tensorData(scoresField as Field<TensorType>, scores),
      ] as Data[])
      options.onRows?.(stats)
    }
  }
}

interface Picked {
  frames: number
  index: number[]
  score: number[]
}

/** One batch of clips: every query vector (a frame, or a clip's mean frame) against the whole pool at once. */
function curateRows(rows: RecordBatch, {pool, k, merge}: CurateOptions): (Picked | null)[] {
  const column = rows.getChild('image_emb')!
  const clips = Array.from({length: rows.numRows}, (_, i) => tensorRow(column, i)).map((v) =>
    v === null || v.length === 0 ? null : v,
  )
  // shape = [clips, frames, dim] ragged -> one query per frame, or per clip for `mean`
  const queries: Float32Array[] = []
  const owner: number[] = []
  clips.forEach((frames, c) => {
    if (frames === null) return
    const count = frames.length / pool.dim
    const units = Array.from({length: count}, (_, f) => unit(frames.subarray(f * pool.dim, (f + 1) * pool.dim)))
    for (const q of merge === 'mean' ? [mean(units)] : units) {
      queries.push(q)
      owner.push(c)
    }
  })
  const best = topK(queries, pool, k)
  const merged = clips.map((frames) => (frames === null ? null : new Map<number, number>()))
  best.forEach(({index, score}, q) => {
    const found = merged[owner[q]]!
    // An index stays -1 only where a NaN embedding matched nothing.
    index.forEach((j, r) => j >= 0 && found.set(j, Math.max(found.get(j) ?? -Infinity, score[r])))
  })
  return merged.map((found, c) => {
    if (found === null) return null
    const order = [...found].sort((a, b) => b[1] - a[1] || a[0] - b[0])
    const kept = merge === 'union' ? order : order.slice(0, k)
    return {frames: clips[c]!.length / pool.dim, index: kept.map(([j]) => j), score: kept.map(([, s]) => s)}
  })
}

/**
 * The k best pool entries for each query by dot product, best first, equal scores in pool order. The
 * pool is swept in blocks that stay in cache while every query of the batch visits them.
 */
export function topK(
  queries: readonly Float32Array[],
  pool: Pick<CaptionPool, 'vectors' | 'dim'>,
  k: number,
): {index: number[]; score: number[]}[] {
  const {vectors, dim} = pool
  const n = vectors.length / dim
  const keep = Math.min(k, n)
  // shape = [queries, dim]: one buffer keeps the inner loop monomorphic
  const packed = new Float32Array(queries.length * dim)
  queries.forEach((q, qi) => packed.set(q, qi * dim))
  const index = new Int32Array(queries.length * keep).fill(-1)
  const score = new Float64Array(queries.length * keep).fill(-Infinity)
  const BLOCK = 256
  for (let j0 = 0; j0 < n; j0 += BLOCK) {
    const j1 = Math.min(n, j0 + BLOCK)
    for (let qi = 0, top = 0; qi < queries.length; qi++, top += keep) {
      for (let j = j0; j < j1; j++) {
        const s = dot(packed, qi * dim, vectors, j * dim, dim)
        if (!(s > score[top + keep - 1])) continue
        // Strictly better than the entries it passes: an equal, earlier entry stays ahead.
        let at = top + keep - 1
        for (; at > top && s > score[at - 1]; at--) {
          score[at] = score[at - 1]
          index[at] = index[at - 1]
        }
        score[at] = s
        index[at] = j
      }
    }
  }
  return queries.map((_, qi) => ({
    index: [...index.subarray(qi * keep, (qi + 1) * keep)],
    score: [...score.subarray(qi * keep, (qi + 1) * keep)],
  }))
}

/** a[ao..ao+dim) . b[bo..bo+dim) in four running sums: about 3x one sum in V8 (plain lets: destructuring here costs as much again). */
function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number): number {
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let d = 0
  for (; d + 3 < dim; d += 4) {
    s0 += a[ao + d] * b[bo + d]
    s1 += a[ao + d + 1] * b[bo + d + 1]
    s2 += a[ao + d + 2] * b[bo + d + 2]
    s3 += a[ao + d + 3] * b[bo + d + 3]
  }
  for (; d < dim; d++) s0 += a[ao + d] * b[bo + d]
  return s0 + s1 + s2 + s3
}

function unit(v: Float32Array): Float32Array {
  let s = 0
  for (let d = 0; d < v.length; d++) s += v[d] * v[d]
  const n = Math.sqrt(s)
  return n === 0 ? new Float32Array(v.length) : v.map((x) => x / n)
}

function mean(vectors: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(vectors[0].length)
  for (const v of vectors) for (let d = 0; d < v.length; d++) out[d] += v[d] / vectors.length
  return out
}
