import * as tf from '@tensorflow/tfjs-core'
import {l2normalize} from '../model/transformer.js'

/**
 * VIP-ANT's CELossHead (docs/method.md §6): with a and b L2-normalised and logits = exp(s) a bᵀ, the SUM of the two
 * cross-entropies against the diagonal, each averaged over the batch. The logit scale is learned and unclamped.
 */
export function contrastiveLoss(a: tf.Tensor2D, b: tf.Tensor2D, logitScale: tf.Scalar): tf.Scalar {
  return tf.tidy(() => {
    const logits = tf.mul(tf.exp(logitScale), tf.matMul(l2normalize(a), l2normalize(b), false, true)) as tf.Tensor2D // shape = [B, B]
    const diagonal = tf.eye(a.shape[0])
    const ce = (l: tf.Tensor2D) => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(l), diagonal), 1)))
    return tf.add(ce(logits), ce(tf.transpose(logits))) as tf.Scalar
  })
}
