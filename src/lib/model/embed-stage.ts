import * as tf from '@tensorflow/tfjs-core'
import type {Data, Field, RecordBatch, Schema, Vector} from 'apache-arrow'
import {columnData, utf8} from '../arrow/columns.js'
import type {TableInput} from '../arrow/input.js'
import {requireParams} from '../arrow/provenance.js'
import {sourceBatch, sourceSchema, stageBatch, stageSchema} from '../arrow/stage.js'
import {tensorData, tensorField, tensorRow, type TensorType} from '../arrow/tensor.js'
import {NUM_MEL_BINS, VIPANT_NORMS} from '../audio/mel-config.js'
import {tokenize} from '../text/tokenizer.js'
import {UserError} from '../util/errors.js'
import {l2normalize} from './transformer.js'
import type {TowerName, Towers} from './towers.js'

export interface EmbedOptions {
  towers: Towers
  /** The towers to run, each adding `<tower>_emb`. */
  run: TowerName[]
  /** L2-normalise (retrieval, training) or keep raw embeddings (zero-shot, spec §8.1). */
  normalize: boolean
  /** Rows per forward pass. */
  batchSize: number
  onRows?: (rows: number) => void
}

/** What each tower reads, and the shape of what it writes: one vector per row, or one per item of the row. */
const INPUT: Record<TowerName, {columns: string[]; perItem: boolean}> = {
  audio: {columns: ['mel'], perItem: false},
  text: {columns: ['captions', 'class'], perItem: true},
  image: {columns: ['images'], perItem: true},
}

export function embedParams(options: EmbedOptions): Record<string, unknown> {
  return {towers: options.run, normalized: options.normalize, models: options.towers.sources}
}

function embedFields(options: EmbedOptions): Field[] {
  return options.run.map((tower) => {
    const dim = options.towers[tower]!.outputDim
    return tensorField(`${tower}_emb`, INPUT[tower].perItem ? [-1, dim] : [dim])
  })
}

/** Refuses a table that lacks what a tower reads, or whose log-mels were made differently than it needs. */
export function checkEmbedInput(input: TableInput, run: readonly TowerName[]): void {
  for (const tower of run) {
    if (!INPUT[tower].columns.some((c) => input.schema.fields.some((f) => f.name === c))) {
      const hint = tower === 'audio' ? ' (pipe it through vipant mel first)' : tower === 'image' ? ' (vipant mel --frames K)' : ' (or give --text)'
      throw new UserError(`${input.source}: the ${tower} tower needs a ${INPUT[tower].columns.join(' or ')} column${hint}`)
    }
  }
  if (run.includes('audio')) requireParams(input.schema, input.source, 'mel', {num_mel_bins: NUM_MEL_BINS, norms: VIPANT_NORMS})
}

export function embedStageSchema(input: TableInput, options: EmbedOptions, version: string): Schema {
  return stageSchema(input.schema, embedFields(options), {command: 'embed', version, params: embedParams(options)})
}

/** Appends the embeddings batch by batch; rows without input (failed clips) get null. */
export async function* embedStage(input: TableInput, schema: Schema, options: EmbedOptions): AsyncIterable<RecordBatch> {
  const fields = embedFields(options)
  for await (const batch of input.batches) {
    for (let start = 0; start < batch.numRows; start += options.batchSize) {
      const rows = batch.slice(start, Math.min(batch.numRows, start + options.batchSize))
      const own = options.run.map((tower, i) => tensorData(fields[i] as Field<TensorType>, embedRows(tower, rows, options)))
      yield stageBatch(schema, rows, own as Data[])
      options.onRows?.(rows.numRows)
    }
  }
}

function embedRows(tower: TowerName, rows: RecordBatch, options: EmbedOptions): (Float32Array | null)[] {
  if (tower === 'audio') return embedAudio(rows.getChild('mel')!, rows.numRows, options)
  if (tower === 'image') return embedPerItem(rows, (i) => imageItems(rows.getChild('images')!, i), (x) => forwardImages(x, options))
  return embedPerItem(rows, (i) => rowTexts(rows, i), (texts) => forwardTexts(texts as string[], options))
}

