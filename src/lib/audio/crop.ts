import {randint, type Rng} from '../util/rng.js'

/**
 * VIP-ANT's RandomCrop.random_crop (docs/method.md §3.2) on a multi-channel waveform: a window of `outputLen`
 * samples, centred for evaluation or random for training, that falls back to the head (or the tail)
 * when the chosen window is much quieter than the clip, so a crop rarely lands on silence.
 */
export function randomCrop(channels: Float32Array[], outputLen: number, rng: Rng | null): Float32Array[] {
  const n = channels[0]?.length ?? 0
  if (n <= outputLen) return channels
  const left = rng ? randint(rng, 0, n - outputLen) : roundHalfEven(0.5 * (n - outputLen))
  const window = (start: number) => channels.map((c) => c.subarray(start, start + outputLen))

  const oldStd = std(channels) * 0.5
  let cropped = window(left)
  const newStd = std(cropped)
  if (newStd < oldStd) cropped = window(0)
  const outStd = std(cropped)
  if (oldStd > newStd && newStd > outStd) cropped = window(n - outputLen)
  return cropped
}

/** torch's Tensor.std(): unbiased, over every sample of every channel. */
function std(channels: Float32Array[]): number {
  let count = 0
  let sum = 0
  for (const c of channels) for (let i = 0; i < c.length; i++) sum += c[i]
  for (const c of channels) count += c.length
  const mean = sum / count
  let ss = 0
  for (const c of channels) {
    for (let i = 0; i < c.length; i++) {
      const d = c[i] - mean
      ss += d * d
    }
  }
  return Math.sqrt(ss / (count - 1))
}

/** Python 3's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x)
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r
}
