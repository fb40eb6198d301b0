import {columnData, utf8} from '../src/lib/arrow/columns.js'
import {openTableOutput, writeAll} from '../src/lib/arrow/output.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'

/** Writes FILE: an index table as `vipant fetch` writes it (text columns, no mel), one batch. */
export async function writeIndexTable(file: string, columns: Record<string, (string | null)[]>): Promise<string> {
  const schema = sourceSchema(
    Object.keys(columns).map((name) => utf8(name)),
    {command: 'fetch', version: '0', params: {}},
  )
  const batch = sourceBatch(
    schema,
    Object.values(columns).map((values, i) => columnData(schema.fields[i], values)),
  )
  await writeAll(
    openTableOutput(schema, file),
    (async function* () {
      yield batch
    })(),
  )
  return file
}
