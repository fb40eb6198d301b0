import path from 'node:path'
import type {StateDict} from '../src/lib/checkpoint/tensor.js'
import {writeVipantCheckpoint} from '../src/lib/checkpoint/vipant-format.js'
import {mulberry32} from '../src/lib/util/rng.js'

/**
 * Small random CLIP and VIP-ANT audio towers with the real vocabulary (49408 tokens, so the real
 * tokenizer's ids fit) and the real patching (ViT-B/32's 224 px / 32 px image patches; 32x32 audio
 * patches at stride (16, 24)), written in vipant's format. For CLI tests of plumbing: the numbers of
 * the towers themselves are pinned to PyTorch by test/model.test.ts.
 */
export const TINY = {width: 64, embed: 32, audioMaxLen: 200}

/** The flags of a command that embeds with tiny towers: the VIP-ANT model, the CLIP model and the log-mel length. */
export function tinyFlags(model: string): string[] {
  return ['--model', model, '--clip', model, '--max-len', String(TINY.audioMaxLen)]
}

function randomState(shapes: Record<string, number[]>, seed: number): StateDict {
  const rng = mulberry32(seed)
  const state: StateDict = new Map()
  for (const [name, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1)
    const isNorm = /ln|ln_\d|ln_final|ln_pre|ln_post/.test(name)
    const data = Float32Array.from({length: n}, () => (isNorm && name.endsWith('weight') ? 1 : (rng() - 0.5) * 0.2))
    state.set(name, {shape, dtype: 'float32', data})
  }
  return state
}

function block(prefix: string, w: number): Record<string, number[]> {
  return {
    [`${prefix}.attn.in_proj_weight`]: [3 * w, w],
    [`${prefix}.attn.in_proj_bias`]: [3 * w],
    [`${prefix}.attn.out_proj.weight`]: [w, w],
    [`${prefix}.attn.out_proj.bias`]: [w],
    [`${prefix}.ln_1.weight`]: [w],
    [`${prefix}.ln_1.bias`]: [w],
    [`${prefix}.mlp.c_fc.weight`]: [4 * w, w],
    [`${prefix}.mlp.c_fc.bias`]: [4 * w],
    [`${prefix}.mlp.c_proj.weight`]: [w, 4 * w],
    [`${prefix}.mlp.c_proj.bias`]: [w],
    [`${prefix}.ln_2.weight`]: [w],
    [`${prefix}.ln_2.bias`]: [w],
  }
}

export function tinyClip(): StateDict {
  const {width: w, embed: e} = TINY
  return randomState(
    {
      'visual.conv1.weight': [w, 3, 32, 32],
      'visual.class_embedding': [w],
      'visual.positional_embedding': [50, w],
      'visual.ln_pre.weight': [w],
      'visual.ln_pre.bias': [w],
      ...block('visual.transformer.resblocks.0', w),
      'visual.ln_post.weight': [w],
      'visual.ln_post.bias': [w],
      'visual.proj': [w, e],
      'token_embedding.weight': [49408, w],
      positional_embedding: [77, w],
      ...block('transformer.resblocks.0', w),
      'ln_final.weight': [w],
      'ln_final.bias': [w],
      text_projection: [w, e],
      logit_scale: [],
    },
    1213,
  )
}

export function tinyAudio(): StateDict {
  const {width: w, embed: e, audioMaxLen} = TINY
  const rows = Math.floor((audioMaxLen - 32) / 16) + 1
  return randomState(
    {
      ...block('encoder.resblocks.0', w),
      'pre_encoder.conv1.weight': [w, 3, 32, 32],
      'pre_encoder.ln.weight': [w],
      'pre_encoder.ln.bias': [w],
      'post_encoder.ln.weight': [w],
      'post_encoder.ln.bias': [w],
      'post_encoder.proj': [w, e],
      'misc.positional_embedding': [1 + rows * 5, w],
      'misc.class_embedding': [w],
    },
    1214,
  )
}

/** Writes the tiny towers as a vipant checkpoint in `dir` (CLIP and audio together); a NAME ending in .safetensors makes one file. */
export async function writeTinyVipant(dir: string, name = 'tiny-vipant'): Promise<string> {
  const out = path.join(dir, name)
  await writeVipantCheckpoint(out, {
    format: 'vipant',
    clip: tinyClip(),
    audio: {weights: tinyAudio(), config: {resolution: [TINY.audioMaxLen, 128], patchSize: 32, stride: [16, 24]}},
    info: {source: {format: 'test', file: 'tiny-models.ts'}},
  })
  return out
}
