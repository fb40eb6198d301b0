/**
 * Tower inference at ViT-B/32 size (width 768, 12 layers, 12 heads, random weights from a fixed seed): the audio tower
 * on (1000, 128) log-mels at batch 1 and 8 and the image tower on 224 px at batch 1, on each TensorFlow.js backend
 * present, against the same models in PyTorch (bench/towers_torch.py, 2 threads) in the same run. Contenders take
 * turns pass by pass, so that a change in machine load hits all of them alike.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import * as tf from '@tensorflow/tfjs-core'
import {BACKENDS, selectBackend} from '../src/lib/backend/index.js'
import type {StateDict} from '../src/lib/checkpoint/tensor.js'
import {DEFAULT_AUDIO_CONFIG} from '../src/lib/checkpoint/audio-config.js'
import {writeVipantCheckpoint} from '../src/lib/checkpoint/vipant-format.js'
import {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {workerEmbedder} from '../src/lib/model/embedder.js'
import {VisionTransformer} from '../src/lib/model/clip-vision.js'
import {pythonProcess} from './python-process.js'
import type {Benchmark, Measurement} from './run.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const TORCH_SCRIPT = path.join(repoRoot, 'bench', 'towers_torch.py')
const RUNS = 3
const [WIDTH, LAYERS, EMBED, PATCH] = [768, 12, 512, 32]
const WORKLOADS = [
  {tower: 'audio', batch: 1},
  {tower: 'audio', batch: 8},
  {tower: 'image', batch: 1},
] as const
type Workload = (typeof WORKLOADS)[number]
const label = (w: Workload) => `${w.tower} b${w.batch}`
/** `work` is the batch times 60, so that the table's throughput column reads inputs per minute (per second rounds to 0). */
const work = (w: Workload) => w.batch * 60

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
    trunk.set(`${p}.attn.in_proj_weight`, tensor([3 * width, width])).set(`${p}.attn.in_proj_bias`, tensor([3 * width], 0.02))
    trunk.set(`${p}.attn.out_proj.weight`, tensor([width, width])).set(`${p}.attn.out_proj.bias`, tensor([width], 0.02))
    trunk.set(`${p}.mlp.c_fc.weight`, tensor([4 * width, width])).set(`${p}.mlp.c_fc.bias`, tensor([4 * width], 0.02))
    trunk.set(`${p}.mlp.c_proj.weight`, tensor([width, 4 * width])).set(`${p}.mlp.c_proj.bias`, tensor([width], 0.02))
    for (const ln of ['ln_1', 'ln_2']) trunk.set(`${p}.${ln}.weight`, tensor([width], 0.1, 1)).set(`${p}.${ln}.bias`, tensor([width], 0.02))
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
  text.set('token_embedding.weight', tensor([49408, width], 0.02)).set('positional_embedding', tensor([77, width], 0.01))
  text.set('ln_final.weight', tensor([width], 0.1, 1)).set('ln_final.bias', tensor([width], 0.02))
  text.set('text_projection', tensor([width, EMBED])).set('logit_scale', tensor([], 0, Math.log(100)))
  return text
}

/** bench/towers_torch.py kept running, one pass per request. */
function torchProcess() {
  const python = pythonProcess(TORCH_SCRIPT)
  return {
    hello: python.reply(),
    pass: async (w: Workload) => {
      python.send(`${w.tower} ${w.batch}\n`)
      return (await python.reply()).run_s as number
    },
    close: python.close,
  }
}

/**
 * How `vipant embed` uses every core on wasm: one worker thread per core, each with its own backend and copy of
 * the audio tower, the batch of 8 split between them.
 */
