import {pilResizeBicubic} from './pil-resize.js'
import type {RgbImage} from './rgb.js'

/** CLIP's image normalisation (openai/CLIP clip.py `_transform`). */
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const
export const CLIP_IMAGE_SIZE = 224

/** torchvision Resize(size) for an int size: the shorter side becomes SIZE, the longer one is truncated. */
export function resizedSize(width: number, height: number, size: number): [number, number] {
  if (width < height) return [size, Math.trunc((size * height) / width)]
  return [Math.trunc((size * width) / height), size]
}

/** Python's round() on halves: to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x)
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r
}

/** torchvision CenterCrop: int(round((in - out) / 2.0)) on each axis. */
export function centerCropOffset(inSize: number, outSize: number): number {
  return roundHalfEven((inSize - outSize) / 2)
}

/** Resize(size, BICUBIC) with Pillow's antialiased resampling, then CenterCrop(size): the 8-bit part of CLIP's transform. */
export function clipResizeCrop(image: RgbImage, size = CLIP_IMAGE_SIZE): RgbImage {
  // torchvision returns the image untouched when its shorter side already has the target size.
  const resized =
    Math.min(image.width, image.height) === size
      ? image
      : pilResizeBicubic(image, ...resizedSize(image.width, image.height, size))
  const top = centerCropOffset(resized.height, size)
  const left = centerCropOffset(resized.width, size)
  const rgb = new Uint8Array(size * size * 3)
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * resized.width + left) * 3
    rgb.set(resized.rgb.subarray(from, from + size * 3), y * size * 3)
  }
  return {width: size, height: size, rgb}
}

/** ToTensor (/255) and Normalize, in float32 as torch computes them; keeps the HWC layout. */
export function clipNormalize(image: RgbImage): Float32Array {
  const mean = CLIP_MEAN.map(Math.fround)
  const std = CLIP_STD.map(Math.fround)
  const out = new Float32Array(image.rgb.length)
  for (let i = 0; i < out.length; i++) {
    const c = i % 3
    out[i] = Math.fround(Math.fround(Math.fround(image.rgb[i] / 255) - mean[c]) / std[c])
  }
  return out
}

/**
 * CLIP's image transform, as the original ran it on video frames: Resize(size, BICUBIC), CenterCrop(size),
 * RGB, ToTensor, Normalize. Returns size x size x 3 floats in HWC order (rows of pixels, RGB interleaved),
 * the NHWC layout TF.js expects, not torch's CHW.
 */
export function clipPreprocess(image: RgbImage, size = CLIP_IMAGE_SIZE): Float32Array {
  return clipNormalize(clipResizeCrop(image, size))
}
