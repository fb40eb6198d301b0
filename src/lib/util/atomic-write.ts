import {statSync} from 'node:fs'
import {rename, rm} from 'node:fs/promises'

/**
 * Writes through a temporary name and a rename, so a reader never sees a half-written file. A device or a pipe
 * (/dev/null, a named FIFO, /dev/stdout) is written in place: renaming over it would replace it.
 */
export async function atomicWrite(file: string, write: (temp: string) => Promise<void>): Promise<void> {
  if (isSpecialFile(file)) return write(file)
  const temp = `${file}.${process.pid}.tmp`
  try {
    await write(temp)
    await rename(temp, file)
  } catch (error) {
    await rm(temp, {force: true})
    throw error
  }
}

/** Whether `file` exists and is not a regular file (a device, FIFO or socket). */
export function isSpecialFile(file: string): boolean {
  const info = statSync(file, {throwIfNoEntry: false})
  return info !== undefined && !info.isFile() && !info.isDirectory()
}
