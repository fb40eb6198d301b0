import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend} from '../src/lib/backend/index.js'
import type {StateDict} from '../src/lib/checkpoint/tensor.js'
import {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {TextTransformer} from '../src/lib/model/clip-text.js'
import {VisionTransformer} from '../src/lib/model/clip-vision.js'
import {interpClipVpEmbedding, loadPosEmbedding} from '../src/lib/towers/pos-embedding.js'
import {l2normalize} from '../src/lib/model/transformer.js'
import {UserError} from '../src/lib/util/errors.js'
import {maxAbsDiff} from './helpers.js'
import {f32, i32, manifest, referenceWeights} from './tower-fixtures.js'

const TOLERANCE = 1e-4

let clip: StateDict
let audio: StateDict
before(async () => {
  ;({clip, audio} = await referenceWeights())
})

describe('positional embeddings (docs/method.md §5.4, §5.5)', () => {
  const emb = () => audio.get('misc.positional_embedding')!
  for (const c of manifest.cases.filter((c) => c.positional)) {
    it(`T = ${c.frames}: 11x5 -> ${c.grid!.join('x')} as VIP-ANT's load_pos_embedding`, () => {
      const got = loadPosEmbedding(emb(), [11, 5], c.grid!)
      assert.deepEqual(got.shape, c.positional!.shape)
      assert.ok(maxAbsDiff(got.data, f32(c.positional!)) <= 1e-6)
    })
  }

  it("CLIP's 7x7 grid to the audio grid 61x5 (bilinear, align_corners=False)", () => {
    const {input, output} = manifest.clip_pos
    const got = interpClipVpEmbedding({shape: input.shape, dtype: 'float32', data: f32(input)}, [61, 5])
    assert.deepEqual(got.shape, output.shape)
    assert.ok(maxAbsDiff(got.data, f32(output)) <= 1e-6)
  })

  it('refuses a slice that runs past the trained rows, as VIP-ANT would fail', () => {
    assert.throws(() => loadPosEmbedding(emb(), [11, 5], [6, 5]), UserError)
  })
})

for (const backendName of ['wasm', 'cpu']) {
  describe(`towers on ${backendName}`, () => {
    let image: VisionTransformer
    let text: TextTransformer
    let audioTower: AudioEncoder
    before(async () => {
      await selectBackend(backendName)
      image = VisionTransformer.fromStateDict(clip)
      text = TextTransformer.fromStateDict(clip)
      audioTower = AudioEncoder.fromStateDict(audio, manifest.audio_config)
    })
    after(() => {
      for (const model of [image, text, audioTower]) model.dispose()
    })

    it('reads the architecture from the weight shapes', () => {
      assert.deepEqual([image.width, image.transformer.layers, image.transformer.heads], [128, 1, 2])
      assert.deepEqual([image.patchSize, image.grid, image.inputResolution, image.outputDim], [8, 4, 32, 64])
      assert.deepEqual([text.width, text.transformer.layers, text.transformer.heads], [64, 1, 1])
      assert.deepEqual([text.vocabSize, text.contextLength, text.outputDim], [256, 77, 64])
      assert.deepEqual([audioTower.width, audioTower.transformer.layers, audioTower.transformer.heads], [64, 2, 1])
      assert.deepEqual([audioTower.patchSize, audioTower.trainedGrid, audioTower.grid(1000)], [32, [11, 5], [61, 5]])
      // Without a config the trained grid follows from the positional embedding and VIP-ANT's stride.
      const inferred = AudioEncoder.fromStateDict(audio)
      assert.deepEqual(
        [inferred.trainedGrid, inferred.config.stride],
        [
          [11, 5],
          [16, 24],
        ],
      )
      inferred.dispose()
    })

    for (const c of manifest.cases) {
      const what = `${c.tower} tower, input (${c.input.shape.join(', ')})`
      it(`${what} matches PyTorch to ${TOLERANCE}`, () => {
        const got = tf.tidy(() => {
          if (c.tower === 'image')
            return image.forward(tf.tensor4d(f32(c.input), c.input.shape as [number, number, number, number]))
          if (c.tower === 'text')
            return text.forward(tf.tensor2d(i32(c.input), c.input.shape as [number, number], 'int32'))
          return audioTower.forward(tf.tensor3d(f32(c.input), c.input.shape as [number, number, number]))
        })
        assert.deepEqual(got.shape, c.output.shape)
        const diff = maxAbsDiff(got.dataSync(), f32(c.output))
        got.dispose()
        assert.ok(diff <= TOLERANCE, `max abs diff ${diff}`)
      })
    }

    it('audio: a 1-channel conv1 (in_channels=1 runs) gives the averaged 3-channel result', () => {
      const c = manifest.cases.find((c) => c.tower === 'audio' && c.frames === 200)!
      const conv = audio.get('pre_encoder.conv1.weight')!
      const [W, C, P] = conv.shape
      const mean = new Float32Array(W * P * P)
      for (let o = 0; o < W; o++) {
        for (let k = 0; k < P * P; k++) {
          let sum = 0
          for (let i = 0; i < C; i++) sum += conv.data[(o * C + i) * P * P + k]
          mean[o * P * P + k] = sum / C
        }
      }
      const mono = new Map(audio).set('pre_encoder.conv1.weight', {shape: [W, 1, P, P], dtype: 'float32', data: mean})
      const tower = AudioEncoder.fromStateDict(mono, manifest.audio_config)
      const got = tf.tidy(() => tower.forward(tf.tensor3d(f32(c.input), c.input.shape as [number, number, number])))
      assert.ok(maxAbsDiff(got.dataSync(), f32(c.output)) <= TOLERANCE)
      tf.dispose(got)
      tower.dispose()
    })

    it('frees every intermediate', () => {
      const before = tf.memory().numTensors
      tf.dispose(audioTower.forward(tf.zeros([1, 96, 128]) as tf.Tensor3D))
      tf.dispose(text.forward(tf.tensor2d([[254, 3, 255]], [1, 3], 'int32')))
      tf.dispose(image.forward(tf.zeros([1, 32, 32, 3]) as tf.Tensor4D))
      // The three inputs are left, as a caller would own them; nothing else.
      assert.equal(tf.memory().numTensors, before + 3)
    })

    it('l2normalize gives unit rows', () => {
      const n = tf.tidy(() =>
        tf.norm(
          l2normalize(
            tf.tensor2d([
              [3, 4],
              [1, 0],
            ]),
          ),
          'euclidean',
          1,
        ),
      )
      assert.ok(maxAbsDiff(n.dataSync(), [1, 1]) < 1e-6)
      n.dispose()
    })

    it('rejects an input of the wrong shape', () => {
      assert.throws(() => image.forward(tf.zeros([1, 64, 64, 3]) as tf.Tensor4D), UserError)
      assert.throws(() => audioTower.forward(tf.zeros([1, 100, 64]) as tf.Tensor3D), UserError)
    })
  })
}
