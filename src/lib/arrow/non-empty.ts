import type {RecordBatch} from './apache-arrow.js'
import {UserError} from '../util/errors.js'
import type {TableInput} from './input.js'

/**
 * The same table, after reading up to its first row: a table without rows is refused here, before a command starts
 * its models (which may mean downloading them) for nothing. The batches read are handed on first.
 */
export async function requireRows(input: TableInput, what: string): Promise<TableInput> {
  const iterator = input.batches[Symbol.asyncIterator]()
  const seen: RecordBatch[] = []
  for (;;) {
    const next = await iterator.next()
    if (next.done) throw new UserError(`${input.source}: no rows: nothing to ${what}`)
    seen.push(next.value)
    if (next.value.numRows > 0) break
  }
  async function* batches() {
    yield* seen
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value
  }
  return {...input, batches: batches()}
}
