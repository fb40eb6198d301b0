import {UserError} from '../util/errors.js'

export interface PcmAudio {
  sampleRate: number
  /** One array per channel, samples in [-1, 1]. */
  channels: Float32Array[]
}

/** A well-formed WAV whose encoding (ADPCM, A-law, mu-law, ...) is left to ffmpeg. */
export class UnsupportedWavEncoding extends UserError {}

type SampleReader = (view: DataView, offset: number, littleEndian: boolean) => number

const TWO_31 = 2147483648
const INT32_MAX = 2147483647

/**
 * torchaudio's sox backend turns every sample into sox's int32 and then into float32 with
 * SOX_SAMPLE_TO_FLOAT_32BIT, which rounds to 24 significant bits (a multiple of 128) and maps the top 64
 * codes to exactly 1. Integer formats up to 24 bits pass through unchanged; 32-bit and float input do not.
 */
function soxToFloat(sample: number): number {
  return sample > INT32_MAX - 64 ? 1 : (Math.floor((sample + 64) / 128) * 128) / TWO_31
}

/** sox 14.4.2 SOX_FLOAT_32BIT_TO_SAMPLE: scale by 2^31, clip, truncate towards zero (NaN is refused before). */
function float32ToSox(x: number): number {
  const d = x * TWO_31
  if (d < -TWO_31) return -TWO_31
  return d >= TWO_31 ? INT32_MAX : Math.trunc(d)
}

/** sox SOX_FLOAT_64BIT_TO_SAMPLE: as above but rounding half away from zero. */
function float64ToSox(x: number): number {
  const d = x * TWO_31
  if (d < 0) return d <= -TWO_31 - 0.5 ? -TWO_31 : Math.trunc(d - 0.5)
  return d >= INT32_MAX + 0.5 ? INT32_MAX : Math.trunc(d + 0.5)
}

const READERS: Record<string, SampleReader> = {
  u8: (v, o) => (v.getUint8(o) - 128) / 128,
  s16: (v, o, le) => v.getInt16(o, le) / 32768,
  s24: (v, o, le) => {
    const lo = le ? v.getUint16(o, true) : v.getUint16(o + 1, false)
    const hi = le ? v.getInt8(o + 2) : v.getInt8(o)
    return (hi * 65536 + lo) / 8388608
  },
  s32: (v, o, le) => soxToFloat(v.getInt32(o, le)),
  f32: (v, o, le) => soxToFloat(float32ToSox(v.getFloat32(o, le))),
  f64: (v, o, le) => soxToFloat(float64ToSox(v.getFloat64(o, le))),
}

const WAVE_FORMAT_PCM = 1
export const WAVE_FORMAT_IEEE_FLOAT = 3
const WAVE_FORMAT_EXTENSIBLE = 0xfffe

/**
 * The highest sample rate read (768 kHz, the top rate of audio interfaces and of DXD masters). The rate
 * sizes the crop window and the fbank's FFT, so a header claiming 4 GHz would ask for gigabytes per clip.
 */
export const MAX_SAMPLE_RATE = 768_000
/** The most channels read: FFmpeg's own ceiling for a decoder. */
export const MAX_CHANNELS = 512
/**
 * The most samples (all channels) one file may decode to: 2^28, 1 GiB of float32, or 100 minutes of
 * 44.1 kHz mono. A log-mel keeps at most 2 minutes, so longer recordings are better cut into clips first.
 */
export const MAX_DECODED_SAMPLES = 2 ** 28

/**
 * Refuses a rate or channel count no recording has, before anything is sized by it: a WAV header's, or
 * what ffmpeg reports for any other format.
 */
