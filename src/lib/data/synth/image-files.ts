import {mkdtemp, rename, rm, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {runTool} from '../../util/ffmpeg.js'
import type {RgbImage} from '../../image/rgb.js'

/**
 * Writes same-sized RGB images as JPEG files with one ffmpeg run for the lot (starting ffmpeg costs more
 * than encoding a small picture): the pixels go in as a rawvideo stream, come out as numbered files in a
 * scratch folder under WORK, and are renamed to their targets. Full chroma (4:4:4) keeps the colours of
 * small shapes; bitexact leaves ffmpeg's version out of the files, so they depend on the pixels only.
 */
export async function writeJpegs(items: readonly {file: string; image: RgbImage}[], work: string): Promise<void> {
  if (items.length === 0) return
  const {width, height} = items[0].image
  const scratch = await mkdtemp(path.join(work, 'jpeg-'))
  try {
    const raw = path.join(scratch, 'frames.rgb')
    await writeFile(raw, Buffer.concat(items.map(({image}) => image.rgb)))
    await runTool(
      'ffmpeg',
      [
        '-nostdin',
        '-v',
        'error',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'rgb24',
        '-s',
        `${width}x${height}`,
        '-i',
        raw,
        '-c:v',
        'mjpeg',
        '-q:v',
        '2',
        '-pix_fmt',
        'yuvj444p',
        '-fflags',
        '+bitexact',
        '-flags:v',
        '+bitexact',
        '-f',
        'image2',
        '-start_number',
        '0',
        path.join(scratch, '%06d.jpg'),
      ],
      raw,
    )
    await Promise.all(items.map(({file}, i) => rename(path.join(scratch, `${String(i).padStart(6, '0')}.jpg`), file)))
  } finally {
    await rm(scratch, {recursive: true, force: true})
  }
}
