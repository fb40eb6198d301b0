import {fbankHeap} from './wasm/fbank-heap.js'

/**
 * Real FFT of a power-of-two size n, reduced to what the filterbank needs: the power spectrum |X[k]|², k = 0..n/2.
 *
 * The n real samples are packed into n/2 complex ones (even samples real, odd imaginary), transformed with an
 * iterative radix-4 decimation-in-time FFT (a radix-8 first pass when log2(n/2) is odd) and split back into the
 * spectrum of the real signal. The transform runs in wasm/fbank.c, two signals at once (one per lane of a float64
 * SIMD vector); this class builds its tables (bit reversal, twiddles per pass, the split's exp(-2πik/n)) into the
 * module's memory, once per size and thread.
 */
export class RealFft {
  readonly size: number
  /** Address of the C `Fft` struct (wasm/fbank.c) that the fbank plans point to. */
  readonly address: number

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 8 || (size & (size - 1)) !== 0) {
      throw new RangeError(`RealFft size must be a power of two >= 8, got ${size}`)
    }
    this.size = size
    const half = size >> 1
    const bits = Math.log2(half)
    const radix8First = bits % 2 === 1
    const reversedOffset = new Int32Array(half)
    for (let i = 0; i < half; i++) {
      let r = 0
      for (let b = 0, v = i; b < bits; b++, v >>= 1) r = (r << 1) | (v & 1)
      reversedOffset[i] = 2 * r
    }
    const twiddles: number[] = []
    for (let h = radix8First ? 8 : 4; h < half; h *= 4) {
      for (let j = 0; j < h; j++) {
        for (let p = 1; p <= 3; p++) {
          const angle = (-2 * Math.PI * p * j) / (4 * h)
          twiddles.push(Math.cos(angle), Math.sin(angle))
        }
      }
    }
    const quarter = half >> 1
    const splitCos = new Float64Array(quarter + 1)
    const splitSin = new Float64Array(quarter + 1)
    for (let k = 0; k <= quarter; k++) {
      const angle = (-2 * Math.PI * k) / size
      splitCos[k] = Math.cos(angle)
      splitSin[k] = Math.sin(angle)
    }

    const heap = fbankHeap()
    const tables = {
      reversedOffset: heap.allocate(4 * half),
      twiddles: heap.allocate(8 * twiddles.length),
      splitCos: heap.allocate(8 * (quarter + 1)),
      splitSin: heap.allocate(8 * (quarter + 1)),
      z: heap.allocate(16 * size),
    }
    this.address = heap.allocate(4 * 7)
    heap.i32(tables.reversedOffset, half).set(reversedOffset)
    heap.f64(tables.twiddles, twiddles.length).set(twiddles)
    heap.f64(tables.splitCos, quarter + 1).set(splitCos)
    heap.f64(tables.splitSin, quarter + 1).set(splitSin)
    // struct Fft: half, radix8First, reversedOffset, twiddles, splitCos, splitSin, z.
    heap.writeStruct(this.address, [], [half, radix8First ? 1 : 0, ...Object.values(tables)])
  }

  /** Writes |X[k]|² for k = 0..n/2 into `out` (length >= n/2 + 1) for the n samples of `input`. */
  powerSpectrum(input: Float64Array, out: Float64Array): void {
    const heap = fbankHeap()
    const half = this.size >> 1
    const frame = heap.scratch(16 * this.size + 16 * (half + 1))
    const spectrum = frame + 16 * this.size
    const lanes = heap.f64(frame, 2 * this.size)
    for (let j = 0; j < this.size; j++) lanes[2 * j] = input[j]
    heap.exports.power_spectrum(this.address, frame, spectrum)
    const result = heap.f64(spectrum, 2 * (half + 1))
    for (let k = 0; k <= half; k++) out[k] = result[2 * k]
  }
}

const bySize = new Map<number, RealFft>()

/** Shared RealFft for `size` in this thread. */
export function realFft(size: number): RealFft {
  let fft = bySize.get(size)
  if (fft === undefined) {
    fft = new RealFft(size)
    bySize.set(size, fft)
  }
  return fft
}
