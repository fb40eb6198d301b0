import {test} from 'node:test'
import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {Schema} from '../src/lib/arrow/apache-arrow.js'
import {tableFromIPC} from '@uwdata/flechette'
import {columnData, float64, int32, utf8, utf8List} from '../src/lib/arrow/columns.js'
import {sourceBatch} from '../src/lib/arrow/stage.js'
import {takeRows} from '../src/lib/arrow/take.js'
import {tensorData, tensorField, tensorRow} from '../src/lib/arrow/tensor.js'
import {inShard, parseShard, resolveShard, shardFromEnv} from '../src/lib/arrow/shard.js'
import {vipant} from './cli.js'
import {sharedData, skipWithoutShared} from './helpers.js'

test('parseShard reads 0-based "i/n" and refuses anything else', () => {
  assert.deepEqual(parseShard('3/8'), {index: 3, count: 8})
  for (const bad of ['8/8', '-1/4', '1', 'a/b', '1/0', '1/2/3']) assert.throws(() => parseShard(bad), /expected "i\/n"/)
})

test('the shard comes from --shard, else Slurm job arrays, else Kubernetes Indexed Jobs', () => {
  assert.deepEqual(shardFromEnv({SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '8'}), {index: 5, count: 8})
  // `sbatch --array=1-8`: ids 1..8, MIN 1.
  assert.deepEqual(shardFromEnv({SLURM_ARRAY_TASK_ID: '8', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '8'}), {
    index: 7,
    count: 8,
  })
  assert.deepEqual(shardFromEnv({JOB_COMPLETION_INDEX: '2', VIPANT_SHARD_COUNT: '4'}), {index: 2, count: 4})
  assert.throws(() => shardFromEnv({JOB_COMPLETION_INDEX: '2'}), /VIPANT_SHARD_COUNT/)
  assert.equal(shardFromEnv({}), undefined)
  const env = {SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '4'}
  assert.deepEqual(resolveShard('2/3', env), {index: 2, count: 3}, 'the flag wins')
  assert.equal(resolveShard('0/1', env), undefined, '0/1 turns sharding off')
})

test('shards are disjoint, cover every id and are balanced', () => {
  const ids = Array.from({length: 20_000}, (_, i) => (i % 2 ? `Y${i.toString(36)}_30.000` : `${i}-1234-A-${i % 50}`))
  for (const count of [1, 2, 3, 7, 100]) {
    const owners = ids.map((id) =>
      Array.from({length: count}, (_, index) => index).filter((index) => inShard(id, {index, count})),
    )
    assert.ok(
      owners.every((o) => o.length === 1),
      `every id in exactly one of ${count} shards`,
    )
    const sizes = new Array(count).fill(0)
    for (const [o] of owners) sizes[o]++
    const expected = ids.length / count
    assert.ok(
      sizes.every((s) => Math.abs(s - expected) < 5 * Math.sqrt(expected) + 1),
      `balanced: ${sizes.slice(0, 8)}`,
    )
  }
})

test('takeRows copies every column type of vipant tables, nulls included', () => {
  const mel = tensorField('mel', [2, 3])
  const schema = new Schema([utf8('id'), int32('fold'), float64('start'), utf8List('captions'), mel])
  const rows = [0, 1, 2, 3].map((i) => ({
    id: `c${i}`,
    fold: i === 2 ? null : i,
    start: i / 2,
    captions: i === 1 ? null : [`a${i}`, `b${i}`],
    mel: i === 3 ? null : Float32Array.from({length: 6}, (_, k) => i * 10 + k),
  }))
  const batch = sourceBatch(schema, [
    ...schema.fields.slice(0, 4).map((f) =>
      columnData(
        f,
        rows.map((r) => r[f.name as 'id']),
      ),
    ),
    tensorData(
      mel,
      rows.map((r) => r.mel),
    ),
  ])
  const taken = takeRows(batch, [3, 1, 2])
  assert.equal(taken.numRows, 3)
  assert.deepEqual([...taken.getChild('id')!], ['c3', 'c1', 'c2'])
  assert.deepEqual([...taken.getChild('fold')!], [3, 1, null])
  assert.deepEqual([...taken.getChild('start')!], [1.5, 0.5, 1])
  assert.deepEqual(
    [...taken.getChild('captions')!].map((c) => c && [...c]),
    [['a3', 'b3'], null, ['a2', 'b2']],
  )
  assert.deepEqual(
    [0, 1, 2].map((i) => tensorRow(taken.getChild('mel')!, i)),
    [null, rows[1].mel, rows[2].mel],
  )
  assert.deepEqual(taken.schema.fields.map(String), batch.schema.fields.map(String))
})

