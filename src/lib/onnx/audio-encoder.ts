/**
 * VIP-ANT's audio tower (docs/method.md §5.3) as an ONNX graph for one patch grid: input `mel` (B, T, 128) normalised log-mel,
 * output `embedding` (B, E), not normalised. The positional embedding is adapted to the grid at build time by
 * VIP-ANT's rules (docs/method.md §5.5), so each grid (each max_len) is its own graph.
 */
import type {AudioConfig} from '../checkpoint/audio-config.js'
import type {StateDict} from '../checkpoint/tensor.js'
import {NUM_MEL_BINS as MEL_BINS} from '../audio/mel-config.js'
import {loadPosEmbedding, positionResolution, type Grid} from '../model/pos-embedding.js'
import {UserError} from '../util/errors.js'
import {Graph} from './graph.js'
import {classProjection, layerNorm, patchEmbedding, tensor, transformer, withClassToken} from './transformer.js'

/** The patch grid of T frames. */
export function audioGrid(frames: number, config: AudioConfig): Grid {
  return positionResolution([frames, MEL_BINS], config.patchSize, config.stride)
}

export function audioEncoderGraph(state: StateDict, config: AudioConfig, grid: Grid): Graph {
  const conv = tensor(state, 'pre_encoder.conv1.weight')
  const [W, C, P] = conv.shape
  if (P !== config.patchSize) throw new UserError(`audio head: conv1 [${conv.shape}] does not fit patch size ${config.patchSize}`)
  // VIP-ANT's forward averages the 3-channel patch filter to one channel.
  const mono = new Float32Array(W * P * P)
  for (let o = 0; o < W; o++) {
    for (let i = 0; i < C; i++) for (let k = 0; k < P * P; k++) mono[o * P * P + k] += conv.data[(o * C + i) * P * P + k] / C
  }
  const g = new Graph('vipant-audio')
  const mel = g.input('mel', 'float32', ['batch', 'frames', MEL_BINS])
  const image = g.op('Unsqueeze', [mel, g.ints([1])]) // shape = [B, 1, T, 128], time as height
  let h = patchEmbedding(g, image, g.constant('pre_encoder.conv1.weight.mean', mono, [W, 1, P, P]), config.stride) // shape = [B, rows*cols, W]
  h = withClassToken(g, tensor(state, 'misc.class_embedding'), h)
  const trained = positionResolution(config.resolution, config.patchSize, config.stride)
  h = g.op('Add', [h, g.weight('misc.positional_embedding', loadPosEmbedding(tensor(state, 'misc.positional_embedding'), trained, grid))])
  h = transformer(g, state, 'encoder', layerNorm(g, state, 'pre_encoder.ln', h))
  g.output(classProjection(g, state, 'post_encoder.ln', 'post_encoder.proj', h), 'float32', ['batch', tensor(state, 'post_encoder.proj').shape[1]])
  return g
}
