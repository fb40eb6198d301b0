import type {Data, Field, RecordBatch, Schema} from '../arrow/apache-arrow.js'
import {columnData, utf8} from '../arrow/columns.js'
import type {TableInput} from '../arrow/input.js'
import {requireParams} from '../arrow/provenance.js'
import {sourceBatch, sourceSchema, stageBatch, stageSchema} from '../arrow/stage.js'
import {
  requireTensorColumn,
  rowSize,
  tensorData,
  tensorField,
  tensorRow,
  tensorShape,
  type TensorType,
} from '../arrow/tensor.js'
import {checkMaxLen, NUM_MEL_BINS, VIPANT_NORMS} from '../audio/mel-config.js'
import {UserError} from '../util/errors.js'
import {requireFinite, rowName} from '../util/finite.js'
import {orderedMap} from '../util/worker-pool.js'
import type {Embedder, RowItems} from '../towers/embedder.js'
import type {TowerName} from '../towers/towers.js'

export interface EmbedOptions {
  embedder: Embedder
  /** The towers to run, each adding `<tower>_emb`. */
  run: TowerName[]
  /** L2-normalised (retrieval, training) or raw (zero-shot, docs/method.md §8.1); recorded in the provenance. */
  normalize: boolean
  /** Rows per forward pass. */
  batchSize: number
  /** Chunks in flight at once: enough to keep every worker busy. */
  window: number
  onRows?: (rows: number) => void
}

/** What each tower reads, and whether it writes one vector per row or one per item of the row. */
const INPUT: Record<TowerName, {columns: string[]; perItem: boolean}> = {
  audio: {columns: ['mel'], perItem: false},
  text: {columns: ['captions', 'class'], perItem: true},
  image: {columns: ['images'], perItem: true},
}

function embedParams(options: EmbedOptions): Record<string, unknown> {
  return {towers: options.run, normalized: options.normalize, models: options.embedder.sources}
}

function embedFields(options: EmbedOptions): Field[] {
  return options.run.map((tower) => {
    const dim = options.embedder.dims[tower]!
    return tensorField(`${tower}_emb`, INPUT[tower].perItem ? [-1, dim] : [dim])
  })
}

/** Refuses a table that lacks what a tower reads, or whose log-mels were made differently than it needs. */
export function checkEmbedInput(input: TableInput, run: readonly TowerName[]): void {
  for (const tower of run) {
    if (!INPUT[tower].columns.some((c) => input.schema.fields.some((f) => f.name === c))) {
      const hint =
        tower === 'audio'
          ? ' (pipe it through vipant mel first)'
          : tower === 'image'
            ? ' (vipant mel --frames K)'
            : ' (or give --text)'
      throw new UserError(
        `${input.source}: the ${tower} tower needs the column ${INPUT[tower].columns.map((c) => `"${c}"`).join(' or ')}${hint}`,
      )
    }
  }
  for (const column of ['mel', 'images']) requireTensorColumn(input.schema, input.source, column)
  if (run.includes('audio')) {
    requireParams(input.schema, input.source, 'mel', {num_mel_bins: NUM_MEL_BINS, norms: VIPANT_NORMS})
    checkMaxLen(tensorShape(input.schema.fields.find((f) => f.name === 'mel')!)[0], `${input.source}: mel frames`)
  }
}

export function embedStageSchema(input: TableInput, options: EmbedOptions, version: string): Schema {
  return stageSchema(input.schema, embedFields(options), {command: 'embed', version, params: embedParams(options)})
}

/**
 * Appends the embeddings chunk by chunk, in input order; rows without input (failed clips) get null. A
 * non-finite input or output refuses the table (the mel stage turns a bad clip into an error row, so a NaN
 * here comes from an edited table or broken weights), and so does a tower that found no input in any row.
 */
export async function* embedStage(
  input: TableInput,
  schema: Schema,
  options: EmbedOptions,
): AsyncIterable<RecordBatch> {
  const fields = embedFields(options) as Field<TensorType>[]
  let seen = 0
  async function* chunks(): AsyncIterable<{rows: RecordBatch; first: number}> {
    for await (const batch of input.batches) {
      for (let start = 0; start < batch.numRows; start += options.batchSize) {
        const rows = batch.slice(start, start + options.batchSize)
        yield {rows, first: seen}
        seen += rows.numRows
      }
    }
  }
  const embedChunk = async ({rows, first}: {rows: RecordBatch; first: number}) => {
    const own = await Promise.all(
      options.run.map(async (tower) => {
        const items = rowItems(tower, rows)
        const where = (i: number, column: string) => () =>
          `${rowName(input.source, first + i, rows.getChild('id')?.get(i))}: ${column}`
        items.forEach((row, i) =>
          row.forEach((item) => typeof item !== 'string' && requireFinite(item, where(i, INPUT[tower].columns[0]))),
        )
        const embeddings = await options.embedder.embed(tower, items)
        embeddings.forEach((e, i) => e && requireFinite(e, where(i, `${tower}_emb`)))
        return embeddings
      }),
    )
    return {rows, own}
  }
  const embedded = options.run.map(() => 0)
  for await (const {rows, own} of orderedMap(chunks(), options.window, embedChunk)) {
    own.forEach((embeddings, t) => (embedded[t] += embeddings.filter((e) => e !== null).length))
    yield stageBatch(schema, rows, own.map((embeddings, i) => tensorData(fields[i], embeddings)) as Data[])
    options.onRows?.(rows.numRows)
  }
  options.run.forEach((tower, t) => {
    if (seen > 0 && embedded[t] === 0) {
      const columns = INPUT[tower].columns.join(' and ')
      throw new UserError(
        `${input.source}: nothing for the ${tower} tower in ${seen} rows: every ${columns} is null or empty ` +
          '(embed looks for mel, images, captions and class)',
      )
    }
  })
}

/** A tower's inputs per row: the log-mel; the captions, else the class name as written; the frames. */
function rowItems(tower: TowerName, rows: RecordBatch): RowItems {
  return Array.from({length: rows.numRows}, (_, i) => {
    if (tower === 'audio') {
      const mel = tensorRow(rows.getChild('mel')!, i)
      return mel ? [mel] : []
    }
    if (tower === 'image') {
      const frames = tensorRow(rows.getChild('images')!, i)
      const size = rowSize(tensorShape(rows.schema.fields.find((f) => f.name === 'images')!).slice(1)) // one (H, W, 3) frame
      return frames
        ? Array.from({length: frames.length / size}, (_, k) => frames.subarray(k * size, (k + 1) * size))
        : []
    }
    const captions = rows.getChild('captions')?.get(i)
    if (captions && captions.length > 0) return [...captions] as string[]
    const cls = rows.getChild('class')?.get(i) as string | null | undefined
    return cls ? [cls] : []
  })
}

/** `vipant embed --text`: a new table of the given texts and their embeddings. */
export function textTable(texts: string[], options: EmbedOptions, version: string): TableInput {
  const field = tensorField('text_emb', [options.embedder.dims.text!]) as Field<TensorType>
  const schema = sourceSchema([utf8('text'), field], {command: 'embed', version, params: embedParams(options)})
  async function* batches(): AsyncIterable<RecordBatch> {
    for (let start = 0; start < texts.length; start += options.batchSize) {
      const chunk = texts.slice(start, start + options.batchSize)
      const embeddings = await options.embedder.embed(
        'text',
        chunk.map((t) => [t]),
      )
      yield sourceBatch(schema, [columnData(schema.fields[0], chunk), tensorData(field, embeddings)])
      options.onRows?.(chunk.length)
    }
  }
  return {source: 'texts', schema, batches: batches()}
}
