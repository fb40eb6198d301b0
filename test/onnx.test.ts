import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readdirSync, statSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend} from '../src/lib/backend/index.js'
import type {StateDict} from '../src/lib/checkpoint/tensor.js'
import {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {TextTransformer} from '../src/lib/model/clip-text.js'
import {VisionTransformer} from '../src/lib/model/clip-vision.js'
import {audioEncoderGraph} from '../src/lib/onnx/audio-encoder.js'
import {textTransformerGraph} from '../src/lib/onnx/clip-text.js'
import {visionTransformerGraph} from '../src/lib/onnx/clip-vision.js'
import {onnxEmbedder} from '../src/lib/onnx/embedder.js'
import {Checkpoint, graphCacheDir} from '../src/lib/onnx/graph-cache.js'
import {createSession, loadRuntime, type Session} from '../src/lib/onnx/runtime.js'
import {maxAbsDiff} from './helpers.js'
import {f32, i32, manifest, referenceWeights, type Case} from './tower-fixtures.js'
import {TINY, writeTinyVipant} from './tiny-models.js'

const TOLERANCE = 1e-4
const skip = (await loadRuntime()) ? false : 'onnxruntime-node is not installed'
const home = mkdtempSync(path.join(os.tmpdir(), 'vipant-onnx-'))
process.env.VIPANT_HOME = home

/** Rows `from..to` of a batch laid out end to end. */
function rows<T extends Float32Array | Int32Array>(data: T, shape: number[], from: number, to: number): T {
  const size = data.length / shape[0]
  return data.slice(from * size, to * size) as T
}

/** A batch and the same batch twice over, end to end. */
function twice<T extends Float32Array | Int32Array>(data: T): T {
  const out = new (data.constructor as new (n: number) => T)(2 * data.length)
  out.set(data)
  out.set(data, data.length)
  return out
}

describe('tower graphs on ONNX Runtime', {skip}, () => {
  let clip: StateDict
  let audio: StateDict
  const sessions = new Map<string, Session>()
  const ort = async () => (await loadRuntime())!

  before(async () => {
    ;({clip, audio} = await referenceWeights())
    await selectBackend('wasm')
  })
  after(async () => {
    for (const s of sessions.values()) await s.release()
  })

  async function session(c: Case): Promise<Session> {
    const key = `${c.tower} ${c.grid ?? ''}`
    if (!sessions.has(key)) {
      const graph =
        c.tower === 'image'
          ? visionTransformerGraph(clip)
          : c.tower === 'text'
            ? textTransformerGraph(clip)
            : audioEncoderGraph(audio, manifest.audio_config, c.grid!)
      sessions.set(key, await createSession(graph.serialise(), 'cpu'))
    }
    return sessions.get(key)!
  }

  async function run(c: Case, data: Float32Array | Int32Array, batch: number): Promise<Float32Array> {
    const {Tensor} = await ort()
    const s = await session(c)
    const shape = [batch, ...c.input.shape.slice(1)]
    const input =
      c.tower === 'text'
        ? new Tensor('int32', data as Int32Array, shape)
        : new Tensor('float32', data as Float32Array, shape)
    return (await s.run({[s.inputNames[0]]: input}))[s.outputNames[0]].data as Float32Array
  }

  function tfjs(c: Case, data: Float32Array | Int32Array, batch: number): Float32Array {
    const shape = [batch, ...c.input.shape.slice(1)]
    const model =
      c.tower === 'image'
        ? VisionTransformer.fromStateDict(clip)
        : c.tower === 'text'
          ? TextTransformer.fromStateDict(clip)
          : AudioEncoder.fromStateDict(audio, manifest.audio_config)
    const out = tf.tidy(() => {
      if (model instanceof TextTransformer)
        return model.forward(tf.tensor2d(data as Int32Array, shape as [number, number], 'int32'))
      if (model instanceof VisionTransformer)
        return model.forward(tf.tensor4d(data as Float32Array, shape as [number, number, number, number]))
      return model.forward(tf.tensor3d(data as Float32Array, shape as [number, number, number]))
    })
    const values = out.dataSync() as Float32Array
    out.dispose()
    model.dispose()
    return values
  }

  for (const c of manifest.cases) {
    const B = c.input.shape[0]
    const what = `${c.tower} (${c.input.shape.slice(1).join(', ')})${c.grid ? `, grid ${c.grid.join('x')}` : ''}`
    const input = () => (c.tower === 'text' ? i32(c.input) : f32(c.input))

    it(`${what}, batch ${B}: equals PyTorch and tfjs to ${TOLERANCE}`, async (t) => {
      const got = await run(c, input(), B)
      const [torch, js] = [maxAbsDiff(got, f32(c.output)), maxAbsDiff(got, tfjs(c, input(), B))]
      t.diagnostic(`max abs diff: PyTorch ${torch.toExponential(2)}, tfjs ${js.toExponential(2)}`)
      assert.ok(torch <= TOLERANCE && js <= TOLERANCE, `PyTorch ${torch}, tfjs ${js}`)
    })

    // The other batch size: each row alone, or the single row twice over.
    const other = B > 1 ? 1 : 2
    it(`${what}, batch ${other}: the same rows`, async (t) => {
      let worst = 0
      if (B > 1) {
        for (let r = 0; r < B; r++)
          worst = Math.max(
            worst,
            maxAbsDiff(
              await run(c, rows(input(), c.input.shape, r, r + 1), 1),
              rows(f32(c.output), c.output.shape, r, r + 1),
            ),
          )
      } else {
        worst = maxAbsDiff(await run(c, twice(input()), 2), twice(f32(c.output)))
      }
      t.diagnostic(`max abs diff to PyTorch: ${worst.toExponential(2)}`)
      assert.ok(worst <= TOLERANCE, `max abs diff ${worst}`)
    })
  }

  it(
    'rejects the webgpu provider on a machine without a GPU, in one line',
    {skip: existsSync('/dev/nvidia0') || existsSync('/dev/dri')},
    async () => {
      await assert.rejects(createSession(textTransformerGraph(clip).serialise(), 'webgpu'), {
        message:
          'onnxruntime webgpu needs a GPU adapter, and this machine has none (no /dev/dri/renderD* or /dev/nvidia* device)',
      })
    },
  )
})

describe('graph cache', {skip}, () => {
  const model = writeTinyVipant(mkdtempSync(path.join(os.tmpdir(), 'vipant-onnx-model-')))

  it('builds each graph once, keyed by the checkpoint content, tower and audio grid; a second run loads no weights', async () => {
    const first = await Checkpoint.open(await model)
    const text = await first.graph('text')
    const audio = await first.graph('audio', [11, 5])
    assert.equal(first.weightsLoaded, true)
    assert.match(path.basename(text), /^[0-9a-f]{32}-text\.v\d+\.onnx$/)
    assert.match(path.basename(audio), /^[0-9a-f]{32}-audio-11x5\.v\d+\.onnx$/)
    const inode = statSync(text).ino // a rebuilt graph would be a new file, renamed into place

    const second = await Checkpoint.open(await model)
    assert.equal(second.key, first.key)
    assert.deepEqual((await second.info()).audioConfig, {
      resolution: [TINY.audioMaxLen, 128],
      patchSize: 32,
      stride: [16, 24],
    })
    assert.equal(await second.graph('text'), text)
    assert.equal(await second.graph('audio', [11, 5]), audio)
    assert.equal(second.weightsLoaded, false)
    assert.equal(statSync(text).ino, inode)
    // Another grid is another graph; no temporary file is left behind.
    assert.notEqual(await second.graph('audio', [5, 5]), audio)
    assert.equal(second.weightsLoaded, true)
    assert.deepEqual(
      readdirSync(graphCacheDir()).filter((f) => f.endsWith('.tmp')),
      [],
    )
  })

  it('an embedder from the cache gives the numbers of one that built it', async () => {
    const spec = {
      run: ['audio', 'text'] as const,
      model: await model,
      clip: await model,
      normalize: true,
      provider: 'cpu' as const,
    }
    const mel = Float32Array.from({length: TINY.audioMaxLen * 128}, (_, i) => Math.sin(i / 7))
    const results = []
    for (let pass = 0; pass < 2; pass++) {
      const embedder = await onnxEmbedder(spec)
      assert.deepEqual(embedder.dims, {audio: TINY.embed, text: TINY.embed})
      results.push([
        ...(await embedder.embed('audio', [[mel], []])),
        ...(await embedder.embed('text', [['a dog barks', 'rain'], ['wind']])),
      ])
      await embedder.close()
    }
    assert.equal(results[0][1], null)
    assert.deepEqual(results[1], results[0])
    assert.ok(Math.abs(Math.hypot(...results[0][0]!) - 1) < 1e-5)
    assert.equal(results[0][2]!.length, 2 * TINY.embed)
  })
})
