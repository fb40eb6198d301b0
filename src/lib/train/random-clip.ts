/**
 * A CLIP with random weights of a chosen size, initialised as openai/CLIP model.py `initialize_parameters` does,
 * from a seed: what `--model tiny|vit-b32|FILE.yaml` trains from when no weights are given (tests, the demo
 * world, benchmarks). Heads are width / 64, as in every CLIP.
 */
import {readFile} from 'node:fs/promises'
import {parse} from 'yaml'
import type {StateDict} from '../checkpoint/tensor.js'
import {UserError} from '../util/errors.js'
import {mulberry32, type Rng} from '../util/rng.js'

export interface ClipSize {
  width: number
  layers: number
  patchSize: number
  imageResolution: number
  textWidth: number
  textLayers: number
  vocabSize: number
  contextLength: number
  embedDim: number
}

export const CLIP_SIZES: Record<string, ClipSize> = {
  tiny: {
    width: 64,
    layers: 1,
    patchSize: 32,
    imageResolution: 224,
    textWidth: 64,
    textLayers: 1,
    vocabSize: 49408,
    contextLength: 77,
    embedDim: 32,
  },
  'vit-b32': {
    width: 768,
    layers: 12,
    patchSize: 32,
    imageResolution: 224,
    textWidth: 512,
    textLayers: 12,
    vocabSize: 49408,
    contextLength: 77,
    embedDim: 512,
  },
}

/** A named size, or a YAML file of sizes (missing keys from tiny). */
export async function clipSize(model: string): Promise<ClipSize> {
  if (CLIP_SIZES[model]) return CLIP_SIZES[model]
  if (!/\.ya?ml$/.test(model))
    throw new UserError(`unknown model size ${model}; choose ${Object.keys(CLIP_SIZES).join(', ')} or a .yaml file`)
  const text = await readFile(model, 'utf8').catch(() => {
    throw new UserError(`${model}: no such model file`)
  })
  const raw = (parse(text) ?? {}) as Record<string, unknown>
  const size = {...CLIP_SIZES.tiny}
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in size) || !Number.isInteger(value) || (value as number) < 1)
      throw new UserError(`${model}: "${key}" is not a positive integer size (${Object.keys(size).join(', ')})`)
    size[key as keyof ClipSize] = value as number
  }
  for (const w of [size.width, size.textWidth])
    if (w % 64) throw new UserError(`${model}: widths must be multiples of 64 (heads are width / 64)`)
  if (size.imageResolution % size.patchSize)
    throw new UserError(`${model}: imageResolution must be a multiple of patchSize`)
  return size
}

/** Standard normal draws (Box-Muller) from a seeded uniform generator. */
function normal(rng: Rng): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
}

export function randomClip(size: ClipSize, seed: number): StateDict {
  const draw = normal(mulberry32(seed))
  const state: StateDict = new Map()
  const put = (name: string, shape: number[], std: number | 'one' | 'zero') => {
    const n = shape.reduce((a, b) => a * b, 1)
    const data = new Float32Array(n)
    if (std === 'one') data.fill(1)
    else if (std !== 'zero') for (let i = 0; i < n; i++) data[i] = std * draw()
    state.set(name, {shape, dtype: 'float32', data})
  }
  const ln = (prefix: string, w: number) => {
    put(`${prefix}.weight`, [w], 'one')
    put(`${prefix}.bias`, [w], 'zero')
  }
  const transformer = (prefix: string, w: number, layers: number) => {
    const proj = w ** -0.5 * (2 * layers) ** -0.5
    for (let i = 0; i < layers; i++) {
      const b = `${prefix}.resblocks.${i}`
      put(`${b}.attn.in_proj_weight`, [3 * w, w], w ** -0.5)
      put(`${b}.attn.in_proj_bias`, [3 * w], 'zero')
      put(`${b}.attn.out_proj.weight`, [w, w], proj)
      put(`${b}.attn.out_proj.bias`, [w], 'zero')
      ln(`${b}.ln_1`, w)
      put(`${b}.mlp.c_fc.weight`, [4 * w, w], (2 * w) ** -0.5)
      put(`${b}.mlp.c_fc.bias`, [4 * w], 'zero')
      put(`${b}.mlp.c_proj.weight`, [w, 4 * w], proj)
      put(`${b}.mlp.c_proj.bias`, [w], 'zero')
      ln(`${b}.ln_2`, w)
    }
  }
  const {width: w, patchSize: p} = size
  const grid = size.imageResolution / p
  const scale = w ** -0.5
  // conv1 keeps PyTorch's default (kaiming uniform, a = sqrt(5)): std 1/sqrt(3 fan_in).
  put('visual.conv1.weight', [w, 3, p, p], (3 * 3 * p * p) ** -0.5)
  put('visual.class_embedding', [w], scale)
  put('visual.positional_embedding', [grid * grid + 1, w], scale)
  ln('visual.ln_pre', w)
  transformer('visual.transformer', w, size.layers)
  ln('visual.ln_post', w)
  put('visual.proj', [w, size.embedDim], scale)
  const tw = size.textWidth
  put('token_embedding.weight', [size.vocabSize, tw], 0.02)
  put('positional_embedding', [size.contextLength, tw], 0.01)
  transformer('transformer', tw, size.textLayers)
  ln('ln_final', tw)
  put('text_projection', [tw, size.embedDim], tw ** -0.5)
  state.set('logit_scale', {shape: [], dtype: 'float32', data: Float32Array.of(Math.log(1 / 0.07))})
  return state
}
