/**
 * Tower inference at ViT-B/32 size (random weights from a fixed seed): the audio tower (width 768, 12 layers) on
 * (1000, 128) log-mels, CLIP's text tower (width 512, 12 layers) on 77-token ids and its image tower on 224 px, at
 * batch 1 and 8, on ONNX Runtime (vipant's inference engine: graphs built by src/lib/onnx, every core in one
 * session), on each TensorFlow.js backend present, and on the same models in PyTorch (bench/towers_torch.py, 2
 * threads) in the same run. Contenders take turns pass by pass, so that a change in machine load hits all alike.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import * as tf from '@tensorflow/tfjs-core'
import {workerEmbedder} from '../src/cli/embed-workers.js'
import {BACKENDS, selectBackend} from '../src/lib/backend/index.js'
import type {StateDict} from '../src/lib/checkpoint/tensor.js'
import {DEFAULT_AUDIO_CONFIG} from '../src/lib/checkpoint/audio-config.js'
import {writeVipantCheckpoint} from '../src/lib/checkpoint/vipant-format.js'
import {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {TextTransformer} from '../src/lib/model/clip-text.js'
import {VisionTransformer} from '../src/lib/model/clip-vision.js'
import {audioEncoderGraph} from '../src/lib/onnx/audio-encoder.js'
import {textTransformerGraph} from '../src/lib/onnx/clip-text.js'
import {visionTransformerGraph} from '../src/lib/onnx/clip-vision.js'
import {createSession, describeRuntime, loadRuntime} from '../src/lib/onnx/runtime.js'
import {median} from './median.js'
import {torchProcess} from './python-process.js'
import type {Benchmark, Measurement} from './run.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const TORCH_SCRIPT = path.join(repoRoot, 'bench', 'towers_torch.py')
const RUNS = 3
const [WIDTH, LAYERS, EMBED, PATCH] = [768, 12, 512, 32]
const [VOCAB, CONTEXT] = [49408, 77]
type Tower = 'audio' | 'text' | 'image'
interface Workload {
  tower: Tower
  batch: number
}
const WORKLOADS: Workload[] = (['audio', 'text', 'image'] as const).flatMap((tower) =>
  [1, 8].map((batch) => ({tower, batch})),
)
const label = (w: Workload) => `${w.tower} b${w.batch}`
/** `work` is the batch times 60, so that the table's throughput column reads inputs per minute (per second rounds to 0). */
const work = (w: Workload) => w.batch * 60
const INPUT_SHAPE: Record<Tower, number[]> = {audio: [1000, 128], text: [CONTEXT], image: [224, 224, 3]}

/** One engine's passes: seconds for one forward pass of a fresh random batch, input made before the clock starts. */
interface Contender {
  name: string
  pass(w: Workload): Promise<number>
  close(): Promise<void>
}

/** Random ids below SOT, with EOT (the highest id) last, as a full 77-token context. */
function randomIds(batch: number): Int32Array {
  const ids = Int32Array.from({length: batch * CONTEXT}, () => 1 + Math.floor(Math.random() * (VOCAB - 3)))
  for (let b = 0; b < batch; b++) ids[(b + 1) * CONTEXT - 1] = VOCAB - 1
  return ids
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9

/** A maker of tensors uniform in offset ± scale from a fixed-seed generator (mulberry32): timing ignores the values. */
function tensorMaker(initialSeed: number, defaultScale: number) {
  let seed = initialSeed
  const next = () => {
    // mulberry32
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return (shape: number[], scale = defaultScale, offset = 0) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1))
    for (let i = 0; i < data.length; i++) data[i] = offset + scale * 2 * (next() - 0.5)
    return {shape, dtype: 'float32' as const, data}
  }
}

