import {open, readFile} from 'node:fs/promises'
import {UserError} from '../util/errors.js'
import {DTYPE_BYTES, numel, type StateDict, type Tensor} from './tensor.js'

/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a JSON
 * header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`, then the
 * raw little-endian bytes. vipant's own checkpoints are safetensors too, so any tool can read them.
 */
const DTYPES: Record<string, Tensor['dtype']> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
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
    if (end - begin !== numel(shape) * DTYPE_BYTES[kind] || base + end > bytes.length) {
      throw new UserError(`${source}: tensor ${name} has ${end - begin} bytes for shape [${shape}] ${dtype}`)
    }
    tensors.set(name, {shape, dtype: kind, data: widen(bytes.subarray(base + begin, base + end), kind)})
  }
  return {tensors, metadata: (header.__metadata__ as Record<string, string> | undefined) ?? {}}
}

/** Serialises float32 tensors (in map order) with string metadata. */
export function encodeSafetensors(tensors: StateDict, metadata: Record<string, string> = {}): Uint8Array {
  const {prefix, dataBytes} = safetensorsPrefix(tensors, metadata)
  const out = new Uint8Array(prefix.length + dataBytes)
  out.set(prefix)
  let at = prefix.length
  for (const t of tensors.values()) {
    out.set(float32Bytes(t), at)
    at += t.data.byteLength
  }
  return out
}

/** encodeSafetensors straight to a file, one tensor at a time: no second copy of a large model in memory. */
export async function writeSafetensors(file: string, tensors: StateDict, metadata: Record<string, string> = {}): Promise<void> {
  const handle = await open(file, 'w')
  try {
    await handle.write(safetensorsPrefix(tensors, metadata).prefix)
    for (const t of tensors.values()) await handle.write(float32Bytes(t))
  } finally {
    await handle.close()
  }
}

/** The length word and JSON header; the data must then start 8-byte aligned, so the JSON is space-padded as the reference writer does. */
function safetensorsPrefix(tensors: StateDict, metadata: Record<string, string>): {prefix: Uint8Array; dataBytes: number} {
  const header: Record<string, unknown> = {__metadata__: metadata}
  let offset = 0
  for (const [name, t] of tensors) {
    header[name] = {dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4]}
    offset += t.data.length * 4
  }
  const text = JSON.stringify(header)
  const json = new TextEncoder().encode(text.padEnd(text.length + ((8 - (new TextEncoder().encode(text).length % 8)) % 8), ' '))
  const prefix = new Uint8Array(8 + json.length)
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true)
  prefix.set(json, 8)
  return {prefix, dataBytes: offset}
}

function float32Bytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
}

/** Little-endian storage bytes of any float or integer dtype as float32 values (float32: a view of `raw` when aligned). */
export function widen(raw: Uint8Array, dtype: Tensor['dtype']): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
  switch (dtype) {
    case 'float32':
      // A view when aligned (safetensors data is, by the writers' convention): no copy of a large model.
      return raw.byteOffset % 4 === 0 ? new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4) : new Float32Array(raw.slice().buffer)
    case 'float16': {
      const table = halfTable()
      const out = new Float32Array(raw.length / 2)
      for (let i = 0; i < out.length; i++) out[i] = table[view.getUint16(2 * i, true)]
      return out
    }
    case 'bfloat16': {
      // bf16 is the top half of an fp32: widen by shifting the bits into place.
      const bits = new Uint32Array(raw.length / 2)
      for (let i = 0; i < bits.length; i++) bits[i] = view.getUint16(2 * i, true) << 16
      return new Float32Array(bits.buffer)
    }
    case 'float64':
      return Float32Array.from({length: raw.length / 8}, (_, i) => view.getFloat64(8 * i, true))
    case 'int64':
      return Float32Array.from({length: raw.length / 8}, (_, i) => Number(view.getBigInt64(8 * i, true)))
    case 'int32':
      return Float32Array.from({length: raw.length / 4}, (_, i) => view.getInt32(4 * i, true))
    case 'int16':
      return Float32Array.from({length: raw.length / 2}, (_, i) => view.getInt16(2 * i, true))
    case 'int8':
      return Float32Array.from(new Int8Array(raw.buffer, raw.byteOffset, raw.length))
    case 'uint8':
    case 'bool':
      return Float32Array.from(raw)
  }
}

let HALF_TABLE: Float32Array | undefined
/** Every fp16 bit pattern's value: a 256 KiB table makes widening a 150 M-parameter fp16 model fast. */
function halfTable(): Float32Array {
  HALF_TABLE ??= Float32Array.from({length: 0x10000}, (_, h) => halfToFloat(h))
  return HALF_TABLE
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
