import {Flags} from './oclif.js'
import type {RecordBatch} from '../lib/arrow/apache-arrow.js'
import type {TableInput} from '../lib/arrow/input.js'
import {shardTable} from '../lib/arrow/shard-table.js'
import {resolveShard} from '../lib/arrow/shard.js'
import {plural} from '../lib/util/plural.js'

export const shardFlag = Flags.string({
  description:
    'process only shard I of N ("I/N", 0-based, by a hash of each row\'s id; merge outputs with vipant concat). ' +
    'Default: from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with VIPANT_SHARD_COUNT; 0/1 turns it off',
})

/** `input` cut to the shard the flag or the job array names; says on stderr how many rows it kept. */
export function shardInput(command: string, input: TableInput, flag: string | undefined): TableInput {
  const shard = resolveShard(flag)
  if (!shard) return input
  const counts = {kept: 0, seen: 0}
  const sharded = shardTable(input, shard, counts)
  async function* batches(): AsyncIterable<RecordBatch> {
    yield* sharded.batches
    process.stderr.write(
      `${command}: shard ${shard!.index}/${shard!.count} kept ${counts.kept} of ${plural(counts.seen, 'row')}\n`,
    )
  }
  return {...sharded, batches: batches()}
}
