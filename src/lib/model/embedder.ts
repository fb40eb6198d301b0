import * as tf from '@tensorflow/tfjs-core'
import {towerBatch} from '../towers/batch.js'
import {perRow, type Embedder, type RowItems} from '../towers/embedder.js'
import type {TowerName} from '../towers/towers.js'
import {l2normalize} from './transformer.js'
import {disposeTowers, type Towers} from './towers.js'

export function localEmbedder(towers: Towers, normalize: boolean): Embedder {
  return {
    dims: Object.fromEntries(
      (['audio', 'text', 'image'] as const).flatMap((t) => (towers[t] ? [[t, towers[t]!.outputDim]] : [])),
    ),
    sources: towers.sources,
    embed: async (tower, rows) => embedRows(towers, tower, rows, normalize),
    close: async () => disposeTowers(towers),
  }
}

/** All items of all rows in one forward pass, split back per row. */
function embedRows(towers: Towers, tower: TowerName, rows: RowItems, normalize: boolean): (Float32Array | null)[] {
  const all = rows.flat()
  if (all.length === 0) return rows.map(() => null)
  const out = tf.tidy(() => {
    const x = forward(towers, tower, all)
    return normalize ? l2normalize(x) : x
  })
  const values = out.dataSync() as Float32Array
  out.dispose()
  return perRow(rows, values)
}

/** One batch of items through a tower: (n, E), not normalised. */
export function forward(towers: Towers, tower: TowerName, items: (Float32Array | string)[]): tf.Tensor2D {
  const {text, audio, image} = towers
  const sizes = {
    contextLength: text?.contextLength,
    vocabSize: text?.vocabSize,
    audioConfig: audio?.config,
    imageResolution: image?.inputResolution,
  }
  const {data, shape, dtype} = towerBatch(tower, items, sizes)
  if (tower === 'text') return text!.forward(tf.tensor2d(data, shape as [number, number], dtype))
  if (tower === 'audio') return audio!.forward(tf.tensor3d(data, shape as [number, number, number], dtype)) // shape = [n, T, 128]
  return image!.forward(tf.tensor4d(data, shape as [number, number, number, number], dtype)) // shape = [n, R, R, 3]
}