/** CLIP's residual blocks (`resblocks.N.*`) of the given width. */
function randomTrunk(tensor: ReturnType<typeof tensorMaker>, width: number, layers: number): StateDict {
  const trunk: StateDict = new Map()
  for (let i = 0; i < layers; i++) {
    const p = `resblocks.${i}`
    trunk
      .set(`${p}.attn.in_proj_weight`, tensor([3 * width, width]))
      .set(`${p}.attn.in_proj_bias`, tensor([3 * width], 0.02))
    trunk.set(`${p}.attn.out_proj.weight`, tensor([width, width])).set(`${p}.attn.out_proj.bias`, tensor([width], 0.02))
    trunk.set(`${p}.mlp.c_fc.weight`, tensor([4 * width, width])).set(`${p}.mlp.c_fc.bias`, tensor([4 * width], 0.02))
    trunk.set(`${p}.mlp.c_proj.weight`, tensor([width, 4 * width])).set(`${p}.mlp.c_proj.bias`, tensor([width], 0.02))
    for (const ln of ['ln_1', 'ln_2'])
      trunk.set(`${p}.${ln}.weight`, tensor([width], 0.1, 1)).set(`${p}.${ln}.bias`, tensor([width], 0.02))
  }
  return trunk
}

/**
 * ViT-B/32 weights (the audio tower on (1000, 128) and CLIP's image tower), uniform with CLIP-like scale (width^-1/2),
 * from a fixed-seed generator: timing ignores the values.
 */
export function randomWeights(): {audio: StateDict; visual: StateDict} {
  const tensor = tensorMaker(0x9e3779b9, WIDTH ** -0.5)
  const trunk = randomTrunk(tensor, WIDTH, LAYERS)
  const ln = () => [tensor([WIDTH], 0.1, 1), tensor([WIDTH], 0.02)]
  const [conv1, proj, cls] = [tensor([WIDTH, 3, PATCH, PATCH]), tensor([WIDTH, EMBED]), tensor([WIDTH])]
  const [preW, preB, postW, postB] = [...ln(), ...ln()]
  const audio: StateDict = new Map([...trunk].map(([k, v]) => [`encoder.${k}`, v]))
  audio.set('pre_encoder.conv1.weight', conv1).set('pre_encoder.ln.weight', preW).set('pre_encoder.ln.bias', preB)
  audio.set('post_encoder.ln.weight', postW).set('post_encoder.ln.bias', postB).set('post_encoder.proj', proj)
  audio.set('misc.positional_embedding', tensor([61 * 5 + 1, WIDTH])).set('misc.class_embedding', cls)
  const visual: StateDict = new Map([...trunk].map(([k, v]) => [`visual.transformer.${k}`, v]))
  visual.set('visual.conv1.weight', conv1).set('visual.ln_pre.weight', preW).set('visual.ln_pre.bias', preB)
  visual.set('visual.ln_post.weight', postW).set('visual.ln_post.bias', postB).set('visual.proj', proj)
  visual.set('visual.positional_embedding', tensor([7 * 7 + 1, WIDTH])).set('visual.class_embedding', cls)
  return {audio, visual}
}

/**
 * CLIP ViT-B/32's text tower (width 512, 12 layers, 8 heads, the real 49408-token vocabulary and 77-token context,
 * embedding 512) under CLIP's state-dict names, random from its own fixed seed.
 */
export function randomTextWeights(): StateDict {
  const width = 512
  const tensor = tensorMaker(0x7f4a7c15, width ** -0.5)
  const text: StateDict = new Map([...randomTrunk(tensor, width, LAYERS)].map(([k, v]) => [`transformer.${k}`, v]))
  text
    .set('token_embedding.weight', tensor([49408, width], 0.02))
    .set('positional_embedding', tensor([77, width], 0.01))
  text.set('ln_final.weight', tensor([width], 0.1, 1)).set('ln_final.bias', tensor([width], 0.02))
  text.set('text_projection', tensor([width, EMBED])).set('logit_scale', tensor([], 0, Math.log(100)))
  return text
}

/** bench/towers_torch.py kept running, one pass per request. */
async function torchContender(): Promise<Contender> {
  const {python, name} = await torchProcess(TORCH_SCRIPT)
  return {
    name,
    pass: async (w) => {
      python.send(`${w.tower} ${w.batch}\n`)
      return (await python.reply()).run_s as number
    },
    close: async () => python.close(),
  }
}

