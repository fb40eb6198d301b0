/**
 * The engines `npm run gpu-check` measures (bench/gpu-check.ts): TensorFlow.js on a GPU backend, ONNX Runtime on
 * its WebGPU provider, and ONNX Runtime on the CPU as the reference. Each opens the three towers from a set of
 * weights and runs one batch through one of them, reading the result back asynchronously (the webgpu backend can
 * only read a GPU buffer asynchronously under Node: its synchronous read draws on an OffscreenCanvas).
 */
import * as tf from '@tensorflow/tfjs-core'
import {selectBackend, type BackendName} from '../src/lib/backend/index.js'
import type {AudioConfig} from '../src/lib/checkpoint/audio-config.js'
import type {StateDict} from '../src/lib/checkpoint/tensor.js'
import {AudioEncoder} from '../src/lib/model/audio-encoder.js'
import {TextTransformer} from '../src/lib/model/clip-text.js'
import {VisionTransformer} from '../src/lib/model/clip-vision.js'
import {audioEncoderGraph} from '../src/lib/onnx/audio-encoder.js'
import {patchGrid} from '../src/lib/towers/audio.js'
import {textTransformerGraph} from '../src/lib/onnx/clip-text.js'
import {visionTransformerGraph} from '../src/lib/onnx/clip-vision.js'
import {createSession, loadRuntime, type Provider, type Session} from '../src/lib/onnx/runtime.js'

export type Tower = 'audio' | 'text' | 'image'
export const TOWERS: Tower[] = ['audio', 'text', 'image']

/** One engine on one device. In a rehearsal (`--rehearse`) a CPU engine stands in for a GPU one under its name. */
export type GpuPath = {name: string; standsInFor?: string} & (
  {engine: 'tfjs'; backend: BackendName} | {engine: 'ort'; provider: Provider}
)

/** A CLIP (`visual.*` and the text tower) and an audio tower with its config. */
export interface TowerWeights {
  clip: StateDict
  audio: {weights: StateDict; config: AudioConfig}
}

export interface OpenTowers {
  /** The (batch, E) outputs for one batch: float32 (audio, image) or int32 token ids (text), `shape` with the batch first. */
  run(tower: Tower, input: Float32Array | Int32Array, shape: number[]): Promise<Float32Array>
  close(): Promise<void>
}

export const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9

/** Makes a tfjs path's backend the active one; selectBackend's one-line UserError where it cannot start. */
export async function activate(path: Extract<GpuPath, {engine: 'tfjs'}>): Promise<string> {
  return (await selectBackend(path.backend)).description.replace(/^backend: /, '')
}

export function openTowers(path: GpuPath, weights: TowerWeights): Promise<OpenTowers> {
  return path.engine === 'tfjs' ? tfjsTowers(path, weights) : ortTowers(path.provider, weights)
}

async function tfjsTowers(path: Extract<GpuPath, {engine: 'tfjs'}>, weights: TowerWeights): Promise<OpenTowers> {
  await activate(path)
  const active = tf.getBackend()
  const models = {
    audio: AudioEncoder.fromStateDict(weights.audio.weights, weights.audio.config),
    text: TextTransformer.fromStateDict(weights.clip),
    image: VisionTransformer.fromStateDict(weights.clip),
  }
  return {
    async run(tower, input, shape) {
      if (tf.getBackend() !== active) await tf.setBackend(active)
      const out = tf.tidy(() => {
        if (tower === 'text') return models.text.forward(tf.tensor2d(input, shape as [number, number], 'int32'))
        if (tower === 'image')
          return models.image.forward(tf.tensor4d(input, shape as [number, number, number, number]))
        return models.audio.forward(tf.tensor3d(input, shape as [number, number, number]))
      })
      try {
        return (await out.data()) as Float32Array
      } finally {
        out.dispose()
      }
    },
    close: async () => {
      if (tf.getBackend() !== active) await tf.setBackend(active)
      for (const m of Object.values(models)) m.dispose()
    },
  }
}

/** One session per tower, and per patch grid for the audio tower (each grid is its own graph), built on first use. */
async function ortTowers(provider: Provider, weights: TowerWeights): Promise<OpenTowers> {
  const ort = await loadRuntime()
  if (!ort) throw new Error('onnxruntime-node is not installed')
  const sessions = new Map<string, Session>()
  const session = async (tower: Tower, frames: number) => {
    const grid = tower === 'audio' ? patchGrid(weights.audio.config, frames) : undefined
    const key = `${tower} ${grid ?? ''}`
    if (!sessions.has(key)) {
      const graph = grid
        ? audioEncoderGraph(weights.audio.weights, weights.audio.config, grid)
        : tower === 'text'
          ? textTransformerGraph(weights.clip)
          : visionTransformerGraph(weights.clip)
      sessions.set(key, await createSession(graph.serialise(), provider))
    }
    return sessions.get(key)!
  }
  return {
    async run(tower, input, shape) {
      const s = await session(tower, shape[1])
      const tensor =
        input instanceof Int32Array ? new ort.Tensor('int32', input, shape) : new ort.Tensor('float32', input, shape)
      return (await s.run({[s.inputNames[0]]: tensor}))[s.outputNames[0]].data as Float32Array
    },
    close: async () => {
      for (const s of sessions.values()) await s.release()
    },
  }
}

/** A time budget: sections ask before each piece of work whether its expected cost still fits. */
export class TimeBox {
  private readonly end: number

  constructor(readonly budgetS: number) {
    this.end = Date.now() + budgetS * 1000
  }

  leftS(): number {
    return Math.max(0, (this.end - Date.now()) / 1000)
  }

  fits(costS: number): boolean {
    return costS <= this.leftS()
  }

  /** A box of this fraction of the time left, for a part of the section. */
  portion(fraction: number): TimeBox {
    return new TimeBox(fraction * this.leftS())
  }
}
