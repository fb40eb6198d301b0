import type {RgbImage} from './rgb.js'

/**
 * Pillow's Image.resize(size, BICUBIC) for 8-bit images, integer for integer (libImaging/Resample.c):
 * a separable convolution with the a = -0.5 cubic kernel, its support widened by the downscale factor
 * (antialiasing), weights normalised per output pixel and turned into 22-bit fixed point, the horizontal
 * pass first, and a rounding to uint8 after each pass.
 */

const PRECISION_BITS = 32 - 8 - 2
const SUPPORT = 2

function bicubic(x: number): number {
  const a = -0.5
  x = Math.abs(x)
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a
  return 0
}

interface Coefficients {
  /** Per output pixel: first input pixel and number of taps. */
  bounds: Int32Array
  /** Fixed-point weights, KSIZE per output pixel. */
  weights: Int32Array
  ksize: number
}

/** precompute_coeffs() followed by normalize_coeffs_8bpc(), for the whole input range. */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize
  const filterScale = Math.max(scale, 1)
  const support = SUPPORT * filterScale
  const ksize = Math.ceil(support) * 2 + 1
  const bounds = new Int32Array(outSize * 2)
  const weights = new Int32Array(outSize * ksize)
  const k = new Float64Array(ksize)
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale
    const ss = 1 / filterScale
    // C casts truncate towards zero.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5))
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin
    let ww = 0
    for (let x = 0; x < xmax; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss)
      ww += k[x]
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x]
      weights[xx * ksize + x] = Math.trunc(w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS))
    }
    bounds[xx * 2] = xmin
    bounds[xx * 2 + 1] = xmax
  }
  return {bounds, weights, ksize}
}

/** clip8(): the accumulator started at half a unit, so the shift rounds. */
function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS
  return v < 0 ? 0 : v > 255 ? 255 : v
}

/**
 * One pass over LINES lines (rows or columns): each output pixel is a weighted sum of input pixels TAP
 * bytes apart along its line; consecutive lines start LINE bytes apart, in the input and in the output.
 */
function convolve(
  src: Uint8Array,
  dst: Uint8Array,
  lines: number,
  outSize: number,
  c: Coefficients,
  srcTap: number,
  srcLine: number,
  dstTap: number,
  dstLine: number,
): void {
  const half = 1 << (PRECISION_BITS - 1)
  for (let line = 0; line < lines; line++) {
    const srcStart = line * srcLine
    const dstStart = line * dstLine
    for (let xx = 0; xx < outSize; xx++) {
      const xmin = c.bounds[xx * 2]
      const xmax = c.bounds[xx * 2 + 1]
      const k = xx * c.ksize
      let r = half
      let g = half
      let b = half
      for (let x = 0; x < xmax; x++) {
        const w = c.weights[k + x]
        const p = srcStart + (xmin + x) * srcTap
        // Sums stay below 2^31 (PRECISION_BITS leaves two bits of headroom), so int32 maths is exact.
        r = (r + src[p] * w) | 0
        g = (g + src[p + 1] * w) | 0
        b = (b + src[p + 2] * w) | 0
      }
      const q = dstStart + xx * dstTap
      dst[q] = clip8(r)
      dst[q + 1] = clip8(g)
      dst[q + 2] = clip8(b)
    }
  }
}

/** Image.resize((width, height), Image.BICUBIC) of an RGB image. */
export function pilResizeBicubic(image: RgbImage, width: number, height: number): RgbImage {
  let current = image
  // Pillow skips a pass whose size does not change (the box is always the whole image here).
  if (width !== current.width) {
    const c = coefficients(current.width, width)
    const out = new Uint8Array(width * current.height * 3)
    convolve(current.rgb, out, current.height, width, c, 3, current.width * 3, 3, width * 3)
    current = {width, height: current.height, rgb: out}
  }
  if (height !== current.height) {
    const c = coefficients(current.height, height)
    const out = new Uint8Array(width * height * 3)
    convolve(current.rgb, out, width, height, c, width * 3, 3, width * 3, 3)
    current = {width, height, rgb: out}
  }
  return current
}
