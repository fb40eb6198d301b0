/**
 * Real FFT of a power-of-two size n, reduced to what the filterbank needs: the power spectrum |X[k]|², k = 0..n/2.
 *
 * The n real samples are packed into n/2 complex ones (even samples real, odd imaginary), transformed with an
 * iterative radix-4 decimation-in-time FFT (one radix-2 pass first when log2(n/2) is odd) and split back into the
 * spectrum of the real signal. Radix 4 matters in JS: each pass is a full sweep of loads and stores, and V8 does not
 * vectorise, so halving the passes roughly halves the time. Tables and work buffers live on the instance, so a call
 * allocates nothing; `realFft` caches instances per size.
 */
export class RealFft {
  readonly size: number
  private readonly half: number
  /** Bit-reversal permutation of 0..half-1, premultiplied by 2: offsets of packed pairs in the real input. */
  private readonly reversedOffset: Int32Array
  /** log2(half) is odd: the first pass is radix 2, then radix-4 passes start at quarter-span 2. */
  private readonly radix2First: boolean
  /** Per radix-4 pass with quarter-span h, for j < h: exp(-2πi·p·j/4h) for p = 1, 2, 3 as (cos, sin) pairs. */
  private readonly twiddles: Float64Array
  /** exp(-2πik/n), k <= n/4, for the split of the packed transform. */
  private readonly splitCos: Float64Array
  private readonly splitSin: Float64Array
  private readonly re: Float64Array
  private readonly im: Float64Array

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 8 || (size & (size - 1)) !== 0) {
      throw new RangeError(`RealFft size must be a power of two >= 8, got ${size}`)
    }
    this.size = size
    const half = size >> 1
    this.half = half
    this.re = new Float64Array(half)
    this.im = new Float64Array(half)

    const bits = Math.log2(half)
    this.radix2First = bits % 2 === 1
    this.reversedOffset = new Int32Array(half)
    for (let i = 0; i < half; i++) {
      let r = 0
      for (let b = 0, v = i; b < bits; b++, v >>= 1) r = (r << 1) | (v & 1)
      this.reversedOffset[i] = 2 * r
    }

    const twiddles: number[] = []
    for (let h = this.radix2First ? 2 : 4; h < half; h *= 4) {
      for (let j = 0; j < h; j++) {
        for (let p = 1; p <= 3; p++) {
          const angle = (-2 * Math.PI * p * j) / (4 * h)
          twiddles.push(Math.cos(angle), Math.sin(angle))
        }
      }
    }
    this.twiddles = Float64Array.from(twiddles)

    const quarter = half >> 1
    this.splitCos = new Float64Array(quarter + 1)
    this.splitSin = new Float64Array(quarter + 1)
    for (let k = 0; k <= quarter; k++) {
      const angle = (-2 * Math.PI * k) / size
      this.splitCos[k] = Math.cos(angle)
      this.splitSin[k] = Math.sin(angle)
    }
  }

  /**
   * Writes |X[k]|² for k = 0..n/2 into `out` (length >= n/2 + 1). `input` must hold n samples: callers that zero-pad
   * keep the tail of a reused buffer at zero rather than copying.
   */
  powerSpectrum(input: Float64Array, out: Float64Array): void {
    this.packedTransform(input)
    const {half, re, im, splitCos, splitSin} = this
    // Z = FFT of the packed signal; X[k] = Fe + W^k·Fo with Fe = (Z[k] + conj Z[half-k])/2,
    // Fo = (Z[k] − conj Z[half-k])/2i, and X[half-k] = conj(Fe − W^k·Fo), so each step yields two bins.
    // The 1/2 factors are folded into one 1/4 on the powers.
    out[0] = (re[0] + im[0]) * (re[0] + im[0])
    out[half] = (re[0] - im[0]) * (re[0] - im[0])
    const quarter = half >> 1
    for (let k = 1; k <= quarter; k++) {
      const zr = re[k]
      const zi = im[k]
      const cr = re[half - k]
      const ci = -im[half - k]
      const er = zr + cr
      const ei = zi + ci
      const or = zi - ci
      const oi = cr - zr
      const wr = splitCos[k]
      const wi = splitSin[k]
      const tr = wr * or - wi * oi
      const ti = wr * oi + wi * or
      out[k] = 0.25 * ((er + tr) * (er + tr) + (ei + ti) * (ei + ti))
      out[half - k] = 0.25 * ((er - tr) * (er - tr) + (ei - ti) * (ei - ti))
    }
  }

  /**
   * Complex FFT of z[j] = input[2j] + i·input[2j+1] into (re, im). The first pass reads the input in bit-reversed
   * order, so no separate permutation sweep is needed.
   */
  private packedTransform(input: Float64Array): void {
    const {half, re, im, reversedOffset: rev, twiddles} = this
    if (this.radix2First) {
      for (let s = 0; s < half; s += 2) {
        const p = rev[s]
        const q = rev[s + 1]
        const ar = input[p]
        const ai = input[p + 1]
        const br = input[q]
        const bi = input[q + 1]
        re[s] = ar + br
        im[s] = ai + bi
        re[s + 1] = ar - br
        im[s + 1] = ai - bi
      }
    } else {
      // Quarter-span 1: all twiddles are 1, so only the ±i rotations remain.
      for (let s = 0; s < half; s += 4) {
        const p0 = rev[s]
        const p1 = rev[s + 1]
        const p2 = rev[s + 2]
        const p3 = rev[s + 3]
        const ar = input[p0] + input[p1]
        const ai = input[p0 + 1] + input[p1 + 1]
        const br = input[p0] - input[p1]
        const bi = input[p0 + 1] - input[p1 + 1]
        const cr = input[p2] + input[p3]
        const ci = input[p2 + 1] + input[p3 + 1]
        const dr = input[p2] - input[p3]
        const di = input[p2 + 1] - input[p3 + 1]
        re[s] = ar + cr
        im[s] = ai + ci
        re[s + 2] = ar - cr
        im[s + 2] = ai - ci
        re[s + 1] = br + di
        im[s + 1] = bi - dr
        re[s + 3] = br - di
        im[s + 3] = bi + dr
      }
    }

    // Radix-4 DIT on bit-reversed data: a block of 4h holds the h-point DFTs of the subsequences 4n, 4n+2, 4n+1,
    // 4n+3 (in that order), so the inputs at +h and +2h swap roles relative to the textbook butterfly.
    let base = 0
    for (let h = this.radix2First ? 2 : 4; h < half; h *= 4) {
      const span = 4 * h
      for (let s = 0; s < half; s += span) {
        for (let j = 0, t = base; j < h; j++, t += 6) {
          const a = s + j
          const b = a + h
          const c = b + h
          const d = c + h
          const w1r = twiddles[t]
          const w1i = twiddles[t + 1]
          const w2r = twiddles[t + 2]
          const w2i = twiddles[t + 3]
          const w3r = twiddles[t + 4]
          const w3i = twiddles[t + 5]
          const f0r = re[a]
          const f0i = im[a]
          const t1r = w1r * re[c] - w1i * im[c]
          const t1i = w1r * im[c] + w1i * re[c]
          const t2r = w2r * re[b] - w2i * im[b]
          const t2i = w2r * im[b] + w2i * re[b]
          const t3r = w3r * re[d] - w3i * im[d]
          const t3i = w3r * im[d] + w3i * re[d]
          const ar = f0r + t2r
          const ai = f0i + t2i
          const br = f0r - t2r
          const bi = f0i - t2i
          const cr = t1r + t3r
          const ci = t1i + t3i
          const dr = t1r - t3r
          const di = t1i - t3i
          re[a] = ar + cr
          im[a] = ai + ci
          re[c] = ar - cr
          im[c] = ai - ci
          re[b] = br + di
          im[b] = bi - dr
          re[d] = br - di
          im[d] = bi + dr
        }
      }
      base += 6 * h
    }
  }
}

const bySize = new Map<number, RealFft>()

/** Shared RealFft for `size`; its buffers are reused, so results must be consumed before the next call. */
export function realFft(size: number): RealFft {
  let fft = bySize.get(size)
  if (fft === undefined) {
    fft = new RealFft(size)
    bySize.set(size, fft)
  }
  return fft
}
