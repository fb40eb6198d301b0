/**
 * CLIP's image tower (openai/CLIP model.py `VisionTransformer`), frozen in VIP-ANT's VA stage. Input: (B, H, W, 3)
 * normalised floats in HWC order, as the mel stage's `images` column holds them (docs/method.md §4). Output: (B, E).
 */
import * as tf from '@tensorflow/tfjs-core'
import type {StateDict} from '../checkpoint/tensor.js'
import {UserError} from '../util/errors.js'
import {asIs, laidOut, matMulFast, own, prefixed, type Parameter} from './parameters.js'
import {LayerNorm, param, shapeOf, Transformer} from './transformer.js'

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
  ) {}

  /** From CLIP's `visual.*` weights (or another prefix holding the same names). */
  static fromStateDict(state: StateDict, prefix = 'visual', trainable = false): VisionTransformer {
    const [width, channels, patchSize] = shapeOf(state, `${prefix}.conv1.weight`)
    const [positions, posWidth] = shapeOf(state, `${prefix}.positional_embedding`)
    const grid = Math.round(Math.sqrt(positions - 1))
    if (channels !== 3 || grid * grid + 1 !== positions || posWidth !== width) {
      throw new UserError(`${prefix}: not a CLIP ViT (conv1 [${shapeOf(state, `${prefix}.conv1.weight`)}], positions ${positions})`)
    }
    const conv1 = tf.tidy(() =>
      tf.reshape(tf.transpose(param(state, `${prefix}.conv1.weight`), [2, 3, 1, 0]), [patchSize * patchSize * 3, width]),
    ) as tf.Tensor2D // [W, 3, P, P] -> [P, P, 3, W] -> [P*P*3, W]
    return new VisionTransformer(
      own(conv1, trainable),
      own(param(state, `${prefix}.class_embedding`) as tf.Tensor1D, trainable),
      own(param(state, `${prefix}.positional_embedding`) as tf.Tensor2D, trainable),
      LayerNorm.fromStateDict(state, `${prefix}.ln_pre`, trainable),
      Transformer.fromStateDict(state, `${prefix}.transformer`, trainable),
      LayerNorm.fromStateDict(state, `${prefix}.ln_post`, trainable),
      own(param(state, `${prefix}.proj`) as tf.Tensor2D, trainable),
      patchSize,
      grid,
    )
  }

  /** CLIP's names under `visual.` and layout. */
  parameters(): Parameter[] {
    const [P, W] = [this.patchSize, this.width]
    return prefixed('visual', [
      asIs('class_embedding', this.class_embedding),
      asIs('positional_embedding', this.positional_embedding),
      asIs('proj', this.proj),
      laidOut('conv1.weight', [this.conv1], 4, ([w]) => tf.transpose(tf.reshape(w, [P, P, 3, W]), [3, 2, 0, 1])),
      ...prefixed('ln_pre', this.ln_pre.parameters()),
      ...prefixed('transformer', this.transformer.parameters()),
      ...prefixed('ln_post', this.ln_post.parameters()),
    ])
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
    const [B, R, R2, C] = x.shape
    const [G, P, W] = [this.grid, this.patchSize, this.width]
    if (R !== this.inputResolution || R2 !== R || C !== 3) {
      throw new UserError(`image tower expects (B, ${this.inputResolution}, ${this.inputResolution}, 3) input, got (${x.shape})`)
    }
    return tf.tidy(() => {
      // Non-overlapping patches: the stride-P conv is a matMul over patches cut by reshapes.
      const rows = tf.reshape(x, [B * G, P, G, P * 3]) // shape = [B*grid, kh, grid, kw*3]
      const patches = tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [B * G * G, P * P * 3]) // shape = [B*grid^2, kh*kw*3]
      let h = tf.reshape(matMulFast(patches, this.conv1), [B, G * G, W]) // shape = [B, grid^2, W], row-major grid
      h = tf.concat([tf.broadcastTo(tf.reshape(this.class_embedding, [1, 1, W]), [B, 1, W]), h], 1) // shape = [B, grid^2 + 1, W]
      h = tf.add(h, this.positional_embedding)
      const L = G * G + 1
      h = tf.reshape(this.ln_pre.forward(tf.reshape(h, [B * L, W])), [B, L, W])
      h = this.transformer.forward(h as tf.Tensor3D)
      const cls = tf.reshape(tf.slice(h, [0, 0, 0], [B, 1, W]), [B, W]) as tf.Tensor2D
      return matMulFast(this.ln_post.forward(cls), this.proj)
    })
  }

  dispose(): void {
    tf.dispose([this.conv1, this.class_embedding, this.positional_embedding, this.proj])
    for (const part of [this.ln_pre, this.transformer, this.ln_post]) part.dispose()
  }
}
