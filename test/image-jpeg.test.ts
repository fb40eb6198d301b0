import {test} from 'node:test'
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {decodeImage, decodeImages, extractFrames} from '../src/lib/image/frames.js'
import {UserError} from '../src/lib/util/errors.js'
import {vipant} from './cli.js'
import {tableFromIPC} from '@uwdata/flechette'
import {fixture, sharedData, skipWithoutShared} from './helpers.js'

/** Written by test/reference/jpeg.py: synthetic JPEGs and Pillow's decode of each, and hashes of the shared frames'. */
interface Manifest {
  files: {name: string; file: string; mode: string; width: number; height: number; rgb?: string}[]
  shared: {file: string; width: number; height: number; sha256: string; pixels: number[][]}[]
}

const manifest = JSON.parse(readFileSync(fixture('image', 'jpeg', 'jpeg.json'), 'utf8')) as Manifest
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'vipant-jpeg-'))
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')

/** Pixels that differ and by how much at most: a readable failure when a decode is not Pillow's. */
function differences(a: Uint8Array, b: Uint8Array): string {
  let count = 0
  let max = 0
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i])
    if (d > 0) count++
    max = Math.max(max, d)
  }
  return `${count} of ${a.length} values differ, by up to ${max}`
}

/** A fixture JPEG with its bytes changed, in a temp dir. */
function hostile(name: string, change: (bytes: Buffer) => Buffer): string {
  const file = path.join(tmp(), name)
  writeFileSync(file, change(readFileSync(fixture('image', 'jpeg', 's420.jpg'))))
  return file
}

async function rejects(file: string, message: string): Promise<void> {
  await assert.rejects(decodeImage(file), (error: Error) => {
    assert.ok(error instanceof UserError, `${error.name}: ${error.message}`)
    assert.equal(error.message, message)
    return true
  })
}

for (const entry of manifest.files.filter((e) => e.rgb)) {
  test(`JPEG ${entry.name} (${entry.mode} ${entry.width}x${entry.height}) decodes to Pillow's pixels exactly`, async () => {
    const image = await decodeImage(fixture('image', 'jpeg', entry.file))
    assert.deepEqual([image.width, image.height], [entry.width, entry.height])
    const pillow = new Uint8Array(readFileSync(fixture('image', 'jpeg', entry.rgb!)))
    assert.equal(image.rgb.length, pillow.length)
    assert.ok(Buffer.from(image.rgb).equals(pillow), differences(image.rgb, pillow))
  })
}

test('the JPEG variants are what they claim: restart markers, progressive and arithmetic coding, the markers Pillow ignores', () => {
  const bytes = (name: string) => readFileSync(fixture('image', 'jpeg', `${name}.jpg`))
  const has = (name: string, marker: number[]) => bytes(name).includes(Buffer.from(marker))
  assert.ok(has('restart', [0xff, 0xdd]) && has('progressive_restart', [0xff, 0xdd]), 'DRI')
  assert.ok(has('progressive', [0xff, 0xc2]) && has('progressive_restart', [0xff, 0xc2]), 'SOF2')
  assert.ok(has('arithmetic', [0xff, 0xc9]), 'SOF9')
  assert.ok(has('icc_exif', [...Buffer.from('ICC_PROFILE')]) && has('icc_exif', [...Buffer.from('Exif')]))
  assert.ok(!bytes('corrupt').equals(bytes('s420')) && bytes('corrupt').length === bytes('s420').length)
})

test('a CMYK JPEG is refused with one line naming the file', async () => {
  const file = fixture('image', 'jpeg', 'cmyk.jpg')
  await rejects(file, `${file}: CMYK JPEG is not supported: convert it to RGB first`)
})

test('truncated and broken JPEGs are refused with one line naming the file, as Pillow refuses them', async () => {
  const sos = (bytes: Buffer) => bytes.indexOf(Buffer.from([0xff, 0xda]))
  // Pillow: "image file is truncated" for both, even when only the EOI marker is missing.
  const cut = hostile('cut.jpg', (b) => b.subarray(0, Math.floor(b.length * 0.6)))
  await rejects(cut, `${cut}: unreadable JPEG: premature end of JPEG image`)
  const noEoi = hostile('no-eoi.jpg', (b) => b.subarray(0, b.length - 2))
  await rejects(noEoi, `${noEoi}: unreadable JPEG: premature end of JPEG image`)
  // Pillow: "Truncated File Read".
  const header = hostile('header.jpg', (b) => b.subarray(0, sos(b)))
  await rejects(header, `${header}: unreadable JPEG: premature end of JPEG image`)
  // JPEG's signature, then nothing a JPEG decoder can read.
  const junk = hostile('junk.jpg', (b) => Buffer.concat([b.subarray(0, 3), Buffer.from('not a picture')]))
  await rejects(junk, `${junk}: unreadable JPEG: Unsupported marker type 0x6e`)
  const missing = path.join(tmp(), 'nope.jpg')
  await rejects(missing, `${missing}: no such file or directory`)
})