export function checkAudioFormat(sampleRate: number, channelCount: number, source: string): void {
  if (!(Number.isInteger(sampleRate) && sampleRate >= 1 && sampleRate <= MAX_SAMPLE_RATE)) {
    throw new UserError(
      `${source}: impossible sample rate ${sampleRate} Hz (vipant reads 1 Hz to ${MAX_SAMPLE_RATE / 1000} kHz)`,
    )
  }
  if (!(Number.isInteger(channelCount) && channelCount >= 1 && channelCount <= MAX_CHANNELS)) {
    throw new UserError(`${source}: impossible channel count ${channelCount} (vipant reads 1 to ${MAX_CHANNELS})`)
  }
}

/** sox's "data length unknown" marker (pipes, files over 4 GB): read to the end of the file. */
const MS_UNSPEC = 0x7ffff000

function encodingOf(tag: number, bits: number): string | undefined {
  if (tag === WAVE_FORMAT_PCM) return {8: 'u8', 16: 's16', 24: 's24', 32: 's32'}[bits]
  if (tag === WAVE_FORMAT_IEEE_FLOAT) return {32: 'f32', 64: 'f64'}[bits]
  return undefined
}

function ascii(bytes: Uint8Array, offset: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + 4))
}

export interface WavHeader {
  littleEndian: boolean
  /** The format tag, WAVE_FORMAT_EXTENSIBLE resolved to its sub-format. */
  formatTag: number
  bitsPerSample: number
  sampleRate: number
  channelCount: number
  dataOffset: number
  /** Whole frames of uncompressed samples present: the data chunk's size, cut at the end of the file. */
  frames: number
}

/**
 * Reads a RIFF (or big-endian RIFX) WAVE header the way sox does: chunks are walked in order (unknown
 * ones skipped, odd sizes padded), the sample size comes from the bits per sample (block align is
 * ignored), and a data chunk that runs past the end of the file yields what is there, minus any trailing
 * partial frame.
 */
export function readWavHeader(bytes: Uint8Array, source: string): WavHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const riff = bytes.length >= 12 ? ascii(bytes, 0) : ''
  if ((riff !== 'RIFF' && riff !== 'RIFX') || ascii(bytes, 8) !== 'WAVE') {
    throw new UserError(`${source}: not a WAV file (no RIFF/WAVE header)`)
  }
  const le = riff === 'RIFF'
  const corrupt = (problem: string) => new UserError(`${source}: corrupt WAV header (${problem})`)

  let fmt: {offset: number; size: number} | undefined
  let data: {offset: number; size: number} | undefined
  for (let pos = 12; pos + 8 <= bytes.length && !(fmt && data);) {
    const id = ascii(bytes, pos)
    const size = view.getUint32(pos + 4, le)
    if (id === 'fmt ' && !fmt) fmt = {offset: pos + 8, size}
    if (id === 'data' && !data) data = {offset: pos + 8, size}
    pos += 8 + size + (size & 1)
  }
  if (!fmt) throw corrupt('no fmt chunk')
  if (fmt.size < 16 || fmt.offset + 16 > bytes.length) throw corrupt('fmt chunk too short')
  if (!data) throw corrupt('no data chunk')

  let formatTag = view.getUint16(fmt.offset, le)
  const channelCount = view.getUint16(fmt.offset + 2, le)
  const sampleRate = view.getUint32(fmt.offset + 4, le)
  const bitsPerSample = view.getUint16(fmt.offset + 14, le)
  checkAudioFormat(sampleRate, channelCount, source)
  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    if (fmt.size < 40 || fmt.offset + 40 > bytes.length) throw corrupt('extensible fmt chunk too short')
    // The sub-format GUID starts with the plain format tag. Valid bits below the container size are left
    // justified, so the container is read whole (as sox does since 2020; 14.4.2 refused such files).
    formatTag = view.getUint16(fmt.offset + 24, le)
  }
  const available = bytes.length - data.offset
  const dataBytes = data.size === MS_UNSPEC ? available : Math.min(data.size, available)
  const frameBytes = Math.ceil(bitsPerSample / 8) * channelCount
  const frames = frameBytes > 0 ? Math.floor(Math.max(0, dataBytes) / frameBytes) : 0
  return {littleEndian: le, formatTag, bitsPerSample, sampleRate, channelCount, dataOffset: data.offset, frames}
}

