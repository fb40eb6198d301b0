import assert from 'node:assert/strict'
import {before, describe, it} from 'node:test'
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend} from '../src/lib/backend/index.js'
import {TextTransformer} from '../src/lib/model/clip-text.js'
import {loadRuntime} from '../src/lib/onnx/runtime.js'
import {audioFromClip} from '../src/lib/train/audio-init.js'
import {evaluatePair, tfjsEngine, type EvalEmbed} from '../src/lib/train/evaluate.js'
import {onnxEngine} from '../src/lib/train/onnx-evaluation.js'
import {PairModel, trainableTowers} from '../src/lib/train/pair-model.js'
import type {Clip, TowerName} from '../src/lib/train/pair-table.js'
import {CLIP_SIZES, randomClip} from '../src/lib/train/random-clip.js'
import {clipItem, type Item} from '../src/lib/train/sampler.js'
import {mulberry32} from '../src/lib/util/rng.js'
import {maxAbsDiff} from './helpers.js'

const skip = (await loadRuntime()) ? false : 'onnxruntime-node is not installed'
const FRAMES = 64
/** More clips than one ONNX run takes (16), so that chunks are joined. */
const CLIPS = 20
const CLASSES = ['dog bark', 'siren', 'drilling', 'car horn']
const OPTIONS = {frames: FRAMES, freqMask: 0, timeMask: 0, prompt: 'the sound of'}

/** Log-mels whose loud band says the class, as test/train.test.ts's synthetic table; the class prompt as caption, as readPairTable gives it. */
function audioClips(): Clip[] {
  const rng = mulberry32(5)
  return Array.from({length: CLIPS}, (_, i) => ({
    id: `clip${i}`,
    label: i % CLASSES.length,
    className: CLASSES[i % CLASSES.length],
    captions: [`the sound of ${CLASSES[i % CLASSES.length]}`],
    mel: Float32Array.from(
      {length: FRAMES * 128},
      (_, k) => (Math.floor((k % 128) / 32) === i % CLASSES.length ? 1 : -1) + 0.3 * (rng() - 0.5),
    ),
  }))
}

/** One random 224x224 frame and five captions per clip. */
function pictureClips(): Clip[] {
  const rng = mulberry32(6)
  return Array.from({length: CLIPS}, (_, i) => ({
    id: `picture${i}`,
    frames: [Float32Array.from({length: 224 * 224 * 3}, () => 2 * rng() - 1)],
    captions: Array.from({length: 5}, (_, k) => `a ${CLASSES[i % CLASSES.length]} number ${i} seen ${k} times`),
  }))
}

/** ONNX's embeddings of `items` against the tfjs tower's own forward pass (model.embed), within 1e-5. */
async function sameEmbeddings(model: PairModel, onnx: EvalEmbed, tower: TowerName, items: Item[]): Promise<void> {
  const expected = model.embed(tower, items)
  const got = await onnx(tower, items)
  assert.equal(got.length, items.length)
  const diff = maxAbsDiff(Float32Array.from(got.flatMap((v) => [...v])), expected.dataSync() as Float32Array)
  expected.dispose()
  assert.ok(diff <= 1e-5, `${tower}: max |onnx - tfjs| = ${diff}`)
}

/** evaluatePair on both engines: the same metrics. */
async function sameMetrics(
  model: PairModel,
  onnx: EvalEmbed,
  clips: Clip[],
  towers: [TowerName, TowerName],
): Promise<Record<string, number>> {
  const {embed} = await tfjsEngine(model).open()
  const expected = await evaluatePair(embed, clips, towers, OPTIONS)
  assert.deepEqual(await evaluatePair(onnx, clips, towers, OPTIONS), expected)
  return expected
}

describe('in-training evaluation on ONNX Runtime, from the current weights', {skip}, () => {
  before(() => selectBackend('wasm'))

  it('audio-text: the audio tower within 1e-5 of tfjs, before and after a weight change; the frozen text tower stays on tfjs', async () => {
    const clip = randomClip(CLIP_SIZES.tiny, 7)
    const audio = audioFromClip(clip, FRAMES)
    const model = new PairModel(
      trainableTowers({audio}),
      {text: TextTransformer.fromStateDict(clip)},
      Math.log(1 / 0.07),
      audio.config,
    )
    const engine = (await onnxEngine(model))!
    assert.match(engine.name, /^onnxruntime-node \S+, cpu, \d+ threads$/)
    const clips = audioClips()
    const mels = clips.map((c) => clipItem(c, 'audio', OPTIONS, null))
    for (const change of [false, true]) {
      if (change) {
        // A training step's worth of change: a later evaluation must see it.
        const proj = model.parameters().find((p) => p.name === 'post_encoder.proj')!.parts[0] as tf.Variable
        proj.assign(tf.tidy(() => tf.mul(proj, 1.5)))
      }
      const {embed, close} = await engine.open()
      await sameEmbeddings(model, embed, 'audio', mels)
      const prompts = CLASSES.map((c) => `the sound of ${c}`)
      const frozen = model.embedFrozen('text', prompts)
      assert.deepEqual(Float32Array.from((await embed('text', prompts)).flatMap((v) => [...v])), frozen.dataSync())
      frozen.dispose()
      const metrics = await sameMetrics(model, embed, clips, ['audio', 'text'])
      assert.deepEqual(Object.keys(metrics), ['zs_top1', 'zs_top5', 'zs_cos_top1', 'zs_cos_top5'])
      await close()
    }
    model.dispose()
  })

  it('image-text: both trainable towers within 1e-5 of tfjs, and the same retrieval metrics', async () => {
    const model = new PairModel(trainableTowers({clip: randomClip(CLIP_SIZES.tiny, 8)}), {}, Math.log(1 / 0.07))
    const {embed, close} = await (await onnxEngine(model))!.open()
    const clips = pictureClips()
    await sameEmbeddings(
      model,
      embed,
      'image',
      clips.map((c) => clipItem(c, 'image', OPTIONS, null)),
    )
    await sameEmbeddings(
      model,
      embed,
      'text',
      clips.flatMap((c) => c.captions!),
    )
    assert.deepEqual(Object.keys(await sameMetrics(model, embed, clips, ['image', 'text'])), [
      'i2t_R@1',
      'i2t_R@5',
      'i2t_R@10',
      't2i_R@1',
      't2i_R@5',
      't2i_R@10',
    ])
    await close()
    model.dispose()
  })
})
