/**
 * CLIP's transformer trunk as ONNX nodes (openai/CLIP model.py `ResidualAttentionBlock`, `Transformer`; docs/method.md §5.2),
 * shared by the three tower graphs. Activations are (B, L, W) throughout: ONNX Runtime runs batched MatMuls well, so
 * unlike the wasm path nothing is cut into 2-D pieces.
 */
import type {StateDict, Tensor} from '../checkpoint/tensor.js'
import {UserError} from '../util/errors.js'
import {transposed, type Graph} from './graph.js'

export function tensor(state: StateDict, name: string): Tensor {
  const t = state.get(name)
  if (!t) throw new UserError(`weights have no ${name}`)
  return t
}

export function layerNorm(g: Graph, state: StateDict, prefix: string, x: string): string {
  const [weight, bias] = ['weight', 'bias'].map((p) => g.weight(`${prefix}.${p}`, tensor(state, `${prefix}.${p}`)))
  return g.op('LayerNormalization', [x, weight, bias], {axis: -1, epsilon: 1e-5}, ['epsilon'])
}

/** nn.Linear: x @ weight.T + bias, the weight stored transposed ([in, out]). */
function linear(g: Graph, name: string, weight: Tensor, bias: Tensor, x: string): string {
  const w = g.constant(`${name}.weight.T`, transposed(weight), [weight.shape[1], weight.shape[0]])
  return g.op('Add', [g.op('MatMul', [x, w]), g.weight(`${name}.bias`, bias)])
}

/** nn.MultiheadAttention(W, W/64) as CLIP calls it; x: (B, L, W); mask: additive (L, L). */
function attention(g: Graph, state: StateDict, prefix: string, x: string, mask?: string): string {
  const inProj = tensor(state, `${prefix}.in_proj_weight`)
  const [threeW, W] = inProj.shape
  if (threeW !== 3 * W || W % 64) throw new UserError(`${prefix}.in_proj_weight has shape [${threeW}, ${W}]`)
  const [H, D] = [W / 64, 64]
  const inBias = tensor(state, `${prefix}.in_proj_bias`)
  // in_proj stacks q, k and v by rows. PyTorch scales q after its bias by 1/sqrt(D): folded into q's weight and bias
  // (a power of two for D = 64, so exactly).
  const scale = 1 / Math.sqrt(D)
  const [q, k, v] = ['q', 'k', 'v'].map((part, i) => {
    const s = i === 0 ? scale : 1
    const rows = (data: Float32Array, n: number) => data.slice(i * n, (i + 1) * n).map((value) => value * s)
    const weight = {shape: [W, W], dtype: 'float32' as const, data: rows(inProj.data, W * W)}
    const bias = {shape: [W], dtype: 'float32' as const, data: rows(inBias.data, W)}
    return g.op('Reshape', [linear(g, `${prefix}.${part}_proj`, weight, bias, x), g.ints([0, 0, H, D])]) // shape = [B, L, H, D]
  })
  const heads = (t: string, perm: number[]) => g.op('Transpose', [t], {perm})
  let scores = g.op('MatMul', [heads(q, [0, 2, 1, 3]), heads(k, [0, 2, 3, 1])]) // shape = [B, H, L, L]
  if (mask) scores = g.op('Add', [scores, mask])
  const context = g.op('MatMul', [g.op('Softmax', [scores], {axis: -1}), heads(v, [0, 2, 1, 3])]) // shape = [B, H, L, D]
  const merged = g.op('Reshape', [heads(context, [0, 2, 1, 3]), g.ints([0, 0, W])]) // shape = [B, L, W], heads concatenated
  return linear(g, `${prefix}.out_proj`, tensor(state, `${prefix}.out_proj.weight`), tensor(state, `${prefix}.out_proj.bias`), merged)
}

function residualAttentionBlock(g: Graph, state: StateDict, prefix: string, x: string, mask?: string): string {
  x = g.op('Add', [x, attention(g, state, `${prefix}.attn`, layerNorm(g, state, `${prefix}.ln_1`, x), mask)])
  const fc = (name: string, input: string) => linear(g, `${prefix}.mlp.${name}`, tensor(state, `${prefix}.mlp.${name}.weight`), tensor(state, `${prefix}.mlp.${name}.bias`), input)
  const h = fc('c_fc', layerNorm(g, state, `${prefix}.ln_2`, x))
  const quickGelu = g.op('Mul', [h, g.op('Sigmoid', [g.op('Mul', [h, g.scalar(1.702)])])])
  return g.op('Add', [x, fc('c_proj', quickGelu)])
}

/** Blocks `${prefix}.resblocks.0..n-1`, n read from the names present. */
export function transformer(g: Graph, state: StateDict, prefix: string, x: string, mask?: string): string {
  if (!state.has(`${prefix}.resblocks.0.attn.in_proj_weight`)) throw new UserError(`weights have no ${prefix}.resblocks.0`)
  for (let i = 0; state.has(`${prefix}.resblocks.${i}.attn.in_proj_weight`); i++) x = residualAttentionBlock(g, state, `${prefix}.resblocks.${i}`, x, mask)
  return x
}

/** [class_embedding; x] along the tokens: x (B, N, W) -> (B, 1 + N, W). */
export function withClassToken(g: Graph, classEmbedding: Tensor, x: string): string {
  const W = classEmbedding.shape[0]
  const cls = g.weight('class_embedding', classEmbedding, [1, 1, W])
  const batch = g.op('Shape', [x], {start: 0, end: 1})
  return g.op('Concat', [g.op('Expand', [cls, g.op('Concat', [batch, g.ints([1, W])], {axis: 0})]), x], {axis: 1})
}

/** The class token's output, ln_post, and the projection: h (B, L, W) -> (B, E). */
export function classProjection(g: Graph, state: StateDict, ln: string, proj: string, h: string): string {
  const cls = g.op('Gather', [h, g.constant('zero', Int32Array.of(0), [])], {axis: 1}) // shape = [B, W]
  return g.op('MatMul', [layerNorm(g, state, ln, cls), g.weight(proj, tensor(state, proj))])
}

/** The patch embedding, a bias-free strided Conv: x (B, C, H, W') -> (B, rows*cols, W), tokens row-major over the grid. */
export function patchEmbedding(g: Graph, x: string, weight: string, stride: [number, number]): string {
  const features = g.op('Conv', [x, weight], {strides: stride}) // shape = [B, W, rows, cols]
  return g.op('Transpose', [g.op('Reshape', [features, g.ints([0, 0, -1])])], {perm: [0, 2, 1]})
}
