import {Field, makeData, RecordBatch, Schema, Struct, type Data} from './apache-arrow.js'
import {withStage, type StageRecord} from './provenance.js'

/**
 * The output schema of a stage: every input column it does not own passes through unchanged, in
 * order, then its own columns follow (replacing same-named ones from an earlier run of the stage).
 */
export function stageSchema(input: Schema, own: Field[], record: Omit<StageRecord, 'columns'>): Schema {
  const ownNames = new Set(own.map((f) => f.name))
  const kept = input.fields.filter((f) => !ownNames.has(f.name))
  return new Schema([...kept, ...own], withStage(input.metadata, {...record, columns: [...ownNames]}))
}

/** A batch of the stage schema: the kept columns of `rows` (zero-copy) followed by the stage's own. */
export function stageBatch(schema: Schema, rows: RecordBatch, own: Data[]): RecordBatch {
  const kept = schema.fields.slice(0, schema.fields.length - own.length).map((f) => rows.getChild(f.name)!.data[0])
  const children = [...kept, ...own]
  const struct = makeData({type: new Struct(schema.fields), length: rows.numRows, nullCount: 0, children})
  return new RecordBatch(schema, struct)
}

/** A schema and batch for a table that starts a pipeline (no input columns). */
export function sourceSchema(fields: Field[], record: Omit<StageRecord, 'columns'>): Schema {
  return stageSchema(new Schema([]), fields, record)
}

export function sourceBatch(schema: Schema, columns: Data[]): RecordBatch {
  const length = columns[0]?.length ?? 0
  return new RecordBatch(schema, makeData({type: new Struct(schema.fields), length, nullCount: 0, children: columns}))
}
