/**
 * IEEE 754 half precision for tensor columns written with --dtype float16: float32 values rounded to the nearest
 * half (ties to even, as numpy's astype(float16) and PyTorch's .half() round), and halves widened back exactly.
 */
const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** Every half's float32 value, built on first use (256 KiB): widening is then one lookup per value. */
let widened: Float32Array | undefined

function halfToFloat(h: number): number {
  const exponent = (h >> 10) & 0x1f
  const fraction = h & 0x3ff
  const sign = h & 0x8000 ? -1 : 1
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Infinity
  if (exponent === 0) return sign * fraction * 2 ** -24
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15)
}

/** The float32 values of halves. */
export function fromHalf(halves: Uint16Array): Float32Array {
  if (!widened) {
    widened = new Float32Array(65536)
    for (let h = 0; h < 65536; h++) widened[h] = halfToFloat(h)
  }
  const out = new Float32Array(halves.length)
  for (let i = 0; i < halves.length; i++) out[i] = widened[halves[i]]
  return out
}

/** One float32 rounded to the nearest half, as its 16 bits. */
export function halfBits(value: number): number {
  f32[0] = value
  let u = u32[0]
  const sign = (u >>> 16) & 0x8000
  u &= 0x7fffffff
  if (u >= 0x47800000) return sign | (u > 0x7f800000 ? 0x7e00 : 0x7c00) // 65536 and beyond, infinities, NaN
  if (u < 0x38800000) {
    // Below the smallest normal half: adding 0.5 lines the half's subnormal bits up at the bottom of the float's
    // fraction, and the float addition rounds them to nearest even.
    u32[0] = u
    f32[0] += 0.5
    return sign | ((u32[0] - 0x3f000000) & 0xffff)
  }
  const odd = (u >>> 13) & 1
  return sign | ((u - 0x38000000 + 0xfff + odd) >>> 13)
}

export function toHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length)
  for (let i = 0; i < values.length; i++) out[i] = halfBits(values[i])
  return out
}
