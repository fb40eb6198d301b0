import {test} from 'node:test'
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {clipPreprocess, clipResizeCrop, centerCropOffset, resizedSize} from '../src/lib/image/clip-preprocess.js'
import {decodeImage, extractFrames, frameTimes} from '../src/lib/image/frames.js'
import {fixture, maxAbsDiff, readF32, sharedData, skipWithoutShared} from './helpers.js'

/** Written by test/reference/image.py with Pillow and torch, mirroring CLIP's `_transform`. */
interface Entry {
  name: string
  width: number
  height: number
  mode: string
  image: string
  ref224: string
  clip32: string
}

const manifest = JSON.parse(readFileSync(fixture('image', 'manifest.json'), 'utf8')) as Entry[]

test('frameTimes spreads k frames over the clip, both ends included', () => {
  assert.deepEqual(frameTimes(0, 10, 4), [0, 10 / 3, 20 / 3, 10])
  assert.deepEqual(frameTimes(5, 7, 2), [5, 7])
  assert.deepEqual(frameTimes(3, 13, 1), [3])
})

test('torchvision Resize and CenterCrop geometry', () => {
  assert.deepEqual(resizedSize(320, 240, 224), [298, 224])
  assert.deepEqual(resizedSize(200, 300, 224), [224, 336])
  assert.deepEqual(resizedSize(100, 80, 224), [280, 224])
  // Python's round(): halves go to the even neighbour.
  assert.equal(centerCropOffset(297, 224), 36)
  assert.equal(centerCropOffset(299, 224), 38)
  assert.equal(centerCropOffset(298, 224), 37)
})

for (const entry of manifest) {
  test(`CLIP transform of ${entry.name} (${entry.mode}) matches Pillow + torch`, async (t) => {
    const image = await decodeImage(fixture('image', entry.image))
    assert.deepEqual([image.width, image.height], [entry.width, entry.height])
    const ours = clipResizeCrop(image)
    const pillow = await decodeImage(fixture('image', entry.ref224))
    assert.equal(maxAbsDiff(ours.rgb, pillow.rgb), 0, 'Pillow-exact 8-bit resize and crop')
    const normalised = clipPreprocess(image, 32)
    const err = maxAbsDiff(normalised, readF32(fixture('image', entry.clip32)))
    t.diagnostic(`${entry.name}: max abs error after normalisation ${err.toExponential(2)}`)
    assert.ok(err <= 1e-5, `max abs error ${err}`)
  })
}

test('clipPreprocess returns 224 x 224 x 3 floats in HWC order', async () => {
  const image = await decodeImage(fixture('image', 'grad_320x240.png'))
  const out = clipPreprocess(image)
  assert.equal(out.length, 224 * 224 * 3)
  const crop = clipResizeCrop(image)
  // Pixel (row 5, column 7), blue channel.
  const i = (5 * 224 + 7) * 3 + 2
  assert.equal(
    out[i],
    Math.fround(Math.fround(Math.fround(crop.rgb[i] / 255) - Math.fround(0.40821073)) / Math.fround(0.27577711)),
  )
})

test("frames at the original's times are the original ffmpeg JPEGs, decoded", {skip: skipWithoutShared}, async () => {
  const video = sharedData('video', 'bbb_prog_10s.mp4')
  // The derived JPEGs were taken at 0, 3, 6 and 9 s with `ffmpeg -ss t -frames:v 1 -q:v 1`.
  const frames = await extractFrames(video, [0, 3, 6, 9])
  for (const [i, frame] of frames.entries()) {
    const jpeg = await decodeImage(sharedData('derived', 'frames', `bbb_prog_10s.p0.4_0${i + 1}.jpg`))
    assert.deepEqual([frame.width, frame.height], [jpeg.width, jpeg.height])
    assert.ok(Buffer.from(frame.rgb).equals(jpeg.rgb), `frame ${i + 1}`)
  }
})

test('a time at or past the end of the video yields its last frame', {skip: skipWithoutShared}, async () => {
  const video = sharedData('video', 'bbb_prog_10s.mp4')
  // 238 frames at 24 fps: the last is shown at 9.875 s; the original's fourth time for a 10 s clip is 10 s.
  const [last, atEnd, past] = await extractFrames(video, [9.875, ...frameTimes(0, 10, 4).slice(3), 12])
  assert.deepEqual(atEnd.rgb, last.rgb)
  assert.deepEqual(past.rgb, last.rgb)
})
