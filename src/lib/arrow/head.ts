import type {RecordBatch} from './apache-arrow.js'
import type {TableInput} from './input.js'

/** The first `n` rows; stops reading the input as soon as they are out. */
export function headTable(input: TableInput, n: number): TableInput {
  async function* batches(): AsyncIterable<RecordBatch> {
    let left = n
    for await (const batch of input.batches) {
      if (left <= 0) break
      const take = batch.numRows <= left ? batch : batch.slice(0, left)
      left -= take.numRows
      yield take
    }
  }
  return {...input, batches: batches()}
}
