/**
 * The tower operations (src/lib/towers/ops.ts) as ONNX nodes: values are the names of graph values, weights become
 * initializers. Activations stay (B, L, W) throughout: ONNX Runtime runs batched MatMuls well, so unlike the wasm path
 * nothing is cut into 2-D pieces.
 */
import type {Grid} from '../checkpoint/audio-config.js'
import type {StateDict, Tensor} from '../checkpoint/tensor.js'
import type {Patches, TowerOps} from '../towers/ops.js'
import {loadPosEmbedding} from '../towers/pos-embedding.js'
import {blockNames, residualAttentionBlock} from '../towers/transformer.js'
import {UserError} from '../util/errors.js'
import {transposed, type Graph} from './graph.js'

export class OnnxOps implements TowerOps<string> {
  constructor(
    readonly g: Graph,
    readonly state: StateDict,
  ) {}

  tensor(name: string): Tensor {
    const t = this.state.get(name)
    if (!t) throw new UserError(`weights have no ${name}`)
    return t
  }

  add(a: string, b: string): string {
    return this.g.op('Add', [a, b])
  }

  quickGelu(x: string): string {
    const g = this.g
    return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [x, g.scalar(1.702)])])])
  }

  layerNorm(name: string, x: string): string {
    const [weight, bias] = ['weight', 'bias'].map((p) => this.g.weight(`${name}.${p}`, this.tensor(`${name}.${p}`)))
    return this.g.op('LayerNormalization', [x, weight, bias], {axis: -1, epsilon: 1e-5}, ['epsilon'])
  }

  linear(name: string, x: string): string {
    return this.affine(name, this.tensor(`${name}.weight`), this.tensor(`${name}.bias`), x)
  }

  attention(name: string, x: string, mask?: string): string {
    const g = this.g
    const inProj = this.tensor(`${name}.in_proj_weight`)
    const [threeW, W] = inProj.shape
    if (threeW !== 3 * W || W % 64) throw new UserError(`${name}.in_proj_weight has shape [${threeW}, ${W}]`)
    const [H, D] = [W / 64, 64]
    const inBias = this.tensor(`${name}.in_proj_bias`)
    // in_proj stacks q, k and v by rows. PyTorch scales q after its bias by 1/sqrt(D): folded into q's weight and
    // bias (a power of two for D = 64, so exactly).
    const scale = 1 / Math.sqrt(D)
    const [q, k, v] = ['q', 'k', 'v'].map((part, i) => {
      const s = i === 0 ? scale : 1
      const rows = (data: Float32Array, n: number) => data.slice(i * n, (i + 1) * n).map((value) => value * s)
      const weight = {shape: [W, W], dtype: 'float32' as const, data: rows(inProj.data, W * W)}
      const bias = {shape: [W], dtype: 'float32' as const, data: rows(inBias.data, W)}
      return g.op('Reshape', [this.affine(`${name}.${part}_proj`, weight, bias, x), g.ints([0, 0, H, D])]) // shape = [B, L, H, D]
    })
    const heads = (t: string, perm: number[]) => g.op('Transpose', [t], {perm})
    let scores = g.op('MatMul', [heads(q, [0, 2, 1, 3]), heads(k, [0, 2, 3, 1])]) // shape = [B, H, L, L]
    if (mask) scores = g.op('Add', [scores, mask])
    const context = g.op('MatMul', [g.op('Softmax', [scores], {axis: -1}), heads(v, [0, 2, 1, 3])]) // shape = [B, H, L, D]
    const merged = g.op('Reshape', [heads(context, [0, 2, 1, 3]), g.ints([0, 0, W])]) // shape = [B, L, W], heads concatenated
    return this.linear(`${name}.out_proj`, merged)
  }

  transformer(name: string, x: string, mask?: string): string {
    for (const block of blockNames(this.state, name)) x = residualAttentionBlock(this, block, x, mask)
    return x
  }

  project(name: string, x: string): string {
    return this.g.op('MatMul', [x, this.g.weight(name, this.tensor(name))])
  }

  patchEmbedding(name: string, x: string, {layout, stride}: Patches): string {
    const g = this.g
    const conv = this.tensor(name)
    const [W, C, P] = conv.shape
    // Conv takes (B, C, H, W'): the pixels' channels moved in front, a log-mel given its one channel.
    const image = layout === 'hwc' ? g.op('Transpose', [x], {perm: [0, 3, 1, 2]}) : g.op('Unsqueeze', [x, g.ints([1])])
    let weight: string
    if (layout === 'hwc') weight = g.weight(name, conv)
    else {
      const mono = new Float32Array(W * P * P)
      for (let o = 0; o < W; o++) {
        for (let i = 0; i < C; i++)
          for (let k = 0; k < P * P; k++) mono[o * P * P + k] += conv.data[(o * C + i) * P * P + k] / C
      }
      weight = g.constant(`${name}.mean`, mono, [W, 1, P, P])
    }
    const features = g.op('Conv', [image, weight], {strides: stride}) // shape = [B, W, rows, cols]
    return g.op('Transpose', [g.op('Reshape', [features, g.ints([0, 0, -1])])], {perm: [0, 2, 1]})
  }

  withClassToken(name: string, x: string): string {
    const g = this.g
    const embedding = this.tensor(name)
    const W = embedding.shape[0]
    const cls = g.weight('class_embedding', embedding, [1, 1, W])
    const batch = g.op('Shape', [x], {start: 0, end: 1})
    return g.op('Concat', [g.op('Expand', [cls, g.op('Concat', [batch, g.ints([1, W])], {axis: 0})]), x], {axis: 1})
  }

  /** Built for one grid: each grid (each max_len) is its own graph. */
  positionalEmbedding(name: string, grids?: {trained: Grid; input: Grid}): string {
    const stored = this.tensor(name)
    return this.g.weight(name, grids ? loadPosEmbedding(stored, grids.trained, grids.input) : stored)
  }

  classToken(x: string): string {
    return this.g.op('Gather', [x, this.g.constant('zero', Int32Array.of(0), [])], {axis: 1}) // shape = [B, W]
  }

  embedTokens(name: string, ids: string): string {
    return this.g.op('Gather', [this.g.weight(name, this.tensor(name)), ids])
  }

  leadingRows(name: string, ids: string): string {
    return this.g.op('Slice', [
      this.g.weight(name, this.tensor(name)),
      this.g.ints([0]),
      this.length(ids),
      this.g.ints([0]),
    ])
  }

  causalMask(contextLength: number, ids: string): string {
    const causal = new Float32Array(contextLength * contextLength)
    for (let i = 0; i < contextLength; i++) causal.fill(-Infinity, i * contextLength + i + 1, (i + 1) * contextLength)
    const L = this.length(ids)
    const full = this.g.constant('attn_mask', causal, [contextLength, contextLength])
    return this.g.op('Slice', [full, this.g.ints([0, 0]), this.g.op('Concat', [L, L], {axis: 0}), this.g.ints([0, 1])])
  }

  eotToken(x: string, ids: string): string {
    const eot = this.g.op('ArgMax', [ids], {axis: 1, keepdims: 1}) // shape = [B, 1]
    return this.g.op('GatherND', [x, eot], {batch_dims: 1}) // shape = [B, W]
  }

  /** nn.Linear: x @ weight.T + bias, the weight stored transposed ([in, out]). */
  private affine(name: string, weight: Tensor, bias: Tensor, x: string): string {
    const w = this.g.constant(`${name}.weight.T`, transposed(weight), [weight.shape[1], weight.shape[0]])
    return this.g.op('Add', [this.g.op('MatMul', [x, w]), this.g.weight(`${name}.bias`, bias)])
  }

  private readonly lengths = new Map<string, string>()

  /** The length L of ids (B, L), as a graph value of shape [1]. */
  private length(ids: string): string {
    if (!this.lengths.has(ids)) this.lengths.set(ids, this.g.op('Shape', [ids], {start: 1, end: 2}))
    return this.lengths.get(ids)!
  }
}
