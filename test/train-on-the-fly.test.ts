import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {test} from 'node:test'
import {RowReader} from '../src/lib/arrow/row-reader.js'
import {readSafetensors} from '../src/lib/checkpoint/safetensors.js'
import {MelFeeder} from '../src/lib/train/mel-feeder.js'
import {readPairTable} from '../src/lib/train/pair-table.js'
import {vipant} from './cli.js'
import {maxAbsDiff, sharedData, skipWithoutShared} from './helpers.js'
import {writeIndexTable} from './index-table.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-on-the-fly-'))
const FRAMES = 200

/** An index table, as vipant fetch writes it (no mel column), of the shared ESC-50 clips, one row without a file. */
function indexTable(): Promise<string> {
  const files = readdirSync(sharedData('esc50', 'audio')).sort()
  const ids = [...files.map((f) => f.replace('.wav', '')), 'gone']
  return writeIndexTable(path.join(dir, 'index.arrow'), {
    id: ids,
    path: [...files.map((f) => sharedData('esc50', 'audio', f)), null],
    class: ids.map((_, i) => ['dog', 'rain', 'siren'][i % 3]),
    status: [...files.map(() => 'ok'), 'missing'],
  })
}

test(
  "on the fly: a clip's log-mel is vipant mel's, bit for bit, for the same (centre) crop; training crops are fresh each step and seeded",
  {skip: skipWithoutShared, timeout: 120_000},
  async () => {
    const index = await indexTable()
    const table = await readPairTable(index, 'audio-text', [], 'the sound of')
    assert.equal(table.onTheFly, true)
    assert.deepEqual([table.clips.length, table.skipped], [6, 1])
    const melTable = path.join(dir, 'mel.arrow')
    const r = vipant(['mel', index, '--max-len', String(FRAMES), '-o', melTable])
    assert.equal(r.status, 0, r.stderr.toString())
    const reader = await RowReader.open(melTable)
    const feeder = new MelFeeder(FRAMES, 1213, 2)
    try {
      await feeder.hold(table.clips)
      table.clips.forEach((clip, row) => assert.deepEqual(clip.mel, reader.row('mel', row), clip.id))
      const indices = table.clips.map((_, i) => i)
      const [a, again, next] = await Promise.all([
        feeder.batch(table.clips, indices, 0),
        feeder.batch(table.clips, indices, 0),
        feeder.batch(table.clips, indices, 1),
      ])
      for (const i of indices) assert.deepEqual(a.get(i), again.get(i))
      // ESC-50 clips are 5 s: 2 s windows have room to move, and do from one step to the next.
      assert.ok(indices.filter((i) => a.get(i)!.some((v, k) => v !== next.get(i)![k])).length >= 4)
    } finally {
      await feeder.close()
    }
  },
)

test(
  'finetune over an index table: features on-the-fly in train.yaml; stopped and resumed, the same losses and weights',
  {skip: skipWithoutShared, timeout: 300_000},
  async () => {
    const index = path.join(dir, 'index.arrow')
    const args = [
      '--model',
      'tiny',
      '--frames',
      '64',
      '--batch-size',
      '3',
      '--warmup-epochs',
      '0',
      '--epochs',
      '10',
      '--optimizer',
      'adam',
      '--lr',
      '1e-3',
      '--time-mask',
      '8',
      '--freq-mask',
      '8',
    ]
    const full = path.join(dir, 'full')
    const r = vipant(['finetune', index, '-o', full, ...args, '--steps', '4'])
    assert.equal(r.status, 0, r.stderr.toString())
    assert.match(r.stderr.toString(), /features: on the fly, log-mels of 64 frames/)
    assert.match(readFileSync(path.join(full, 'train.yaml'), 'utf8'), /^features: on-the-fly$/m)
    const part = path.join(dir, 'part')
    assert.equal(vipant(['finetune', index, '-o', part, ...args, '--steps', '2']).status, 0)
    const resumed = vipant(['finetune', '-o', part, '--resume', '--steps', '4'])
    assert.equal(resumed.status, 0, resumed.stderr.toString())
    const losses = (run: string) =>
      readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).loss as number)
    assert.deepEqual(losses(part), losses(full))
    const weights = async (run: string) =>
      (await readSafetensors(path.join(run, 'checkpoints', 'step-00000004', 'model.safetensors'))).tensors
    const [a, b] = [await weights(part), await weights(full)]
    for (const [name, t] of a) assert.equal(maxAbsDiff(t.data, b.get(name)!.data), 0, name)

    // A mel table of the same clips trains as before, and says so.
    const precomputed = path.join(dir, 'precomputed')
    assert.equal(
      vipant(['finetune', path.join(dir, 'mel.arrow'), '-o', precomputed, ...args, '--steps', '1']).status,
      0,
    )
    assert.match(readFileSync(path.join(precomputed, 'train.yaml'), 'utf8'), /^features: precomputed$/m)
    const wrong = vipant([
      'finetune',
      index,
      '-o',
      path.join(dir, 'wrong'),
      ...args,
      '--steps',
      '1',
      '--config',
      configFile('features: precomputed\n'),
    ])
    assert.equal(wrong.status, 2, wrong.stderr.toString())
    assert.match(wrong.stderr.toString(), /features: precomputed was asked, but the table has no mel column/)
  },
)

function configFile(text: string): string {
  const file = path.join(dir, 'config.yaml')
  writeFileSync(file, text)
  return file
}
