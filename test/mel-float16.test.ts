import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync, statSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {test} from 'node:test'
import {Precision, tableFromIPC, Type} from '@uwdata/flechette'
import {fromHalf, halfBits, toHalf} from '../src/lib/arrow/half.js'
import {openTableInput} from '../src/lib/arrow/input.js'
import {RowReader} from '../src/lib/arrow/row-reader.js'
import {tensorRow} from '../src/lib/arrow/tensor.js'
import {vipant} from './cli.js'
import {fixture, readF32, sharedData, skipWithoutShared} from './helpers.js'
import {writeIndexTable} from './index-table.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-float16-'))

test('halves: every finite half widens and narrows back to itself; float32s round as numpy does (test/reference/half.py)', () => {
  const all = Uint16Array.from({length: 65536}, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00)
  assert.deepEqual(toHalf(fromHalf(all)), all)
  assert.deepEqual(
    [1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519, 65520, 2 ** -25, 3 * 2 ** -25, -0].map(halfBits),
    [0x3c00, 0x3c02, 0x7bff, 0x7c00, 0, 2, 0x8000],
  )
  const values = readF32(fixture('half', 'values.f32'))
  const bytes = readFileSync(fixture('half', 'halves.u16'))
  const numpy = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2)
  const ours = toHalf(values)
  values.forEach((v, i) => assert.equal(ours[i], numpy[i], `${v}`))
})

/** An index table of the shared ESC-50 clips. */
function indexTable(): Promise<string> {
  const files = readdirSync(sharedData('esc50', 'audio')).sort()
  return writeIndexTable(path.join(dir, 'index.arrow'), {
    id: files,
    path: files.map((f) => sharedData('esc50', 'audio', f)),
    class: files.map((_, i) => ['dog', 'rain', 'siren'][i % 3]),
  })
}

test(
  'mel --dtype float16: half the bytes, tagged, float16 to an independent reader, read back as the float32 log-mel rounded to halves',
  {skip: skipWithoutShared, timeout: 180_000},
  async () => {
    const index = await indexTable()
    const [single, half] = [path.join(dir, 'f32.arrow'), path.join(dir, 'f16.arrow')]
    for (const [file, dtype] of [
      [single, 'float32'],
      [half, 'float16'],
    ]) {
      const r = vipant(['mel', index, '--max-len', '500', '--dtype', dtype, '-o', file])
      assert.equal(r.status, 0, r.stderr.toString())
    }
    const ratio = statSync(half).size / statSync(single).size
    assert.ok(ratio > 0.49 && ratio < 0.51, `size ratio ${ratio}`)

    const flechette = tableFromIPC(readFileSync(half))
    const item = (
      flechette.schema.fields.find((f) => f.name === 'mel')!.type as {
        children: {type: {typeId: number; precision: number}}[]
      }
    ).children[0].type
    assert.deepEqual([item.typeId, item.precision], [Type.Float, Precision.HALF])

    const input = await openTableInput(half)
    assert.equal(input.schema.fields.find((f) => f.name === 'mel')!.metadata.get('dtype'), 'float16')
    const [a, b] = [await RowReader.open(single), await RowReader.open(half)]
    let streamed = 0
    for await (const batch of input.batches) {
      for (let i = 0; i < batch.numRows; i++, streamed++) {
        const exact = a.row('mel', streamed)!
        const rounded = b.row('mel', streamed)!
        assert.deepEqual(rounded, fromHalf(toHalf(exact)))
        assert.deepEqual(tensorRow(batch.getChild('mel')!, i), rounded)
        exact.forEach((v, k) =>
          assert.ok(Math.abs(v - rounded[k]) <= Math.abs(v) * 2 ** -11 + 2 ** -25, `row ${streamed} value ${k}`),
        )
      }
    }
    assert.equal(streamed, 6)

    // Commands read it as any mel table: inspect, and a training step.
    const inspect = vipant(['inspect', half, '--json'])
    assert.equal(inspect.status, 0, inspect.stderr.toString())
    const run = vipant([
      'finetune',
      half,
      '-o',
      path.join(dir, 'run'),
      '--model',
      'tiny',
      '--frames',
      '64',
      '--batch-size',
      '3',
      '--steps',
      '1',
    ])
    assert.equal(run.status, 0, run.stderr.toString())
    assert.match(readFileSync(path.join(dir, 'run', 'train.yaml'), 'utf8'), /^features: precomputed$/m)
  },
)
