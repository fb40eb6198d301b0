import {probeMedia} from '../util/ffmpeg.js'
import {CLIP_IMAGE_SIZE, clipPreprocess} from './clip-preprocess.js'
import {decodeImage, extractFrames, frameTimes} from './frames.js'
import type {RgbImage} from './rgb.js'

/** One preprocessed image's size in floats: (224, 224, 3). */
export const CLIP_IMAGE_FLOATS = CLIP_IMAGE_SIZE * CLIP_IMAGE_SIZE * 3

/**
 * A clip's frames, ready for CLIP's image tower: (n, 224, 224, 3) HWC, normalised. Frames listed for
 * the clip (VIP-ANT's `frame/<ytid>.p0.4_0k.jpg`) are used when present; otherwise `count` frames are
 * taken from the video at the original's times (docs/method.md §2.1). An audio-only file has none (null).
 */
export async function clipImages(
  path: string,
  listed: readonly string[] | null,
  count: number,
): Promise<Float32Array | null> {
  let images: RgbImage[]
  if (listed && listed.length > 0) {
    images = await Promise.all(pickFrames(listed, count).map(decodeImage))
  } else {
    const media = await probeMedia(path)
    const video = media.streams.find((s) => s.type === 'video')
    if (!video) return null
    images = await extractFrames(path, frameTimes(0, media.duration ?? video.duration ?? 0, count))
  }
  const out = new Float32Array(images.length * CLIP_IMAGE_FLOATS)
  images.forEach((image, i) => out.set(clipPreprocess(image), i * CLIP_IMAGE_FLOATS))
  return out
}

/**
 * `count` of a clip's listed frames, spread evenly; a single frame is the one the original evaluates
 * with, index ceil(n/2) - 1 (docs/method.md §4).
 */
export function pickFrames<T>(frames: readonly T[], count: number): T[] {
  const n = frames.length
  if (count >= n) return [...frames]
  if (count === 1) return [frames[Math.ceil(n / 2) - 1]]
  return Array.from({length: count}, (_, i) => frames[Math.round((i * (n - 1)) / (count - 1))])
}
