import {readdirSync, type Dirent} from 'node:fs'
import path from 'node:path'
import {isDir} from './paths.js'

/** Audio and video containers the decoder (ffmpeg) is expected to read. */
export const MEDIA_EXTENSIONS: ReadonlySet<string> = new Set([
  'wav', 'flac', 'mp3', 'ogg', 'oga', 'opus', 'm4a', 'aac', 'wma', 'aiff', 'aif',
  'mp4', 'm4v', 'mkv', 'webm', 'mov', 'avi',
])

export function isMediaFile(file: string): boolean {
  return MEDIA_EXTENSIONS.has(path.extname(file).slice(1).toLowerCase())
}

/** Orders strings by code units, so that row order does not depend on the locale. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Entries of a directory, sorted by name. */
export function sortedEntries(dir: string): Dirent[] {
  return readdirSync(dir, {withFileTypes: true}).sort((a, b) => compareNames(a.name, b.name))
}

/** Whether an entry is (or links to) a directory; hidden entries are skipped by the walkers. */
function isSubdir(dir: string, entry: Dirent): boolean {
  return entry.isDirectory() || (entry.isSymbolicLink() && isDir(path.join(dir, entry.name)))
}

/** Absolute paths of all media files under DIR, in no particular order. */
export function* walkMedia(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, {withFileTypes: true})) {
    if (entry.name.startsWith('.')) continue
    const full = path.join(dir, entry.name)
    if (isSubdir(dir, entry)) yield* walkMedia(full)
    else if (isMediaFile(entry.name)) yield full
  }
}