/**
 * Decodes a WAV file exactly as torchaudio.load(normalize=True) does through sox: PCM 8/16/24/32-bit,
 * IEEE float 32/64, WAVE_FORMAT_EXTENSIBLE, RIFX, any channel count. Other encodings throw
 * UnsupportedWavEncoding. Float samples must be finite: sox would turn NaN into -1 and infinities into ±1.
 */
export function decodeWav(bytes: Uint8Array, source: string): PcmAudio {
  const header = readWavHeader(bytes, source)
  const {formatTag, bitsPerSample, channelCount, frames, littleEndian} = header
  const encoding = encodingOf(formatTag, bitsPerSample)
  if (!encoding) {
    throw new UnsupportedWavEncoding(
      `${source}: WAV format 0x${formatTag.toString(16)} with ${bitsPerSample} bits per sample`,
    )
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const sampleBytes = bitsPerSample / 8
  const frameBytes = sampleBytes * channelCount
  if (frames * channelCount > MAX_DECODED_SAMPLES) {
    throw new UserError(
      `${source}: ${frames * channelCount} samples, over the ${MAX_DECODED_SAMPLES} vipant decodes from one file`,
    )
  }
  const read = READERS[encoding]
  if (formatTag === WAVE_FORMAT_IEEE_FLOAT) checkFiniteSamples(view, header, source)
  const channels = Array.from({length: channelCount}, () => new Float32Array(frames))
  for (let c = 0; c < channelCount; c++) {
    const out = channels[c]
    for (let i = 0, o = header.dataOffset + c * sampleBytes; i < frames; i++, o += frameBytes)
      out[i] = read(view, o, littleEndian)
  }
  return {sampleRate: header.sampleRate, channels}
}

/** Refuses a float WAV holding NaN or ±Infinity, naming the first such sample. */
function checkFiniteSamples(view: DataView, header: WavHeader, source: string): void {
  const {bitsPerSample, channelCount, frames, dataOffset, littleEndian} = header
  const bytes = bitsPerSample / 8
  for (let i = 0, o = dataOffset; i < frames * channelCount; i++, o += bytes) {
    const x = bytes === 4 ? view.getFloat32(o, littleEndian) : view.getFloat64(o, littleEndian)
    if (!Number.isFinite(x))
      throw new UserError(`${source}: sample ${Math.floor(i / channelCount)} of channel ${i % channelCount} is ${x}`)
  }
}

/**
 * 16-bit PCM WAV bytes (RIFF, little-endian, interleaved channels) of AUDIO: samples are clipped to
 * [-1, 1] and scaled by 32767 with rounding, so decodeWav gives each back within 1/32768.
 */
export function encodeWav16({sampleRate, channels}: PcmAudio): Uint8Array {
  const count = channels.length
  const frames = channels[0]?.length ?? 0
  const dataBytes = frames * count * 2
  const bytes = new Uint8Array(44 + dataBytes)
  const view = new DataView(bytes.buffer)
  const text = (offset: number, s: string) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)))
  text(0, 'RIFF')
  view.setUint32(4, 36 + dataBytes, true)
  text(8, 'WAVE')
  text(12, 'fmt ')
  view.setUint32(16, 16, true)
  view.setUint16(20, WAVE_FORMAT_PCM, true)
  view.setUint16(22, count, true)
  view.setUint32(24, sampleRate, true)
  view.setUint32(28, sampleRate * count * 2, true)
  view.setUint16(32, count * 2, true)
  view.setUint16(34, 16, true)
  text(36, 'data')
  view.setUint32(40, dataBytes, true)
  for (let i = 0, o = 44; i < frames; i++) {
    for (let c = 0; c < count; c++, o += 2)
      view.setInt16(o, Math.round(Math.max(-1, Math.min(1, channels[c][i])) * 32767), true)
  }
  return bytes
}
