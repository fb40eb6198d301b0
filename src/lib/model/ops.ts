/**
 * The tower operations (src/lib/towers/ops.ts) on tfjs tensors, over the modules a tower loaded, by their full names.
 * wasm runs one kind of matMul fast (XNNPACK), a single 2-D product without transpose flags, so LayerNorm and Linear
 * see 2-D activations: (B, L, W) is reshaped to (B*L, W) and back around each (a reshape moves no data).
 */
import * as tf from '@tensorflow/tfjs-core'
import type {Grid} from '../checkpoint/audio-config.js'
import type {Patches, TowerOps} from '../towers/ops.js'
import {gatherRows} from './parameters.js'

/** LayerNorm, Linear, MultiheadAttention and Transformer of src/lib/model/transformer.ts, as this file calls them. */
interface Module {
  forward(x: tf.Tensor, mask?: tf.Tensor): tf.Tensor
}

export class TfjsOps implements TowerOps<tf.Tensor> {
  constructor(
    private readonly modules: ReadonlyMap<string, Module | tf.Tensor>,
    /** The positional embedding for an input grid other than the trained one (the audio tower's). */
    private readonly adaptedPositions?: (grid: Grid) => tf.Tensor,
  ) {}

  add(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
    return tf.add(a, b)
  }

  quickGelu(x: tf.Tensor): tf.Tensor {
    return quickGelu(x)
  }

  layerNorm(name: string, x: tf.Tensor): tf.Tensor {
    return this.flat(name, x)
  }

  linear(name: string, x: tf.Tensor): tf.Tensor {
    return this.flat(name, x)
  }

  attention(name: string, x: tf.Tensor, mask?: tf.Tensor): tf.Tensor {
    return this.module(name).forward(x, mask)
  }

  transformer(name: string, x: tf.Tensor, mask?: tf.Tensor): tf.Tensor {
    return this.module(name).forward(x, mask)
  }

  project(name: string, x: tf.Tensor): tf.Tensor {
    return tf.matMul(x as tf.Tensor2D, this.tensor(name) as tf.Tensor2D)
  }

  /**
   * 'hwc' (non-overlapping): patches cut by reshapes, the filter stored [P*P*3, W] in (kh, kw, channel) order.
   * 'mono' (overlapping, stride < patch): patches gathered, the filter stored [C, P*P, W] and averaged over C here
   * unless it was at load (C = 1). x is the tower's input (pixels, log-mels): only the filter takes a gradient.
   */
  patchEmbedding(name: string, x: tf.Tensor, {layout, patchSize: P, stride, grid: [rows, cols]}: Patches): tf.Tensor {
    const conv1 = this.tensor(name)
    const W = conv1.shape[conv1.rank - 1]
    const B = x.shape[0]
    let patches: tf.Tensor2D
    let kernel: tf.Tensor2D
    if (layout === 'hwc') {
      const tiles = tf.reshape(x, [B * rows, P, cols, P * 3]) // shape = [B*rows, kh, cols, kw*3]
      patches = tf.reshape(tf.transpose(tiles, [0, 2, 1, 3]), [B * rows * cols, P * P * 3]) // shape = [B*rows*cols, kh*kw*3]
      kernel = conv1 as tf.Tensor2D
    } else {
      const [T, F] = x.shape.slice(1)
      const index = patchIndex([rows, cols], P, stride, F)
      patches = tf.reshape(tf.gather(tf.reshape(x, [B, T * F]), index, 1), [B * rows * cols, P * P]) // shape = [B*rows*cols, P*P]
      kernel = (conv1.shape[0] === 1 ? tf.reshape(conv1, [P * P, W]) : tf.mean(conv1, 0)) as tf.Tensor2D // shape = [P*P, W]
    }
    // The patches take no gradient (they are input): tfjs's backward pass computes the kernel's alone.
    return tf.reshape(tf.matMul(patches, kernel), [B, rows * cols, W]) // shape = [B, rows*cols, W], row-major grid
  }

