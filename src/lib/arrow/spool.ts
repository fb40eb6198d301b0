import {createWriteStream, openSync, rmSync} from 'node:fs'
import {mkdtemp} from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {pipeline} from 'node:stream/promises'

/**
 * Copies an input that cannot seek (stdin, a pipe, a FIFO) to a file under os.tmpdir() and returns a read
 * descriptor on it. The name is removed as soon as the descriptor is open (POSIX keeps the data until it is
 * closed, or the process ends however it ends); an exit or an error while copying removes it too.
 */
export async function spoolToTempFile(input: NodeJS.ReadableStream): Promise<number> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vipant-spool-'))
  const remove = () => rmSync(dir, {recursive: true, force: true})
  process.on('exit', remove)
  try {
    const file = path.join(dir, 'table.arrow')
    await pipeline(input, createWriteStream(file))
    return openSync(file, 'r')
  } finally {
    remove()
    process.off('exit', remove)
  }
}
