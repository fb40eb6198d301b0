import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import * as tf from '@tensorflow/tfjs-core'
import {columnData, int32, utf8, utf8List} from '../src/lib/arrow/columns.js'
import {openTableOutput, writeAll} from '../src/lib/arrow/output.js'
import {sourceBatch, sourceSchema} from '../src/lib/arrow/stage.js'
import {tensorData, tensorField} from '../src/lib/arrow/tensor.js'
import {selectBackend} from '../src/lib/backend/index.js'
import {captions} from '../src/lib/data/synth/captions.js'
import {CONCEPTS} from '../src/lib/data/synth/concepts.js'
import {randomLook, renderImage} from '../src/lib/data/synth/images.js'
import {CLIP_IMAGE_SIZE, clipPreprocess} from '../src/lib/image/clip-preprocess.js'
import {gatherRows} from '../src/lib/model/parameters.js'
import {IMAGE_PROMPT, resolveConfig} from '../src/lib/train/config.js'
import {registerGradients} from '../src/lib/train/gradients.js'
import {rngFor} from '../src/lib/util/rng.js'
import {vipant} from './cli.js'

const CLASSES = 4
const PER_CLASS = 8

/**
 * The demo world's pictures drawn straight into a `vipant mel --frames 1`-like table (no JPEG, no ffmpeg): four
 * concepts, `PER_CLASS` looks each, with their five captions, or with none (the class then reads as a prompt).
 */
async function pictureTable(file: string, seed: string, withCaptions: boolean): Promise<void> {
  const images = tensorField('images', [-1, CLIP_IMAGE_SIZE, CLIP_IMAGE_SIZE, 3])
  const fields = [utf8('id'), int32('label'), utf8('class'), ...(withCaptions ? [utf8List('captions')] : []), images]
  const schema = sourceSchema(fields, {command: 'test', version: '0', params: {}})
  const rows = Array.from({length: CLASSES * PER_CLASS}, (_, i) => {
    const label = i % CLASSES
    const concept = CONCEPTS[label]
    const rng = rngFor(0, `${seed}:${i}`)
    const look = randomLook(rng)
    return {
      id: `${seed}/${i}`,
      label,
      concept,
      captions: captions(concept, look),
      image: clipPreprocess(renderImage(concept, look, CLIP_IMAGE_SIZE, rng)),
    }
  })
  const columns = [
    columnData(
      fields[0],
      rows.map((r) => r.id),
    ),
    columnData(
      fields[1],
      rows.map((r) => r.label),
    ),
    columnData(
      fields[2],
      rows.map((r) => r.concept.name),
    ),
    ...(withCaptions
      ? [
          columnData(
            fields[3],
            rows.map((r) => r.captions),
          ),
        ]
      : []),
    tensorData(
      images,
      rows.map((r) => r.image),
    ),
  ]
  await writeAll(
    openTableOutput(schema, file),
    (async function* () {
      yield sourceBatch(schema, columns)
    })(),
  )
}

describe('pretrain --pair image-text: a tiny CLIP learns pictures from their captions', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vipant-image-text-'))
    await pictureTable(path.join(dir, 'train.arrow'), 'train', true)
    await pictureTable(path.join(dir, 'val.arrow'), 'val', false)
    await selectBackend('wasm')
    await registerGradients()
  })
  after(() => rm(dir, {recursive: true, force: true}))

  it('its loss falls and it names held-out pictures of the training concepts by class prompt, far above chance', () => {
    const run = path.join(dir, 'run')
    const steps = 40
    const args = [
      'pretrain',
      path.join(dir, 'train.arrow'),
      '--pair',
      'image-text',
      '--model',
      'tiny',
      '-o',
      run,
      '--seed',
      '0',
    ]
    const settings = [
      '--batch-size',
      '16',
      '--steps',
      `${steps}`,
      '--optimizer',
      'adam',
      '--lr',
      '5e-4',
      '--warmup-epochs',
      '1',
    ]
    const result = vipant([
      ...args,
      ...settings,
      '--val',
      path.join(dir, 'val.arrow'),
      '--eval-every',
      `${steps}`,
      '--json',
    ])
    assert.equal(result.status, 0, result.stderr.toString())
    const {steps: done, eval: scores, config} = JSON.parse(result.stdout.toString())
    assert.equal(done, steps)
    assert.equal(config.prompt, IMAGE_PROMPT, 'pictures are prompted as pictures, not sounds')
    const losses = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => 'loss' in r)
      .map((r) => r.loss as number)
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    const [first, last] = [mean(losses.slice(0, 5)), mean(losses.slice(-5))]
    // 2 ln 16 = 5.5 is chance for a batch of 16; four concepts per batch leave a floor near 2 ln 4 = 2.8.
    assert.ok(last < first - 1.5 && last < 4.5, `loss ${first.toFixed(2)} -> ${last.toFixed(2)}`)
    // Held-out looks, classified over "a picture of <class>" prompts by the text tower trained alongside.
    assert.ok(scores.zs_cos_top1 >= 75, `zero-shot ${JSON.stringify(scores)} (chance ${100 / CLASSES} %)`)
  })

  it('--prompt defaults to "a picture of" for image-text only', () => {
    const base = {data: 'd.arrow', out: 'o'}
    assert.equal(resolveConfig({...base, pair: 'image-text'}).prompt, IMAGE_PROMPT)
    assert.equal(resolveConfig({...base, pair: 'audio-text'}).prompt, 'the sound of')
    assert.equal(resolveConfig({...base, pair: 'image-text', prompt: 'a drawing of'}).prompt, 'a drawing of')
  })

  it("gatherRows' gradient: each gathered row's gradient summed into its table row, zero elsewhere", () => {
    const at = [3, 7, 3, 49, 0, 3]
    const table = tf.variable(tf.randomNormal([50, 6], 0, 1, 'float32', 3))
    const dy = tf.randomNormal([at.length, 6], 0, 1, 'float32', 4)
    const {grads} = tf.variableGrads(
      () => tf.sum(tf.mul(gatherRows(table as tf.Tensor2D, tf.tensor1d(at, 'int32')), dy)),
      [table],
    )
    const [got, upstream] = [grads[table.name].arraySync() as number[][], dy.arraySync() as number[][]]
    const expected = Array.from({length: 50}, (_, row) =>
      Array.from({length: 6}, (_, j) => at.reduce((sum, r, i) => (r === row ? sum + upstream[i][j] : sum), 0)),
    )
    assert.ok(got.every((row, r) => row.every((v, j) => Math.abs(v - expected[r][j]) < 1e-6)))
    tf.dispose([table, dy, ...Object.values(grads)])
  })
})
