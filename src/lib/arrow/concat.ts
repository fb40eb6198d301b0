import {RecordBatch, type Schema} from './apache-arrow.js'
import {UserError} from '../util/errors.js'
import type {TableInput} from './input.js'

/**
 * Tables one after another (e.g. the shards of a sharded `mel`), as one stream. They must have the same
 * columns with the same types; the output keeps the first table's metadata (its provenance).
 */
export function concatTables(inputs: TableInput[]): TableInput {
  const [first, ...rest] = inputs
  for (const other of rest) {
    const mismatch = schemaMismatch(first.schema, other.schema)
    if (mismatch) throw new UserError(`${other.source}: ${mismatch} (first table: ${first.source})`)
  }
  async function* batches(): AsyncIterable<RecordBatch> {
    for (const input of inputs) for await (const batch of input.batches) yield new RecordBatch(first.schema, batch.data)
  }
  return {source: inputs.map((i) => i.source).join(' + '), schema: first.schema, batches: batches()}
}

function schemaMismatch(a: Schema, b: Schema): string | null {
  const names = (s: Schema) => s.fields.map((f) => f.name).join(', ')
  if (names(a) !== names(b)) return `columns differ: ${names(b)} instead of ${names(a)}`
  const differing = a.fields.find((f, i) => String(f.type) !== String(b.fields[i].type))
  return differing
    ? `column ${differing.name} is ${String(b.fields[a.fields.indexOf(differing)].type)}, not ${String(differing.type)}`
    : null
}
