import type {RecordBatch} from './apache-arrow.js'
import {inShard, type Shard} from './shard.js'
import {UserError} from '../util/errors.js'
import type {TableInput} from './input.js'
import {takeRows} from './take.js'

/** The rows of `input` in `shard` (by their `id`), batch by batch; `counts` tallies kept and seen rows. */
export function shardTable(input: TableInput, shard: Shard, counts = {kept: 0, seen: 0}): TableInput {
  if (!input.schema.fields.some((f) => f.name === 'id'))
    throw new UserError(`${input.source}: has no "id" column to shard by`)
  async function* batches(): AsyncIterable<RecordBatch> {
    for await (const batch of input.batches) {
      const ids = batch.getChild('id')!
      const keep: number[] = []
      for (let i = 0; i < batch.numRows; i++) {
        const id = ids.get(i) as string | null
        if (id === null) throw new UserError(`${input.source}: row ${counts.seen + i} has no id to shard by`)
        if (inShard(id, shard)) keep.push(i)
      }
      counts.seen += batch.numRows
      counts.kept += keep.length
      if (keep.length === batch.numRows) yield batch
      else if (keep.length > 0) yield takeRows(batch, keep)
    }
  }
  return {...input, batches: batches()}
}
