import {UserError} from '../util/errors.js'
import type {StateDict} from './tensor.js'

/**
 * Model hyperparameters read from tensor shapes alone, as CLIP's `build_model` does: checkpoints
 * store no hyperparameters, and shapes cannot disagree with the weights. Heads are width / 64, the
 * rule of every CLIP and VIP-ANT transformer.
 */
export interface VisionArchitecture {
  width: number
  layers: number
  heads: number
  patchSize: number
  grid: number
  imageResolution: number
  embedDim: number
}

export interface TextArchitecture {
  width: number
  layers: number
  heads: number
  contextLength: number
  vocabSize: number
  embedDim: number
}

export interface AudioArchitecture {
  width: number
  layers: number
  heads: number
  patchSize: number
  inChannels: number
  /** Positional embedding rows: the class token plus the patch grid the head was trained on. */
  positions: number
  embedDim: number
}

export interface Architecture {
  vision?: VisionArchitecture
  text?: TextArchitecture
  audio?: AudioArchitecture
}

/** Each tower whose names appear: OpenAI CLIP's `visual.*` and text names, VIP-ANT's audio-head names. */
export function inferArchitecture(state: StateDict, source = 'state dict'): Architecture {
  const shape = (name: string) => {
    const t = state.get(name)
    if (!t) throw new UserError(`${source}: ${name} is missing`)
    return t.shape
  }
  const layers = (prefix: string) =>
    new Set([...state.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length).split('.')[0])).size
  const arch: Architecture = {}
  if (state.has('visual.conv1.weight')) {
    const [width, , patchSize] = shape('visual.conv1.weight')
    const grid = Math.round(Math.sqrt(shape('visual.positional_embedding')[0] - 1))
    arch.vision = {
      width,
      layers: layers('visual.transformer.resblocks.'),
      heads: Math.floor(width / 64),
      patchSize,
      grid,
      imageResolution: patchSize * grid,
      embedDim: shape('visual.proj')[1],
    }
  }
  if (state.has('token_embedding.weight')) {
    const width = shape('ln_final.weight')[0]
    arch.text = {
      width,
      layers: layers('transformer.resblocks.'),
      heads: Math.floor(width / 64),
      contextLength: shape('positional_embedding')[0],
      vocabSize: shape('token_embedding.weight')[0],
      embedDim: shape('text_projection')[1],
    }
  }
  if (state.has('pre_encoder.conv1.weight')) {
    const [width, inChannels, patchSize] = shape('pre_encoder.conv1.weight')
    arch.audio = {
      width,
      layers: layers('encoder.resblocks.'),
      heads: Math.floor(width / 64),
      patchSize,
      inChannels,
      positions: shape('misc.positional_embedding')[0],
      embedDim: shape('post_encoder.proj')[1],
    }
  }
  return arch
}

/** The names and shapes a state dict of this architecture has (docs/method.md §9.3, 9.4), CLIP's with `logit_scale`. */
export function expectedShapes(arch: Architecture): Map<string, number[]> {
  const out = new Map<string, number[]>()
  const ln = (prefix: string, w: number) => {
    out.set(`${prefix}.weight`, [w])
    out.set(`${prefix}.bias`, [w])
  }
  const blocks = (prefix: string, w: number, n: number) => {
    for (let i = 0; i < n; i++) {
      const b = `${prefix}.${i}`
      out.set(`${b}.attn.in_proj_weight`, [3 * w, w])
      out.set(`${b}.attn.in_proj_bias`, [3 * w])
      out.set(`${b}.attn.out_proj.weight`, [w, w])
      out.set(`${b}.attn.out_proj.bias`, [w])
      ln(`${b}.ln_1`, w)
      out.set(`${b}.mlp.c_fc.weight`, [4 * w, w])
      out.set(`${b}.mlp.c_fc.bias`, [4 * w])
      out.set(`${b}.mlp.c_proj.weight`, [w, 4 * w])
      out.set(`${b}.mlp.c_proj.bias`, [w])
      ln(`${b}.ln_2`, w)
    }
  }
  // PyTorch's state_dict order: a module's own parameters, then its submodules' in registration order.
  const {vision: v, text: t, audio: a} = arch
  if (t) {
    out.set('positional_embedding', [t.contextLength, t.width])
    out.set('text_projection', [t.width, t.embedDim])
  }
  if (v || t) out.set('logit_scale', [])
  if (v) {
    out.set('visual.class_embedding', [v.width])
    out.set('visual.positional_embedding', [v.grid * v.grid + 1, v.width])
    out.set('visual.proj', [v.width, v.embedDim])
    out.set('visual.conv1.weight', [v.width, 3, v.patchSize, v.patchSize])
    ln('visual.ln_pre', v.width)
    blocks('visual.transformer.resblocks', v.width, v.layers)
    ln('visual.ln_post', v.width)
  }
  if (t) {
    blocks('transformer.resblocks', t.width, t.layers)
    out.set('token_embedding.weight', [t.vocabSize, t.width])
    ln('ln_final', t.width)
  }
  if (a) {
    blocks('encoder.resblocks', a.width, a.layers)
    out.set('pre_encoder.conv1.weight', [a.width, a.inChannels, a.patchSize, a.patchSize])
    ln('pre_encoder.ln', a.width)
    out.set('post_encoder.proj', [a.width, a.embedDim])
    ln('post_encoder.ln', a.width)
    out.set('misc.positional_embedding', [a.positions, a.width])
    out.set('misc.class_embedding', [a.width])
  }
  return out
}

/**
 * Infers the architecture and checks that the state dict is exactly that model: no missing,
 * unexpected or misshapen tensor; only `logit_scale` may be absent (a CLIP without its loss head).
 * Returns the tensors in the reference order, whatever order the file had them in.
 */
export function checkedModel(state: StateDict, source: string): {architecture: Architecture; state: StateDict} {
  const architecture = inferArchitecture(state, source)
  const expected = expectedShapes(architecture)
  const ordered: StateDict = new Map()
  const problems: string[] = []
  for (const [name, shape] of expected) {
    const t = state.get(name)
    if (!t) {
      if (name !== 'logit_scale') problems.push(`${name} is missing`)
    } else if (t.shape.join() !== shape.join()) {
      problems.push(`${name} has shape [${t.shape}], expected [${shape}]`)
    } else {
      ordered.set(name, t)
    }
  }
  for (const name of state.keys()) if (!expected.has(name)) problems.push(`unexpected tensor ${name}`)
  if (problems.length > 0) {
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''
    throw new UserError(`${source}: not a complete CLIP/VIP-ANT model: ${problems.slice(0, 3).join('; ')}${more}`)
  }
  return {architecture, state: ordered}
}
