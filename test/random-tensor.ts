import * as tf from '@tensorflow/tfjs-core'
import {mulberry32} from '../src/lib/util/rng.js'

/** A float32 tensor of uniform values in [-1, 1) from a fixed seed. */
export function randomTensor(shape: number[], seed: number): tf.Tensor {
  const rng = mulberry32(seed)
  return tf.tensor(
    Float32Array.from({length: shape.reduce((a, b) => a * b, 1)}, () => 2 * rng() - 1),
    shape,
    'float32',
  )
}
