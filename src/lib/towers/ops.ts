/**
 * The operations a tower is composed of, named as openai/CLIP model.py and VIP-ANT name the modules that hold their
 * weights. Two engines implement them: tfjs tensors (src/lib/model/ops.ts, for training and the tfjs embedder) and
 * ONNX value names (src/lib/onnx/ops.ts, graph building). Each weight is addressed by its full state-dict name; how
 * an engine lays it out (transposed, split, averaged, folded) and how it runs an operation is the engine's business.
 * Activations are (B, L, W) unless said otherwise.
 */
import type {Grid} from '../checkpoint/audio-config.js'

/** How a patch conv meets its input. */
export interface Patches {
  /** 'hwc': (B, H, W, C) pixels; 'mono': (B, H, W), one channel, the filter averaged over its input channels. */
  layout: 'hwc' | 'mono'
  patchSize: number
  stride: [number, number]
  /** The patch grid the input gives. */
  grid: Grid
}

export interface TowerOps<V> {
  add(a: V, b: V): V
  /** CLIP's QuickGELU: x * sigmoid(1.702 x). */
  quickGelu(x: V): V
  /** nn.LayerNorm(W) `name` over the last axis, eps 1e-5. */
  layerNorm(name: string, x: V): V
  /** nn.Linear `name`: (..., in) -> (..., out). */
  linear(name: string, x: V): V
  /** nn.MultiheadAttention(W, W / 64) `name`, self-attention; mask: additive (L, L). */
  attention(name: string, x: V, mask?: V): V
  /**
   * CLIP's `Transformer` `name`: its blocks `name.resblocks.0..n-1` in turn, each `residualAttentionBlock`
   * (src/lib/towers/transformer.ts); the engine decides how a stack runs (tfjs: memory per block, checkpointing).
   */
  transformer(name: string, x: V, mask?: V): V
  /** x (B, in) @ `name` (in, out): CLIP's bias-free `proj` and `text_projection`. */
  project(name: string, x: V): V
  /** The bias-free patch conv `name` [W, C, P, P]: (B, grid rows * cols, W), tokens row-major over the grid. */
  patchEmbedding(name: string, x: V, patches: Patches): V
  /** [`name` (W); x] along the tokens: (B, N, W) -> (B, 1 + N, W). */
  withClassToken(name: string, x: V): V
  /** `name` (1 + rows * cols, W), adapted from the grid it was trained for to `grid` by VIP-ANT's rules. */
  positionalEmbedding(name: string, grids?: {trained: Grid; input: Grid}): V
  /** The class token's output: (B, L, W) -> (B, W). */
  classToken(x: V): V
  /** Rows of the embedding table `name` for token ids (B, L): (B, L, W). */
  embedTokens(name: string, ids: V): V
  /** The first L rows of `name` (context, W), L the length of ids (B, L). */
  leadingRows(name: string, ids: V): V
  /** CLIP's `build_attention_mask` cut to L x L: additive, -inf above the diagonal. */
  causalMask(contextLength: number, ids: V): V
  /** The EOT token's row of x (B, L, W), the EOT being each row's highest id: (B, W). */
  eotToken(x: V, ids: V): V
}

/** `prefix.name`, or `name` at the top level. */
export function join(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name
}
