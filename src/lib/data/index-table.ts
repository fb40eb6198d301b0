import type {Field, RecordBatch, Schema} from '../arrow/apache-arrow.js'
import {columnData, float64, int32, utf8, utf8List} from '../arrow/columns.js'
import {sourceBatch, sourceSchema} from '../arrow/stage.js'
import type {TableInput} from '../arrow/input.js'
import type {DatasetName, IndexRow, IngestOptions} from './index-row.js'
import {ingest} from './ingest.js'

/** The index table (docs/arrow.md): one row per clip, the same columns for every dataset. */
export const INDEX_FIELDS: Field[] = [
  utf8('id'),
  utf8('dataset'),
  utf8('path'),
  utf8('status'),
  utf8('split'),
  int32('fold'),
  int32('label'),
  utf8('class'),
  utf8List('captions'),
  utf8List('labels'),
  utf8List('label_names'),
  float64('start'),
  float64('end'),
  utf8List('frames'),
  utf8('reason'),
]

export function indexSchema(params: Record<string, unknown>, version: string): Schema {
  return sourceSchema(INDEX_FIELDS, {command: 'fetch', version, params})
}

export function indexBatch(schema: Schema, rows: readonly IndexRow[]): RecordBatch {
  const columns = INDEX_FIELDS.map((f) =>
    columnData(
      f,
      rows.map((r) => r[f.name as keyof IndexRow] ?? null),
    ),
  )
  return sourceBatch(schema, columns)
}

/**
 * The index of one or more datasets, folders or files as a streamed table: what `vipant fetch`
 * writes and what `vipant mel DIR` reads when handed a directory instead of a table.
 */
export function indexTableInput(
  sources: readonly {dataset: DatasetName; dir: string}[],
  options: IngestOptions,
  version: string,
): TableInput {
  const schema = indexSchema({datasets: sources.map((s) => s.dataset), ...options}, version)
  async function* batches(): AsyncIterable<RecordBatch> {
    let rows: IndexRow[] = []
    for (const {dataset, dir} of sources) {
      for await (const row of ingest(dataset, dir, options)) {
        rows.push(row)
        if (rows.length === INDEX_BATCH_ROWS) {
          yield indexBatch(schema, rows)
          rows = []
        }
      }
    }
    if (rows.length > 0) yield indexBatch(schema, rows)
  }
  return {source: sources.map((s) => s.dir).join(', '), schema, batches: batches()}
}

const INDEX_BATCH_ROWS = 1024

/**
 * The index read whole before any clip is decoded (it is metadata, a few hundred bytes a row): a listing
 * error surfaces before models load, and the counts give a progress bar its total. `present`: rows not
 * missing on disk, the clips a chain will decode.
 */
export async function readIndex(
  sources: readonly {dataset: DatasetName; dir: string}[],
  options: IngestOptions,
  version: string,
): Promise<{input: TableInput; rows: number; present: number}> {
  const input = indexTableInput(sources, options, version)
  const batches: RecordBatch[] = []
  let present = 0
  for await (const batch of input.batches) {
    batches.push(batch)
    const status = batch.getChild('status')
    for (let i = 0; i < batch.numRows; i++) if (status?.get(i) !== 'missing') present++
  }
  async function* replay(): AsyncIterable<RecordBatch> {
    yield* batches
  }
  return {input: {...input, batches: replay()}, rows: batches.reduce((n, b) => n + b.numRows, 0), present}
}