test('decodeImages keeps the order of a mix of JPEG and PNG files and gives what decodeImage gives', async () => {
  const jpeg = (name: string) => fixture('image', 'jpeg', name)
  const files = [
    jpeg('s422.jpg'),
    fixture('image', 'grad_320x240.png'),
    jpeg('gray.jpg'),
    fixture('image', 'small_100x80.png'),
  ]
  const together = await decodeImages(files)
  const alone = await Promise.all(files.map(decodeImage))
  assert.deepEqual(
    together.map((i) => [i.width, i.height]),
    [
      [48, 40],
      [320, 240],
      [48, 40],
      [100, 80],
    ],
  )
  for (const [i, image] of together.entries()) assert.ok(Buffer.from(image.rgb).equals(alone[i].rgb), files[i])
})

test('a JPEG is recognised by its bytes, not its name', async () => {
  const file = path.join(tmp(), 'frame.png')
  copyFileSync(fixture('image', 'jpeg', 's444.jpg'), file)
  const image = await decodeImage(file)
  assert.ok(Buffer.from(image.rgb).equals(readFileSync(fixture('image', 'jpeg', 's444.rgb'))))
})

test("the shared JPEG frames decode to Pillow's pixels exactly", {skip: skipWithoutShared}, async () => {
  assert.equal(manifest.shared.length, 8)
  for (const entry of manifest.shared) {
    const image = await decodeImage(sharedData(entry.file))
    assert.deepEqual([image.width, image.height], [entry.width, entry.height])
    for (const [x, y, ...rgb] of entry.pixels) {
      const at = (y * image.width + x) * 3
      assert.deepEqual([...image.rgb.subarray(at, at + 3)], rgb, `${entry.file} (${x}, ${y})`)
    }
    assert.equal(sha256(image.rgb), entry.sha256, entry.file)
  }
})

const CUT =
  "frames cut from a video are the pixels Pillow gives for the original's `ffmpeg -ss t -frames:v 1 -q:v 1` JPEGs"
test(CUT, {skip: skipWithoutShared}, async () => {
  // The shared frames were written by that command at 0, 3, 6 and 9 s.
  for (const video of ['bbb_prog_10s', 'chaplin_9.6s_h264_mp3']) {
    const frames = await extractFrames(sharedData('video', `${video}.mp4`), [0, 3, 6, 9])
    for (const [i, frame] of frames.entries()) {
      const pillow = manifest.shared.find((e) => e.file === `derived/frames/${video}.p0.4_0${i + 1}.jpg`)!
      assert.equal(sha256(frame.rgb), pillow.sha256, `${video}: frame at ${3 * i} s`)
    }
  }
})

const LISTED = "mel --frames: a listed CMYK frame is its row's error, or stops the run under --strict"
test(LISTED, {skip: skipWithoutShared, timeout: 60_000}, () => {
  // An AudioSet download layout: <chunk>/aclip/<ytid>.p0.mp3 and <chunk>/frame/<ytid>.p0.4_01.jpg.
  const root = tmp()
  mkdirSync(path.join(root, 'all_0_35000', 'aclip'), {recursive: true})
  mkdirSync(path.join(root, 'all_0_35000', 'frame'))
  symlinkSync(
    sharedData('derived', 'us8k_100648-1-4-0_44k.mp3'),
    path.join(root, 'all_0_35000', 'aclip', 'clip0000000.p0.mp3'),
  )
  const frame = path.join(root, 'all_0_35000', 'frame', 'clip0000000.p0.4_01.jpg')
  copyFileSync(fixture('image', 'jpeg', 'cmyk.jpg'), frame)
  const csv = 'YTID,start_seconds,end_seconds,positive_labels\nclip0000000,0.000,10.000,"/m/09x0r"\n'
  writeFileSync(path.join(root, 'balanced_train_segments.csv'), csv)
  const message = `${frame}: CMYK JPEG is not supported: convert it to RGB first`
  const out = path.join(root, 'o.arrow')
  const r = vipant(['mel', root, '--frames', '1', '-o', out])
  assert.equal(r.status, 0, r.stderr.toString())
  const table = tableFromIPC(readFileSync(out), {useProxy: false})
  assert.deepEqual([table.getChild('status').toArray(), table.getChild('error').toArray()], [['error'], [message]])
  const strict = vipant(['mel', root, '--frames', '1', '--strict', '-o', path.join(root, 'strict.arrow')])
  assert.equal(strict.status, 2)
  assert.ok(strict.stderr.toString().endsWith(`vipant mel: ${message}\n`), strict.stderr.toString())
})
