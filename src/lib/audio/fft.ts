/**
 * Real FFT of a power-of-two size n, reduced to what the filterbank needs: the power spectrum |X[k]|², k = 0..n/2.
 *
 * The n real samples are packed into n/2 complex ones (even samples real, odd imaginary), transformed with an
 * iterative radix-4 decimation-in-time FFT (a radix-8 first pass when log2(n/2) is odd) and split back into the
 * spectrum of the real signal. In V8 the cost is mostly typed-array loads and stores (no vectorisation, a bounds check
 * each), so the layout minimises them: radix 4 halves the sweeps over the data, complex values are interleaved in one
 * array, and each twiddle is loaded once per pass rather than once per block. Tables and work buffers live on the
 * instance, so a call allocates nothing; `realFft` caches instances per size.
 */
export class RealFft {
  readonly size: number
  private readonly half: number
  /** Bit-reversal permutation of 0..half-1, premultiplied by 2: offsets of packed pairs in the real input. */
  private readonly reversedOffset: Int32Array
  /** log2(half) is odd: the first pass is radix 8, then radix-4 passes start at quarter-span 8. */
  private readonly radix8First: boolean
  /** Per radix-4 pass with quarter-span h, for j < h: exp(-2πi·p·j/4h) for p = 1, 2, 3 as (cos, sin) pairs. */
  private readonly twiddles: Float64Array
  /** exp(-2πik/n), k <= n/4, for the split of the packed transform. */
  private readonly splitCos: Float64Array
  private readonly splitSin: Float64Array
  /** The packed complex signal, interleaved (re, im). */
  private readonly z: Float64Array

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 8 || (size & (size - 1)) !== 0) {
      throw new RangeError(`RealFft size must be a power of two >= 8, got ${size}`)
    }
    this.size = size
    const half = size >> 1
    this.half = half
    this.z = new Float64Array(size)

    const bits = Math.log2(half)
    this.radix8First = bits % 2 === 1
    this.reversedOffset = new Int32Array(half)
    for (let i = 0; i < half; i++) {
      let r = 0
      for (let b = 0, v = i; b < bits; b++, v >>= 1) r = (r << 1) | (v & 1)
      this.reversedOffset[i] = 2 * r
    }

    const twiddles: number[] = []
    for (let h = this.radix8First ? 8 : 4; h < half; h *= 4) {
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
    const {half, z, splitCos, splitSin} = this
    // Z = FFT of the packed signal; X[k] = Fe + W^k·Fo with Fe = (Z[k] + conj Z[half-k])/2,
    // Fo = (Z[k] − conj Z[half-k])/2i, and X[half-k] = conj(Fe − W^k·Fo), so each step yields two bins.
    // The 1/2 factors are folded into one 1/4 on the powers.
    out[0] = (z[0] + z[1]) * (z[0] + z[1])
    out[half] = (z[0] - z[1]) * (z[0] - z[1])
    const quarter = half >> 1
    for (let k = 1; k <= quarter; k++) {
      const zr = z[2 * k]
      const zi = z[2 * k + 1]
      const cr = z[2 * (half - k)]
      const ci = -z[2 * (half - k) + 1]
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
   * Complex FFT of the packed signal input[2j] + i·input[2j+1] into z. The first pass reads the input in bit-reversed
   * order, so no separate permutation sweep is needed.
   */
  private packedTransform(input: Float64Array): void {
    const {half, z, reversedOffset: rev, twiddles} = this
    if (this.radix8First) {
      // An 8-point DFT per block: one radix-2 step, then a radix-4 step whose twiddles are 1 and W8^1..3 (W8^2 = −i),
      // all in registers: one sweep instead of two.
      for (let s = 0; s < half; s += 8) {
        const p0 = rev[s]
        const p1 = rev[s + 1]
        const p2 = rev[s + 2]
        const p3 = rev[s + 3]
        const p4 = rev[s + 4]
        const p5 = rev[s + 5]
        const p6 = rev[s + 6]
        const p7 = rev[s + 7]
        const y0r = input[p0] + input[p1]
        const y0i = input[p0 + 1] + input[p1 + 1]
        const y1r = input[p0] - input[p1]
        const y1i = input[p0 + 1] - input[p1 + 1]
        const y2r = input[p2] + input[p3]
        const y2i = input[p2 + 1] + input[p3 + 1]
        const y3r = input[p2] - input[p3]
        const y3i = input[p2 + 1] - input[p3 + 1]
        const y4r = input[p4] + input[p5]
        const y4i = input[p4 + 1] + input[p5 + 1]
        const y5r = input[p4] - input[p5]
        const y5i = input[p4 + 1] - input[p5 + 1]
        const y6r = input[p6] + input[p7]
        const y6i = input[p6 + 1] + input[p7 + 1]
        const y7r = input[p6] - input[p7]
        const y7i = input[p6 + 1] - input[p7 + 1]
        const o = 2 * s
        // j = 0: twiddles 1 (inputs y0, y2, y4, y6 as f0, t2, t1, t3).
        let ar = y0r + y2r
        let ai = y0i + y2i
        let br = y0r - y2r
        let bi = y0i - y2i
        let cr = y4r + y6r
        let ci = y4i + y6i
        let dr = y4r - y6r
        let di = y4i - y6i
        z[o] = ar + cr
        z[o + 1] = ai + ci
        z[o + 8] = ar - cr
        z[o + 9] = ai - ci
        z[o + 4] = br + di
        z[o + 5] = bi - dr
        z[o + 12] = br - di
        z[o + 13] = bi + dr
        // j = 1: t1 = W8·y5, t2 = −i·y3, t3 = W8^3·y7 with W8 = (1 − i)/√2, W8^3 = −(1 + i)/√2.
        const t1r = SQRT1_2 * (y5r + y5i)
        const t1i = SQRT1_2 * (y5i - y5r)
        const t3r = SQRT1_2 * (y7i - y7r)
        const t3i = -SQRT1_2 * (y7r + y7i)
        ar = y1r + y3i
        ai = y1i - y3r
        br = y1r - y3i
        bi = y1i + y3r
        cr = t1r + t3r
        ci = t1i + t3i
        dr = t1r - t3r
        di = t1i - t3i
        z[o + 2] = ar + cr
        z[o + 3] = ai + ci
        z[o + 10] = ar - cr
        z[o + 11] = ai - ci
        z[o + 6] = br + di
        z[o + 7] = bi - dr
        z[o + 14] = br - di
        z[o + 15] = bi + dr
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
        const o = 2 * s
        z[o] = ar + cr
        z[o + 1] = ai + ci
        z[o + 4] = ar - cr
        z[o + 5] = ai - ci
        z[o + 2] = br + di
        z[o + 3] = bi - dr
        z[o + 6] = br - di
        z[o + 7] = bi + dr
      }
    }

    // Radix-4 DIT on bit-reversed data: a block of 4h values holds the h-point DFTs of the subsequences 4n, 4n+2,
    // 4n+1, 4n+3 (in that order), so the inputs at +h and +2h swap roles relative to the textbook butterfly.
    // Offsets below are in doubles (2 per complex value).
    const end = 2 * half
    let base = 0
    for (let h = this.radix8First ? 8 : 4; h < half; h *= 4) {
      const h2 = 2 * h
      const span = 8 * h
      for (let j = 0, t = base; j < h; j++, t += 6) {
        const w1r = twiddles[t]
        const w1i = twiddles[t + 1]
        const w2r = twiddles[t + 2]
        const w2i = twiddles[t + 3]
        const w3r = twiddles[t + 4]
        const w3i = twiddles[t + 5]
        for (let a = 2 * j; a < end; a += span) {
          const b = a + h2
          const c = b + h2
          const d = c + h2
          const f0r = z[a]
          const f0i = z[a + 1]
          const t1r = w1r * z[c] - w1i * z[c + 1]
          const t1i = w1r * z[c + 1] + w1i * z[c]
          const t2r = w2r * z[b] - w2i * z[b + 1]
          const t2i = w2r * z[b + 1] + w2i * z[b]
          const t3r = w3r * z[d] - w3i * z[d + 1]
          const t3i = w3r * z[d + 1] + w3i * z[d]
          const ar = f0r + t2r
          const ai = f0i + t2i
          const br = f0r - t2r
          const bi = f0i - t2i
          const cr = t1r + t3r
          const ci = t1i + t3i
          const dr = t1r - t3r
          const di = t1i - t3i
          z[a] = ar + cr
          z[a + 1] = ai + ci
          z[c] = ar - cr
          z[c + 1] = ai - ci
          z[b] = br + di
          z[b + 1] = bi - dr
          z[d] = br - di
          z[d + 1] = bi + dr
        }
      }
      base += 6 * h
    }
  }
}

const SQRT1_2 = Math.SQRT1_2

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
