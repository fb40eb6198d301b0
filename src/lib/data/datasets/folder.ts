import path from 'node:path'
import {UserError} from '../../util/errors.js'
import {indexRow, type DatasetSource, type IndexRow} from '../index-row.js'
import {compareNames, isMediaFile, walkMedia} from '../media.js'
import {isFile} from '../paths.js'
import {uniqueIds} from '../unique-ids.js'

/** A relative path with `/` whatever the platform, so ids are the same everywhere. */
const portable = (relative: string) => relative.split(path.sep).join('/')

const withoutExtension = (relative: string) =>
  portable(relative.slice(0, relative.length - path.extname(relative).length))

function folderRow(id: string, file: string): IndexRow {
  return indexRow({id, dataset: 'folder', path: file, status: 'ok'})
}

export const folder: DatasetSource = {
  description: 'Any folder of audio or video files (or a single file), with no metadata',
  layout: 'DIR/**/*.{wav,flac,mp3,ogg,opus,m4a,...,mp4,mkv,webm,mov,avi}; id = path relative to DIR without extension',
  options: [],
  detect: (dir) => !walkMedia(dir).next().done,
  async *rows(dir) {
    if (isFile(dir)) {
      if (!isMediaFile(dir)) throw new UserError(`${dir}: not an audio or video file`)
      yield folderRow(path.parse(dir).name, dir)
      return
    }
    const files = [...walkMedia(dir)].sort((a, b) => compareNames(a.relative, b.relative))
    const relatives = files.map((f) => f.relative)
    // Files differing only in extension (a.wav, a.mp3) keep it, so ids stay unique.
    const ids = uniqueIds(relatives.map(withoutExtension), relatives.map(portable))
    for (const [i, {file}] of files.entries()) yield folderRow(ids[i], file)
  },
}
