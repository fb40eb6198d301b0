import {test} from 'node:test'
import assert from 'node:assert/strict'
import {Writable} from 'node:stream'
import {tableFromIPC} from '@uwdata/flechette'
import {openTableOutput} from '../src/lib/arrow/output.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'
import {fixedTensorData, tensorField, type TensorType} from '../src/lib/arrow/tensor.js'
import {readIndex} from '../src/lib/data/index-table.js'
import {melStage, melStageSchema, type MelStageOptions} from '../src/lib/data/mel-stage.js'
import {decodeAudio} from '../src/lib/audio/decode.js'
import {logMel} from '../src/lib/audio/log-mel.js'
import {DEFAULT_MEL} from '../src/lib/audio/mel-config.js'
import type {Field, RecordBatch} from '../src/lib/arrow/apache-arrow.js'
import {vipant} from './cli.js'
import {esc50Clips, sharedData, skipWithoutShared} from './helpers.js'

const field = tensorField('x', [4]) as Field<TensorType>
const schema = sourceSchema([field], {command: 'test', version: '0', params: {}})

/**
 * A pipe to a slow reader: each chunk is taken (copied) only when its write completes, 5 ms after it was handed
 * over, as the operating system takes bytes from a full pipe.
 */
function slowPipe(taken: Buffer[]) {
  const pipe = new Writable({
    highWaterMark: 16,
    write(chunk: Buffer, _encoding, done) {
      setTimeout(() => {
        taken.push(Buffer.from(chunk))
        done()
      }, 5)
    },
  })
  return Object.assign(pipe, {isTTY: false}) as unknown as NodeJS.WriteStream
}

test("a batch's memory may be reused once its write resolves: the bytes are already written", async () => {
  const taken: Buffer[] = []
  const output = openTableOutput(schema, undefined, slowPipe(taken))
  const values = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8])
  for (let batch = 0; batch < 3; batch++) {
    await output.write(sourceBatch(schema, [fixedTensorData(field, values, [true, true])]))
    values.fill(-1 - batch) // what a stage reusing the buffer would write next
    values.set([10 * (batch + 1), 2, 3, 4, 5, 6, 7, 8])
  }
  await output.close()
  const rows = tableFromIPC(Buffer.concat(taken), {useProxy: false}).getChild('x').toArray() as Float32Array[]
  assert.deepEqual(
    rows.map((row) => Array.from(row)),
    [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [10, 2, 3, 4],
      [5, 6, 7, 8],
      [20, 2, 3, 4],
      [5, 6, 7, 8],
    ],
  )
})

test('fixedTensorData takes the values as they are (no copy) and nulls the rows not valid', () => {
  const values = new Float32Array(8).fill(1)
  const data = fixedTensorData(field, values, [false, true])
  assert.equal(data.nullCount, 1)
  assert.equal(data.children[0].values, values)
  assert.throws(() => fixedTensorData(field, values, [true]), /8 values are not 1 rows of 4/)
})

test(
  'the mel stage gives every row its log-mel, whether it lends its buffers (reuse) or copies them',
  {skip: skipWithoutShared, timeout: 120_000},
  async () => {
    const fold = sharedData('us8k', 'audio', 'fold10')
    for (const reuse of [false, true]) {
      const {input} = await readIndex([{dataset: 'folder', dir: fold}], {}, '0')
      const index = {...input, batches: firstRows(input.batches, 14)}
      const options: MelStageOptions = {config: DEFAULT_MEL, workers: 2, strict: true, batchSize: 3, frames: 0, reuse}
      const out = melStageSchema(index.schema, options, '0')
      // Kept whole until the end without reuse; with it, read before the next batch is asked for.
      const mels: [string, Float32Array][] = []
      const kept: RecordBatch[] = []
      for await (const batch of melStage(index, out, options)) {
        if (reuse) mels.push(...rowsOf(batch).map(([p, mel]): [string, Float32Array] => [p, mel.slice()]))
        else kept.push(batch)
      }
      for (const batch of kept) mels.push(...rowsOf(batch))
      assert.equal(mels.length, 14)
      assert.equal(kept.length, reuse ? 0 : 5)
      for (const [p, mel] of mels) {
        const audio = await decodeAudio(p)
        assert.deepEqual(mel, logMel(audio.channels, audio.sampleRate, DEFAULT_MEL, p).mel, `${p} (reuse ${reuse})`)
      }
    }
  },
)

async function* firstRows(batches: AsyncIterable<RecordBatch>, rows: number): AsyncIterable<RecordBatch> {
  for await (const batch of batches) {
    yield batch.slice(0, rows)
    return
  }
}

function rowsOf(batch: RecordBatch): [string, Float32Array][] {
  return Array.from({length: batch.numRows}, (_, i) => {
    const mel = batch.getChild('mel')!.get(i)!.toArray() as Float32Array
    return [batch.getChild('path')!.get(i) as string, mel]
  })
}

test(
  'a --batch-size far above the input size allocates for the rows there are, not for the batch size',
  {skip: skipWithoutShared, timeout: 60_000},
  () => {
    const clips = esc50Clips(3)
    // A million rows of 3000 frames would be 1.5 TB of shared memory.
    const r = vipant(['mel', ...clips, '--batch-size', '1000000', '--max-len', '3000'])
    assert.equal(r.status, 0, r.stderr.toString())
    const mels = tableFromIPC(r.stdout, {useProxy: false}).getChild('mel').toArray() as Float32Array[]
    assert.deepEqual(
      mels.map((mel) => mel.length),
      [3000 * 128, 3000 * 128, 3000 * 128],
    )
  },
)