function embedAudio(mel: Vector, n: number, options: EmbedOptions): (Float32Array | null)[] {
  const present = Array.from({length: n}, (_, i) => tensorRow(mel, i))
  const rows = present.flatMap((m, i) => (m ? [i] : []))
  if (rows.length === 0) return present.map(() => null)
  const frames = present[rows[0]]!.length / NUM_MEL_BINS
  const stacked = new Float32Array(rows.length * frames * NUM_MEL_BINS)
  rows.forEach((r, k) => stacked.set(present[r]!, k * frames * NUM_MEL_BINS))
  const out = run(options, () => options.towers.audio!.forward(tf.tensor3d(stacked, [rows.length, frames, NUM_MEL_BINS]))) // shape = [n, E]
  const dim = out.length / rows.length
  const result: (Float32Array | null)[] = present.map(() => null)
  rows.forEach((r, k) => (result[r] = out.subarray(k * dim, (k + 1) * dim)))
  return result
}

/** Rows holding a list of items (captions, frames): all items of the batch in one pass, then split per row. */
function embedPerItem<T>(
  rows: RecordBatch,
  items: (row: number) => T[],
  forward: (items: T[]) => Float32Array,
): (Float32Array | null)[] {
  const perRow = Array.from({length: rows.numRows}, (_, i) => items(i))
  const all = perRow.flat()
  if (all.length === 0) return perRow.map(() => null)
  const out = forward(all)
  const dim = out.length / all.length
  let at = 0
  return perRow.map((list) => {
    if (list.length === 0) return null
    const slice = out.subarray(at * dim, (at + list.length) * dim)
    at += list.length
    return slice
  })
}

/** A row's texts: its captions, else its class name as written in the metadata. */
function rowTexts(rows: RecordBatch, i: number): string[] {
  const captions = rows.getChild('captions')?.get(i)
  if (captions && captions.length > 0) return [...captions] as string[]
  const cls = rows.getChild('class')?.get(i) as string | null | undefined
  return cls ? [cls] : []
}

function imageItems(images: Vector, i: number): Float32Array[] {
  const row = tensorRow(images, i)
  if (!row) return []
  const size = 224 * 224 * 3
  return Array.from({length: row.length / size}, (_, k) => row.subarray(k * size, (k + 1) * size))
}

export function forwardTexts(texts: string[], options: Pick<EmbedOptions, 'towers' | 'normalize'>): Float32Array {
  const text = options.towers.text!
  const {ids, contextLength} = tokenize(texts, text.contextLength)
  // Padding to the longest row gives CLIP's result: the causal mask hides the rest from the EOT token.
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
  return run(options, () => text.forward(tf.tensor2d(trimmed, [texts.length, longest], 'int32'))) // shape = [n, E]
}

function forwardImages(images: Float32Array[], options: EmbedOptions): Float32Array {
  const size = 224 * 224 * 3
  const stacked = new Float32Array(images.length * size)
  images.forEach((im, k) => stacked.set(im, k * size))
  return run(options, () => options.towers.image!.forward(tf.tensor4d(stacked, [images.length, 224, 224, 3])))
}

function run(options: Pick<EmbedOptions, 'normalize'>, forward: () => tf.Tensor2D): Float32Array {
  const out = tf.tidy(() => (options.normalize ? l2normalize(forward()) : forward()))
  const values = out.dataSync() as Float32Array
  out.dispose()
  return values
}

/** `vipant embed --text`: a new table of the given texts and their embeddings. */
export function textTable(texts: string[], options: EmbedOptions, version: string): TableInput {
  const field = tensorField('text_emb', [options.towers.text!.outputDim])
  const schema = sourceSchema([utf8('text'), field], {command: 'embed', version, params: embedParams(options)})
  async function* batches(): AsyncIterable<RecordBatch> {
    for (let start = 0; start < texts.length; start += options.batchSize) {
      const chunk = texts.slice(start, start + options.batchSize)
      const out = forwardTexts(chunk, options)
      const dim = out.length / chunk.length
      const rows = chunk.map((_, k) => out.subarray(k * dim, (k + 1) * dim))
      yield sourceBatch(schema, [columnData(schema.fields[0], chunk), tensorData(field as Field<TensorType>, rows)])
      options.onRows?.(chunk.length)
    }
  }
  return {source: 'texts', schema, batches: batches()}
}
