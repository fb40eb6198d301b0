/**
 * The towers' weights as training sees them. A tower built for inference holds plain tensors in whatever layout
 * runs fastest (Linear weights transposed to [in, out], q/k/v cut from in_proj_weight); built to train, the same
 * tensors are tf.Variables. Either way it lists them under their PyTorch names as `Parameter`s, which give the
 * PyTorch layout back for checkpoints and let optimisers treat a parameter cut in parts as one tensor (LARS's
 * trust ratio is a norm over the whole in_proj_weight).
 */
import * as tf from '@tensorflow/tfjs-core'
import type {StateDict, Tensor} from '../checkpoint/tensor.js'

export interface Parameter {
  /** The PyTorch state-dict name. */
  name: string
  parts: tf.Tensor[]
  /** Rank of the PyTorch tensor (LARS groups parameters by it, docs/method.md §7.1). */
  ndim: number
  toTorch(): Tensor
}

/** `t` as a trainable variable (taking over its memory) when `trainable`, else `t` itself. */
export function own<T extends tf.Tensor>(t: T, trainable: boolean): T {
  if (!trainable) return t
  const v = tf.variable(t, true, undefined, 'float32')
  t.dispose()
  return v as unknown as T
}

function torchTensor(t: tf.Tensor): Tensor {
  return {shape: t.shape.slice(), dtype: 'float32', data: Float32Array.from(t.dataSync() as Float32Array)}
}

/** A parameter held in PyTorch's own layout. */
export function asIs(name: string, t: tf.Tensor): Parameter {
  return {name, parts: [t], ndim: t.rank, toTorch: () => torchTensor(t)}
}

/** A parameter held as its parts transformed by `layout`, which `toTorch` undoes. */
export function laidOut(
  name: string,
  parts: tf.Tensor[],
  ndim: number,
  toTorch: (parts: tf.Tensor[]) => tf.Tensor,
): Parameter {
  return {
    name,
    parts,
    ndim,
    toTorch: () => {
      const t = tf.tidy(() => toTorch(parts))
      const out = torchTensor(t)
      t.dispose()
      return out
    },
  }
}

/** A Linear-style weight held transposed ([in, out]) for x @ W. */
export function transposed(name: string, t: tf.Tensor2D): Parameter {
  return laidOut(name, [t], 2, ([w]) => tf.transpose(w))
}

export function prefixed(prefix: string, params: Parameter[]): Parameter[] {
  return params.map((p) => ({...p, name: `${prefix}.${p.name}`}))
}

export function stateDictOf(params: readonly Parameter[]): StateDict {
  return new Map(params.map((p) => [p.name, p.toTorch()]))
}

/**
 * tf.gather(table, rows) along axis 0 with a gradient that wasm can run: its own needs UnsortedSegmentSum, which
 * the wasm backend lacks, and a one-hot product (or wasm's ScatterNd) costs seconds per step for CLIP's
 * 49408-row token table, so the few gathered rows' gradients are summed into the table's shape here, in order.
 */
export function gatherRows(table: tf.Tensor2D, rows: tf.Tensor1D): tf.Tensor2D {
  const [n, width] = table.shape
  const gather = tf.customGrad(((t: tf.Tensor, r: tf.Tensor, save: tf.GradSaveFunc) => {
    save([r])
    return {
      value: tf.gather(t, r),
      gradFunc: (dy: tf.Tensor, [index]: tf.Tensor[]) => {
        const [at, values] = [index.dataSync(), dy.dataSync()]
        const grad = new Float32Array(n * width)
        for (let i = 0; i < at.length; i++)
          for (let j = 0; j < width; j++) grad[at[i] * width + j] += values[i * width + j]
        return [tf.tensor2d(grad, [n, width]), tf.zerosLike(index)]
      },
    }
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (t: tf.Tensor, r: tf.Tensor) => tf.Tensor
  return gather(table, rows) as tf.Tensor2D
}
