import {open, readFile} from 'node:fs/promises'
import {UserError} from '../util/errors.js'
import {probeMedia, runTool, type MediaInfo} from './ffmpeg.js'
import {applySoxLayout, soxMp3Layout} from './mp3.js'
import {decodeWav, UnsupportedWavEncoding, type PcmAudio} from './wav.js'

/**
 * 'sox' (default) reproduces torchaudio <= 0.11 (libmad through sox), which VIP-ANT was trained with: the
 * encoder delay, the Xing/Info frame's silence and the end padding are kept. 'gapless' is ffmpeg's
 * default decode, which is also what torchaudio >= 0.12 returns.
 */
export type Mp3Decoding = 'sox' | 'gapless'

export interface DecodeOptions {
  mp3?: Mp3Decoding
}

export interface DecodedAudio extends PcmAudio {
  /** Seconds: samples per channel over the sample rate. */
  duration: number
}

async function readHead(file: string, bytes: number): Promise<Uint8Array> {
  let handle
  try {
    handle = await open(file, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new UserError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read (${code})`)
  }
  try {
    const head = new Uint8Array(bytes)
    const {bytesRead} = await handle.read(head, 0, bytes, 0)
    return head.subarray(0, bytesRead)
  } finally {
    await handle.close()
  }
}

function isWav(head: Uint8Array): boolean {
  const text = String.fromCharCode(...head)
  return (text.startsWith('RIFF') || text.startsWith('RIFX')) && text.slice(8, 12) === 'WAVE'
}

function splitInterleaved(bytes: Uint8Array, channelCount: number, source: string): Float32Array[] {
  const frameBytes = 4 * channelCount
  if (bytes.length % frameBytes !== 0) throw new UserError(`${source}: ffmpeg returned a partial sample frame`)
  const frames = bytes.length / frameBytes
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const channels = Array.from({length: channelCount}, () => new Float32Array(frames))
  for (let i = 0, o = 0; i < frames; i++) {
    for (let c = 0; c < channelCount; c++, o += 4) channels[c][i] = view.getFloat32(o, true)
  }
  return channels
}

/** ffmpeg's decode of the first audio stream at its native rate and channel count. */
async function decodeWithFfmpeg(file: string, info: MediaInfo, keepPadding = false): Promise<PcmAudio> {
  const stream = info.streams.find((s) => s.type === 'audio')
  if (!stream) throw new UserError(`${file}: no audio stream`)
  if (!stream.sampleRate || !stream.channels) throw new UserError(`${file}: audio stream without a sample rate or channel count`)
  const args = ['-nostdin', '-v', 'error', ...(keepPadding ? ['-flags2', '+skip_manual'] : [])]
  args.push('-i', file, '-map', `0:${stream.index}`, '-f', 'f32le', '-c:a', 'pcm_f32le', 'pipe:1')
  const out = await runTool('ffmpeg', args, file)
  return {sampleRate: stream.sampleRate, channels: splitInterleaved(out, stream.channels, file)}
}

async function decodePcm(file: string, options: DecodeOptions): Promise<PcmAudio> {
  if (isWav(await readHead(file, 12))) {
    try {
      return decodeWav(await readFile(file), file)
    } catch (err) {
      if (!(err instanceof UnsupportedWavEncoding)) throw err
    }
  }
  const info = await probeMedia(file)
  if ((options.mp3 ?? 'sox') === 'sox' && info.format === 'mp3') {
    const layout = soxMp3Layout(await readFile(file))
    if (layout) {
      const full = await decodeWithFfmpeg(file, info, true)
      return {sampleRate: full.sampleRate, channels: applySoxLayout(full.channels, layout)}
    }
  }
  return decodeWithFfmpeg(file, info)
}

/**
 * Decodes an audio file, or a video's first audio stream, to float samples in [-1, 1] at the native
 * sample rate with all channels, as torchaudio.load does. WAV (PCM and float) is read in-process and is
 * bit-identical to torchaudio; everything else goes through ffmpeg (set $VIPANT_FFMPEG to choose the binary).
 */
export async function decodeAudio(file: string, options: DecodeOptions = {}): Promise<DecodedAudio> {
  const {sampleRate, channels} = await decodePcm(file, options)
  return {sampleRate, channels, duration: (channels[0]?.length ?? 0) / sampleRate}
}
