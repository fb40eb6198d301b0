/**
 * Training steps of VA pre-training's trainable part (spec §6, §7.1): the audio tower on (1000, 128) log-mels
 * against precomputed frozen image embeddings, the sum of both cross-entropy directions with a learned logit scale,
 * then a LARS update; at ViT-B/32 size (width 768, 12 layers, 61x5 patch grid, batch 8) and at `--model tiny` size
 * (width 64, 1 layer), both from `randomClip` as `vipant pretrain` starts without --init. TensorFlow.js on wasm
 * (the trainer's engine: blocks checkpointed at ViT-B size, see src/lib/model/transformer.ts) against the same step
 * in PyTorch (bench/train_torch.py, 2 threads) in the same run, the two taking turns step by step.
 */
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend} from '../src/lib/backend/index.js'
import {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {asIs} from '../src/lib/model/parameters.js'
import {audioFromClip} from '../src/lib/train/audio-init.js'
import {registerGradients} from '../src/lib/train/gradients.js'
import {contrastiveLoss} from '../src/lib/train/loss.js'
import {lars, type Gradients} from '../src/lib/train/optimizer.js'
import {CLIP_SIZES, randomClip} from '../src/lib/train/random-clip.js'
import {torchProcess} from './python-process.js'
import {median} from './median.js'
import type {Benchmark, Measurement} from './run.js'

const TORCH_SCRIPT = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'), 'bench', 'train_torch.py')
const [FRAMES, BATCH] = [1000, 8]
/** Untimed warm-up steps, then timed ones: ViT-B steps take tens of seconds on wasm. */
const WORKLOADS = [
  {size: 'tiny', warmup: 1, runs: 5},
  {size: 'vit-b32', warmup: 1, runs: 2},
] as const
type Size = (typeof WORKLOADS)[number]['size']

interface Contender {
  name: string
  step(size: Size): Promise<number>
  close(): Promise<void>
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9

/** The wasm heap's size: it grows to the step's peak and never shrinks. */
function wasmHeapBytes(): number {
  return (tf.backend() as unknown as {wasm: {HEAPU8: Uint8Array}}).wasm.HEAPU8.buffer.byteLength
}

/** tfjs on wasm, one tower per size built on first use (untimed), steps as the trainer runs them. */
async function tfjsContender(): Promise<Contender & {checkpointing: Record<string, boolean>}> {
  const description = (await selectBackend('wasm')).description.replace(/^backend: /, '')
  await registerGradients()
  const runs = new Map<Size, ReturnType<typeof tfjsRun>>()
  const checkpointing: Record<string, boolean> = {}
  return {
    name: `tfjs ${description}`,
    checkpointing,
    async step(size) {
      if (!runs.has(size)) runs.set(size, tfjsRun(size))
      const run = runs.get(size)!
      checkpointing[size] = run.audio.transformer.checkpoints([BATCH, 1 + run.audio.grid(FRAMES)[0] * run.audio.grid(FRAMES)[1], run.audio.width])
      return run.step()
    },
    close: async () => {
      for (const run of runs.values()) run.dispose()
    },
  }
}

function tfjsRun(size: Size) {
  const {weights, config} = audioFromClip(randomClip(CLIP_SIZES[size], 1213), FRAMES)
  const audio = AudioEncoder.fromStateDict(weights, config, true)
  const scale = tf.variable(tf.scalar(Math.log(1 / 0.07)))
  const params = [...audio.parameters(), asIs('logit_scale', scale)]
  const variables = params.flatMap((p) => p.parts) as tf.Variable[]
  const optimizer = lars({weightDecay: 1e-6, momentum: 0.9, eta: 0.001, lrWeight: 0.2, lrBias: 0.0048})
  const images = tf.randomNormal([BATCH, audio.outputDim], 0, 1, 'float32', 2) as tf.Tensor2D
  let seed = 0
  return {
    audio,
    step(): number {
      const x = tf.randomNormal([BATCH, FRAMES, 128], 0, 1, 'float32', ++seed) as tf.Tensor3D
      x.dataSync() // generated before the clock starts
      const start = process.hrtime.bigint()
      const {value, grads} = tf.variableGrads(() => contrastiveLoss(audio.forward(x), images, scale as tf.Scalar), variables)
      optimizer.apply(params, new Map(variables.map((v) => [v, grads[v.name]])) as Gradients, BATCH / 256)
      value.dataSync()
      const elapsed = seconds(start)
      tf.dispose([x, value, ...Object.values(grads)])
      return elapsed
    },
    dispose() {
      optimizer.dispose()
      audio.dispose()
      tf.dispose([scale, images])
    },
  }
}

async function torchContender(): Promise<Contender> {
  const {python, name} = await torchProcess(TORCH_SCRIPT)
  return {
    name,
    step: async (size) => {
      python.send(`${size} ${BATCH}\n`)
      return (await python.reply()).run_s as number
    },
    close: async () => python.close(),
  }
}

export const train: Benchmark = {
  name: 'train',
  description:
    'one VA pre-training step of the audio tower on (1000, 128) log-mels, batch 8, against precomputed image embeddings ' +
    '(forward, loss, backward, LARS), at ViT-B/32 and tiny size, tfjs wasm vs PyTorch in the same run; steps per hour',
  async run() {
    const unavailable: {name: string; reason: string}[] = [
      {name: 'tfjs wasm ViT-B/32 without block checkpointing', reason: 'its tape (~1.3 GB per block at batch 8) outgrows the 4 GB wasm heap'},
    ]
    const tfjs = await tfjsContender()
    const contenders: Contender[] = [tfjs]
    try {
      contenders.push(await torchContender())
    } catch (e) {
      unavailable.push({name: 'PyTorch', reason: (e as Error).message.split('\n')[0]})
    }
    const rows = new Map<string, Measurement>()
    const heap: Record<string, number> = {}
    for (const w of WORKLOADS) {
      for (let r = 0; r < w.warmup + w.runs; r++) {
        for (const c of contenders) {
          const s = await c.step(w.size)
          if (r < w.warmup) continue
          const name = `${w.size} ${c === tfjs && tfjs.checkpointing[w.size] ? `${c.name}, blocks checkpointed` : c.name}`
          if (!rows.has(name)) rows.set(name, {name, runsS: [], work: 3600})
          rows.get(name)!.runsS.push(s)
        }
      }
      heap[w.size] = wasmHeapBytes()
    }
    for (const c of contenders) await c.close()
    const measurements = [...rows.values()]
    // Seconds per step and how many times PyTorch's time each tfjs step takes, per size.
    const perSize = Object.fromEntries(
      WORKLOADS.map(({size}) => {
        const [ours, theirs] = [measurements.find((m) => m.name.startsWith(`${size} tfjs`)), measurements.find((m) => m.name.startsWith(`${size} PyTorch`))]
        const [s, torch] = [ours && median(ours.runsS), theirs && median(theirs.runsS)]
        return [size, {tfjs_s_per_step: s, pytorch_s_per_step: torch, tfjs_over_pytorch: s && torch ? s / torch : undefined, wasm_heap_mb_after: heap[size] / 2 ** 20}]
      }),
    )
    const lines = Object.entries(perSize).map(
      ([size, r]) =>
        `  ${size}: tfjs ${r.tfjs_s_per_step?.toFixed(2)} s/step, PyTorch ${r.pytorch_s_per_step?.toFixed(2) ?? '-'} s/step` +
        `${r.tfjs_over_pytorch ? `, tfjs takes ${r.tfjs_over_pytorch.toFixed(2)}x PyTorch's time` : ''}; wasm heap ${r.wasm_heap_mb_after.toFixed(0)} MiB`,
    )
    // The table compares every row with the last: PyTorch at ViT-B size.
    const reference = measurements.findIndex((m) => m.name.startsWith('vit-b32 PyTorch'))
    if (reference >= 0) measurements.push(...measurements.splice(reference, 1))
    return {
      unit: 'steps/h',
      workload:
        `${WORKLOADS.map((w) => `${w.size}: ${w.warmup} warm-up + ${w.runs} timed steps`).join('; ')}; compare rows of the same size\n` +
        `per size (medians; the wasm heap grows to the peak of the steps so far and never shrinks):\n${lines.join('\n')}`,
      measurements,
      unavailable,
      details: {per_size: perSize, batch: BATCH, frames: FRAMES, optimizer: 'LARS (Barlow Twins, two groups), lr 8/256'},
    }
  },
}
