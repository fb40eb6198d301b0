/**
 * Everything that decides a log-mel (spec §3), in one place. The defaults are VIP-ANT's; the whole
 * object is recorded in the table metadata so later stages can refuse features made differently.
 */
export interface MelConfig {
  /** Frames kept (10 ms each): 1000 = 10 s. Shorter clips are padded, longer ones cropped. */
  maxLen: number
  /** Waveform crop before fbank: centre (evaluation), random (training), or none (keep the head). */
  crop: 'center' | 'random' | 'none'
  /** Seed for random crops; each clip draws from its own generator keyed by its id. */
  seed: number
  /** Subtract the mean over all channels and samples before fbank (`zero_mean_wf`). */
  zeroMean: boolean
  /** (mean, std) applied as (x - mean) / std after padding; null leaves raw log-mels. */
  norms: [number, number] | null
}

export const VIPANT_NORMS: [number, number] = [-4.93839311, 5.75751113]

export const DEFAULT_MEL: MelConfig = {
  maxLen: 1000,
  crop: 'center',
  seed: 1213,
  zeroMean: true,
  norms: VIPANT_NORMS,
}

export const NUM_MEL_BINS = 128
