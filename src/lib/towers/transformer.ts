/**
 * CLIP's transformer trunk (openai/CLIP model.py `ResidualAttentionBlock`, `Transformer`; VIP-ANT's cvap/module/val.py
 * is identical) and the ViT around it (`VisionTransformer.forward`: class token, positional embedding, ln_pre, blocks,
 * ln_post on the class token, proj), shared by the image and audio towers. docs/method.md §5.2.
 */
import type {StateDict} from '../checkpoint/tensor.js'
import {UserError} from '../util/errors.js'
import {join, type TowerOps} from './ops.js'

/** A block's modules, as CLIP names them. */
export const BLOCK = {attn: 'attn', ln_1: 'ln_1', c_fc: 'mlp.c_fc', c_proj: 'mlp.c_proj', ln_2: 'ln_2'} as const

export function residualAttentionBlock<V>(ops: TowerOps<V>, prefix: string, x: V, mask?: V): V {
  const name = (module: string) => join(prefix, module)
  x = ops.add(x, ops.attention(name(BLOCK.attn), ops.layerNorm(name(BLOCK.ln_1), x), mask))
  const h = ops.linear(name(BLOCK.c_fc), ops.layerNorm(name(BLOCK.ln_2), x))
  return ops.add(x, ops.linear(name(BLOCK.c_proj), ops.quickGelu(h)))
}

/** The names `${prefix}.resblocks.0..n-1` present in `state`, n >= 1. */
export function blockNames(state: StateDict, prefix: string): string[] {
  const names: string[] = []
  while (state.has(`${prefix}.resblocks.${names.length}.attn.in_proj_weight`))
    names.push(`${prefix}.resblocks.${names.length}`)
  if (!names.length) throw new UserError(`weights have no ${prefix}.resblocks.0`)
  return names
}

/** Where a ViT's weights are: openai/CLIP's `visual.*`, or VIP-ANT's audio head names. */
export interface VitNames {
  conv1: string
  class_embedding: string
  positional_embedding: string
  ln_pre: string
  transformer: string
  ln_post: string
  proj: string
}

/** CLIP's VisionTransformer.forward from the patch embeddings x (B, N, W) and their positions (1 + N, W): (B, E). */
export function vitTrunk<V>(ops: TowerOps<V>, names: VitNames, x: V, positions: V): V {
  let h = ops.withClassToken(names.class_embedding, x) // shape = [B, 1 + N, W]
  h = ops.add(h, positions)
  h = ops.transformer(names.transformer, ops.layerNorm(names.ln_pre, h))
  return ops.project(names.proj, ops.layerNorm(names.ln_post, ops.classToken(h))) // shape = [B, E]
}
