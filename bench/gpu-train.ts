/**
 * `npm run gpu-check`'s training section: VA pre-training's step (the audio tower on (1000, 128) log-mels against
 * frozen image embeddings, both cross-entropy directions with the learned logit scale, then LARS, as
 * src/lib/train/gradient-step.ts runs it) at batch 8 and 64 on each tfjs GPU backend. The loss of
 * the first batch-8 step is compared with the same loss on wasm from the same weights and inputs.
 */
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend} from '../src/lib/backend/index.js'
import type {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {registerGradients} from '../src/lib/train/gradients.js'
import {contrastiveLoss} from '../src/lib/train/loss.js'
import {lars} from '../src/lib/train/optimizer.js'
import {PairModel, trainableTowers} from '../src/lib/train/pair-model.js'
import {mulberry32} from '../src/lib/util/rng.js'
import {activate, seconds, type GpuPath, type TimeBox, type TowerWeights} from './gpu-paths.js'
import {nvidiaMemoryUsedMiB} from './gpu-probe.js'

/** The GPU loss may differ from wasm's by this fraction of it (at least of 1): float32 sums in another order through 12 blocks. */
export const LOSS_RELATIVE_TOLERANCE = 1e-3
export const TRAIN_BATCHES = [8, 64]
const FRAMES = 1000

export interface TrainRow {
  path: string
  batch: number
  /** The first step: kernels compile here. */
  first_step_s?: number
  /** The second step, the one that counts. */
  step_s?: number
  loss?: number
  blocks_checkpointed?: boolean
  /** tf.memory() after the steps: on webgpu numBytesAllocatedInGPU is the buffer pool's high-water mark (freed buffers are kept for reuse). */
  tf_memory?: Record<string, unknown>
  /** nvidia-smi's device-wide memory in use after the steps, less what was in use before the section. */
  nvidia_smi_mib_over_baseline?: number
  note?: string
}

export interface LossCheck {
  path: string
  loss_gpu: number
  loss_wasm: number
  abs_difference: number
  tolerance: number
  status: 'PASS' | 'FAIL'
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0]

/** The batch's log-mels and frozen image embeddings, the same for every backend: uniform from a seed per batch size. */
function stepInputs(batch: number, embedDim: number): {mels: Float32Array[]; images: Float32Array[]} {
  const rng = mulberry32(7919 * batch)
  return {
    mels: Array.from({length: batch}, () => Float32Array.from({length: FRAMES * 128}, () => 2 * rng() - 1)),
    images: Array.from({length: batch}, () => Float32Array.from({length: embedDim}, () => rng() - 0.5)),
  }
}

function newModel(weights: TowerWeights): PairModel {
  const audio = trainableTowers({audio: weights.audio})
  return new PairModel(audio, {}, Math.log(1 / 0.07), weights.audio.config)
}

/** The batch-8 loss on wasm: the forward pass only, no tape (the loss is what is compared). */
async function wasmLoss(weights: TowerWeights, embedDim: number): Promise<{loss: number; forward_s: number}> {
  await selectBackend('wasm')
  const model = newModel(weights)
  const {mels, images} = stepInputs(TRAIN_BATCHES[0], embedDim)
  const start = process.hrtime.bigint()
  const value = tf.tidy(() =>
    contrastiveLoss(model.embed('audio', mels), model.embed('image', images), model.logitScale),
  )
  const loss = (await value.data())[0]
  const forward_s = seconds(start)
  value.dispose()
  model.dispose()
  return {loss, forward_s}
}

/** One GPU backend: two steps per batch size (compile, then timed), memory after each size. */
async function trainOn(
  path: Extract<GpuPath, {engine: 'tfjs'}>,
  weights: TowerWeights,
  embedDim: number,
  box: TimeBox,
  baselineMiB?: number,
): Promise<TrainRow[]> {
  await activate(path)
  const model = newModel(weights)
  const audio = model.trainable.audio as AudioEncoder
  const params = model.parameters()
  const variables = params.flatMap((p) => p.parts) as tf.Variable[]
  const optimizer = lars({weightDecay: 1e-6, momentum: 0.9, eta: 0.001, lrWeight: 0.2, lrBias: 0.0048})
  // gradient-step.ts's localStep, with the loss read asynchronously (webgpu cannot read synchronously under Node).
  const step = async (mels: Float32Array[], images: Float32Array[]) => {
    const start = process.hrtime.bigint()
    const {value, grads} = tf.variableGrads(
      () => contrastiveLoss(model.embed('audio', mels), model.embed('image', images), model.logitScale),
      variables,
    )
    const loss = (await value.data())[0]
    optimizer.apply(params, new Map(variables.map((v) => [v, grads[v.name]])), mels.length / 256)
    await model.logitScale.data()
    const s = seconds(start)
    tf.dispose([value, ...Object.values(grads)])
    return {loss, s}
  }
  const rows: TrainRow[] = []
  let previous: {batch: number; s: number} | undefined
  try {
    for (const batch of TRAIN_BATCHES) {
      const row: TrainRow = {path: path.name, batch}
      rows.push(row)
      const predicted = previous ? (previous.s * batch) / previous.batch : 0
      if (!box.fits(2 * predicted + 1)) {
        row.note = `skipped: budget spent (predicted ${predicted.toFixed(1)} s a step, ${box.leftS().toFixed(0)} s left)`
        continue
      }
      try {
        const {mels, images} = stepInputs(batch, embedDim)
        const [rows_, columns] = audio.grid(FRAMES)
        row.blocks_checkpointed = audio.transformer.checkpoints([batch, 1 + rows_ * columns, audio.width])
        const first = await step(mels, images)
        Object.assign(row, {first_step_s: first.s, loss: first.loss})
        if (box.fits(predicted || first.s)) {
          row.step_s = (await step(mels, images)).s
          previous = {batch, s: row.step_s}
        } else row.note = 'second step skipped: budget spent'
        row.tf_memory = {...tf.memory()}
        const used = nvidiaMemoryUsedMiB()
        if (used && baselineMiB !== undefined) row.nvidia_smi_mib_over_baseline = used[0] - baselineMiB
      } catch (error) {
        row.note = `error: ${firstLine(error)}`
        break
      }
    }
  } finally {
    optimizer.dispose()
    model.dispose()
  }
  return rows
}

export interface TrainingResult {
  rows: TrainRow[]
  loss: LossCheck[]
  wasm?: {loss: number; forward_s: number}
  note?: string
}

export async function training(
  paths: GpuPath[],
  weights: TowerWeights,
  embedDim: number,
  box: TimeBox,
): Promise<TrainingResult> {
  const tfjsPaths = paths.filter((p): p is Extract<GpuPath, {engine: 'tfjs'}> => p.engine === 'tfjs')
  if (tfjsPaths.length === 0) return {rows: [], loss: [], note: 'no tfjs GPU backend started'}
  await registerGradients()
  let wasm: {loss: number; forward_s: number} | undefined
  let note: string | undefined
  try {
    wasm = await wasmLoss(weights, embedDim)
  } catch (error) {
    note = `wasm reference loss: ${firstLine(error)}`
  }
  const baseline = nvidiaMemoryUsedMiB()?.[0]
  const rows: TrainRow[] = []
  for (const path of tfjsPaths) {
    try {
      rows.push(...(await trainOn(path, weights, embedDim, box, baseline)))
    } catch (error) {
      rows.push({path: path.name, batch: TRAIN_BATCHES[0], note: `error: ${firstLine(error)}`})
    }
  }
  const loss: LossCheck[] = []
  for (const r of rows.filter((r) => r.batch === TRAIN_BATCHES[0] && r.loss !== undefined)) {
    if (!wasm) break
    const difference = Math.abs(r.loss! - wasm.loss)
    const tolerance = LOSS_RELATIVE_TOLERANCE * Math.max(1, Math.abs(wasm.loss))
    // NaN compares false: a NaN loss fails.
    const status = difference <= tolerance ? 'PASS' : 'FAIL'
    loss.push({path: r.path, loss_gpu: r.loss!, loss_wasm: wasm.loss, abs_difference: difference, tolerance, status})
  }
  return {rows, loss, wasm, note}
}