async function dataParallelAudio(audio: StateDict): Promise<Measurement> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vipant-bench-'))
  await writeVipantCheckpoint(dir, {format: 'vipant', audio: {weights: audio, config: DEFAULT_AUDIO_CONFIG}, info: {source: {format: 'bench'}}})
  const workers = os.availableParallelism()
  const embedder = await workerEmbedder(workers, {run: ['audio'], model: dir, clip: dir, normalize: false, backend: 'wasm'})
  const batch = 8
  const clip = () => Float32Array.from({length: 1000 * 128}, () => Math.random() * 2 - 1)
  const pass = async () => {
    const chunks = Array.from({length: workers}, (_, w) => Array.from({length: Math.ceil(batch / workers)}, () => [clip()]).slice(0, batch - w * Math.ceil(batch / workers)))
    const start = process.hrtime.bigint()
    await Promise.all(chunks.map((rows) => embedder.embed('audio', rows)))
    return Number(process.hrtime.bigint() - start) / 1e9
  }
  try {
    await pass()
    const runsS: number[] = []
    for (let r = 0; r < RUNS; r++) runsS.push(await pass())
    return {name: `audio b8 tfjs wasm, ${workers} worker threads (vipant embed)`, runsS, work: batch * 60}
  } finally {
    await embedder.close()
    rmSync(dir, {recursive: true, force: true})
  }
}

export const towers: Benchmark = {
  name: 'towers',
  description:
    'ViT-B/32-size inference (random weights): audio tower on (1000, 128) at batch 1 and 8, image tower at 224 px, ' +
    'per TensorFlow.js backend and in PyTorch; inputs per minute, median of 3 after a warm-up',
  async run() {
    const measurements: Measurement[] = []
    const unavailable = [{name: 'tfjs cpu', reason: 'skipped: plain JavaScript takes ~15 s per image and ~90 s per audio clip at ViT-B size'}]
    const torch = torchProcess()
    let torchName = 'PyTorch'
    try {
      const hello = await torch.hello
      torchName = `PyTorch ${hello.torch} (BLAS ${hello.blas}: ${hello.blas_library}, ${hello.threads} threads)`
    } catch (e) {
      unavailable.push({name: 'PyTorch', reason: (e as Error).message})
    }
    const torchRows = new Map(WORKLOADS.map((w) => [w, {name: `${label(w)} ${torchName}`, runsS: [] as number[], work: work(w)}]))
    const weights = randomWeights()
    for (const backendName of BACKENDS.filter((b) => b !== 'cpu')) {
      let description: string
      try {
        description = (await selectBackend(backendName)).description.replace(/^backend: /, '')
      } catch (e) {
        unavailable.push({name: `tfjs ${backendName}`, reason: (e as Error).message})
        continue
      }
      const models = {audio: AudioEncoder.fromStateDict(weights.audio), image: VisionTransformer.fromStateDict(weights.visual)}
      const forward = (w: Workload) =>
        tf.tidy(() => {
          const x = tf.randomNormal(w.tower === 'audio' ? [w.batch, 1000, 128] : [w.batch, 224, 224, 3])
          x.dataSync() // generated before the clock starts
          const start = process.hrtime.bigint()
          const out = w.tower === 'audio' ? models.audio.forward(x as tf.Tensor3D) : models.image.forward(x as tf.Tensor4D)
          out.dataSync()
          return Number(process.hrtime.bigint() - start) / 1e9
        })
      for (const w of WORKLOADS) {
        const row = {name: `${label(w)} tfjs ${description}`, runsS: [] as number[], work: work(w)}
        const torchRow = torchRows.get(w)!
        const withTorch = torchRow.runsS.length === 0 && !unavailable.some((u) => u.name === 'PyTorch')
        forward(w)
        if (withTorch) await torch.pass(w)
        for (let r = 0; r < RUNS; r++) {
          row.runsS.push(forward(w))
          if (withTorch) torchRow.runsS.push(await torch.pass(w))
        }
        measurements.push(row)
        if (withTorch) measurements.push(torchRow)
      }
      models.audio.dispose()
      models.image.dispose()
    }
    torch.close()
    measurements.push(await dataParallelAudio(weights.audio))
    // The table compares every row with the last one; make that PyTorch's audio batch 1.
    const reference = measurements.findIndex((m) => m.name.startsWith('audio b1 PyTorch'))
    if (reference >= 0) measurements.push(...measurements.splice(reference, 1))
    return {
      unit: 'inputs/min',
      workload: 'one forward pass of a random batch per run, from input tensor to embeddings read back; compare rows of the same workload',
      measurements,
      unavailable,
    }
  },
}
