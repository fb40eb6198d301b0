/**
 * CLIP's text tower (openai/CLIP model.py `CLIP.encode_text`; VIP-ANT's GPTPreEncoder/GPTPostEncoder), frozen in
 * the AT stage. Input: token ids (B, L) int32, `[SOT] bpe [EOT]` padded with 0 to the batch's longest (docs/method.md §5.6);
 * the causal mask makes the padding invisible to the EOT token, so any L <= context length gives CLIP's result.
 */
import * as tf from '@tensorflow/tfjs-core'
import type {StateDict} from '../checkpoint/tensor.js'
import {UserError} from '../util/errors.js'
import {asIs, gatherRows, matMulFast, own, prefixed, type Parameter} from './parameters.js'
import {LayerNorm, param, Transformer} from './transformer.js'

export class TextTransformer {
  private constructor(
    readonly token_embedding: tf.Tensor2D,
    readonly positional_embedding: tf.Tensor2D,
    readonly transformer: Transformer,
    readonly ln_final: LayerNorm,
    readonly text_projection: tf.Tensor2D,
  ) {}

  /** From CLIP's top-level text weights (`token_embedding.weight`, `positional_embedding`, `transformer.*`, ...). */
  static fromStateDict(state: StateDict, trainable = false): TextTransformer {
    return new TextTransformer(
      own(param(state, 'token_embedding.weight') as tf.Tensor2D, trainable),
      own(param(state, 'positional_embedding') as tf.Tensor2D, trainable),
      Transformer.fromStateDict(state, 'transformer', trainable),
      LayerNorm.fromStateDict(state, 'ln_final', trainable),
      own(param(state, 'text_projection') as tf.Tensor2D, trainable),
    )
  }

  /** CLIP's names and layout. */
  parameters(): Parameter[] {
    return [
      asIs('positional_embedding', this.positional_embedding),
      asIs('text_projection', this.text_projection),
      ...prefixed('transformer', this.transformer.parameters()),
      asIs('token_embedding.weight', this.token_embedding),
      ...prefixed('ln_final', this.ln_final.parameters()),
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
    const [B, L] = ids.shape
    const W = this.width
    if (L > this.contextLength) throw new UserError(`text of ${L} tokens exceeds the context length ${this.contextLength}`)
    return tf.tidy(() => {
      let x = tf.reshape(gatherRows(this.token_embedding, tf.reshape(ids, [B * L])), [B, L, W]) // shape = [B, L, W]
      x = tf.add(x, tf.slice(this.positional_embedding, [0, 0], [L, W]))
      x = this.transformer.forward(x as tf.Tensor3D, causalMask(L))
      // CLIP applies ln_final to every token and keeps the EOT one (argmax of the ids); LayerNorm is per token, so
      // normalising only the kept tokens is the same.
      const eot = tf.add(tf.argMax(ids, 1), tf.range(0, B * L, L, 'int32')) as tf.Tensor1D // flat index of each row's EOT
      const pooled = gatherRows(tf.reshape(x, [B * L, W]), eot) // shape = [B, W]
      return matMulFast(this.ln_final.forward(pooled), this.text_projection)
    })
  }

  dispose(): void {
    tf.dispose([this.token_embedding, this.positional_embedding, this.text_projection])
    for (const part of [this.transformer, this.ln_final]) part.dispose()
  }
}

/** CLIP's `build_attention_mask`, sliced to L: additive, -inf above the diagonal. */
function causalMask(L: number): tf.Tensor2D {
  const mask = new Float32Array(L * L)
  for (let i = 0; i < L; i++) mask.fill(-Infinity, i * L + i + 1, (i + 1) * L)
  return tf.tensor2d(mask, [L, L])
}
