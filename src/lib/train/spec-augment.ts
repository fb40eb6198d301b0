import type {Rng} from '../util/rng.js'

/**
 * SpecAugment as VIP-ANT trains with it (docs/method.md §3.6): on the normalised (T, F) log-mel, one torchaudio
 * FrequencyMasking(freqMask) then one TimeMasking(timeMask), each `mask_along_axis`: v = U·param,
 * v0 = U·(size − v), bins [floor(v0), floor(v0) + floor(v)) set to 0. Returns a masked copy.
 */
export function specAugment(
  mel: Float32Array,
  bins: number,
  freqMask: number,
  timeMask: number,
  rng: Rng,
): Float32Array {
  const out = mel.slice()
  const frames = mel.length / bins
  const span = (param: number, size: number): [number, number] => {
    const v = rng() * param
    const v0 = rng() * (size - v)
    return [Math.floor(v0), Math.floor(v0) + Math.floor(v)]
  }
  if (freqMask > 0) {
    const [f0, f1] = span(freqMask, bins)
    for (let t = 0; t < frames; t++) out.fill(0, t * bins + f0, t * bins + f1)
  }
  if (timeMask > 0) {
    const [t0, t1] = span(timeMask, frames)
    out.fill(0, t0 * bins, t1 * bins)
  }
  return out
}
