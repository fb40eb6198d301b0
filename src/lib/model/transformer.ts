/**
 * The tfjs modules of CLIP's transformer trunk (its topology: src/lib/towers/transformer.ts), holding the weights
 * of the image, text and audio towers.
 *
 * Products are 2-D: activations are reshaped to 2-D for each Linear, weights are stored pre-transposed ([in, out]),
 * and attention is one 2-D product per (sample, head). A transposed operand is a transpose flag, never a transpose
 * here: on wasm, ONNX Runtime's MLAS runs the flags at no cost and XNNPACK gets a transposed copy from the kernel
 * (src/lib/backend/wasm-kernels.ts). Built with `trainable`, the weights are tf.Variables.
 *
 * Training memory: the tape keeps every intermediate of the forward pass and the backward pass every gradient until
 * it ends, ~15 GB for the 12-layer ViT-B audio tower at batch 8, far beyond wasm's 4 GB heap. With
 * `checkpointBlocks` each block is one tape node that keeps only its input (the residual stream) and recomputes its
 * own forward pass inside its gradient (gradient checkpointing): one block's intermediates live at a time, for one
 * more forward pass of the trunk per step (measured: 2.7 GB of wasm heap for that step). Only as many blocks as the
 * heap needs are checkpointed: the others keep their tapes and are not run twice. A checkpointed block also keeps its
 * Linear outputs where they fit, so that its second forward pass runs the attention and element-wise kernels only.
 */
import * as tf from '@tensorflow/tfjs-core'
import type {StateDict} from '../checkpoint/tensor.js'
import {join} from '../towers/ops.js'
import {BLOCK, blockNames, residualAttentionBlock} from '../towers/transformer.js'
import {UserError} from '../util/errors.js'
import {TfjsOps} from './ops.js'
import {asIs, laidOut, own, prefixed, transposed, type Parameter} from './parameters.js'

/** `state[name]` as a tf tensor of its stored (PyTorch) shape. */
export function param(state: StateDict, name: string): tf.Tensor {
  const t = state.get(name)
  if (!t) throw new UserError(`weights have no ${name}`)
  return tf.tensor(t.data, t.shape, 'float32')
}

export function shapeOf(state: StateDict, name: string): number[] {
  const t = state.get(name)
  if (!t) throw new UserError(`weights have no ${name}`)
  return t.shape
}

/** x / ||x|| along the last axis, as VIP-ANT does before cosine similarities. */
export function l2normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.norm(x, 'euclidean', -1, true)))
}

export class LayerNorm {
  constructor(
    readonly weight: tf.Tensor1D,
    readonly bias: tf.Tensor1D,
    readonly eps = 1e-5,
  ) {}

  static fromStateDict(state: StateDict, prefix: string, trainable = false): LayerNorm {
    return new LayerNorm(
      own(param(state, `${prefix}.weight`) as tf.Tensor1D, trainable),
      own(param(state, `${prefix}.bias`) as tf.Tensor1D, trainable),
    )
  }

  parameters(): Parameter[] {
    return [asIs('weight', this.weight), asIs('bias', this.bias)]
  }

