/**
 * CLIP's text tower (openai/CLIP model.py `CLIP.encode_text`) as an ONNX graph: input `ids` (B, L) int32, `[SOT] bpe
 * [EOT]` padded with 0 to the batch's longest, L <= the context length (docs/method.md §5.6); output (B, E), not normalised.
 */
import type {StateDict} from '../checkpoint/tensor.js'
import {Graph} from './graph.js'
import {layerNorm, tensor, transformer} from './transformer.js'

export function textTransformerGraph(state: StateDict): Graph {
  const positional = tensor(state, 'positional_embedding')
  const [context] = positional.shape
  const g = new Graph('clip-text')
  const ids = g.input('ids', 'int32', ['batch', 'tokens'])
  const L = g.op('Shape', [ids], {start: 1, end: 2}) // shape = [1], the batch's length
  let x = g.op('Gather', [g.weight('token_embedding.weight', tensor(state, 'token_embedding.weight')), ids]) // shape = [B, L, W]
  x = g.op('Add', [x, g.op('Slice', [g.weight('positional_embedding', positional), g.ints([0]), L, g.ints([0])])])
  // CLIP's build_attention_mask, cut to L x L: additive, -inf above the diagonal.
  const causal = new Float32Array(context * context)
  for (let i = 0; i < context; i++) causal.fill(-Infinity, i * context + i + 1, (i + 1) * context)
  const mask = g.op('Slice', [g.constant('attn_mask', causal, [context, context]), g.ints([0, 0]), g.op('Concat', [L, L], {axis: 0}), g.ints([0, 1])])
  x = transformer(g, state, 'transformer', x, mask)
  // The EOT token (each row's highest id) is kept; LayerNorm is per token, so normalising only the kept ones is the same.
  const eot = g.op('ArgMax', [ids], {axis: 1, keepdims: 1}) // shape = [B, 1]
  const pooled = g.op('GatherND', [x, eot], {batch_dims: 1}) // shape = [B, W]
  const projection = tensor(state, 'text_projection')
  g.output(g.op('MatMul', [layerNorm(g, state, 'ln_final', pooled), g.weight('text_projection', projection)]), 'float32', ['batch', projection.shape[1]])
  return g
}
