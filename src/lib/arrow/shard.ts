/**
 * Sharding over job-array engines: shard i of n keeps the rows whose id hashes to i. A hash of the id (not the
 * row number) makes the shards disjoint and complete whatever the row order, and lets any stage of a pipeline
 * apply the same shard again without losing rows.
 */
import {UserError} from '../util/errors.js'

export interface Shard {
  /** 0-based. */
  index: number
  count: number
}

/** "i/n", 0-based. */
export function parseShard(text: string, source = '--shard'): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim())
  const [index, count] = match ? [Number(match[1]), Number(match[2])] : [NaN, NaN]
  if (!(count >= 1 && index < count)) throw new UserError(`${source}: expected "i/n" with 0 <= i < n, got "${text}"`)
  return {index, count}
}

/**
 * The shard a job-array task stands for: Slurm's SLURM_ARRAY_TASK_ID (less SLURM_ARRAY_TASK_MIN, so `--array=1-8`
 * works) of SLURM_ARRAY_TASK_COUNT, or a Kubernetes Indexed Job's JOB_COMPLETION_INDEX of VIPANT_SHARD_COUNT (set it
 * to the Job's completions: Kubernetes does not expose that count to the pod).
 */
export function shardFromEnv(env: NodeJS.ProcessEnv = process.env): Shard | undefined {
  if (env.SLURM_ARRAY_TASK_ID !== undefined && env.SLURM_ARRAY_TASK_COUNT !== undefined) {
    const index = Number(env.SLURM_ARRAY_TASK_ID) - Number(env.SLURM_ARRAY_TASK_MIN ?? 0)
    return parseShard(`${index}/${env.SLURM_ARRAY_TASK_COUNT}`, 'SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT')
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    if (env.VIPANT_SHARD_COUNT === undefined) {
      throw new UserError(
        "JOB_COMPLETION_INDEX is set but VIPANT_SHARD_COUNT is not: set it to the Indexed Job's completions (or pass --shard i/n)",
      )
    }
    return parseShard(
      `${env.JOB_COMPLETION_INDEX}/${env.VIPANT_SHARD_COUNT}`,
      'JOB_COMPLETION_INDEX/VIPANT_SHARD_COUNT',
    )
  }
  return undefined
}

/** The flag's shard if given, else the environment's; none means every row. "0/1" turns sharding off. */
export function resolveShard(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Shard | undefined {
  const shard = flag === undefined ? shardFromEnv(env) : parseShard(flag)
  return shard && shard.count > 1 ? shard : undefined
}

export function inShard(id: string, shard: Shard): boolean {
  return fnv1a(id) % shard.count === shard.index
}

/** 32-bit FNV-1a over the id's UTF-16 code units: stable across runs, machines and Node versions. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}