/** vipant's inference engine: the graphs of src/lib/onnx in one ONNX Runtime session each, every core. */
async function onnxContender(weights: ReturnType<typeof randomWeights>, text: StateDict): Promise<Contender> {
  const ort = await loadRuntime()
  if (!ort) throw new Error('onnxruntime-node is not installed')
  const sessions = {
    audio: await createSession(audioEncoderGraph(weights.audio, DEFAULT_AUDIO_CONFIG, [61, 5]).serialise(), 'cpu'),
    text: await createSession(textTransformerGraph(text).serialise(), 'cpu'),
    image: await createSession(visionTransformerGraph(weights.visual).serialise(), 'cpu'),
  }
  return {
    name: `ONNX Runtime (${await describeRuntime('cpu')})`,
    pass: async (w) => {
      const session = sessions[w.tower]
      const shape = [w.batch, ...INPUT_SHAPE[w.tower]]
      const input =
        w.tower === 'text'
          ? new ort.Tensor('int32', randomIds(w.batch), shape)
          : new ort.Tensor(
              'float32',
              Float32Array.from({length: shape.reduce((a, b) => a * b)}, () => Math.random() * 2 - 1),
              shape,
            )
      const start = process.hrtime.bigint()
      await session.run({[session.inputNames[0]]: input})
      return seconds(start)
    },
    close: async () => {
      for (const s of Object.values(sessions)) await s.release()
    },
  }
}

/** The TensorFlow.js towers on one backend, in this thread. */
async function tfjsContender(
  backendName: string,
  weights: ReturnType<typeof randomWeights>,
  text: StateDict,
): Promise<Contender> {
  const description = (await selectBackend(backendName)).description.replace(/^backend: /, '')
  const active = tf.getBackend()
  const models = {
    audio: AudioEncoder.fromStateDict(weights.audio),
    text: TextTransformer.fromStateDict(text),
    image: VisionTransformer.fromStateDict(weights.visual),
  }
  return {
    name: `tfjs ${description}`,
    pass: async (w) => {
      if (tf.getBackend() !== active) await tf.setBackend(active)
      return tf.tidy(() => {
        const shape = [w.batch, ...INPUT_SHAPE[w.tower]]
        const x =
          w.tower === 'text'
            ? tf.tensor2d(randomIds(w.batch), shape as [number, number], 'int32')
            : tf.randomNormal(shape)
        x.dataSync() // generated before the clock starts
        const start = process.hrtime.bigint()
        const out =
          w.tower === 'audio'
            ? models.audio.forward(x as tf.Tensor3D)
            : w.tower === 'text'
              ? models.text.forward(x as tf.Tensor2D)
              : models.image.forward(x as tf.Tensor4D)
        out.dataSync()
        return seconds(start)
      })
    },
    close: async () => {
      if (tf.getBackend() !== active) await tf.setBackend(active)
      for (const m of Object.values(models)) m.dispose()
    },
  }
}

/**
 * How `vipant embed --engine tfjs` uses every core on wasm: one worker thread per core, each with its own backend
 * and copy of the audio tower, the batch of 8 split between them.
 */
async function dataParallelAudio(audio: StateDict): Promise<Measurement> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-bench-'))
  await writeVipantCheckpoint(dir, {
    format: 'vipant',
    audio: {weights: audio, config: DEFAULT_AUDIO_CONFIG},
    info: {source: {format: 'bench'}},
  })
  const workers = os.availableParallelism()
  const embedder = await workerEmbedder(workers, {
    run: ['audio'],
    model: dir,
    clip: dir,
    normalize: false,
    engine: 'tfjs',
    backend: 'wasm',
  })
  const batch = 8
  const clip = () => Float32Array.from({length: 1000 * 128}, () => Math.random() * 2 - 1)
  const pass = async () => {
    const chunks = Array.from({length: workers}, (_, w) =>
      Array.from({length: Math.ceil(batch / workers)}, () => [clip()]).slice(0, batch - w * Math.ceil(batch / workers)),
    )
    const start = process.hrtime.bigint()
    await Promise.all(chunks.map((rows) => embedder.embed('audio', rows)))
    return seconds(start)
  }
  try {
    await pass()
    const runsS: number[] = []
    for (let r = 0; r < RUNS; r++) runsS.push(await pass())
    return {name: `audio b8 tfjs wasm, ${workers} worker threads (vipant embed --engine tfjs)`, runsS, work: batch * 60}
  } finally {
    await embedder.close()
    rmSync(dir, {recursive: true, force: true})
  }
}

