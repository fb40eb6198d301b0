/** CLIP's text tower (src/lib/towers/text.ts) as an ONNX graph: input `ids` (B, L) int32, output (B, E). */
import type {StateDict} from '../checkpoint/tensor.js'
import {TEXT_NAMES, textTower} from '../towers/text.js'
import {Graph} from './graph.js'
import {OnnxOps} from './ops.js'

export function textTransformerGraph(state: StateDict): Graph {
  const g = new Graph('clip-text')
  const ops = new OnnxOps(g, state)
  const [context] = ops.tensor(TEXT_NAMES.positional_embedding).shape
  const ids = g.input('ids', 'int32', ['batch', 'tokens'])
  g.output(textTower(ops, context, ids), 'float32', ['batch', ops.tensor(TEXT_NAMES.text_projection).shape[1]])
  return g
}
