/**
 * What a VIP-ANT audio head needs besides its weights: the input it was trained on ([max_len, mel
 * bins]), the patch size and the patch stride (time, frequency). None of it is stored as a tensor;
 * VIP-ANT reads it from the run's cfg (`cfg.model.audio.resolution`, `.pre_encoder.patch_size`,
 * `.pre_encoder.stride`, spec 9.3).
 */
export interface AudioConfig {
  resolution: [number, number]
  patchSize: number
  stride: [number, number]
}

/** The released heads' values (spec 5.3): 1000 frames x 128 bins, 32x32 patches every (16, 24). */
export const DEFAULT_AUDIO_CONFIG: AudioConfig = {resolution: [1000, 128], patchSize: 32, stride: [16, 24]}

/** The patch grid (rows over time, columns over frequency) of a valid, unpadded strided convolution. */
export function audioGrid({resolution: [frames, bins], patchSize, stride}: AudioConfig): {rows: number; cols: number} {
  return {rows: Math.floor((frames - patchSize) / stride[0]) + 1, cols: Math.floor((bins - patchSize) / stride[1]) + 1}
}

/** The audio config a plain (JSON) VIP-ANT cfg describes, defaults where it is silent. */
export function audioConfigFromCfg(cfg: unknown): AudioConfig {
  const audio = (cfg as {model?: {audio?: Record<string, unknown>}} | undefined)?.model?.audio ?? {}
  const pre = (audio.pre_encoder ?? {}) as Record<string, unknown>
  const pair = (value: unknown, fallback: [number, number]): [number, number] =>
    Array.isArray(value) && value.length === 2 ? [Number(value[0]), Number(value[1])] : typeof value === 'number' ? [value, value] : fallback
  return {
    resolution: pair(audio.resolution, DEFAULT_AUDIO_CONFIG.resolution),
    patchSize: typeof pre.patch_size === 'number' ? pre.patch_size : DEFAULT_AUDIO_CONFIG.patchSize,
    stride: pair(pre.stride, DEFAULT_AUDIO_CONFIG.stride),
  }
}
