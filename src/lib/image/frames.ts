import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {UserError} from '../util/errors.js'
import {runTool} from '../audio/ffmpeg.js'
import type {RgbImage} from './rgb.js'

/**
 * Colour conversion for every decode: with swscale's defaults (fast bicubic chroma, no accurate
 * rounding) ffmpeg's RGB is ~0.75 levels (max 16) from Pillow's decode of the same JPEG; with these
 * flags ~0.25 (max 7). For video frames they also bring the direct YUV -> RGB conversion closer to the
 * original's JPEG round trip.
 */
const SWS_FLAGS = ['-sws_flags', 'bicubic+accurate_rnd+full_chroma_int']

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
  for (let pos = 0; pos < bytes.length; ) {
    const head = Buffer.from(bytes.buffer, bytes.byteOffset + pos, Math.min(64, bytes.length - pos)).toString('latin1').match(PPM_HEADER)
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
  return ['-nostdin', '-v', 'error', ...input, '-map', '0:v:0', '-frames:v', '1', ...SWS_FLAGS, '-f', 'image2pipe', '-c:v', 'ppm', 'pipe:1']
}

/** The video's last frame: ffmpeg decodes the final second, overwriting one file with each picture. */
async function lastFrame(videoPath: string): Promise<RgbImage | undefined> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vipant-frame-'))
  const file = path.join(dir, 'last.ppm')
  try {
    const args = ['-nostdin', '-v', 'error', '-sseof', '-1', '-i', videoPath, '-map', '0:v:0', ...SWS_FLAGS]
    await runTool('ffmpeg', [...args, '-f', 'image2', '-update', '1', '-c:v', 'ppm', file], videoPath)
    return parsePpms(await readFile(file).catch(() => new Uint8Array(0)), videoPath)[0]
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

async function frameAt(videoPath: string, time: number): Promise<RgbImage> {
  const args = firstFrameArgs(['-ss', Math.max(0, time).toFixed(6), '-i', videoPath])
  const frame = parsePpms(await runTool('ffmpeg', args, videoPath), videoPath)[0] ?? (await lastFrame(videoPath))
  if (!frame) throw new UserError(`${videoPath}: no video frame at ${time} s`)
  return frame
}

/**
 * One frame per timestamp, each from its own `ffmpeg -ss t -i video -frames:v 1` as the original
 * extracted them (input seeking: the first frame whose timestamp is at or after t), but piped as RGB instead of
 * written as JPEG. ffmpeg returns nothing for a time after the last frame's timestamp, which is where the
 * original's last time (the clip's end, e.g. 10 s of a 10 s video) usually falls; that time gets the
 * video's last frame instead of being dropped.
 */
export async function extractFrames(videoPath: string, times: number[]): Promise<RgbImage[]> {
  return Promise.all(times.map((t) => frameAt(videoPath, t)))
}

/** A still image (JPEG, PNG, ...) as 8-bit RGB, decoded by ffmpeg. */
export async function decodeImage(file: string): Promise<RgbImage> {
  const frame = parsePpms(await runTool('ffmpeg', firstFrameArgs(['-i', file]), file), file)[0]
  if (!frame) throw new UserError(`${file}: no image`)
  return frame
}

/**
 * Still images as decodeImage gives them, byte for byte, from one ffmpeg run: starting ffmpeg costs far more than
 * decoding a small picture. Each input has its own output file, so each keeps its own size (one stream of several
 * pictures would be scaled to the first one's). Any failure fails the lot: decode one by one to know which file.
 */
export async function decodeImages(files: readonly string[]): Promise<RgbImage[]> {
  if (files.length === 1) return [await decodeImage(files[0])]
  const dir = await mkdtemp(path.join(tmpdir(), 'vipant-pictures-'))
  try {
    const outputs = files.map((_, i) => ['-map', `${i}:v:0`, '-frames:v', '1', ...SWS_FLAGS, '-f', 'image2pipe', '-c:v', 'ppm', path.join(dir, `${i}.ppm`)])
    await runTool('ffmpeg', ['-nostdin', '-v', 'error', ...files.flatMap((f) => ['-i', f]), ...outputs.flat()], files[0])
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