  /**
   * x: (N, W), normalised over W. The gradient is written out: derived op by op it takes 2.5x the kernels (each a
   * pass over (N, W)), copies of x and tensors of ones, and a tape of every intermediate.
   */
  forward(x: tf.Tensor): tf.Tensor2D {
    const eps = this.eps
    const layerNorm = tf.customGrad(((input: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, save: tf.GradSaveFunc) => {
      const {mean, variance} = tf.moments(input, -1, true)
      const rstd = tf.rsqrt(tf.add(variance, eps)) // shape = [N, 1]
      const normalized = tf.mul(tf.sub(input, mean), rstd)
      save([normalized, rstd, weight])
      return {
        value: tf.add(tf.mul(normalized, weight), bias),
        gradFunc: (dy: tf.Tensor, [xhat, r, w]: tf.Tensor[]) => {
          // dx = (g - mean(g) - xhat * mean(g * xhat)) / std over each row, g = dy * weight.
          const g = tf.mul(dy, w)
          const centred = tf.sub(g, tf.mean(g, -1, true))
          const dx = tf.mul(tf.sub(centred, tf.mul(xhat, tf.mean(tf.mul(g, xhat), -1, true))), r)
          return [dx, tf.sum(tf.mul(dy, xhat), 0), tf.sum(dy, 0)]
        },
      }
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor2D
    return layerNorm(x, this.weight, this.bias)
  }

  dispose(): void {
    tf.dispose([this.weight, this.bias])
  }
}

/** nn.Linear with its PyTorch weight [out, in] transposed once to [in, out], so that forward is x @ weight. */
export class Linear {
  constructor(
    readonly weight: tf.Tensor2D,
    readonly bias: tf.Tensor1D,
  ) {}

  static fromStateDict(state: StateDict, prefix: string, trainable = false): Linear {
    const w = param(state, `${prefix}.weight`)
    const linear = new Linear(
      own(tf.transpose(w as tf.Tensor2D), trainable),
      own(param(state, `${prefix}.bias`) as tf.Tensor1D, trainable),
    )
    w.dispose()
    return linear
  }

  /** x: (N, in). */
  forward(x: tf.Tensor): tf.Tensor2D {
    if (products?.replay) return replayedLinear(x, this.weight, this.bias, products.outputs[products.next++])
    const y = tf.tidy(() => tf.add(tf.matMul(x as tf.Tensor2D, this.weight), this.bias)) as tf.Tensor2D
    products?.outputs.push(tf.keep(y))
    return y
  }

  parameters(): Parameter[] {
    return [transposed('weight', this.weight), asIs('bias', this.bias)]
  }

  dispose(): void {
    tf.dispose([this.weight, this.bias])
  }
}

/**
 * The Linear outputs of a checkpointed block: recorded by its forward pass, handed back in the same order when its
 * gradient recomputes the block, which then runs its element-wise kernels and attention but not its six products.
 */
let products: {replay: boolean; outputs: tf.Tensor[]; next: number} | undefined

/** x @ w + b valued `y`, computed before: the gradients of the product and the bias, not the product again. */
function replayedLinear(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, y: tf.Tensor): tf.Tensor2D {
  const linear = tf.customGrad(((input: tf.Tensor, w: tf.Tensor, _bias: tf.Tensor, save: tf.GradSaveFunc) => {
    save([input, w])
    return {
      value: tf.clone(y),
      gradFunc: (dy: tf.Tensor, [savedInput, savedWeight]: tf.Tensor[]) => [
        tf.matMul(dy as tf.Tensor2D, savedWeight as tf.Tensor2D, false, true),
        tf.matMul(savedInput as tf.Tensor2D, dy as tf.Tensor2D, true, false),
        tf.sum(dy, 0),
      ],
    }
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor2D
  return linear(x, weight, bias)
}

/** nn.MultiheadAttention(d, d/64) as CLIP calls it: self-attention, heads in contiguous 64-wide slices. */
export class MultiheadAttention {
  constructor(
    readonly q: Linear,
    readonly k: Linear,
    readonly v: Linear,
    readonly outProj: Linear,
    readonly nHead: number,
  ) {}

  static fromStateDict(state: StateDict, prefix: string, trainable = false): MultiheadAttention {
    const [threeW, width] = shapeOf(state, `${prefix}.in_proj_weight`)
    if (threeW !== 3 * width || width % 64)
      throw new UserError(`${prefix}.in_proj_weight has shape [${threeW}, ${width}]`)
    // in_proj_weight [3W, W] stacks the q, k and v projections by rows; the bias [3W] likewise.
    const [q, k, v] = tf
      .tidy(() => {
        const weights = tf.split(param(state, `${prefix}.in_proj_weight`), 3, 0)
        const biases = tf.split(param(state, `${prefix}.in_proj_bias`), 3, 0)
        return weights.map((w, i) => [tf.transpose(w), biases[i]] as const)
      })
      .map(([w, b]) => new Linear(own(w as tf.Tensor2D, trainable), own(b as tf.Tensor1D, trainable)))
    return new MultiheadAttention(q, k, v, Linear.fromStateDict(state, `${prefix}.out_proj`, trainable), width / 64)
  }

  parameters(): Parameter[] {
    const qkv = [this.q, this.k, this.v]
    return [
      laidOut(
        'in_proj_weight',
        qkv.map((l) => l.weight),
        2,
        (ws) =>
          tf.concat(
            ws.map((w) => tf.transpose(w)),
            0,
          ),
      ),
      laidOut(
        'in_proj_bias',
        qkv.map((l) => l.bias),
        1,
        (bs) => tf.concat(bs, 0),
      ),
      ...prefixed('out_proj', this.outProj.parameters()),
    ]
  }

  /** x: (B, L, W); mask: additive (L, L) or undefined. */
  forward(x: tf.Tensor3D, mask?: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [B, L, W] = x.shape
      const H = this.nHead
      const D = W / H
      const x2 = tf.reshape(x, [B * L, W])
      // PyTorch scales q (after its bias) by 1/sqrt(head_dim) before the product.
      const q = tf.mul(this.q.forward(x2), 1 / Math.sqrt(D)) // shape = [B*L, W], head h in columns h*D..(h+1)*D
      const k = this.k.forward(x2)
      const v = this.v.forward(x2)
      // One 2-D product per sample and head. tfjs-wasm's own Slice copies its whole input before cutting (see
      // src/lib/backend/wasm-kernels.ts), so samples are cut from the [B*L, W] projections first and heads from each
      // sample's [L, W]: cutting every head straight from the batch (or unstacking [B*H, L, D]) costs more than the
      // products once B*H is large. tf.split rather than tf.slice: its gradient is one concat, where each slice's is
      // a zero-padded copy of the whole input.
      const [qs, ks, vs] = [q, k, v].map((t) => split(t, B, 0)) // shape = B x [L, W]
      const samples = qs.map((qb, b) => {
        const [qh, kh, vh] = [qb, ks[b], vs[b]].map((t) => split(t, H, 1)) // shape = H x [L, D]
        const heads = qh.map((qi, h) => {
          const scores = tf.matMul(qi, kh[h], false, true) // shape = [L, L]
          return tf.matMul(tf.softmax(mask ? tf.add(scores, mask) : scores), vh[h]) // shape = [L, D]
        })
        return tf.concat(heads, 1) // shape = [L, W], heads concatenated
      })
      const merged = tf.concat(samples, 0) // shape = [B*L, W]
      return tf.reshape(this.outProj.forward(merged), [B, L, W])
    })
  }

  dispose(): void {
    for (const linear of [this.q, this.k, this.v, this.outProj]) linear.dispose()
  }
}

/** tf.split, except into one part: tfjs's split gradient then receives a lone tensor where it expects a list. */
function split(t: tf.Tensor, parts: number, axis: number): tf.Tensor2D[] {
  return (parts === 1 ? [t] : tf.split(t, parts, axis)) as tf.Tensor2D[]
}

export class ResidualAttentionBlock {
  private readonly ops: TfjsOps

  constructor(
    readonly attn: MultiheadAttention,
    readonly ln_1: LayerNorm,
    readonly c_fc: Linear,
    readonly c_proj: Linear,
    readonly ln_2: LayerNorm,
  ) {
    const {attn: a, ln_1: n1, c_fc: fc, c_proj: proj, ln_2: n2} = BLOCK
    this.ops = new TfjsOps(
      new Map<string, LayerNorm | Linear | MultiheadAttention>([
        [a, attn],
        [n1, ln_1],
        [fc, c_fc],
        [proj, c_proj],
        [n2, ln_2],
      ]),
    )
  }

  static fromStateDict(state: StateDict, prefix: string, trainable = false): ResidualAttentionBlock {
    const name = (module: string) => join(prefix, module)
    return new ResidualAttentionBlock(
      MultiheadAttention.fromStateDict(state, name(BLOCK.attn), trainable),
      LayerNorm.fromStateDict(state, name(BLOCK.ln_1), trainable),
      Linear.fromStateDict(state, name(BLOCK.c_fc), trainable),
      Linear.fromStateDict(state, name(BLOCK.c_proj), trainable),
      LayerNorm.fromStateDict(state, name(BLOCK.ln_2), trainable),
    )
  }

  parameters(): Parameter[] {
    return [
      ...prefixed(BLOCK.attn, this.attn.parameters()),
      ...prefixed(BLOCK.ln_1, this.ln_1.parameters()),
      ...prefixed(BLOCK.c_fc, this.c_fc.parameters()),
      ...prefixed(BLOCK.c_proj, this.c_proj.parameters()),
      ...prefixed(BLOCK.ln_2, this.ln_2.parameters()),
    ]
  }

  forward(x: tf.Tensor3D, mask?: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => residualAttentionBlock(this.ops, '', x, mask) as tf.Tensor3D)
  }

  dispose(): void {
    for (const part of [this.attn, this.ln_1, this.c_fc, this.c_proj, this.ln_2]) part.dispose()
  }
}

/**
 * Which blocks of a trainable trunk recompute their forward pass in the backward pass: all, none, that many (the
 * first ones), or 'auto': as few as the wasm heap needs.
 */
export type Checkpointing = boolean | number | 'auto'

/**
 * What 'auto' plans a training step's peak for: wasm's 4 GiB heap less 0.5 GiB for what lies outside the trunk (the
 * patch embedding and its input, the loss) and the allocator's slack.
 */
const AUTO_BUDGET_BYTES = 2 ** 32 - 2 ** 29

export class Transformer {
  checkpointBlocks: Checkpointing = 'auto'
  /** The part of the heap 'auto' plans this trunk's training in: a step that trains two towers tapes both. */
  heapShare = 1

  constructor(readonly resblocks: ResidualAttentionBlock[]) {}

  /** Blocks `${prefix}.resblocks.0..n-1`, n read from the names present. */
  static fromStateDict(state: StateDict, prefix: string, trainable = false): Transformer {
    return new Transformer(
      blockNames(state, prefix).map((block) => ResidualAttentionBlock.fromStateDict(state, block, trainable)),
    )
  }

  get layers(): number {
    return this.resblocks.length
  }

  get heads(): number {
    return this.resblocks[0].attn.nHead
  }

  parameters(): Parameter[] {
    return this.resblocks.flatMap((block, i) => prefixed(`resblocks.${i}`, block.parameters()))
  }

  /**
   * Bytes a training step holds for one block that is not checkpointed: its tape, and the backward pass's gradients,
   * which tfjs frees only once the pass ends (a checkpointed block holds as much while it is recomputed). Fitted to
   * the wasm heap's growth: ~160 tensors of [B*L, W] and ~5 attention maps of [B*H, L, L]; measured at ViT-B size
   * (L = 306, W = 768), the heap grows ~1.1x less than this per block at batch 4 and 8.
   */
  blockTapeBytes([B, L, W]: number[]): number {
    return 4 * B * L * (160 * W + 5 * this.heads * L)
  }

  /** Bytes a checkpointed block keeps for its recomputation: its six Linear outputs, 9 W floats per token. */
  blockProductBytes([B, L, W]: number[]): number {
    return 4 * B * L * 9 * W
  }

  /**
   * How forward(x) trains: how many blocks it checkpoints (the first ones), and whether those keep their Linear
   * outputs, so that their recomputation runs no products. None in an inference trunk (it keeps no tape). 'auto' keeps
   * as many blocks' tapes as fit in the trunk's share of the heap beside the parameters, their gradients, LARS's
   * momentum and the update's temporaries (4x the weights), the tape of the block being recomputed and the checkpointed
   * blocks' products. Products are kept wherever they fit.
   */
  checkpointing(shape: number[]): {blocks: number; products: boolean} {
    const n = this.layers
    if (!(this.resblocks[0].ln_1.weight instanceof tf.Variable) || this.checkpointBlocks === false)
      return {blocks: 0, products: false}
    const weights = this.parameters().reduce((sum, p) => sum + p.parts.reduce((s, t) => s + 4 * t.size, 0), 0)
    const budget = AUTO_BUDGET_BYTES * this.heapShare - 4 * weights
    const [tape, kept] = [this.blockTapeBytes(shape), this.blockProductBytes(shape)]
    let blocks = n
    if (typeof this.checkpointBlocks === 'number') blocks = Math.min(n, Math.max(0, Math.round(this.checkpointBlocks)))
    else if (this.checkpointBlocks === 'auto' && n * tape <= budget) blocks = 0
    else if (this.checkpointBlocks === 'auto')
      blocks = n - Math.min(n - 1, Math.max(0, Math.floor((budget - tape - n * kept) / (tape - kept))))
    return {blocks, products: blocks > 0 && (n - blocks + 1) * tape + blocks * kept <= budget}
  }

  /** How many blocks forward(x) checkpoints. */
  checkpointedBlocks(shape: number[]): number {
    return this.checkpointing(shape).blocks
  }

  /** Whether forward(x) checkpoints any block. */
  checkpoints(shape: number[]): boolean {
    return this.checkpointedBlocks(shape) > 0
  }

  forward(x: tf.Tensor3D, mask?: tf.Tensor2D): tf.Tensor3D {
    // Block by block under its own tidy: only the residual stream outlives a block, which keeps peak memory at
    // one block's intermediates.
    const {blocks, products} = this.checkpointing(x.shape)
    let h = x
    for (const [i, block] of this.resblocks.entries()) {
      const next = tf.tidy(() => (i < blocks ? checkpointed(block, h, products, mask) : block.forward(h, mask)))
      if (h !== x) h.dispose()
      h = next
    }
    return h
  }

  dispose(): void {
    for (const block of this.resblocks) block.dispose()
  }
}

/**
 * block.forward(x, mask) as a single tape node over x and the block's weights that saves only x, the mask and, with
 * `keepProducts`, the block's Linear outputs: its gradient runs the block's forward again (the products replayed)
 * under a tape of its own and backpropagates dy through it.
 */
function checkpointed(
  block: ResidualAttentionBlock,
  x: tf.Tensor3D,
  keepProducts: boolean,
  mask?: tf.Tensor2D,
): tf.Tensor3D {
  const weights = block.parameters().flatMap((p) => p.parts)
  const run = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc
    const input = args[0] as tf.Tensor3D
    products = keepProducts ? {replay: false, outputs: [], next: 0} : undefined
    let value: tf.Tensor3D
    let outputs: tf.Tensor[]
    try {
      value = block.forward(input, mask)
    } finally {
      outputs = products?.outputs ?? []
      products = undefined
    }
    save([input, ...outputs, ...(mask ? [mask] : [])]) // nothing is saved when no gradient is recorded
    tf.dispose(outputs)
    return {
      value,
      gradFunc: (dy: tf.Tensor, [savedInput, ...saved]: tf.Tensor[]) => {
        const [recorded, savedMask] = [saved.slice(0, outputs.length), saved[outputs.length]]
        products = keepProducts ? {replay: true, outputs: recorded, next: 0} : undefined
        try {
          return recomputedGradients(
            () => block.forward(savedInput as tf.Tensor3D, savedMask as tf.Tensor2D | undefined),
            [savedInput, ...weights],
            dy,
          )
        } finally {
          products = undefined
          tf.dispose(recorded) // the tape would free them only once the whole backward pass ends
        }
      },
    }
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (...inputs: tf.Tensor[]) => tf.Tensor3D
  return run(x, ...weights)
}

/**
 * Gradients of f() with respect to xs, weighted by dy, from inside another backward pass. tfjs's engine.gradients()
 * ends by dropping the engine's tape when no gradient is being recorded, which is the case during a backward pass:
 * the outer tf.variableGrads would then fail freeing its own tape, so that tape is put back. The inner tape's
 * intermediates are freed as soon as its gradients exist.
 */
function recomputedGradients(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const engine = tf.engine()
  const tape = engine.state.activeTape
  try {
    const {value, grads} = engine.gradients(f, xs, dy)
    value.dispose()
    return grads
  } finally {
    engine.state.activeTape = tape
  }
}
