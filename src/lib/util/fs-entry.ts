import {statSync, type Stats} from 'node:fs'
import {UserError} from './errors.js'

/** Stats of an entry, or undefined when there is none; a file where a folder was expected also counts as none. */
function statOrNone(entry: string): Stats | undefined {
  try {
    return statSync(entry, {throwIfNoEntry: false})
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOTDIR') return undefined
    if (code === 'ELOOP') throw new UserError(`${entry}: a symbolic link loop`)
    throw error
  }
}

export function isFile(file: string): boolean {
  return statOrNone(file)?.isFile() ?? false
}

export function isDir(dir: string): boolean {
  return statOrNone(dir)?.isDirectory() ?? false
}
