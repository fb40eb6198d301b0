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

/** The reference implementation's limit on the JSON header (100 MB). */
const MAX_HEADER_BYTES = 100_000_000

interface Entry {
  name: string
  dtype: Tensor['dtype']
  shape: number[]
  begin: number
  end: number
}

/**
 * Validated as huggingface/safetensors does before any tensor is touched: a bounded header, every
 * entry well-formed, and the entries' byte ranges tiling the data exactly (no gap, no overlap, nothing
 * past the end), so no two tensors share bytes and the tensors can never add up to more than the file.
 */
export function parseSafetensors(bytes: Uint8Array, source: string): Safetensors {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < 8) throw new UserError(`${source}: not a safetensors file (too short)`)
  const headerLength = Number(view.getBigUint64(0, true))
  if (headerLength > bytes.length - 8 || headerLength > MAX_HEADER_BYTES) {
    throw new UserError(`${source}: not a safetensors file (header length ${headerLength})`)
  }
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)))
  } catch {
    throw new UserError(`${source}: not a safetensors file (header is not JSON)`)
  }
  if (!isRecord(header)) throw new UserError(`${source}: not a safetensors file (header is not a JSON object)`)
  const {__metadata__: metadata = {}, ...described} = header
  if (!isRecord(metadata) || !Object.values(metadata).every((v) => typeof v === 'string')) {
    throw new UserError(`${source}: safetensors __metadata__ is not a map of strings`)
  }
  const base = 8 + headerLength
  const entries = Object.entries(described).map(([name, entry]) => checkedEntry(name, entry, source))
  let covered = 0
  for (const entry of [...entries].sort((a, b) => a.begin - b.begin)) {
    if (entry.begin !== covered) {
      throw new UserError(
        `${source}: tensor ${entry.name} starts at byte ${entry.begin} of the data, not ${covered} (a gap or an overlap)`,
      )
    }
    covered = entry.end
  }
  if (base + covered !== bytes.length) {
    throw new UserError(`${source}: the tensors cover ${covered} bytes of data, the file holds ${bytes.length - base}`)
  }
  const tensors: StateDict = new Map()
  for (const {name, dtype, shape, begin, end} of entries) {
    tensors.set(name, {shape, dtype, data: widen(bytes.subarray(base + begin, base + end), dtype)})
  }
  return {tensors, metadata: metadata as Record<string, string>}
}

function checkedEntry(name: string, entry: unknown, source: string): Entry {
  const fields = isRecord(entry) ? entry : {}
  const {dtype, shape, data_offsets: offsets} = fields
  const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0
  const wellFormed =
    Array.isArray(shape) && shape.every(count) && Array.isArray(offsets) && offsets.length === 2 && offsets.every(count)
  if (typeof dtype !== 'string' || !wellFormed) {
    throw new UserError(`${source}: tensor ${name} is not {dtype, shape, data_offsets: [begin, end]}`)
  }
  const kind = DTYPES[dtype]
  if (!kind) throw new UserError(`${source}: tensor ${name} has unsupported dtype ${dtype.slice(0, 20)}`)
  const [begin, end] = offsets as [number, number]
  if (end < begin || end - begin !== numel(shape) * DTYPE_BYTES[kind]) {
    throw new UserError(
      `${source}: tensor ${name} has ${end - begin} bytes for shape ${JSON.stringify(shape).slice(0, 80)} ${dtype}`,
    )
  }
  return {name, dtype: kind, shape: shape as number[], begin, end}
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
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
export async function writeSafetensors(
  file: string,
  tensors: StateDict,
  metadata: Record<string, string> = {},
): Promise<void> {
  const handle = await open(file, 'w')
  try {
    await handle.write(safetensorsPrefix(tensors, metadata).prefix)
    for (const t of tensors.values()) await handle.write(float32Bytes(t))
  } finally {
    await handle.close()
  }
}

/** The length word and JSON header; the data must then start 8-byte aligned, so the JSON is space-padded as the reference writer does. */
function safetensorsPrefix(
  tensors: StateDict,
  metadata: Record<string, string>,
): {prefix: Uint8Array; dataBytes: number} {
  const header: Record<string, unknown> = {__metadata__: metadata}
  let offset = 0
  for (const [name, t] of tensors) {
    header[name] = {dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4]}
    offset += t.data.length * 4
  }
  const text = JSON.stringify(header)
  const json = new TextEncoder().encode(
    text.padEnd(text.length + ((8 - (new TextEncoder().encode(text).length % 8)) % 8), ' '),
  )
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
      return raw.byteOffset % 4 === 0
        ? new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4)
        : new Float32Array(raw.slice().buffer)
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
