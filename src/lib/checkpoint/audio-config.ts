import {UserError} from '../util/errors.js'
import type {ConfigResolver, Key} from './omegaconf.js'

/**
 * What a VIP-ANT audio head needs besides its weights: the input it was trained on ([max_len, mel
 * bins]), the patch size and the patch stride (time, frequency). None of it is stored as a tensor;
 * VIP-ANT reads it from the run's cfg (`cfg.model.audio.resolution`, `.pre_encoder.patch_size`,
 * `.pre_encoder.stride`, docs/method.md §9.3).
 */
export interface AudioConfig {
  resolution: [number, number]
  patchSize: number
  stride: [number, number]
}

/** The released heads' values (docs/method.md §5.3): 1000 frames x 128 bins, 32x32 patches every (16, 24). */
export const DEFAULT_AUDIO_CONFIG: AudioConfig = {resolution: [1000, 128], patchSize: 32, stride: [16, 24]}

/** A patch grid as the positional-embedding rules take it. */
export type Grid = [rows: number, cols: number]

/**
 * The patch grid (rows over time, columns over frequency) of a valid, unpadded strided convolution over a
 * [frames, bins] input, by default the one the head was trained on: `_vit_position_resolution` in cvap/module/val.py.
 */
export function audioGrid(
  {resolution, patchSize, stride}: AudioConfig,
  [frames, bins] = resolution,
): {rows: number; cols: number} {
  return {rows: Math.floor((frames - patchSize) / stride[0]) + 1, cols: Math.floor((bins - patchSize) / stride[1]) + 1}
}

/** What a VIP-ANT cfg says of the audio input; a key it lacks is undefined (the weights may tell, see load.ts). */
export interface CfgAudio {
  frames?: number
  bins?: number
  patchSize?: number
  /** 'patch': the cfg's stride is null, which VIP-ANT reads as the patch size. */
  stride?: [number, number] | 'patch'
}

/**
 * The audio keys of a VIP-ANT cfg, interpolations resolved: `model.audio.resolution` ([max_len, mel bins], itself
 * `${running.max_audio_len}`, `${running.num_mel_bins}` in VIP-ANT's configs; without it `running.audio.max_len`
 * and `running.audio.num_mel_bins`, what those name), `model.audio.pre_encoder.patch_size` and `.stride` (null
 * meaning the patch size, one number both directions, as cvap/module/val.py `_vit_position_resolution` reads them).
 * A key that is present but not a positive integer (null, "???", text) is an error naming it.
 */
export function audioFromCfg(cfg: ConfigResolver): CfgAudio {
  const number = (path: Key[], value: unknown): number => {
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value
    throw cfg.error(path, `expected a positive integer, got ${JSON.stringify(value) ?? String(value)}`)
  }
  const pair = (path: Key[], value: unknown): [number, number] => {
    if (Array.isArray(value) && value.length === 2)
      return [number([...path, 0], value[0]), number([...path, 1], value[1])]
    if (typeof value === 'number') return [number(path, value), value]
    throw cfg.error(path, `expected two positive integers, got ${JSON.stringify(value)}`)
  }
  const optional = (path: Key[]) => (cfg.has(path) ? cfg.get(path) : undefined)
  const audio: CfgAudio = {}
  const resolution = ['model', 'audio', 'resolution']
  if (cfg.has(resolution)) {
    const value = cfg.get(resolution)
    if (!Array.isArray(value)) {
      throw cfg.error(resolution, `expected [max_len, mel bins] (an audio head's input), got ${JSON.stringify(value)}`)
    }
    ;[audio.frames, audio.bins] = pair(resolution, value)
  } else {
    const frames = optional(['running', 'audio', 'max_len'])
    const bins = optional(['running', 'audio', 'num_mel_bins'])
    if (frames !== undefined) audio.frames = number(['running', 'audio', 'max_len'], frames)
    if (bins !== undefined) audio.bins = number(['running', 'audio', 'num_mel_bins'], bins)
  }
  const patch = ['model', 'audio', 'pre_encoder', 'patch_size']
  const patchSize = optional(patch)
  if (patchSize !== undefined) {
    const [rows, cols] = pair(patch, patchSize)
    if (rows !== cols) throw cfg.error(patch, `non-square patches [${rows}, ${cols}] are not supported`)
    audio.patchSize = rows
  }
  const strideKey = ['model', 'audio', 'pre_encoder', 'stride']
  if (cfg.has(strideKey)) {
    const stride = cfg.get(strideKey)
    audio.stride = stride === null ? 'patch' : pair(strideKey, stride)
  }
  return audio
}

/**
 * The audio config, from the cfg where it speaks and from the weights where it is silent: the patch size from
 * `pre_encoder.conv1.weight`'s filters, max_len as the shortest input giving the grid `misc.positional_embedding`
 * has rows for. Each inferred value is returned as a note. The stride and the mel bins cannot be told from the
 * weights (many combinations give the same number of positions), so a cfg without them is refused. Whether the
 * config fits the weights is checked afterwards, for every source (load.ts `checked`).
 */
export function completeAudioConfig(
  file: string,
  cfg: CfgAudio,
  weights: ReadonlyMap<string, {shape: number[]}>,
): {config: AudioConfig; notes: string[]} {
  const notes: string[] = []
  const shape = (name: string, missing: string) => {
    const tensor = weights.get(name)
    if (!tensor)
      throw new UserError(`${file}: the cfg has no ${missing}, and the audio weights have no ${name} to infer it from`)
    return tensor.shape
  }
  let patchSize = cfg.patchSize
  if (patchSize === undefined) {
    const [, , p, q] = shape('pre_encoder.conv1.weight', 'model.audio.pre_encoder.patch_size')
    patchSize = p
    notes.push(
      `patch size ${p} inferred from pre_encoder.conv1.weight's ${p}x${q} filters (the cfg has no model.audio.pre_encoder.patch_size)`,
    )
  }
  if (cfg.stride === undefined) {
    throw new UserError(
      `${file}: the cfg has no model.audio.pre_encoder.stride, which no weight records (VIP-ANT's run scripts use [16, 24])`,
    )
  }
  const stride: [number, number] = cfg.stride === 'patch' ? [patchSize, patchSize] : cfg.stride
  if (cfg.bins === undefined) {
    throw new UserError(
      `${file}: the cfg has no model.audio.resolution nor running.audio.num_mel_bins (the mel bins the head was trained on)`,
    )
  }
  let frames = cfg.frames
  if (frames === undefined) {
    const [positions] = shape('misc.positional_embedding', 'model.audio.resolution nor running.audio.max_len')
    const {cols} = audioGrid({resolution: [patchSize, cfg.bins], patchSize, stride})
    const rows = (positions - 1) / cols
    if (!Number.isInteger(rows) || rows < 1) {
      throw new UserError(
        `${file}: the cfg has no max_len, and misc.positional_embedding's ${positions} rows are not 1 + a grid ${cols} patches wide ` +
          `(${cfg.bins} bins, patch ${patchSize}, stride [${stride}])`,
      )
    }
    frames = (rows - 1) * stride[0] + patchSize
    notes.push(
      `max_len ${frames} inferred from misc.positional_embedding (${positions} rows: 1 + ${rows}x${cols} patches, ` +
        'the shortest input giving them; the cfg has no model.audio.resolution nor running.audio.max_len)',
    )
  }
  return {config: {resolution: [frames, cfg.bins], patchSize, stride}, notes}
}
