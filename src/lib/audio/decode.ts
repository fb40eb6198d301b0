import {open, readFile} from 'node:fs/promises'
import path from 'node:path'
import {UserError} from '../util/errors.js'
import {requireFinite} from '../util/finite.js'
import {runTool} from '../util/ffmpeg.js'
import {applySoxLayout, soxMp3Layout} from './mp3.js'
import {soxDecodeArgs, soxReadsMp3} from '../util/sox.js'
import {
  decodeWav,
  MAX_DECODED_SAMPLES,
  readWavHeader,
  UnsupportedWavEncoding,
  WAVE_FORMAT_IEEE_FLOAT,
  type PcmAudio,
} from './wav.js'

/**
 * 'sox' (default) is what torchaudio <= 0.11 returned (sox with libmad), which VIP-ANT's features were
 * computed with: the Xing/Info frame's silence and the encoder delay come first (2257 samples at 44.1 kHz),
 * the last frame is dropped and the length is sox's duration estimate. Where sox reads MP3 it decodes the
 * file itself and the samples are libmad's, bit for bit; elsewhere ffmpeg's decode is laid out the same way
 * (see mp3.ts), within 3.4e-6 of libmad's. 'gapless' is ffmpeg's default decode, which is also what
 * torchaudio >= 0.12 returns (its MP3 path is FFmpeg).
 */
export type Mp3Decoding = 'sox' | 'gapless'

/** Which decoder the 'sox' MP3 mode runs, as recorded in a mel table's metadata. */
export type Mp3Decoder = 'sox+libmad' | 'ffmpeg, sox layout'

export function mp3Decoder(): Mp3Decoder {
  return soxReadsMp3() ? 'sox+libmad' : 'ffmpeg, sox layout'
}

export interface DecodeOptions {
  mp3?: Mp3Decoding
}

export interface DecodedAudio extends PcmAudio {
  /** Seconds: samples per channel over the sample rate. */
  duration: number
  /** Set when the file was decoded as an MP3 in the 'sox' mode. */
  mp3Decoder?: Mp3Decoder
}

