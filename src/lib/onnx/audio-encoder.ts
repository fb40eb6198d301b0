/**
 * VIP-ANT's audio tower (src/lib/towers/audio.ts) as an ONNX graph for one patch grid: input `mel` (B, T, 128)
 * normalised log-mel, output `embedding` (B, E). The positional embedding is adapted to the grid at build time, so
 * each grid (each max_len) is its own graph.
 */
import {NUM_MEL_BINS} from '../audio/mel-config.js'
import type {AudioConfig, Grid} from '../checkpoint/audio-config.js'
import type {StateDict} from '../checkpoint/tensor.js'
import {AUDIO_NAMES, audioTower} from '../towers/audio.js'
import {UserError} from '../util/errors.js'
import {Graph} from './graph.js'
import {OnnxOps} from './ops.js'

export function audioEncoderGraph(state: StateDict, config: AudioConfig, grid: Grid): Graph {
  const g = new Graph('vipant-audio')
  const ops = new OnnxOps(g, state)
  const conv = ops.tensor(AUDIO_NAMES.conv1)
  if (conv.shape[2] !== config.patchSize)
    throw new UserError(`audio head: conv1 [${conv.shape}] does not fit patch size ${config.patchSize}`)
  const mel = g.input('mel', 'float32', ['batch', 'frames', NUM_MEL_BINS])
  g.output(audioTower(ops, config, grid, mel), 'float32', ['batch', ops.tensor(AUDIO_NAMES.proj).shape[1]])
  return g
}
