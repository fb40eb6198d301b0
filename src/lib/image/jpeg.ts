import type {Sharp} from 'sharp'
import {UserError} from '../util/errors.js'
import type {RgbImage} from './rgb.js'

type SharpFactory = (input: Uint8Array, options: {failOn: 'truncated'; ignoreIcc: true}) => Sharp

let loading: Promise<SharpFactory> | undefined

/**
 * libvips (sharp), loaded on first use so that commands without pictures do not pay for it. One libvips thread per
 * picture: callers already decode many pictures at once. On glibc, a worker thread must not be the first to load it
 * (its shared libraries would be unloaded when that worker ends, under the others' feet): the main thread calls this
 * before it starts workers that decode pictures.
 */
export function loadJpegDecoder(): Promise<SharpFactory> {
  loading ??= import('sharp').then(({default: sharp}) => {
    sharp.cache(false)
    sharp.concurrency(1)
    return sharp
  })
  return loading
}

/** Pillow's test for a JPEG (its JpegImagePlugin `_accept`): the SOI marker and the start of the next one. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff
}

/** sharp's message, one line, without libvips' loader prefixes. */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message
    .split('\n')[0]
    .replace(/^Input buffer has corrupt header: /, '')
    .replace(/^VipsJpeg: /, '')
}

/**
 * A JPEG decoded as the original's `PIL.Image.open(f).convert('RGB')` decodes it: libjpeg-turbo's decoder (sharp ships
 * mozjpeg, whose decoder is libjpeg-turbo's) with its defaults, ISLOW inverse DCT and fancy upsampling, no scaling on
 * load. Like Pillow, the embedded ICC profile and the EXIF orientation are ignored, corrupt entropy-coded data is decoded
 * past (libjpeg only warns), and a file that ends early is refused (Pillow: "image file is truncated"). One difference:
 * libvips stops reading after the last scan, so a bad marker there, which fails Pillow ("broken data stream"), goes
 * unnoticed and the picture is decoded (see docs/frames.md for how often). Grayscale is
 * spread to three equal channels, as convert('RGB') does. CMYK and YCCK are refused: Pillow's convert('RGB') of those
 * is a naive formula that no colour-managed decoder reproduces, and no VIP-ANT frame is CMYK.
 */
export async function decodeJpeg(bytes: Uint8Array, source: string): Promise<RgbImage> {
  const sharp = await loadJpegDecoder()
  const image = sharp(bytes, {failOn: 'truncated', ignoreIcc: true})
  try {
    const meta = await image.metadata()
    if (meta.format !== 'jpeg') throw new UserError(`${source}: not a JPEG (${meta.format})`)
    if (meta.channels === 4) throw new UserError(`${source}: CMYK JPEG is not supported: convert it to RGB first`)
    const {data, info} = await image.raw().toBuffer({resolveWithObject: true})
    const {width, height, channels} = info
    if (channels === 3) return {width, height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.length)}
    if (channels !== 1) throw new UserError(`${source}: JPEG with ${channels} channels is not supported`)
    const rgb = new Uint8Array(width * height * 3)
    for (let i = 0; i < data.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i]
    return {width, height, rgb}
  } catch (error) {
    if (error instanceof UserError) throw error
    throw new UserError(`${source}: unreadable JPEG: ${reason(error)}`)
  }
}
