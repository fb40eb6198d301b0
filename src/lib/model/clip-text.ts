/** CLIP's text tower (src/lib/towers/text.ts) on tfjs: its weights, trainable or not. */
import * as tf from '@tensorflow/tfjs-core'
import type {StateDict} from '../checkpoint/tensor.js'
import {TEXT_NAMES as NAMES, textTower} from '../towers/text.js'
import {UserError} from '../util/errors.js'
import {TfjsOps} from './ops.js'
import {asIs, own, prefixed, type Parameter} from './parameters.js'
import {LayerNorm, param, Transformer} from './transformer.js'

export class TextTransformer {
  private constructor(
    readonly token_embedding: tf.Tensor2D,
    readonly positional_embedding: tf.Tensor2D,
    readonly transformer: Transformer,
    readonly ln_final: LayerNorm,
    readonly text_projection: tf.Tensor2D,
  ) {
    const modules: [string, tf.Tensor | LayerNorm | Transformer][] = [
      [NAMES.token_embedding, token_embedding],
      [NAMES.positional_embedding, positional_embedding],
      [NAMES.transformer, transformer],
      [NAMES.ln_final, ln_final],
      [NAMES.text_projection, text_projection],
    ]
    this.ops = new TfjsOps(new Map(modules))
  }

  private readonly ops: TfjsOps

  /** From CLIP's top-level text weights (`token_embedding.weight`, `positional_embedding`, `transformer.*`, ...). */
  static fromStateDict(state: StateDict, trainable = false): TextTransformer {
    return new TextTransformer(
      own(param(state, NAMES.token_embedding) as tf.Tensor2D, trainable),
      own(param(state, NAMES.positional_embedding) as tf.Tensor2D, trainable),
      Transformer.fromStateDict(state, NAMES.transformer, trainable),
      LayerNorm.fromStateDict(state, NAMES.ln_final, trainable),
      own(param(state, NAMES.text_projection) as tf.Tensor2D, trainable),
    )
  }

  /** CLIP's names and layout. */
  parameters(): Parameter[] {
    return [
      asIs(NAMES.positional_embedding, this.positional_embedding),
      asIs(NAMES.text_projection, this.text_projection),
      ...prefixed(NAMES.transformer, this.transformer.parameters()),
      asIs(NAMES.token_embedding, this.token_embedding),
      ...prefixed(NAMES.ln_final, this.ln_final.parameters()),
    ]
  }

  get vocabSize(): number {
    return this.token_embedding.shape[0]
  }

  get contextLength(): number {
    return this.positional_embedding.shape[0]
  }

  get width(): number {
    return this.token_embedding.shape[1]
  }

  get outputDim(): number {
    return this.text_projection.shape[1]
  }

  /** ids: (B, L) int32 with the EOT token the highest id of each row; returns (B, E), not normalised. */
  forward(ids: tf.Tensor2D): tf.Tensor2D {
    const [, L] = ids.shape
    if (L > this.contextLength)
      throw new UserError(`text of ${L} tokens exceeds the context length ${this.contextLength}`)
    return tf.tidy(() => textTower(this.ops, this.contextLength, ids) as tf.Tensor2D)
  }

  dispose(): void {
    tf.dispose([this.token_embedding, this.positional_embedding, this.text_projection])
    for (const part of [this.transformer, this.ln_final]) part.dispose()
  }
}
