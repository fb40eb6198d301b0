import {UserError} from '../util/errors.js'

/**
 * Everything that decides a log-mel (docs/method.md §3), in one place. The defaults are VIP-ANT's; the whole
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

/**
 * The longest log-mel made: 12000 frames (2 minutes, 12 times the 10 s VIP-ANT trained on). Such a row is
 * 6 MB, its positional embedding is interpolated from the checkpoint's 61 time rows to 749, and the audio
 * tower's attention over its 3745 patches takes 0.7 GB per clip (12 heads of float32 3745x3745), a sixth of
 * a 4 GiB WebAssembly heap. Longer recordings are better cut into clips.
 */
export const MAX_MEL_LEN = 12_000

/** Refuses a log-mel length outside 1..MAX_MEL_LEN before any buffer is sized by it; WHAT names where it came from. */
export function checkMaxLen(maxLen: number, what = '--max-len'): void {
  if (!(Number.isInteger(maxLen) && maxLen >= 1 && maxLen <= MAX_MEL_LEN)) {
    throw new UserError(
      `${what} ${maxLen}: expected 1 to ${MAX_MEL_LEN} frames (10 ms each; ${MAX_MEL_LEN / 6000} minutes at most)`,
    )
  }
}
