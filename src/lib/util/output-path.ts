import {accessSync, constants, statSync} from 'node:fs'
import path from 'node:path'
import {UserError} from './errors.js'

/**
 * Checks that `file` can be written before any work starts: its directory exists (it is not created, as with
 * cargo or git: a typo should not grow a tree) and is writable, and `file` is not a directory. "-" (stdout) and
 * devices or pipes that exist pass. `flag`, when given, names the option in the
 * message.
 */
export function checkOutputPath(file: string, flag?: string): void {
  const where = flag ? `${flag} ` : ''
  if (file === '') throw new UserError(`${flag ?? 'output'}: an empty path`)
  if (file === '-') return
  const info = statSync(file, {throwIfNoEntry: false})
  if (info?.isDirectory()) throw new UserError(`${file}: is a directory; ${where}needs a file name`)
  if (info && !info.isFile()) return // a device or a FIFO is written in place
  const dir = path.dirname(file)
  const parent = statSync(dir, {throwIfNoEntry: false})
  if (!parent)
    throw new UserError(`${file}: directory ${dir} does not exist (vipant does not create it; mkdir -p it first)`)
  if (!parent.isDirectory()) throw new UserError(`${file}: ${dir} is not a directory`)
  try {
    accessSync(dir, constants.W_OK | constants.X_OK)
  } catch {
    throw new UserError(`${file}: directory ${dir} is not writable`)
  }
}
