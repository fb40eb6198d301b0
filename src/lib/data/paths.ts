import path from 'node:path'
import {UserError} from '../util/errors.js'
import {isDir, isFile} from '../util/fs-entry.js'
import type {IngestOptions} from './index-row.js'

// The generic checks live in util (checkpoint needs them too); dataset layouts import them from here with the rest.
export {isDir, isFile}

export function fileStatus(file: string): 'ok' | 'missing' {
  return isFile(file) ? 'ok' : 'missing'
}

/** The absolute path of a directory the user named. */
export function requireDir(dir: string): string {
  if (!isDir(dir)) throw new UserError(`${dir}: no such directory`)
  return path.resolve(dir)
}

/** The absolute path of a metadata file the layout needs; `what` says which dataset expected it. */
export function requireFile(file: string, what: string): string {
  if (!isFile(file)) throw new UserError(`${file}: not found (${what})`)
  return path.resolve(file)
}

/** Where the audio lives: the user's --audio-dir when given, else the layout's own folder. */
export function audioRoot(options: IngestOptions, fallback: string): string {
  return options.audioDir === undefined ? fallback : requireDir(options.audioDir)
}

/** A file name without its directory and last extension: the clip id most layouts use. */
export function stem(file: string): string {
  return path.parse(file).name
}