async function readHead(file: string, bytes: number): Promise<Uint8Array> {
  try {
    const handle = await open(file, 'r')
    try {
      const head = new Uint8Array(bytes)
      const {bytesRead} = await handle.read(head, 0, bytes, 0)
      return head.subarray(0, bytesRead)
    } finally {
      await handle.close()
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new UserError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read (${code})`)
  }
}

function isWav(head: Uint8Array): boolean {
  const text = String.fromCharCode(...head)
  return (text.startsWith('RIFF') || text.startsWith('RIFX')) && text.slice(8, 12) === 'WAVE'
}

/**
 * A float32 WAV that ffmpeg or sox wrote on stdout, read as is. Its header passes the same rate and channel
 * checks as a WAV file's; a float source can hand NaN through. On a pipe the data chunk comes last and its
 * size is written before decoding: ffmpeg's says "unknown", sox's is its length estimate, which a hostile
 * Xing frame count wraps past 2^32 to less than what follows. The samples are therefore all that follows.
 */
function readFloatWav(bytes: Uint8Array, source: string, tool: string): PcmAudio {
  const header = readWavHeader(bytes, source)
  if (header.formatTag !== WAVE_FORMAT_IEEE_FLOAT || header.bitsPerSample !== 32)
    throw new Error(`${tool} did not write float32 WAV`)
  const frames = Math.floor((bytes.length - header.dataOffset) / (4 * header.channelCount))
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const channels = Array.from({length: header.channelCount}, () => new Float32Array(frames))
  for (let i = 0, o = header.dataOffset; i < frames; i++) {
    for (const channel of channels) {
      channel[i] = view.getFloat32(o, true)
      o += 4
    }
  }
  channels.forEach((channel, c) => requireFinite(channel, () => `${source}: channel ${c} of the decoded audio`))
  return {sampleRate: header.sampleRate, channels}
}

/** A float32 WAV of MAX_DECODED_SAMPLES, and room for its header. */
const MAX_WAV_BYTES = 4 * MAX_DECODED_SAMPLES + 4096

/**
 * ffmpeg's decode of the first audio stream at its native rate and channel count, in one run: a WAV
 * header on stdout carries the rate and channel count. KEEP_PADDING keeps what the codec marks for
 * skipping (MP3 encoder delay and end padding).
 */
async function decodeWithFfmpeg(file: string, keepPadding = false): Promise<PcmAudio> {
  const args = ['-nostdin', '-v', 'error', ...(keepPadding ? ['-flags2', '+skip_manual'] : []), '-i', file]
  args.push('-map', '0:a:0', '-map_metadata', '-1', '-f', 'wav', '-c:a', 'pcm_f32le', 'pipe:1')
  try {
    return readFloatWav(await runTool('ffmpeg', args, file, MAX_WAV_BYTES), file, 'ffmpeg')
  } catch (err) {
    if (err instanceof UserError && err.message.includes("Stream map '0:a:0' matches no streams")) {
      throw new UserError(`${file}: no audio stream`)
    }
    throw err
  }
}

/** torchaudio's sox backend picks the MP3 reader by file extension, and so does the 'sox' MP3 mode. */
function isMp3Name(file: string): boolean {
  return path.extname(file).toLowerCase() === '.mp3'
}

type DecodedPcm = PcmAudio & Pick<DecodedAudio, 'mp3Decoder'>

/**
 * An MP3 as torchaudio's sox backend read it: by sox itself where it reads MP3, else ffmpeg's decode laid
 * out as sox's. Undefined when the file holds no MPEG audio frame: then it is ffmpeg's, whatever its name.
 */
async function decodeMp3(file: string): Promise<DecodedPcm | undefined> {
  const layout = soxMp3Layout(await readFile(file))
  if (!layout) return undefined
  const decoder = mp3Decoder()
  if (decoder === 'sox+libmad') {
    return {
      ...readFloatWav(await runTool('sox', soxDecodeArgs(file), file, MAX_WAV_BYTES), file, 'sox'),
      mp3Decoder: decoder,
    }
  }
  const full = await decodeWithFfmpeg(file, true)
  return {sampleRate: full.sampleRate, channels: applySoxLayout(full.channels, layout), mp3Decoder: decoder}
}

async function decodePcm(file: string, options: DecodeOptions): Promise<DecodedPcm> {
  if (isWav(await readHead(file, 12))) {
    try {
      return decodeWav(await readFile(file), file)
    } catch (err) {
      if (!(err instanceof UnsupportedWavEncoding)) throw err
    }
  } else if ((options.mp3 ?? 'sox') === 'sox' && isMp3Name(file)) {
    const mp3 = await decodeMp3(file)
    if (mp3) return mp3
  }
  return decodeWithFfmpeg(file)
}

/**
 * Decodes an audio file, or a video's first audio stream, to float samples in [-1, 1] at the native
 * sample rate with all channels, as torchaudio.load does. WAV (PCM and float) is read in-process and is
 * bit-identical to torchaudio; MP3 goes through sox where it reads MP3 (bit-identical too; $VIPANT_SOX
 * chooses the binary); everything else goes through ffmpeg (set $VIPANT_FFMPEG to choose the binary).
 * A file that yields no sample (a header without data, a truncated MP3) is an error, not silence.
 */
export async function decodeAudio(file: string, options: DecodeOptions = {}): Promise<DecodedAudio> {
  const {sampleRate, channels, mp3Decoder} = await decodePcm(file, options)
  if (channels[0].length === 0) throw new UserError(`${file}: no audio frames decoded`)
  return {sampleRate, channels, duration: (channels[0]?.length ?? 0) / sampleRate, ...(mp3Decoder && {mp3Decoder})}
}
