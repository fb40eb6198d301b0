/**
 * CLIP's text tower (openai/CLIP model.py `CLIP.encode_text`; VIP-ANT's GPTPreEncoder/GPTPostEncoder), frozen in
 * the AT stage. Input: token ids (B, L) int32, `[SOT] bpe [EOT]` padded with 0 to the batch's longest, L <= the
 * context length (docs/method.md §5.6); the causal mask makes the padding invisible to the EOT token, so any such L
 * gives CLIP's result. Output: (B, E), not normalised.
 */
import type {TowerOps} from './ops.js'

/** CLIP's top-level text names. */
export const TEXT_NAMES = {
  token_embedding: 'token_embedding.weight',
  positional_embedding: 'positional_embedding',
  transformer: 'transformer',
  ln_final: 'ln_final',
  text_projection: 'text_projection',
} as const

export function textTower<V>(ops: TowerOps<V>, contextLength: number, ids: V): V {
  let x = ops.embedTokens(TEXT_NAMES.token_embedding, ids) // shape = [B, L, W]
  x = ops.add(x, ops.leadingRows(TEXT_NAMES.positional_embedding, ids))
  x = ops.transformer(TEXT_NAMES.transformer, x, ops.causalMask(contextLength, ids))
  // CLIP applies ln_final to every token and keeps the EOT one; LayerNorm is per token, so normalising only the kept
  // tokens is the same.
  return ops.project(TEXT_NAMES.text_projection, ops.layerNorm(TEXT_NAMES.ln_final, ops.eotToken(x, ids))) // shape = [B, E]
}
