/**
 * VIP-ANT's optimiser (docs/method.md §7.1): LARS (cvap/module/lars.py, the Barlow Twins one) over two parameter groups, with
 * the Barlow Twins learning-rate schedule; Adam (PyTorch's) as the alternative. Both keep their state as plain
 * tensors so that a checkpoint can hold it and a resumed run continues bit for bit.
 */
import * as tf from '@tensorflow/tfjs-core'
import type {StateDict} from '../checkpoint/tensor.js'
import type {Parameter} from '../model/parameters.js'
import {UserError} from '../util/errors.js'

export interface Schedule {
  /** The peak learning rate: batch_size / 256 for LARS. */
  peak: number
  warmupSteps: number
  totalSteps: number
}

/** `adjust_learning_rate`: linear warm-up from 0, then a cosine from the peak down to 0.001 of it at `totalSteps`. */
export function learningRate(step: number, {peak, warmupSteps, totalSteps}: Schedule): number {
  if (step < warmupSteps) return (peak * step) / warmupSteps
  const q = 0.5 * (1 + Math.cos((Math.PI * (step - warmupSteps)) / Math.max(1, totalSteps - warmupSteps)))
  return peak * q + 0.001 * peak * (1 - q)
}

/** Gradients by parameter part (the tf.Variable each part is). */
export type Gradients = Map<tf.Tensor, tf.Tensor>

export interface Optimizer {
  /** Updates every parameter in place from its gradients, at the schedule's learning rate `lr`. */
  apply(params: readonly Parameter[], grads: Gradients, lr: number): void
  /** Moments by `<parameter>.<part>.<moment>`, plus counters, for a checkpoint. */
  state(params: readonly Parameter[]): {tensors: StateDict; counters: Record<string, number>}
  load(params: readonly Parameter[], tensors: StateDict, counters: Record<string, number>): void
  dispose(): void
}

/** Slots of per-part moment tensors, created as zeros on first use. */
class Moments {
  private readonly slots = new Map<tf.Tensor, tf.Tensor[]>()

  constructor(readonly names: readonly string[]) {}

  get(part: tf.Tensor): tf.Tensor[] {
    let slot = this.slots.get(part)
    if (!slot) {
      slot = this.names.map(() => tf.keep(tf.zerosLike(part)))
      this.slots.set(part, slot)
    }
    return slot
  }

  set(part: tf.Tensor, values: tf.Tensor[]): void {
    const old = this.slots.get(part)
    this.slots.set(
      part,
      values.map((v) => tf.keep(v)),
    )
    tf.dispose(old)
  }

  state(params: readonly Parameter[]): StateDict {
    const out: StateDict = new Map()
    for (const p of params) {
      p.parts.forEach((part, i) => {
        this.get(part).forEach((m, k) =>
          out.set(`${p.name}.${i}.${this.names[k]}`, {
            shape: m.shape.slice(),
            dtype: 'float32',
            data: Float32Array.from(m.dataSync() as Float32Array),
          }),
        )
      })
    }
    return out
  }

  load(params: readonly Parameter[], tensors: StateDict): void {
    for (const p of params) {
      p.parts.forEach((part, i) => {
        this.set(
          part,
          this.names.map((name) => {
            const t = tensors.get(`${p.name}.${i}.${name}`)
            if (!t || t.shape.join() !== part.shape.join())
              throw new UserError(`optimiser state lacks ${p.name}.${i}.${name} of shape [${part.shape}]`)
            return tf.tensor(t.data, t.shape, 'float32')
          }),
        )
      })
    }
  }

  dispose(): void {
    for (const slot of this.slots.values()) tf.dispose(slot)
    this.slots.clear()
  }
}

export interface LarsOptions {
  weightDecay: number
  momentum: number
  eta: number
  /** Multipliers of the scheduled lr for the two groups: ndim >= 2 (0.2) and the rest (0.0048). */
  lrWeight: number
  lrBias: number
}

/**
 * LARS with Barlow Twins' two groups: parameters of rank >= 2 (weights, conv1, the positional embedding) get
 * weight decay and the trust ratio eta * ||p|| / ||g|| (1 when either norm is 0); biases, LayerNorm, the class
 * embedding and the logit scale get neither. Then mu = momentum * mu + g and p -= lr_group * mu. A parameter
 * held in parts (q, k, v of in_proj_weight) is scaled by the norms of the whole.
 */
export function lars(options: LarsOptions): Optimizer {
  const moments = new Moments(['mu'])
  return {
    apply(params, grads, lr) {
      for (const p of params) {
        const gs = p.parts.map((part) => grads.get(part)!)
        const isWeight = p.ndim >= 2
        const updated = tf.tidy(() => {
          let g = isWeight ? gs.map((gi, i) => tf.add(gi, tf.mul(p.parts[i], options.weightDecay))) : gs
          if (isWeight) {
            const norm = (ts: tf.Tensor[]) => tf.sqrt(tf.addN(ts.map((t) => tf.sum(tf.square(t)))))
            const [pn, gn] = [norm(p.parts), norm(g)]
            const q = tf.where(
              tf.logicalAnd(tf.greater(pn, 0), tf.greater(gn, 0)),
              tf.div(tf.mul(pn, options.eta), gn),
              tf.onesLike(pn),
            )
            g = g.map((gi) => tf.mul(gi, q))
          }
          const groupLr = lr * (isWeight ? options.lrWeight : options.lrBias)
          return p.parts.map((part, i) => {
            const mu = tf.add(tf.mul(moments.get(part)[0], options.momentum), g[i])
            return {mu, value: tf.sub(part, tf.mul(mu, groupLr))}
          })
        })
        updated.forEach(({mu, value}, i) => {
          moments.set(p.parts[i], [mu])
          ;(p.parts[i] as tf.Variable).assign(value)
          value.dispose()
        })
      }
    },
    state: (params) => ({tensors: moments.state(params), counters: {}}),
    load: (params, tensors) => moments.load(params, tensors),
    dispose: () => moments.dispose(),
  }
}

export interface AdamOptions {
  beta1: number
  beta2: number
  eps: number
}

/** torch.optim.Adam without weight decay: bias-corrected moments, step = lr / bc1, denominator sqrt(v) / sqrt(bc2) + eps. */
export function adam({beta1, beta2, eps}: AdamOptions = {beta1: 0.9, beta2: 0.999, eps: 1e-8}): Optimizer {
  const moments = new Moments(['exp_avg', 'exp_avg_sq'])
  let t = 0
  return {
    apply(params, grads, lr) {
      t++
      const [bc1, bc2] = [1 - beta1 ** t, 1 - beta2 ** t]
      for (const p of params) {
        p.parts.forEach((part) => {
          const g = grads.get(part)!
          const [m, v] = moments.get(part)
          const [m1, v1, value] = tf.tidy(() => {
            const m1 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1))
            const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2))
            const denom = tf.add(tf.div(tf.sqrt(v1), Math.sqrt(bc2)), eps)
            return [m1, v1, tf.sub(part, tf.mul(tf.div(m1, denom), lr / bc1))]
          })
          moments.set(part, [m1, v1])
          ;(part as tf.Variable).assign(value)
          value.dispose()
        })
      }
    },
    state: (params) => ({tensors: moments.state(params), counters: {adam_step: t}}),
    load(params, tensors, counters) {
      moments.load(params, tensors)
      t = counters.adam_step ?? 0
    },
    dispose: () => moments.dispose(),
  }
}
