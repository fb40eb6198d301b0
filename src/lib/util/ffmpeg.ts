import path from 'node:path'
import {UserError} from './errors.js'
import {SOX_ENV, soxBinary} from './sox.js'

const INSTALL_HINT = '(apt-get install ffmpeg / brew install ffmpeg)'

/** The ffmpeg binary: $VIPANT_FFMPEG, else `ffmpeg` on PATH. Read on every call so tests can point it elsewhere. */
export function ffmpegBinary(): string {
  return process.env.VIPANT_FFMPEG || 'ffmpeg'
}

/** ffprobe ships with ffmpeg: $VIPANT_FFPROBE, else beside $VIPANT_FFMPEG, else `ffprobe` on PATH. */
export function ffprobeBinary(): string {
  if (process.env.VIPANT_FFPROBE) return process.env.VIPANT_FFPROBE
  const ffmpeg = process.env.VIPANT_FFMPEG
  if (!ffmpeg) return 'ffprobe'
  const base = path.basename(ffmpeg)
  return path.join(path.dirname(ffmpeg), base.includes('ffmpeg') ? base.replace('ffmpeg', 'ffprobe') : 'ffprobe')
}

/** The first line of ffmpeg's stderr that says something, without the file name or decoder addresses. */
function firstErrorLine(stderr: string, source: string): string | undefined {
  for (const raw of stderr.split(/\r?\n/)) {
    const line = raw.replace(/\[(\S+) @ 0x[0-9a-f]+\] /g, '[$1] ').trim()
    if (!line) continue
    const named = [`${localInput(source)}: `, `${source}: `].find((prefix) => line.startsWith(prefix))
    return named ? line.slice(named.length) : line
  }
  return undefined
}

/** sox's "sox FAIL formats: can't open input file `/abs/path': reason", as "can't open input file: reason". */
function soxErrorLine(stderr: string, source: string): string | undefined {
  const line = stderr.split(/\r?\n/).find((l) => l.trim())
  if (!line) return undefined
  const reason = line
    .replace(/^sox (FAIL|WARN) [^:]*: /, '')
    .replace(` \`${path.resolve(source)}'`, '')
    .trim()
  return reason.replace(/:$/, '') || undefined
}

const BINARIES = {ffmpeg: ffmpegBinary, ffprobe: ffprobeBinary, sox: soxBinary}

/**
 * A local file as ffmpeg must be given it: with `file:` and absolute, since ffmpeg reads a name such as
 * `concat:a|b`, `http:x` or `subfile,,...` as a protocol, not a file.
 */
export function localInput(file: string): string {
  return `file:${path.resolve(file)}`
}

/** ARGS with every input (`-i FILE`) made a plain local file: vipant hands ffmpeg nothing else. */
function localInputs(args: string[]): string[] {
  return args.map((arg, i) => (i > 0 && args[i - 1] === '-i' ? localInput(arg) : arg))
}

/**
 * Runs ffmpeg, ffprobe or sox and returns its stdout; each `-i` input is read as a local file (localInput). A missing
 * binary and a failed run become one-line UserErrors; the latter names SOURCE and quotes the tool's first error line.
 * Output beyond MAX_BYTES stops the run: a small file can decode to far more (a FLAC of silence expands some 200 times).
 */
export async function runTool(
  tool: 'ffmpeg' | 'ffprobe' | 'sox',
  args: string[],
  source: string,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<Uint8Array> {
  const binary = BINARIES[tool]()
  // Imported on first use: execa's hundred-odd modules took 0.1 s of every start-up, and of every mel worker's,
  // where most clips are WAV files read without any tool.
  const {execa} = await import('execa')
  const result = await execa(binary, localInputs(args), {
    ...(tool === 'sox' && {env: SOX_ENV}),
    encoding: 'buffer',
    // Binary output: a last byte of 0x0a is a sample or a pixel, not a line ending to strip.
    stripFinalNewline: false,
    reject: false,
    stdin: 'ignore',
    maxBuffer: maxBytes,
  })
  if (!result.failed) return result.stdout
  if (result.isMaxBuffer) {
    const limit = maxBytes >= 2 ** 20 ? `${Math.round(maxBytes / 2 ** 20)} MiB` : `${maxBytes} bytes`
    throw new UserError(`${source}: ${tool}'s output is over the ${limit} vipant reads from it`)
  }
  if (result.code === 'ENOENT' && tool === 'sox') throw new UserError(`sox not found at ${binary}`)
  if (result.code === 'ENOENT') {
    // Both binaries come with ffmpeg, so the advice is the same; say which path was tried when it is not the default.
    const tried =
      tool === 'ffmpeg'
        ? binary === tool
          ? ''
          : ` at ${binary}`
        : ` (no ffprobe ${binary === tool ? 'on PATH' : `at ${binary}`})`
    throw new UserError(`ffmpeg not found${tried}: install it ${INSTALL_HINT}`)
  }
  if (result.exitCode === undefined) throw new UserError(`cannot run ${binary}: ${result.shortMessage}`)
  const stderr = Buffer.from(result.stderr).toString('utf8')
  const reason = tool === 'sox' ? soxErrorLine(stderr, source) : firstErrorLine(stderr, source)
  throw new UserError(`${source}: ${reason ?? `${tool} failed with exit code ${result.exitCode}`}`)
}

export interface MediaStreamInfo {
  index: number
  type: 'audio' | 'video' | 'subtitle' | 'data' | 'attachment' | 'unknown'
  codec: string
  /** Audio only. */
  sampleRate?: number
  channels?: number
  /** Video only. */
  width?: number
  height?: number
  /** Average frames per second, video only. */
  fps?: number
  /** Seconds, when the container says. */
  duration?: number
}

export interface MediaInfo {
  /** ffprobe's format name, e.g. "mp3", "wav", "mov,mp4,m4a,3gp,3g2,mj2". */
  format: string
  /** Seconds, when the container says. */
  duration?: number
  streams: MediaStreamInfo[]
}

interface ProbeJson {
  format?: {format_name?: string; duration?: string}
  streams?: {
    index: number
    codec_type?: string
    codec_name?: string
    sample_rate?: string
    channels?: number
    width?: number
    height?: number
    avg_frame_rate?: string
    duration?: string
  }[]
}

function positive(value: string | number | undefined): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value
  return n !== undefined && Number.isFinite(n) && n > 0 ? n : undefined
}

function rate(fraction: string | undefined): number | undefined {
  if (!fraction) return undefined
  const [num, den] = fraction.split('/').map(Number)
  return positive(den === undefined ? num : num / den)
}

const STREAM_TYPES = new Set(['audio', 'video', 'subtitle', 'data', 'attachment'])

/** Container, duration and streams of a media file, from ffprobe. */
export async function probeMedia(file: string): Promise<MediaInfo> {
  const out = await runTool(
    'ffprobe',
    ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', '-i', file],
    file,
  )
  const json = JSON.parse(Buffer.from(out).toString('utf8')) as ProbeJson
  return {
    format: json.format?.format_name ?? 'unknown',
    duration: positive(json.format?.duration),
    streams: (json.streams ?? []).map((s) => ({
      index: s.index,
      type: (STREAM_TYPES.has(s.codec_type ?? '') ? s.codec_type : 'unknown') as MediaStreamInfo['type'],
      codec: s.codec_name ?? 'unknown',
      sampleRate: positive(s.sample_rate),
      channels: positive(s.channels),
      width: positive(s.width),
      height: positive(s.height),
      fps: rate(s.avg_frame_rate),
      duration: positive(s.duration),
    })),
  }
}
