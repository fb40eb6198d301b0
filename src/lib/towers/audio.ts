/**
 * VIP-ANT's audio tower (`CLIPAudioHead`: ViTPreEncoder, transformer, ViTPostEncoder, CLIPMisc in cvap/module/val.py;
 * docs/method.md §5.3): a CLIP ViT over the (T, 128) log-mel image, time as height, with overlapping patches whose
 * filter VIP-ANT averages over its three input channels. Input: (B, T, 128) normalised log-mel; output: (B, E), not
 * normalised. The positional embedding is adapted to T's patch grid by VIP-ANT's rules (docs/method.md §5.5).
 */
import {NUM_MEL_BINS} from '../audio/mel-config.js'
import {audioGrid, type AudioConfig, type Grid} from '../checkpoint/audio-config.js'
import type {TowerOps} from './ops.js'
import {vitTrunk, type VitNames} from './transformer.js'

/** VIP-ANT's audio head names (docs/method.md §9.3). */
export const AUDIO_NAMES: VitNames = {
  conv1: 'pre_encoder.conv1.weight',
  class_embedding: 'misc.class_embedding',
  positional_embedding: 'misc.positional_embedding',
  ln_pre: 'pre_encoder.ln',
  transformer: 'encoder',
  ln_post: 'post_encoder.ln',
  proj: 'post_encoder.proj',
}

/** The patch grid of a T-frame log-mel, or by default of the input the head was trained on. */
export function patchGrid(config: AudioConfig, frames?: number): Grid {
  const {rows, cols} = audioGrid(config, frames === undefined ? config.resolution : [frames, NUM_MEL_BINS])
  return [rows, cols]
}

export function audioTower<V>(ops: TowerOps<V>, config: AudioConfig, grid: Grid, mel: V): V {
  const patches = {layout: 'mono', patchSize: config.patchSize, stride: config.stride, grid} as const
  const tokens = ops.patchEmbedding(AUDIO_NAMES.conv1, mel, patches) // shape = [B, rows*cols, W]
  const positions = ops.positionalEmbedding(AUDIO_NAMES.positional_embedding, {trained: patchGrid(config), input: grid})
  return vitTrunk(ops, AUDIO_NAMES, tokens, positions)
}
