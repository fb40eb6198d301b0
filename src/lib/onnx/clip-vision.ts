/**
 * CLIP's image tower (openai/CLIP model.py `VisionTransformer`) as an ONNX graph: input `image` (B, R, R, 3) normalised
 * floats in HWC order, as the mel stage's `images` column holds them; output (B, E), not normalised.
 */
import type {StateDict} from '../checkpoint/tensor.js'
import {UserError} from '../util/errors.js'
import {Graph} from './graph.js'
import {classProjection, layerNorm, patchEmbedding, tensor, transformer, withClassToken} from './transformer.js'

export function visionTransformerGraph(state: StateDict, prefix = 'visual'): Graph {
  const conv = tensor(state, `${prefix}.conv1.weight`)
  const [, C, P] = conv.shape
  const [positions] = tensor(state, `${prefix}.positional_embedding`).shape
  const grid = Math.round(Math.sqrt(positions - 1))
  if (C !== 3 || grid * grid + 1 !== positions) throw new UserError(`${prefix}: not a CLIP ViT (conv1 [${conv.shape}], positions ${positions})`)
  const R = grid * P
  const g = new Graph('clip-vision')
  const image = g.op('Transpose', [g.input('image', 'float32', ['batch', R, R, 3])], {perm: [0, 3, 1, 2]}) // shape = [B, 3, R, R]
  let h = patchEmbedding(g, image, g.weight(`${prefix}.conv1.weight`, conv), [P, P]) // shape = [B, grid^2, W]
  h = withClassToken(g, tensor(state, `${prefix}.class_embedding`), h)
  h = g.op('Add', [h, g.weight(`${prefix}.positional_embedding`, tensor(state, `${prefix}.positional_embedding`))])
  h = transformer(g, state, `${prefix}.transformer`, layerNorm(g, state, `${prefix}.ln_pre`, h))
  g.output(classProjection(g, state, `${prefix}.ln_post`, `${prefix}.proj`, h), 'float32', ['batch', tensor(state, `${prefix}.proj`).shape[1]])
  return g
}