test(
  'mel --shard i/n over job-array shards, merged with concat, equals the unsharded run',
  {skip: skipWithoutShared, timeout: 120_000},
  () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-shard-'))
    const fold = sharedData('us8k', 'audio', 'fold10')
    const clips = readdirSync(fold)
      .filter((f) => f.endsWith('.wav'))
      .sort()
      .slice(0, 12)
      .map((f) => path.join(fold, f))
    const mel = (out: string, extra: string[], env?: NodeJS.ProcessEnv) => {
      const run = vipant(['mel', ...clips, '--max-len', '100', '--workers', '1', '-o', path.join(dir, out), ...extra], {
        env: {...process.env, ...env},
      })
      assert.equal(run.status, 0, run.stderr.toString())
      return run.stderr.toString()
    }
    mel('all.arrow', [])
    mel('s0.arrow', ['--shard', '0/3'])
    // The same shard given by Slurm (--array=1-3) and by a Kubernetes Indexed Job.
    assert.match(
      mel('s1.arrow', [], {SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '3'}),
      /shard 1\/3 kept \d+ of 12 rows/,
    )
    mel('s2.arrow', [], {JOB_COMPLETION_INDEX: '2', VIPANT_SHARD_COUNT: '3'})
    const merged = vipant([
      'concat',
      ...['s0', 's1', 's2'].map((s) => path.join(dir, `${s}.arrow`)),
      '-o',
      path.join(dir, 'merged.arrow'),
    ])
    assert.equal(merged.status, 0, merged.stderr.toString())

    const read = (file: string) => {
      const table = tableFromIPC(readFileSync(path.join(dir, file)), {useProxy: false})
      const ids = table.getChild('id').toArray() as string[]
      const mels = table.getChild('mel').toArray() as Float32Array[]
      return new Map(ids.map((id, i) => [id, mels[i]]))
    }
    const all = read('all.arrow')
    const shards = ['s0.arrow', 's1.arrow', 's2.arrow'].map(read)
    assert.equal(all.size, 12)
    assert.ok(
      shards.every((s) => s.size > 0 && s.size < 12),
      `shard sizes ${shards.map((s) => s.size)}`,
    )
    assert.equal(
      shards.reduce((n, s) => n + s.size, 0),
      12,
      'disjoint',
    )
    const merged2 = read('merged.arrow')
    assert.deepEqual([...merged2.keys()].sort(), [...all.keys()].sort(), 'complete')
    for (const [id, values] of merged2) assert.deepEqual(values, all.get(id), id)
  },
)

test(
  'fetch --shard i/n: the shards of an index are disjoint and complete',
  {skip: skipWithoutShared, timeout: 60_000},
  () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-shard-fetch-'))
    const ids = (extra: string[]) => {
      const out = path.join(dir, `${extra.join('') || 'all'}.arrow`.replace(/\//g, '-'))
      const run = vipant(['fetch', 'esc50', sharedData('esc50'), '-o', out, ...extra])
      assert.equal(run.status, 0, run.stderr.toString())
      return tableFromIPC(readFileSync(out), {useProxy: false}).getChild('id').toArray() as string[]
    }
    const all = ids([])
    const shards = ['0/3', '1/3', '2/3'].map((s) => ids(['--shard', s]))
    assert.equal(all.length, 2000)
    assert.ok(
      shards.every((s) => Math.abs(s.length - 2000 / 3) < 100),
      `sizes ${shards.map((s) => s.length)}`,
    )
    assert.deepEqual(shards.flat().sort(), [...all].sort())
  },
)
