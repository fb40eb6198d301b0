/** CLIP's image tower (src/lib/towers/vision.ts) on tfjs: its weights, trainable or not. */
import * as tf from '@tensorflow/tfjs-core'
import type {StateDict} from '../checkpoint/tensor.js'
import type {VitNames} from '../towers/transformer.js'
import {visionGeometry, visionNames, visionTower} from '../towers/vision.js'
import {UserError} from '../util/errors.js'
import {TfjsOps} from './ops.js'
import {asIs, laidOut, own, prefixed, type Parameter} from './parameters.js'
import {LayerNorm, param, Transformer} from './transformer.js'

export class VisionTransformer {
  private constructor(
    /** conv1 as a matMul: [P*P*3, W], rows in (kh, kw, channel) order to match the patches cut from HWC pixels. */
    readonly conv1: tf.Tensor2D,
    readonly class_embedding: tf.Tensor1D,
    readonly positional_embedding: tf.Tensor2D,
    readonly ln_pre: LayerNorm,
    readonly transformer: Transformer,
    readonly ln_post: LayerNorm,
    readonly proj: tf.Tensor2D,
    readonly patchSize: number,
    /** Patches per side: the positional embedding is 1 + grid^2 rows. */
    readonly grid: number,
    /** Where the weights were read from (`visual.*` in a CLIP). */
    private readonly names: VitNames,
  ) {
    const modules: [string, tf.Tensor | LayerNorm | Transformer][] = [
      [names.conv1, conv1],
      [names.class_embedding, class_embedding],
      [names.positional_embedding, positional_embedding],
      [names.ln_pre, ln_pre],
      [names.transformer, transformer],
      [names.ln_post, ln_post],
      [names.proj, proj],
    ]
    this.ops = new TfjsOps(new Map(modules))
  }

  private readonly ops: TfjsOps

  /** From CLIP's `visual.*` weights (or another prefix holding the same names). */
  static fromStateDict(state: StateDict, prefix = 'visual', trainable = false): VisionTransformer {
    const names = visionNames(prefix)
    const {width, patchSize, grid} = visionGeometry(state, names, prefix)
    const conv1 = tf.tidy(() =>
      tf.reshape(tf.transpose(param(state, names.conv1), [2, 3, 1, 0]), [patchSize * patchSize * 3, width]),
    ) as tf.Tensor2D // [W, 3, P, P] -> [P, P, 3, W] -> [P*P*3, W]
    return new VisionTransformer(
      own(conv1, trainable),
      own(param(state, names.class_embedding) as tf.Tensor1D, trainable),
      own(param(state, names.positional_embedding) as tf.Tensor2D, trainable),
      LayerNorm.fromStateDict(state, names.ln_pre, trainable),
      Transformer.fromStateDict(state, names.transformer, trainable),
      LayerNorm.fromStateDict(state, names.ln_post, trainable),
      own(param(state, names.proj) as tf.Tensor2D, trainable),
      patchSize,
      grid,
      names,
    )
  }

  /** CLIP's names under `visual.` and layout. */
  parameters(): Parameter[] {
    const [P, W] = [this.patchSize, this.width]
    const names = visionNames('visual')
    return [
      asIs(names.class_embedding, this.class_embedding),
      asIs(names.positional_embedding, this.positional_embedding),
      asIs(names.proj, this.proj),
      laidOut(names.conv1, [this.conv1], 4, ([w]) => tf.transpose(tf.reshape(w, [P, P, 3, W]), [3, 2, 0, 1])),
      ...prefixed(names.ln_pre, this.ln_pre.parameters()),
      ...prefixed(names.transformer, this.transformer.parameters()),
      ...prefixed(names.ln_post, this.ln_post.parameters()),
    ]
  }

  get width(): number {
    return this.conv1.shape[1]
  }

  get inputResolution(): number {
    return this.grid * this.patchSize
  }

  get outputDim(): number {
    return this.proj.shape[1]
  }

  /** x: (B, R, R, 3) with R = grid * patch size; returns (B, E), not normalised. */
  forward(x: tf.Tensor4D): tf.Tensor2D {
    const [, R, R2, C] = x.shape
    const [G, P, W] = [this.grid, this.patchSize, this.width]
    if (R !== this.inputResolution || R2 !== R || C !== 3) {
      throw new UserError(
        `image tower expects (B, ${this.inputResolution}, ${this.inputResolution}, 3) input, got (${x.shape})`,
      )
    }
    return tf.tidy(() => visionTower(this.ops, this.names, {width: W, patchSize: P, grid: G}, x) as tf.Tensor2D)
  }

  dispose(): void {
    tf.dispose([this.conv1, this.class_embedding, this.positional_embedding, this.proj])
    for (const part of [this.ln_pre, this.transformer, this.ln_post]) part.dispose()
  }
}
