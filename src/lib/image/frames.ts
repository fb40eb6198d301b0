import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {UserError} from '../util/errors.js'
import {runTool} from '../util/ffmpeg.js'
import {decodeJpeg, isJpeg} from './jpeg.js'
import type {RgbImage} from './rgb.js'

/**
 * Colour conversion for pictures other than JPEG, which ffmpeg decodes (PNG, ...): swscale's defaults (fast bicubic
 * chroma, no accurate rounding) would be less exact where a conversion is needed.
 */
const SWS_FLAGS = ['-sws_flags', 'bicubic+accurate_rnd+full_chroma_int']

/**
 * The original's frame file: `ffmpeg -ss T -i VIDEO -frames:v 1 -q:v 1 out.jpg` encodes the picture as JPEG (MJPEG,
 * qscale 1, ffmpeg's own choice of full-range YUV and its default scaler) and PIL decodes that file. The same encoder
 * on a pipe gives the same bytes, so no swscale flags here: they would change the JPEG.
 */
const FRAME_JPEG = ['-q:v', '1', '-c:v', 'mjpeg']

/**
 * The original's frame times for a clip [start, end]: start + i (end - start) / (k - 1), i = 0..k-1
 * (k = 4 over 10 s: 0, 3.33, 6.67, 10).
 */
export function frameTimes(start: number, end: number, k: number): number[] {
  if (k === 1) return [start]
  return Array.from({length: k}, (_, i) => start + (i * (end - start)) / (k - 1))
}

const PPM_HEADER = /^P6\s+(\d+)\s+(\d+)\s+255\s/

/** Splits ffmpeg's PPM output ("P6\n<w> <h>\n255\n" then rgb24 bytes, once per frame) into images. */
function parsePpms(bytes: Uint8Array, source: string): RgbImage[] {
  const images: RgbImage[] = []
  for (let pos = 0; pos < bytes.length;) {
    const head = Buffer.from(bytes.buffer, bytes.byteOffset + pos, Math.min(64, bytes.length - pos))
      .toString('latin1')
      .match(PPM_HEADER)
    const width = Number(head?.[1])
    const height = Number(head?.[2])
    const start = pos + (head?.[0].length ?? 0)
    pos = start + width * height * 3
    if (!head || pos > bytes.length) throw new UserError(`${source}: ffmpeg returned a malformed frame`)
    images.push({width, height, rgb: new Uint8Array(bytes.subarray(start, pos))})
  }
  return images
}

/** One picture from INPUT (ffmpeg input options and -i), as PPM on stdout. */
function firstFrameArgs(input: string[]): string[] {
  return [
    '-nostdin',
    '-v',
    'error',
    ...input,
    '-map',
    '0:v:0',
    '-frames:v',
    '1',
    ...SWS_FLAGS,
    '-f',
    'image2pipe',
    '-c:v',
    'ppm',
    'pipe:1',
  ]
}

/** The video's last frame as the original's JPEG: ffmpeg decodes the final second, overwriting one file with each picture. */
async function lastFrameJpeg(videoPath: string): Promise<Uint8Array | undefined> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vipant-frame-'))
  const file = path.join(dir, 'last.jpg')
  try {
    const args = ['-nostdin', '-v', 'error', '-sseof', '-1', '-i', videoPath, '-map', '0:v:0', ...FRAME_JPEG]
    await runTool('ffmpeg', [...args, '-f', 'image2', '-update', '1', file], videoPath)
    return await readFile(file).catch(() => undefined)
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

async function frameAt(videoPath: string, time: number): Promise<RgbImage> {
  const args = [
    '-nostdin',
    '-v',
    'error',
    '-ss',
    Math.max(0, time).toFixed(6),
    '-i',
    videoPath,
    '-map',
    '0:v:0',
    '-frames:v',
    '1',
  ]
  const jpeg = await runTool('ffmpeg', [...args, ...FRAME_JPEG, '-f', 'image2pipe', 'pipe:1'], videoPath)
  const bytes = jpeg.length > 0 ? jpeg : await lastFrameJpeg(videoPath)
  if (!bytes) throw new UserError(`${videoPath}: no video frame at ${time} s`)
  return decodeJpeg(bytes, `${videoPath} (frame at ${time} s)`)
}

/**
 * One frame per timestamp, each from its own `ffmpeg -ss t -i video -frames:v 1 -q:v 1` as the original extracted
 * them (input seeking: the first frame whose timestamp is at or after t), the JPEG piped instead of written to a file
 * and decoded as Pillow decodes it. ffmpeg returns nothing for a time after the last frame's timestamp, which is
 * where the original's last time (the clip's end, e.g. 10 s of a 10 s video) usually falls; that time gets the
 * video's last frame instead of being dropped.
 */
export async function extractFrames(videoPath: string, times: number[]): Promise<RgbImage[]> {
  return Promise.all(times.map((t) => frameAt(videoPath, t)))
}

async function readPicture(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new UserError(
      code === 'ENOENT' ? `${file}: no such file or directory` : `${file}: cannot read (${code ?? String(error)})`,
    )
  }
}

/** A still image as 8-bit RGB: a JPEG as Pillow decodes it (decodeJpeg), anything else (PNG, ...) by ffmpeg. */
export async function decodeImage(file: string): Promise<RgbImage> {
  const bytes = await readPicture(file)
  if (isJpeg(bytes)) return decodeJpeg(bytes, file)
  const frame = parsePpms(await runTool('ffmpeg', firstFrameArgs(['-i', file]), file), file)[0]
  if (!frame) throw new UserError(`${file}: no image`)
  return frame
}

/**
 * Still images as decodeImage gives them, byte for byte. JPEGs are decoded in this process; the others share one
 * ffmpeg run, as starting ffmpeg costs far more than decoding a small picture. Each ffmpeg input has its own output
 * file, so each keeps its own size (one stream of several pictures would be scaled to the first one's). Any failure
 * fails the lot: decode one by one to know which file.
 */
export async function decodeImages(files: readonly string[]): Promise<RgbImage[]> {
  const contents = await Promise.all(files.map(readPicture))
  const others = files.filter((_, i) => !isJpeg(contents[i]))
  const decoded =
    others.length === 0 ? [] : others.length === 1 ? [await decodeImage(others[0])] : await ffmpegImages(others)
  return Promise.all(
    contents.map((bytes, i) => (isJpeg(bytes) ? decodeJpeg(bytes, files[i]) : Promise.resolve(decoded.shift()!))),
  )
}

async function ffmpegImages(files: readonly string[]): Promise<RgbImage[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vipant-pictures-'))
  try {
    const outputs = files.map((_, i) => [
      '-map',
      `${i}:v:0`,
      '-frames:v',
      '1',
      ...SWS_FLAGS,
      '-f',
      'image2pipe',
      '-c:v',
      'ppm',
      path.join(dir, `${i}.ppm`),
    ])
    await runTool(
      'ffmpeg',
      ['-nostdin', '-v', 'error', ...files.flatMap((f) => ['-i', f]), ...outputs.flat()],
      files[0],
    )
    return await Promise.all(
      files.map(async (file, i) => {
        const [image] = parsePpms(await readFile(path.join(dir, `${i}.ppm`)), file)
        if (!image) throw new UserError(`${file}: no image`)
        return image
      }),
    )
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}
