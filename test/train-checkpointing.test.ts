import assert from 'node:assert/strict'
import {before, describe, it} from 'node:test'
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend} from '../src/lib/backend/index.js'
import {readSafetensors} from '../src/lib/checkpoint/safetensors.js'
import type {StateDict} from '../src/lib/checkpoint/tensor.js'
import {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {TextTransformer} from '../src/lib/model/clip-text.js'
import {VisionTransformer} from '../src/lib/model/clip-vision.js'
import {asIs, type Parameter} from '../src/lib/model/parameters.js'
import {
  LayerNorm,
  Linear,
  MultiheadAttention,
  ResidualAttentionBlock,
  Transformer,
  type Checkpointing,
} from '../src/lib/model/transformer.js'
import {parseConfigYaml, resolveConfig} from '../src/lib/train/config.js'
import {registerGradients} from '../src/lib/train/gradients.js'
import {contrastiveLoss} from '../src/lib/train/loss.js'
import {lars, type Gradients} from '../src/lib/train/optimizer.js'
import {PairModel} from '../src/lib/train/pair-model.js'
import {UserError} from '../src/lib/util/errors.js'
import {fixture, maxAbsDiff} from './helpers.js'
import {randomTensor} from './random-tensor.js'

interface Model {
  params: Parameter[]
  trunks: Transformer[]
  loss(): tf.Scalar
  dispose(): void
}

interface StepResult {
  loss: number
  grads: Map<string, Float32Array>
  weights: Map<string, Float32Array>
  peakBytes: number
  leakedTensors: number
  /** The output shape of every matrix product the step ran. */
  products: number[][]
}

/** One LARS step of `build()`'s model with its trunks set to `checkpoint`: the loss, gradients, new weights, memory. */
async function step(build: () => Model, checkpoint: Checkpointing): Promise<StepResult> {
  const model = build()
  for (const trunk of model.trunks) trunk.checkpointBlocks = checkpoint
  const variables = model.params.flatMap((p) => p.parts) as tf.Variable[]
  const optimizer = lars({weightDecay: 1e-6, momentum: 0.9, eta: 0.001, lrWeight: 0.2, lrBias: 0.0048})
  const tensorsBefore = tf.memory().numTensors
  let result: {value: tf.Scalar; grads: tf.NamedTensorMap} | undefined
  const profile = await tf.profile(() => {
    result = tf.variableGrads(() => model.loss(), variables)
  })
  const {value, grads} = result!
  const named = new Map(
    model.params.flatMap((p) =>
      p.parts.map((part, i) => [`${p.name}.${i}`, grads[(part as tf.Variable).name].dataSync() as Float32Array]),
    ),
  )
  optimizer.apply(model.params, new Map(variables.map((v) => [v, grads[v.name]])) as Gradients, 0.5)
  const loss = value.dataSync()[0]
  tf.dispose([value, ...Object.values(grads)])
  optimizer.dispose()
  const leakedTensors = tf.memory().numTensors - tensorsBefore
  const weights = new Map(model.params.map((p) => [p.name, p.toTorch().data]))
  model.dispose()
  const products = profile.kernels.filter((k) => k.name === 'BatchMatMul').map((k) => k.outputShapes[0] as number[])
  return {loss, grads: named, weights, peakBytes: profile.peakBytes, leakedTensors, products}
}

function assertSame(a: StepResult, b: StepResult): number {
  assert.equal(a.loss, b.loss)
  let worst = 0
  for (const [name, g] of a.grads) {
    assert.ok(maxAbsDiff(g, new Float32Array(g.length)) > 0, `${name}: a gradient of zero tests nothing`)
    worst = Math.max(worst, maxAbsDiff(g, b.grads.get(name)!))
  }
  for (const [name, w] of a.weights) worst = Math.max(worst, maxAbsDiff(w, b.weights.get(name)!))
  assert.ok(worst <= 1e-6, `max abs difference ${worst}`)
  return worst
}

describe('gradient checkpointing per transformer block (tiny towers, wasm)', () => {
  let audioState: StateDict
  let clipState: StateDict
  before(async () => {
    await selectBackend('wasm')
    await registerGradients()
    audioState = (await readSafetensors(fixture('model', 'audio.safetensors'))).tensors
    clipState = (await readSafetensors(fixture('model', 'clip.safetensors'))).tensors
  })

  // VA pre-training's trainable part: the audio tower against fixed (precomputed) image embeddings.
  const audioModel = (): Model => {
    const audio = AudioEncoder.fromStateDict(
      audioState,
      {resolution: [200, 128], patchSize: 32, stride: [16, 24]},
      true,
    )
    const scale = tf.variable(tf.scalar(Math.log(1 / 0.07)))
    const [x, images] = [randomTensor([4, 200, 128], 1), randomTensor([4, audio.outputDim], 2)]
    return {
      params: [...audio.parameters(), asIs('logit_scale', scale)],
      trunks: [audio.transformer],
      loss: () => contrastiveLoss(audio.forward(x as tf.Tensor3D), images as tf.Tensor2D, scale as tf.Scalar),
      dispose: () => {
        audio.dispose()
        tf.dispose([scale, x, images])
      },
    }
  }

  // Both CLIP towers training: the text trunk carries the causal mask through the recomputation.
  const clipModel = (): Model => {
    const image = VisionTransformer.fromStateDict(clipState, 'visual', true)
    const text = TextTransformer.fromStateDict(clipState, true)
    const scale = tf.variable(tf.scalar(Math.log(1 / 0.07)))
    const pixels = randomTensor([3, image.inputResolution, image.inputResolution, 3], 3)
    const ids = tf.tensor2d(
      [
        [254, 5, 9, 255, 0, 0],
        [254, 17, 3, 40, 2, 255],
        [254, 255, 0, 0, 0, 0],
      ],
      [3, 6],
      'int32',
    )
    return {
      params: [...image.parameters(), ...text.parameters(), asIs('logit_scale', scale)],
      trunks: [image.transformer, text.transformer],
      loss: () => contrastiveLoss(image.forward(pixels as tf.Tensor4D), text.forward(ids), scale as tf.Scalar),
      dispose: () => {
        image.dispose()
        text.dispose()
        tf.dispose([scale, pixels, ids])
      },
    }
  }

  it('audio tower: gradients and a LARS step equal without and with checkpointing (<= 1e-6), with less peak memory', async (t) => {
    const plain = await step(audioModel, false)
    const checkpointed = await step(audioModel, true)
    const diff = assertSame(plain, checkpointed)
    t.diagnostic(`max abs diff ${diff}; peak bytes ${plain.peakBytes} -> ${checkpointed.peakBytes}`)
    // The recomputation replays the blocks' Linear outputs: of its products, only attention's run again, 2 per clip
    // (4) and head (1) in each of the 2 blocks.
    assert.equal(checkpointed.products.length - plain.products.length, 2 * 4 * 2)
    assert.ok(
      checkpointed.peakBytes < plain.peakBytes,
      `peak ${checkpointed.peakBytes} vs ${plain.peakBytes} without checkpointing`,
    )
    assert.deepEqual([plain.leakedTensors, checkpointed.leakedTensors], [0, 0], 'tensors left behind by a step')
  })

  it('audio tower: checkpointing 1 of its 2 blocks gives the step of checkpointing both (<= 1e-6), with a peak in between', async (t) => {
    const all = await step(audioModel, true)
    const some = await step(audioModel, 1)
    const none = await step(audioModel, false)
    t.diagnostic(
      `max abs diff ${assertSame(all, some)}; peak bytes ${all.peakBytes} < ${some.peakBytes} < ${none.peakBytes}`,
    )
    assert.ok(all.peakBytes < some.peakBytes && some.peakBytes < none.peakBytes)
    assert.equal(some.leakedTensors, 0, 'tensors left behind by a step')
  })

  it("the patch embedding computes no gradient for its input (pixels, log-mels): its filter's alone", async () => {
    const audio = await step(audioModel, false)
    const clip = await step(clipModel, false)
    // Audio: 4 clips of 200 frames, 11x5 patches of 32x32; image: 3 pictures of 7x7 patches of 32x32x3.
    const patches = [
      [4 * 11 * 5, 32 * 32],
      [3 * 7 * 7, 32 * 32 * 3],
    ]
    for (const [{products}, shape] of [audio, clip].map((r, i) => [r, patches[i]] as const)) {
      assert.ok(products.length > 0)
      assert.ok(!products.some((s) => s.join() === shape.join()), `a product of the patches' shape ${shape}`)
    }
  })

  it('image and text towers (causal mask): gradients and a LARS step equal', async (t) => {
    const plain = await step(clipModel, false)
    const checkpointed = await step(clipModel, true)
    t.diagnostic(`max abs diff ${assertSame(plain, checkpointed)}`)
    assert.deepEqual([plain.leakedTensors, checkpointed.leakedTensors], [0, 0], 'tensors left behind by a step')
  })

  it('wasm Slice and SplitV (replaced: no copy of the whole input) cut what tfjs specifies', () =>
    tf.tidy(() => {
      const x = tf.tensor2d(
        Array.from({length: 12}, (_, i) => i),
        [3, 4],
      )
      assert.deepEqual(tf.slice(x, [0, 1], [2, 2]).arraySync(), [
        [1, 2],
        [5, 6],
      ])
      assert.deepEqual(tf.slice(x, [1, 0], [2, 4]).arraySync(), [
        [4, 5, 6, 7],
        [8, 9, 10, 11],
      ])
      assert.deepEqual(
        tf.split(x, 2, 1).map((t) => t.arraySync()),
        [
          [
            [0, 1],
            [4, 5],
            [8, 9],
          ],
          [
            [2, 3],
            [6, 7],
            [10, 11],
          ],
        ],
      )
      assert.deepEqual(
        tf.split(x, [1, 2], 0).map((t) => t.arraySync()),
        [
          [[0, 1, 2, 3]],
          [
            [4, 5, 6, 7],
            [8, 9, 10, 11],
          ],
        ],
      )
      assert.deepEqual(tf.slice(tf.reshape(x, [3, 2, 2]), [0, 1, 1], [2, 1, 1]).arraySync(), [[[3]], [[7]]])
    }))

  it('on wasm a clone (what the tape saves) shares its input buffer, which outlives the input', () => {
    const a = tf.tensor1d([1, 2, 3])
    const b = tf.clone(a)
    assert.equal(b.dataId, a.dataId)
    a.dispose()
    assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3])
    b.dispose()
  })

  it('wasm GatherV2 (replaced: runs of indices copied as blocks) gathers what tfjs specifies', () =>
    tf.tidy(() => {
      // out[b, o, i, s] = x[b, o, indices[b, i], s], written out for the shapes below.
      const reference = (x: number[], [outer, dim, slice]: number[], indices: number[], batches = 1) => {
        const out: number[] = []
        const perBatch = indices.length / batches
        const perOuter = outer / batches
        for (let o = 0; o < outer; o++) {
          for (const i of indices.slice(Math.floor(o / perOuter) * perBatch).slice(0, perBatch))
            out.push(...x.slice((o * dim + i) * slice, (o * dim + i + 1) * slice))
        }
        return out
      }
      const values = (n: number) => Array.from({length: n}, (_, i) => (i * 7919) % 1000)
      // Runs long enough to be block copies (20 and 40 floats), short ones, repeats and a backward step.
      const runs = [
        ...Array.from({length: 20}, (_, i) => 5 + i),
        0,
        1,
        1,
        39,
        38,
        ...Array.from({length: 40}, (_, i) => i),
      ]
      const x = values(3 * 40)
      assert.deepEqual(
        Array.from(tf.gather(tf.tensor2d(x, [3, 40]), tf.tensor1d(runs, 'int32'), 1).dataSync()),
        reference(x, [3, 40, 1], runs),
      )
      assert.deepEqual(tf.gather(tf.tensor2d(x, [3, 40]), tf.tensor1d(runs, 'int32'), 1).shape, [3, runs.length])
      const rows = [4, 0, 1, 2, 2]
      const table = values(5 * 3)
      assert.deepEqual(
        Array.from(tf.gather(tf.tensor2d(table, [5, 3], 'int32'), tf.tensor1d(rows, 'int32')).dataSync()),
        reference(table, [1, 5, 3], rows),
      )
      const cube = values(2 * 4 * 3)
      const perClip = [3, 0, 1, 2]
      const batched = tf.gather(tf.tensor3d(cube, [2, 4, 3]), tf.tensor2d(perClip, [2, 2], 'int32'), 1, 1)
      assert.deepEqual(batched.shape, [2, 2, 3])
      assert.deepEqual(Array.from(batched.dataSync()), reference(cube, [2, 4, 3], perClip, 2))
      assert.deepEqual(
        Array.from(tf.gather(tf.tensor1d([true, false, true], 'bool'), tf.tensor1d([2, 1, 0, 1], 'int32')).dataSync()),
        [1, 0, 1, 0],
      )
      assert.throws(
        () => tf.gather(tf.tensor2d(x, [3, 40]), tf.tensor1d([40], 'int32'), 1),
        /index value 40 is not in \[0, 39\]/,
      )
    }))

  it('wasm BatchMatMul cuts a large right-hand matrix into column blocks (replaced) and gives the product', () =>
    tf.tidy(() => {
      const [M, K, N] = [6, 1000, 700] // K * N over 768 * 768: two column blocks of 350
      const [a, b] = [randomTensor([M, K], 5), randomTensor([K, N], 6)]
      const [av, bv] = [a.dataSync(), b.dataSync()]
      const expected = new Float64Array(M * N)
      for (let i = 0; i < M; i++)
        for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) expected[i * N + j] += av[i * K + k] * bv[k * N + j]
      const diff = (t: tf.Tensor) => Math.max(...Array.from(t.dataSync(), (v, i) => Math.abs(v - expected[i])))
      const product = tf.matMul(a, b)
      assert.deepEqual(product.shape, [M, N])
      assert.ok(diff(product) < 1e-4, `column blocks: max abs diff ${diff(product)}`)
      assert.ok(diff(tf.matMul(a, tf.transpose(b), false, true)) < 1e-4, 'transposed (the packaged kernel)')
      assert.deepEqual(
        Array.from(tf.matMul(tf.reshape(a, [1, M, K]), tf.reshape(b, [1, K, N])).dataSync()),
        Array.from(product.dataSync()),
      )
    }))

  it("'auto' checkpoints a trainable trunk only when its tape would be large, never an inference one", () => {
    const trainable = AudioEncoder.fromStateDict(audioState, undefined, true)
    const frozen = AudioEncoder.fromStateDict(audioState)
    assert.equal(trainable.transformer.checkpointBlocks, 'auto')
    assert.equal(trainable.transformer.checkpoints([4, 56, 64]), false)
    assert.equal(trainable.transformer.checkpoints([4096, 56, 64]), true)
    assert.equal(frozen.transformer.checkpoints([4096, 56, 64]), false)
    trainable.transformer.checkpointBlocks = true
    assert.equal(trainable.transformer.checkpoints([1, 56, 64]), true)
    trainable.dispose()
    frozen.dispose()
  })

  it("'auto' checkpoints as many blocks as the heap needs, keeping their products: ViT-B/32 audio; the tiny tower never", () => {
    // A ViT-B block: 7,087,872 weights; twelve hold 340 MB, 1.36 GB with their gradients, momentum and the update's
    // temporaries, leaving 2.40 GB of the 3.76 GB budget. A block's tape at 306 tokens (61x5 patches and the class
    // token): 4 * B * 306 * (160 * 768 + 5 * 12 * 306) bytes, 173 MB per clip; a checkpointed block's products
    // 4 * B * 306 * 9 * 768 bytes, 8.5 MB per clip. Batch 1: all twelve tapes fit (2.07 GB). Batch 2 (346 MB and
    // 17 MB): one recomputed block's tape, 5 kept tapes and 7 blocks' products fit. Batch 4 (692 and 34 MB): 1 kept,
    // 11 checkpointed. Batch 8 (1.38 GB and 68 MB): none kept; the recomputed tape and 12 blocks' products, 2.20 GB.
    const block = (width: number) => {
      const zeros = (shape: number[]) => tf.variable(tf.zeros(shape)) as never
      const linear = (from: number, to: number) => new Linear(zeros([from, to]), zeros([to]))
      const norm = () => new LayerNorm(zeros([width]), zeros([width]))
      const attn = new MultiheadAttention(
        linear(width, width),
        linear(width, width),
        linear(width, width),
        linear(width, width),
        width / 64,
      )
      return new ResidualAttentionBlock(attn, norm(), linear(width, 4 * width), linear(4 * width, width), norm())
    }
    const vitB = new Transformer(Array(12).fill(block(768)))
    assert.deepEqual(
      [1, 2, 4, 8].map((batch) => vitB.checkpointing([batch, 306, 768])),
      [
        {blocks: 0, products: false},
        {blocks: 7, products: true},
        {blocks: 11, products: true},
        {blocks: 12, products: true},
      ],
    )
    // Batch 12 (2.07 GB and 102 MB): the recomputed tape fits, not beside 12 blocks' products.
    assert.deepEqual(vitB.checkpointing([12, 306, 768]), {blocks: 12, products: false})
    // Training two towers (image-text), it plans in half the heap: 0.52 GB, less than one tape at batch 4.
    vitB.heapShare = 1 / 2
    assert.deepEqual(vitB.checkpointing([4, 306, 768]), {blocks: 12, products: false})
    assert.equal(vitB.checkpoints([4, 306, 768]), true)
    vitB.resblocks[0].dispose()
    const tiny = new Transformer([block(64)])
    assert.deepEqual(
      [8, 64].map((batch) => tiny.checkpointedBlocks([batch, 306, 64])),
      [0, 0],
    )
    tiny.dispose()
  })

  it('a pair model plans each trainable trunk in its share of the heap', () => {
    const image = VisionTransformer.fromStateDict(clipState, 'visual', true)
    const text = TextTransformer.fromStateDict(clipState, true)
    const audio = AudioEncoder.fromStateDict(audioState, undefined, true)
    const pair = new PairModel({image, text}, {}, 0)
    const single = new PairModel({audio}, {}, 0)
    assert.deepEqual(
      [image.transformer.heapShare, text.transformer.heapShare, audio.transformer.heapShare],
      [0.5, 0.5, 1],
    )
    pair.dispose()
    single.dispose()
  })

  it('the training config turns it on or off (checkpointBlocks), null meaning auto', () => {
    const base = {pair: 'audio-image' as const, data: 'd.arrow', out: 'o'}
    assert.equal(resolveConfig(base).checkpointBlocks, null)
    assert.equal(resolveConfig(parseConfigYaml('checkpoint-blocks: true', 'x.yaml'), base).checkpointBlocks, true)
    assert.throws(() => resolveConfig(parseConfigYaml('checkpointBlocks: yes please', 'x.yaml'), base), UserError)
  })
})
