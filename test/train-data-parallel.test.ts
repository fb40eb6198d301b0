import assert from 'node:assert/strict'
import {before, describe, it} from 'node:test'
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend} from '../src/lib/backend/index.js'
import {audioFromClip} from '../src/lib/train/audio-init.js'
import {dataParallelStep, sliceBatch} from '../src/lib/train/data-parallel.js'
import {localStep, type GradientStep, type StepInputs} from '../src/lib/train/gradient-step.js'
import {registerGradients} from '../src/lib/train/gradients.js'
import {PairModel, trainableTowers} from '../src/lib/train/pair-model.js'
import {CLIP_SIZES, randomClip} from '../src/lib/train/random-clip.js'
import {UserError} from '../src/lib/util/errors.js'
import {mulberry32} from '../src/lib/util/rng.js'
import {maxAbsDiff} from './helpers.js'

const FRAMES = 64
const clip = randomClip(CLIP_SIZES.tiny, 7)

const randoms = (n: number, size: number, seed: number) => {
  const rng = mulberry32(seed)
  return Array.from({length: n}, () => Float32Array.from({length: size}, () => 2 * rng() - 1))
}

/** A VA model (audio trains, image embeddings stored) or an image-text CLIP (both train), with a step's inputs. */
function vaModel(batch: number): {model: PairModel; inputs: StepInputs} {
  const audio = audioFromClip(clip, FRAMES)
  const model = new PairModel(trainableTowers({audio}), {}, Math.log(1 / 0.07), audio.config)
  return {
    model,
    inputs: {
      towers: ['audio', 'image'],
      items: [randoms(batch, FRAMES * 128, 1), randoms(batch, CLIP_SIZES.tiny.embedDim, 2)],
    },
  }
}

function imageTextModel(batch: number): {model: PairModel; inputs: StepInputs} {
  const model = new PairModel(trainableTowers({clip}), {}, Math.log(1 / 0.07))
  const captions = [
    'a dog barks',
    'rain on a roof',
    'a siren wails far away',
    'an engine idles',
    'birds at dawn',
    'a door slams',
  ]
  return {
    model,
    inputs: {towers: ['image', 'text'], items: [randoms(batch, 224 * 224 * 3, 3), captions.slice(0, batch)]},
  }
}

/** The loss and every part's gradient of one step, by part index (logit scale last). */
async function gradients(build: () => {model: PairModel; inputs: StepInputs}, workers: number) {
  const {model, inputs} = build()
  const variables = model.parameters().flatMap((p) => p.parts) as tf.Variable[]
  const step: GradientStep =
    workers > 1
      ? await dataParallelStep(model, variables, workers, {backend: 'wasm', checkpointBlocks: 'auto'})
      : localStep(model, variables)
  try {
    const {loss, grads} = await step.run(inputs)
    const values = variables.map((v) => grads.get(v)!.dataSync() as Float32Array)
    tf.dispose([...grads.values()])
    return {loss, values}
  } finally {
    await step.close()
    model.dispose()
  }
}

function assertClose(a: {loss: number; values: Float32Array[]}, b: {loss: number; values: Float32Array[]}): number {
  assert.ok(Math.abs(a.loss - b.loss) <= 1e-6, `loss ${a.loss} vs ${b.loss}`)
  // Attention's key bias has a gradient of zero in exact arithmetic (softmax ignores q.b_k, the same for every key):
  // computed, it is rounding noise (1e-8 where other parts reach 1), measured against a hundredth of the largest part.
  const largest = a.values.map((g) => maxAbsDiff(g, new Float32Array(g.length)))
  const floor = Math.max(1e-3, 1e-2 * Math.max(...largest))
  let worst = 0
  a.values.forEach((g, i) => {
    const scale = Math.max(floor, largest[i])
    worst = Math.max(worst, maxAbsDiff(g, b.values[i]) / scale)
  })
  assert.ok(worst <= 1e-5, `worst gradient difference, relative to the part's largest: ${worst}`)
  return worst
}

describe('data-parallel training steps (worker threads, tiny towers, wasm)', () => {
  before(async () => {
    await selectBackend('wasm')
    await registerGradients()
  })

  it('slices a batch into contiguous, even, non-empty parts', () => {
    assert.deepEqual(sliceBatch(8, 2), [
      [0, 4],
      [4, 8],
    ])
    assert.deepEqual(sliceBatch(5, 3), [
      [0, 1],
      [1, 3],
      [3, 5],
    ])
    assert.deepEqual(sliceBatch(1, 4), [[0, 1]])
  })

  it('VA: the loss and every gradient equal the one-thread step (2 workers, and 3 on an uneven batch of 5)', async (t) => {
    const one = await gradients(() => vaModel(8), 1)
    assert.ok(
      one.values.every((g) => maxAbsDiff(g, new Float32Array(g.length)) > 0),
      'a gradient of zero tests nothing',
    )
    t.diagnostic(`worst relative difference: ${assertClose(one, await gradients(() => vaModel(8), 2))}`)
    t.diagnostic(
      `3 workers: ${assertClose(await gradients(() => vaModel(5), 1), await gradients(() => vaModel(5), 3))}`,
    )
  })

  it('image-text (both towers train, captions cross as text): equal gradients; a batch smaller than the workers', async (t) => {
    t.diagnostic(
      `worst relative difference: ${assertClose(await gradients(() => imageTextModel(4), 1), await gradients(() => imageTextModel(4), 2))}`,
    )
    assertClose(await gradients(() => imageTextModel(1), 1), await gradients(() => imageTextModel(1), 2))
  })

  it('runs with the same worker count are identical, bit for bit', async () => {
    const [a, b] = [await gradients(() => vaModel(6), 2), await gradients(() => vaModel(6), 2)]
    assert.equal(a.loss, b.loss)
    a.values.forEach((g, i) => assert.equal(maxAbsDiff(g, b.values[i]), 0))
  })

  it("a worker's failure is one line naming the worker; the other is released and the threads end", async () => {
    const {model, inputs} = vaModel(4)
    const variables = model.parameters().flatMap((p) => p.parts) as tf.Variable[]
    const step = await dataParallelStep(model, variables, 2, {backend: 'wasm', checkpointBlocks: 'auto'})
    const broken = inputs.items[0].map((x, i) => (i < 2 ? x : (x as Float32Array).subarray(0, 100))) // worker 1 gets rows of 100 values
    await assert.rejects(
      step.run({...inputs, items: [broken, inputs.items[1]]}),
      (e: Error) => e instanceof UserError && /^training worker 1: /.test(e.message) && !e.message.includes('\n'),
    )
    await step.close()
    model.dispose()
  })
})