export const towers: Benchmark = {
  name: 'towers',
  description:
    'ViT-B/32-size inference (random weights): audio tower on (1000, 128), text tower on 77 tokens, image tower at 224 px, ' +
    'batch 1 and 8, on ONNX Runtime, each TensorFlow.js backend and PyTorch; inputs per minute, median of 3 after a warm-up',
  async run() {
    const unavailable = [
      {
        name: 'tfjs cpu',
        reason: 'skipped: plain JavaScript takes ~15 s per image and ~90 s per audio clip at ViT-B size',
      },
    ]
    const weights = randomWeights()
    const text = randomTextWeights()
    const contenders: Contender[] = []
    const attempt = async (name: string, make: () => Promise<Contender>) => {
      try {
        contenders.push(await make())
      } catch (e) {
        unavailable.push({name, reason: (e as Error).message.split('\n')[0]})
      }
    }
    await attempt('ONNX Runtime', () => onnxContender(weights, text))
    for (const backendName of BACKENDS.filter((b) => b !== 'cpu'))
      await attempt(`tfjs ${backendName}`, () => tfjsContender(backendName, weights, text))
    await attempt('PyTorch', torchContender)

    const rows = new Map<string, Measurement>()
    for (const w of WORKLOADS) {
      for (const c of contenders) await c.pass(w) // warm-up
      for (let r = 0; r < RUNS; r++) {
        for (const c of contenders) {
          const name = `${label(w)} ${c.name}`
          if (!rows.has(name)) rows.set(name, {name, runsS: [], work: work(w)})
          rows.get(name)!.runsS.push(await c.pass(w))
        }
      }
    }
    for (const c of contenders) await c.close()
    const measurements = [...rows.values()]
    measurements.push(await dataParallelAudio(weights.audio))

    // Per workload, how many times faster than PyTorch each engine is (medians).
    const torch = contenders.find((c) => c.name.startsWith('PyTorch'))
    const speedups: Record<string, Record<string, number>> = {}
    if (torch) {
      for (const w of WORKLOADS) {
        const reference = median(rows.get(`${label(w)} ${torch.name}`)!.runsS)
        speedups[label(w)] = Object.fromEntries(
          contenders
            .filter((c) => c !== torch)
            .map((c) => [c.name.split(' (')[0], reference / median(rows.get(`${label(w)} ${c.name}`)!.runsS)]),
        )
      }
    }
    // The table compares every row with the last one; make that PyTorch's audio batch 1.
    const reference = measurements.findIndex((m) => m.name.startsWith('audio b1 PyTorch'))
    if (reference >= 0) measurements.push(...measurements.splice(reference, 1))
    const lines = Object.entries(speedups).map(
      ([w, s]) =>
        `  ${w}: ${Object.entries(s)
          .map(([name, x]) => `${name} ${x.toFixed(2)}x`)
          .join(', ')}`,
    )
    return {
      unit: 'inputs/min',
      workload:
        'one forward pass of a random batch per run, from input tensor to embeddings read back; compare rows of the same workload' +
        (lines.length
          ? `\nspeed-up over PyTorch (its median time / the contender's), per workload:\n${lines.join('\n')}`
          : ''),
      measurements,
      unavailable,
      details: {speedup_over_pytorch: speedups, cores: os.availableParallelism()},
    }
  },
}
