import {test} from 'node:test'
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {tableFromIPC} from '@uwdata/flechette'
import {parse} from 'yaml'
import {VIPANT, vipant} from './cli.js'
import {repoRoot, sharedData, skipWithoutShared} from './helpers.js'
import {TINY, writeTinyVipant} from './tiny-models.js'

const example = (...parts: string[]) => path.join(repoRoot, 'examples', ...parts)

test(
  'examples/slurm-shards.sbatch: three array tasks, merged with concat, cover every clip once',
  {skip: skipWithoutShared, timeout: 180_000},
  async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-slurm-'))
    const data = path.join(dir, 'clips')
    mkdirSync(data)
    const fold = sharedData('us8k', 'audio', 'fold10')
    const clips = readdirSync(fold)
      .filter((f) => f.endsWith('.wav'))
      .sort()
      .slice(0, 9)
    for (const clip of clips) symlinkSync(path.join(fold, clip), path.join(data, clip))
    const env = {
      ...process.env,
      DATASET: 'folder',
      DATA: data,
      MODEL: await writeTinyVipant(dir),
      OUT: path.join(dir, 'shards'),
      VIPANT: `${process.execPath} ${VIPANT}`,
      MEL_FLAGS: `--max-len ${TINY.audioMaxLen}`,
      EMBED_FLAGS: '--workers 1',
      SLURM_ARRAY_TASK_COUNT: '3',
    }
    for (const task of ['0', '1', '2']) {
      const run = spawnSync('bash', [example('slurm-shards.sbatch')], {env: {...env, SLURM_ARRAY_TASK_ID: task}})
      assert.equal(run.status, 0, run.stderr.toString())
      assert.match(run.stderr.toString(), new RegExp(`shard ${task}/3 kept \\d+ of 9 rows`))
    }
    const parts = readdirSync(env.OUT).sort()
    assert.deepEqual(parts, ['part-00000.arrow', 'part-00001.arrow', 'part-00002.arrow'])
    const merged = path.join(dir, 'all.arrow')
    const concat = vipant(['concat', ...parts.map((p) => path.join(env.OUT, p)), '-o', merged])
    assert.equal(concat.status, 0, concat.stderr.toString())
    const table = tableFromIPC(readFileSync(merged), {useProxy: false})
    assert.deepEqual(
      (table.getChild('id').toArray() as string[]).slice().sort(),
      clips.map((c) => c.replace(/\.wav$/, '')),
    )
    assert.ok((table.getChild('audio_emb').toArray() as Float32Array[]).every((v) => v.length === TINY.embed))
  },
)

test('examples/k8s/indexed-job.yaml: an Indexed Job whose shard count matches its completions', () => {
  const job = parse(readFileSync(example('k8s', 'indexed-job.yaml'), 'utf8'))
  assert.equal(job.kind, 'Job')
  assert.equal(job.spec.completionMode, 'Indexed')
  const container = job.spec.template.spec.containers[0]
  const count = container.env.find((e: {name: string}) => e.name === 'VIPANT_SHARD_COUNT').value
  assert.equal(Number(count), job.spec.completions)
  assert.match(
    container.args.join(' '),
    /vipant mel .*\| vipant embed .*part-\$\(printf %05d "\$JOB_COMPLETION_INDEX"\)\.arrow/,
  )
})
