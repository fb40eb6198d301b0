/** CLIP's image tower (src/lib/towers/vision.ts) as an ONNX graph: input `image` (B, R, R, 3), output (B, E). */
import type {StateDict} from '../checkpoint/tensor.js'
import {visionGeometry, visionNames, visionTower} from '../towers/vision.js'
import {Graph} from './graph.js'
import {OnnxOps} from './ops.js'

export function visionTransformerGraph(state: StateDict, prefix = 'visual'): Graph {
  const names = visionNames(prefix)
  const geometry = visionGeometry(state, names, prefix)
  const R = geometry.grid * geometry.patchSize
  const g = new Graph('clip-vision')
  const ops = new OnnxOps(g, state)
  const image = g.input('image', 'float32', ['batch', R, R, 3])
  g.output(visionTower(ops, names, geometry, image), 'float32', ['batch', ops.tensor(names.proj).shape[1]])
  return g
}
