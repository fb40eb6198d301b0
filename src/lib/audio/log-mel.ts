import {randomCrop} from './crop.js'
import {kaldiFbank, VIPANT_FBANK} from './kaldi-fbank.js'
import {NUM_MEL_BINS, type MelConfig} from './mel-config.js'
import {rngFor} from '../util/rng.js'

export interface LogMel {
  /** (maxLen, 128) row-major, time first. */
  mel: Float32Array
  /** Frames that came from audio; the rest is padding. */
  frames: number
}

/**
 * The model's input for one clip (docs/method.md §3.2-3.5): crop the waveform to maxLen frames plus 50 ms,
 * zero-mean it, Kaldi fbank on channel 0 at the native rate, truncate, pad with 0 in the log domain,
 * and only then normalise (so padding becomes +0.8577, as in the original). Written into `out` (maxLen × 128
 * values) when given: a worker writes straight into the memory its stage reads.
 */
export function logMel(
  channels: Float32Array[],
  sampleRate: number,
  config: MelConfig,
  key: string,
  out: Float32Array = new Float32Array(config.maxLen * NUM_MEL_BINS),
): LogMel {
  const cropLen = Math.trunc((config.maxLen / 100 + 0.05) * sampleRate)
  const cropped =
    config.crop === 'none'
      ? channels
      : randomCrop(channels, cropLen, config.crop === 'random' ? rngFor(config.seed, key) : null)
  const mel = out.subarray(0, config.maxLen * NUM_MEL_BINS)
  // The fbank writes the frames it computes (at most maxLen) at the head of `mel`; the rest is padding. It removes
  // the mean (over all channels) from channel 0, the only one it reads.
  const mean = config.zeroMean ? meanOf(cropped) : 0
  const {frames} = kaldiFbank(cropped[0], sampleRate, {...VIPANT_FBANK, numMelBins: NUM_MEL_BINS}, mel, mean)
  const used = frames * NUM_MEL_BINS
  if (config.norms) {
    // Most clips are shorter than maxLen: the padding is one value, normalised once rather than per element.
    const [mean, std] = config.norms
    for (let i = 0; i < used; i++) mel[i] = (mel[i] - mean) / std
    mel.fill((0 - mean) / std, used)
  } else mel.fill(0, used)
  return {mel, frames}
}

/** The scalar mean over all channels and samples, rounded to float32 as torch's mean of a float32 waveform is. */
function meanOf(channels: Float32Array[]): number {
  let sum = 0
  let count = 0
  for (const c of channels) {
    for (let i = 0; i < c.length; i++) sum += c[i]
    count += c.length
  }
  return Math.fround(sum / count)
}
