import {readFile} from 'node:fs/promises'
import {UserError} from '../util/errors.js'
import {numel, type StateDict, type Tensor} from './tensor.js'

/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a JSON
 * header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then the
 * raw little-endian bytes. vipant's own checkpoints are safetensors too, so any tool can read them.
 */
const DTYPES: Record<string, {dtype: Tensor['dtype']; bytes: number}> = {
  F32: {dtype: 'float32', bytes: 4},
  F16: {dtype: 'float16', bytes: 2},
  BF16: {dtype: 'bfloat16', bytes: 2},
  F64: {dtype: 'float64', bytes: 8},
  I64: {dtype: 'int64', bytes: 8},
  I32: {dtype: 'int32', bytes: 4},
  U8: {dtype: 'uint8', bytes: 1},
  BOOL: {dtype: 'bool', bytes: 1},
}

export interface Safetensors {
  tensors: StateDict
  metadata: Record<string, string>
}

export async function readSafetensors(file: string): Promise<Safetensors> {
  return parseSafetensors(new Uint8Array(await readFile(file)), file)
}

export function parseSafetensors(bytes: Uint8Array, source: string): Safetensors {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < 8) throw new UserError(`${source}: not a safetensors file (too short)`)
  const headerLength = Number(view.getBigUint64(0, true))
  if (headerLength > bytes.length - 8) throw new UserError(`${source}: not a safetensors file (header length ${headerLength})`)
  let header: Record<string, {dtype: string; shape: number[]; data_offsets: [number, number]} | Record<string, string>>
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)))
  } catch {
    throw new UserError(`${source}: not a safetensors file (header is not JSON)`)
  }
  const base = 8 + headerLength
  const tensors: StateDict = new Map()
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue
    const {dtype, shape, data_offsets: [begin, end]} = entry as {dtype: string; shape: number[]; data_offsets: [number, number]}
    const kind = DTYPES[dtype]
    if (!kind) throw new UserError(`${source}: tensor ${name} has unsupported dtype ${dtype}`)
    if (end - begin !== numel(shape) * kind.bytes || base + end > bytes.length) {
      throw new UserError(`${source}: tensor ${name} has ${end - begin} bytes for shape [${shape}] ${dtype}`)
    }
    tensors.set(name, {shape, dtype: kind.dtype, data: widen(bytes.subarray(base + begin, base + end), kind.dtype)})
  }
  return {tensors, metadata: (header.__metadata__ as Record<string, string> | undefined) ?? {}}
}

/** Serialises float32 tensors (in map order) with string metadata. */
export function encodeSafetensors(tensors: StateDict, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {__metadata__: metadata}
  let offset = 0
  for (const [name, t] of tensors) {
    header[name] = {dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4]}
    offset += t.data.length * 4
  }
  // The data must start 8-byte aligned: pad the JSON with spaces, as the reference writer does.
  let json = new TextEncoder().encode(JSON.stringify(header))
  const padded = Math.ceil(json.length / 8) * 8
  json = new TextEncoder().encode(JSON.stringify(header).padEnd(padded, ' '))
  const out = new Uint8Array(8 + json.length + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  let at = 8 + json.length
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at)
    at += t.data.byteLength
  }
  return out
}

/** Little-endian storage bytes of any float or integer dtype as float32 values. */
export function widen(raw: Uint8Array, dtype: Tensor['dtype']): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
  switch (dtype) {
    case 'float32':
      return new Float32Array(raw.slice().buffer)
    case 'float16':
      return Float32Array.from({length: raw.length / 2}, (_, i) => halfToFloat(view.getUint16(2 * i, true)))
    case 'bfloat16':
      return Float32Array.from({length: raw.length / 2}, (_, i) => {
        const u = new Uint32Array([view.getUint16(2 * i, true) << 16])
        return new Float32Array(u.buffer)[0]
      })
    case 'float64':
      return Float32Array.from({length: raw.length / 8}, (_, i) => view.getFloat64(8 * i, true))
    case 'int64':
      return Float32Array.from({length: raw.length / 8}, (_, i) => Number(view.getBigInt64(8 * i, true)))
    case 'int32':
      return Float32Array.from({length: raw.length / 4}, (_, i) => view.getInt32(4 * i, true))
    case 'uint8':
    case 'bool':
      return Float32Array.from(raw)
  }
}

/** IEEE 754 half to single precision (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exponent = (h >> 10) & 0x1f
  const fraction = h & 0x3ff
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024)
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024)
}