  withClassToken(name: string, x: tf.Tensor): tf.Tensor {
    const [B, , W] = x.shape
    return tf.concat([tf.broadcastTo(tf.reshape(this.tensor(name), [1, 1, W]), [B, 1, W]), x], 1) // shape = [B, 1 + N, W]
  }

  positionalEmbedding(name: string, grids?: {trained: Grid; input: Grid}): tf.Tensor {
    if (!grids || (grids.input[0] === grids.trained[0] && grids.input[1] === grids.trained[1])) return this.tensor(name)
    return this.adaptedPositions!(grids.input)
  }

  classToken(x: tf.Tensor): tf.Tensor {
    const [B, , W] = x.shape
    return tf.reshape(tf.slice(x, [0, 0, 0], [B, 1, W]), [B, W])
  }

  embedTokens(name: string, ids: tf.Tensor): tf.Tensor {
    const [B, L] = ids.shape as [number, number]
    const table = this.tensor(name) as tf.Tensor2D
    return tf.reshape(gatherRows(table, tf.reshape(ids, [B * L])), [B, L, table.shape[1]]) // shape = [B, L, W]
  }

  leadingRows(name: string, ids: tf.Tensor): tf.Tensor {
    const table = this.tensor(name)
    return tf.slice(table, [0, 0], [ids.shape[1]!, table.shape[1]!])
  }

  /** L <= contextLength, checked by the text tower. */
  causalMask(_contextLength: number, ids: tf.Tensor): tf.Tensor {
    const L = ids.shape[1]!
    const mask = new Float32Array(L * L)
    for (let i = 0; i < L; i++) mask.fill(-Infinity, i * L + i + 1, (i + 1) * L)
    return tf.tensor2d(mask, [L, L])
  }

  eotToken(x: tf.Tensor, ids: tf.Tensor): tf.Tensor {
    const [B, L, W] = x.shape as [number, number, number]
    const eot = tf.add(tf.argMax(ids, 1), tf.range(0, B * L, L, 'int32')) as tf.Tensor1D // flat index of each row's EOT
    return gatherRows(tf.reshape(x, [B * L, W]), eot) // shape = [B, W]
  }

  /** A LayerNorm or Linear over the last axis of x of any rank, run on x as (rows, W). */
  private flat(name: string, x: tf.Tensor): tf.Tensor {
    const width = x.shape[x.rank - 1]
    const y = this.module(name).forward(x.rank === 2 ? x : tf.reshape(x, [-1, width]))
    return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), y.shape[1]!])
  }

  private module(name: string): Module {
    const m = this.modules.get(name)
    if (!m || m instanceof tf.Tensor) throw new Error(`no module ${name}`)
    return m
  }

  private tensor(name: string): tf.Tensor {
    const t = this.modules.get(name)
    if (!(t instanceof tf.Tensor)) throw new Error(`no tensor ${name}`)
    return t
  }
}

/**
 * Flat (t * bins + f) offsets of every patch pixel, patch-major in (row, col) order and within a patch in (time,
 * freq) order: the layout of conv1's [P, P] kernel.
 */
function patchIndex([rows, cols]: Grid, P: number, stride: [number, number], bins: number): tf.Tensor1D {
  const index = new Int32Array(rows * cols * P * P)
  let at = 0
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      for (let i = 0; i < P; i++) {
        const base = (r * stride[0] + i) * bins + c * stride[1]
        for (let j = 0; j < P; j++) index[at++] = base + j
      }
    }
  }
  return tf.tensor1d(index, 'int32')
}

/**
 * x * sigmoid(1.702 x), with its gradient dy * s * (1 + 1.702 x (1 - s)) written out, s = sigmoid(1.702 x): derived
 * op by op it takes more passes over the MLP's widest activations, and a copy of x.
 */
const quickGelu = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const s = tf.sigmoid(tf.mul(x, 1.702))
  save([x, s])
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, [input, sig]: tf.Tensor[]) =>
      tf.mul(tf.mul(dy, sig), tf.add(tf.mul(tf.mul(input, 1.702), tf.sub(1, sig)), 1)),
  }
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor) => tf.Tensor
