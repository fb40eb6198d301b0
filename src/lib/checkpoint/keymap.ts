import {UserError} from '../util/errors.js'
import type {StateDict, Tensor} from './tensor.js'

/**
 * Hugging Face `CLIPModel` weights (e.g. openai/clip-vit-base-patch32) in OpenAI CLIP's names and
 * layouts: the inverse of transformers' convert_clip_original_pytorch_to_hf.py. HF splits each
 * attention's `in_proj` into q/k/v Linears (concatenated back, rows q, k, v as nn.MultiheadAttention
 * stores them) and makes the two projections Linears (`[embed, width]`, transposed back to OpenAI's
 * `x @ proj` matrices). Everything else is a rename.
 */
const HF_BLOCK_RENAMES: Record<string, string> = {
  'self_attn.out_proj': 'attn.out_proj',
  layer_norm1: 'ln_1',
  layer_norm2: 'ln_2',
  'mlp.fc1': 'mlp.c_fc',
  'mlp.fc2': 'mlp.c_proj',
}

const HF_RENAMES: Record<string, string> = {
  'vision_model.embeddings.patch_embedding.weight': 'visual.conv1.weight',
  'vision_model.embeddings.class_embedding': 'visual.class_embedding',
  'vision_model.embeddings.position_embedding.weight': 'visual.positional_embedding',
  'vision_model.pre_layrnorm.weight': 'visual.ln_pre.weight', // sic: HF's spelling
  'vision_model.pre_layrnorm.bias': 'visual.ln_pre.bias',
  'vision_model.post_layernorm.weight': 'visual.ln_post.weight',
  'vision_model.post_layernorm.bias': 'visual.ln_post.bias',
  'text_model.embeddings.token_embedding.weight': 'token_embedding.weight',
  'text_model.embeddings.position_embedding.weight': 'positional_embedding',
  'text_model.final_layer_norm.weight': 'ln_final.weight',
  'text_model.final_layer_norm.bias': 'ln_final.bias',
  logit_scale: 'logit_scale',
}

const HF_TRANSPOSED: Record<string, string> = {
  'visual_projection.weight': 'visual.proj',
  'text_projection.weight': 'text_projection',
}

/** Buffers HF keeps for convenience (`position_ids` = arange); not weights. */
const HF_IGNORED = /^(vision|text)_model\.embeddings\.position_ids$/

export function isHfClip(state: StateDict): boolean {
  return [...state.keys()].some((k) => k.startsWith('vision_model.') || k.startsWith('text_model.'))
}

export function hfToOpenAI(hf: StateDict, source: string): StateDict {
  const out: StateDict = new Map()
  const qkv = new Map<string, Partial<Record<'q' | 'k' | 'v', Tensor>>>()
  for (const [name, tensor] of hf) {
    if (HF_IGNORED.test(name)) continue
    if (HF_RENAMES[name]) {
      out.set(HF_RENAMES[name], tensor)
      continue
    }
    if (HF_TRANSPOSED[name]) {
      out.set(HF_TRANSPOSED[name], transpose(tensor))
      continue
    }
    const block = /^(vision|text)_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name)
    if (!block) throw new UserError(`${source}: unexpected Hugging Face CLIP tensor ${name}`)
    const [, tower, index, module, param] = block
    const prefix = `${tower === 'vision' ? 'visual.' : ''}transformer.resblocks.${index}`
    const projection = /^self_attn\.([qkv])_proj$/.exec(module)
    if (projection) {
      const key = `${prefix}.attn.in_proj_${param}`
      qkv.set(key, {...qkv.get(key), [projection[1]]: tensor})
    } else if (HF_BLOCK_RENAMES[module]) {
      out.set(`${prefix}.${HF_BLOCK_RENAMES[module]}.${param}`, tensor)
    } else {
      throw new UserError(`${source}: unexpected Hugging Face CLIP tensor ${name}`)
    }
  }
  for (const [key, {q, k, v}] of qkv) {
    if (!q || !k || !v) throw new UserError(`${source}: ${key} lacks one of its q/k/v projections`)
    out.set(key, concatRows([q, k, v]))
  }
  return out
}

function transpose(t: Tensor): Tensor {
  const [rows, cols] = t.shape
  const data = new Float32Array(t.data.length)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) data[c * rows + r] = t.data[r * cols + c]
  return {shape: [cols, rows], dtype: t.dtype, data}
}

function concatRows(parts: Tensor[]): Tensor {
  const data = new Float32Array(parts.reduce((n, t) => n + t.data.length, 0))
  let at = 0
  for (const t of parts) {
    data.set(t.data, at)
    at += t.data.length
  }
  return {shape: [parts.reduce((n, t) => n + t.shape[0], 0), ...parts[0].shape.slice(1)], dtype: parts[0].dtype, data}
}
